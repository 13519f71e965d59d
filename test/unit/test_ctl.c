/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket server, as a client sees it: a real server on its own
 * loop (ctl-test.h), real Unix sockets, exact replies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/ctl/server.h"
#include "knlb/lib/loop.h"
#include "knlb/config/config-t.h"
#include "knlb/ctl/commands.h"
#include "knlb/daemon/ctl_commands.h"
#include "ctl-test.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request, the exact reply expected. */
static void expect_reply(const char *path, const char *line, const char *want)
{
	char *got = client_request(path, line);

	cr_expect_str_eq(got, want, "request '%s'", line);
	free(got);
}

/* The value of one counter in the handler's "stats" reply. */
static unsigned long long stat_of(const char *path, const char *name)
{
	char *reply = client_request(path, "stats\n");
	char key[64];
	const char *p;
	unsigned long long v = ~0ULL;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(reply, key);
	cr_assert_not_null(p, "no %s in: %s", name, reply);
	v = strtoull(p + strlen(key), NULL, 10);
	free(reply);
	return v;
}

Test(ctl, status_line_then_body_then_close)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_reply(s.path, "echo a  b\tc \n", "OK\necho\na\nb\nc\n");
	cr_expect_str_eq(s.last_request, "echo|a|b|c");
	expect_reply(s.path, "  \techo lead\n", "OK\necho\nlead\n");
	expect_reply(s.path, "warn\n", "WARN\ncareful\n");
	expect_reply(s.path, "err x y\n", "ERROR\nfailed: x y\n");
	expect_reply(s.path, "nonl\n", "OK\nno newline\n");
	expect_reply(s.path, "empty\n", "OK\n");
	expect_reply(s.path, "nosuch\n", "ERROR\nunknown command 'nosuch'\n");
	/* Words may be any bytes but controls: UTF-8 passes as is. */
	expect_reply(s.path, "echo caf\xc3\xa9\n", "OK\necho\ncaf\xc3\xa9\n");
	cr_expect_eq(stat_of(s.path, "requests"), 9);
	cr_expect_eq(stat_of(s.path, "bad_requests"), 0);
	server_stop(&s);
}

/* Only the first line is a request; what follows it is ignored. */
Test(ctl, one_request_per_connection)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_reply(s.path, "echo one\necho two\n", "OK\necho\none\n");
	server_stop(&s);
}

/* Requests sent byte by byte are assembled. */
Test(ctl, request_in_pieces)
{
	const char *req = "echo slowly\n";
	struct test_server s;
	size_t len;
	char *got;
	int fd;

	server_start(&s, 0, 0);
	fd = client_connect(s.path);
	for (const char *p = req; *p; p++) {
		client_send(fd, p, 1);
		usleep(2000);
	}
	cr_assert_eq(client_read_all(fd, &got, &len), 0);
	cr_expect_str_eq(got, "OK\necho\nslowly\n");
	free(got);
	close(fd);
	server_stop(&s);
}

Test(ctl, twenty_clients_at_once_are_all_answered)
{
	struct test_server s;
	int fds[20];

	server_start(&s, 0, 0);
	for (int i = 0; i < 20; i++)
		fds[i] = client_connect(s.path);
	/* All connected before any sends: the server holds 20 at once. */
	for (int i = 19; i >= 0; i--) {
		char line[32];

		snprintf(line, sizeof(line), "echo client%d\n", i);
		client_send(fds[i], line, strlen(line));
	}
	for (int i = 0; i < 20; i++) {
		char want[64], *got;
		size_t len;

		snprintf(want, sizeof(want), "OK\necho\nclient%d\n", i);
		cr_assert_eq(client_read_all(fds[i], &got, &len), 0);
		cr_expect_str_eq(got, want);
		free(got);
		close(fds[i]);
	}
	cr_expect_eq(stat_of(s.path, "connections"), 21);
	server_stop(&s);
}

static char *repeat(char c, size_t n, const char *prefix, const char *suffix)
{
	size_t lp = strlen(prefix), ls = strlen(suffix);
	char *buf = malloc(lp + n + ls + 1);

	cr_assert_not_null(buf);
	memcpy(buf, prefix, lp);
	memset(buf + lp, c, n);
	memcpy(buf + lp + n, suffix, ls + 1);
	return buf;
}

Test(ctl, request_of_4096_bytes_is_served_4097_is_too_long)
{
	struct test_server s;
	char *req, *want;

	server_start(&s, 0, 0);
	/* "echo " + 4090 + "\n" = 4096 bytes: the limit, included. */
	req = repeat('a', CTL_REQUEST_MAX - 6, "echo ", "\n");
	cr_assert_eq(strlen(req), CTL_REQUEST_MAX);
	want = repeat('a', CTL_REQUEST_MAX - 6, "OK\necho\n", "\n");
	expect_reply(s.path, req, want);
	free(req);
	free(want);

	req = repeat('a', CTL_REQUEST_MAX - 5, "echo ", "\n");
	expect_reply(s.path, req, "ERROR\nrequest too long (max 4096 bytes)\n");
	free(req);
	/* Far over: still the error, not a reset (what follows is drained). */
	req = repeat('a', 20000, "echo ", "\n");
	expect_reply(s.path, req, "ERROR\nrequest too long (max 4096 bytes)\n");
	free(req);
	cr_expect_eq(stat_of(s.path, "bad_requests"), 2);
	cr_expect_eq(stat_of(s.path, "requests"), 3);	/* echo + 2 stats */
	server_stop(&s);
}

Test(ctl, end_of_input_before_the_newline_is_truncated)
{
	struct test_server s;
	size_t len;
	char *got;
	int fd;

	server_start(&s, 0, 0);
	fd = client_connect(s.path);
	client_send(fd, "echo x", 6);
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	cr_assert_eq(client_read_all(fd, &got, &len), 0);
	cr_expect_str_eq(got, "ERROR\nrequest truncated (end of input before the newline)\n");
	free(got);
	close(fd);
	cr_expect_eq(stat_of(s.path, "bad_requests"), 1);
	server_stop(&s);
}

/* connect + close with nothing sent is a liveness probe, not a bad request. */
Test(ctl, connect_and_close_is_no_bad_request)
{
	struct test_server s;

	server_start(&s, 0, 0);
	for (int i = 0; i < 3; i++)
		close(client_connect(s.path));
	expect_reply(s.path, "echo after\n", "OK\necho\nafter\n");
	cr_expect_eq(stat_of(s.path, "bad_requests"), 0);
	server_stop(&s);
}

Test(ctl, nul_and_control_bytes_are_not_text)
{
	static const char *const bad[] = {
		"echo a\0b\n", "echo a\x01" "b\n", "echo a\rb\n", "echo\r\n",
		"echo \x7f\n", "\x1b[A\n",
	};
	static const size_t len[] = { 9, 9, 9, 6, 7, 4 };
	struct test_server s;

	server_start(&s, 0, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = client_connect(s.path);
		size_t n;
		char *got;

		client_send(fd, bad[i], len[i]);
		cr_assert_eq(client_read_all(fd, &got, &n), 0);
		cr_expect_str_eq(got, "ERROR\nrequest is not text\n", "case %zu", i);
		free(got);
		close(fd);
	}
	cr_expect_eq(stat_of(s.path, "bad_requests"), 6);
	cr_expect_eq(stat_of(s.path, "requests"), 2);	/* the stats ones */
	server_stop(&s);
}

Test(ctl, blank_line_is_an_empty_request)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_reply(s.path, "\n", "ERROR\nempty request\n");
	expect_reply(s.path, " \t  \n", "ERROR\nempty request\n");
	server_stop(&s);
}

Test(ctl, sixteen_words_are_served_seventeen_are_too_many)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_reply(s.path, "echo 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",
		     "OK\necho\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n");
	expect_reply(s.path, "echo 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		     "ERROR\ntoo many words (max 16)\n");
	server_stop(&s);
}

Test(ctl, silent_client_times_out_with_an_error)
{
	struct test_server s;
	double t0, dt;
	size_t len;
	char *got;
	int fd, fd2;

	server_start(&s, 300, 0);
	t0 = now_s();
	fd = client_connect(s.path);
	fd2 = client_connect(s.path);
	client_send(fd2, "echo never finished", 19);
	cr_assert_eq(client_read_all(fd, &got, &len), 0);
	dt = now_s() - t0;
	cr_expect_str_eq(got, "ERROR\nno complete request within 300 ms\n");
	cr_expect(dt >= 0.29 && dt < 5.0, "dropped after %.3f s (timeout 0.3 s)", dt);
	free(got);
	cr_assert_eq(client_read_all(fd2, &got, &len), 0);
	cr_expect_str_eq(got, "ERROR\nno complete request within 300 ms\n");
	free(got);
	close(fd);
	close(fd2);
	cr_expect_eq(stat_of(s.path, "timeouts"), 2);
	server_stop(&s);
}

/*
 * A client that asks for 32 MB and never reads: the server writes what the
 * socket takes and serves others meanwhile; after the reply timeout the
 * reader is dropped and what it finally reads is short of the whole.
 */
Test(ctl, client_that_never_reads_does_not_stop_others)
{
	const size_t big = 32u << 20;
	struct test_server s;
	double t0, dt;
	size_t len;
	char *got;
	int fd;

	server_start(&s, 0, 1000);
	fd = client_connect(s.path);
	client_send(fd, "big 33554432\n", 13);
	/* Once its first bytes arrive the reply is stuck in a full socket. */
	cr_assert_eq(poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 10000), 1);
	t0 = now_s();
	for (int i = 0; i < 5; i++)
		expect_reply(s.path, "echo meanwhile\n", "OK\necho\nmeanwhile\n");
	dt = now_s() - t0;
	cr_expect(dt < 0.9, "5 requests took %.3f s while a reader stalled", dt);
	usleep(1500 * 1000);		/* past the 1 s reply timeout */
	client_read_all(fd, &got, &len);
	cr_expect(len > 3 && !memcmp(got, "OK\n", 3), "the reply began");
	cr_expect_lt(len, big, "dropped: %zu of %zu bytes arrived", len, big);
	free(got);
	close(fd);
	cr_expect_eq(stat_of(s.path, "timeouts"), 1);
	server_stop(&s);
}

/* A reader that keeps up gets a multi-megabyte body whole. */
Test(ctl, big_reply_arrives_whole)
{
	struct test_server s;
	char *got;

	server_start(&s, 0, 0);
	got = client_request(s.path, "big 8000001\n");
	cr_expect_eq(strlen(got), 3 + 8000001 + 1,	/* ends in "x": a newline is added */
		     "got %zu bytes", strlen(got));
	cr_expect(!memcmp(got, "OK\nxxxx", 7));
	cr_expect_eq(got[strlen(got) - 1], '\n');
	free(got);
	server_stop(&s);
}

Test(ctl, body_over_the_cap_is_cut_at_a_line_with_a_note)
{
	const size_t over = (size_t)CTL_REPLY_MAX + (1u << 20);
	struct test_server s;
	char req[64], note[128];
	const char *last;
	size_t len;
	char *got;

	server_start(&s, 0, 0);
	snprintf(req, sizeof(req), "big %zu\n", over);
	got = client_request(s.path, req);
	len = strlen(got);
	/* OK became WARN: the client did not get everything. */
	cr_expect(!memcmp(got, "WARN\nxxx", 8));
	/* CTL_REPLY_MAX is a multiple of 64: the cut falls on a line end. */
	snprintf(note, sizeof(note),
		 "... reply cut at %u bytes: %zu more bytes not sent\n",
		 CTL_REPLY_MAX, over - CTL_REPLY_MAX);
	cr_expect_eq(len, 5 + (size_t)CTL_REPLY_MAX + strlen(note), "got %zu bytes", len);
	last = got + len - strlen(note);
	cr_expect_str_eq(last, note);
	cr_expect_eq(last[-1], '\n');
	free(got);
	server_stop(&s);
}

Test(ctl, one_over_max_clients_is_turned_away_and_others_still_served)
{
	struct test_server s;
	int fds[CTL_MAX_CLIENTS];
	size_t len;
	char *got;
	int extra;

	server_start(&s, 0, 0);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		fds[i] = client_connect(s.path);
	/* Accepted in connect order: this one finds all the places taken. */
	extra = client_connect(s.path);
	client_send(extra, "echo too\n", 9);
	cr_assert_eq(client_read_all(extra, &got, &len), 0);
	cr_expect_str_eq(got, "ERROR\ntoo many clients (max 64)\n");
	free(got);
	close(extra);

	client_send(fds[7], "echo still\n", 11);
	cr_assert_eq(client_read_all(fds[7], &got, &len), 0);
	cr_expect_str_eq(got, "OK\necho\nstill\n");
	free(got);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		close(fds[i]);
	/* Places free again once the clients are gone. */
	for (int tries = 0; tries < 100; tries++) {
		got = client_request(s.path, "echo again\n");
		if (!strcmp(got, "OK\necho\nagain\n"))
			break;
		free(got);
		got = NULL;
		usleep(10000);
	}
	cr_expect_not_null(got, "no place freed after the 64 clients closed");
	free(got);
	cr_expect_eq(stat_of(s.path, "rejected"), 1);
	server_stop(&s);
}

static void make_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);		/* the file stays; nobody listens */
}

Test(ctl, stale_socket_is_replaced)
{
	struct test_server s;
	struct ctl *ctl;
	char err[256] = "";
	struct loop *loop;

	/* A server only for its temporary directory and a path in it. */
	server_start(&s, 0, 0);
	{
		char path[160];

		snprintf(path, sizeof(path), "%s/stale.sock", s.dir);
		make_stale_socket(path);
		cr_assert_eq(loop_new(&loop), 0);
		cr_assert_eq(ctl_open(loop, path, NULL, NULL, &ctl, err, sizeof(err)), 0,
			     "stale socket not replaced: %s", err);
		/* A listener is there again: connect succeeds (queued in its backlog). */
		close(client_connect(path));
		ctl_close(ctl);
		cr_expect_eq(access(path, F_OK), -1, "ctl_close unlinks %s", path);
		loop_free(loop);
	}
	server_stop(&s);
}

Test(ctl, live_socket_is_refused_and_keeps_serving)
{
	struct test_server s;
	struct ctl *ctl = NULL;
	char err[256] = "", want[256];
	struct loop *loop;

	server_start(&s, 0, 0);
	cr_assert_eq(loop_new(&loop), 0);
	cr_expect_eq(ctl_open(loop, s.path, NULL, NULL, &ctl, err, sizeof(err)),
		     -EADDRINUSE);
	snprintf(want, sizeof(want), "another knlbd is listening on %s", s.path);
	cr_expect_str_eq(err, want);
	loop_free(loop);
	expect_reply(s.path, "echo alive\n", "OK\necho\nalive\n");
	/* The probe was no bad request for the live server. */
	cr_expect_eq(stat_of(s.path, "bad_requests"), 0);
	server_stop(&s);
}

Test(ctl, a_file_that_is_not_a_socket_is_left_alone)
{
	struct test_server s;
	struct ctl *ctl = NULL;
	char err[256] = "", path[160], want[256];
	struct loop *loop;
	int fd;

	server_start(&s, 0, 0);
	snprintf(path, sizeof(path), "%s/plain", s.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	cr_assert_neq(fd, -1);
	close(fd);
	cr_assert_eq(loop_new(&loop), 0);
	cr_expect_eq(ctl_open(loop, path, NULL, NULL, &ctl, err, sizeof(err)), -EEXIST);
	snprintf(want, sizeof(want), "%s exists and is not a socket: not replacing it", path);
	cr_expect_str_eq(err, want);
	cr_expect_eq(access(path, F_OK), 0);
	unlink(path);
	loop_free(loop);
	server_stop(&s);
}

Test(ctl, socket_is_0600_in_a_created_0755_directory)
{
	char dir[] = "/tmp/knlb-ctl-XXXXXX", sub[64], path[128];
	struct ctl *ctl;
	char err[256] = "";
	struct loop *loop;
	struct stat st;
	mode_t old;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/run/knlb", dir);
	snprintf(path, sizeof(path), "%s/knlb.sock", sub);
	old = umask(0077);	/* ctl_open must not depend on the umask */
	cr_assert_eq(loop_new(&loop), 0);
	cr_assert_eq(ctl_open(loop, path, NULL, NULL, &ctl, err, sizeof(err)), 0, "%s", err);
	umask(old);
	cr_assert_eq(lstat(path, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0600, "socket mode %o", st.st_mode & 07777);
	cr_assert_eq(stat(sub, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0755, "directory mode %o", st.st_mode & 07777);
	ctl_close(ctl);
	cr_expect_eq(lstat(path, &st), -1, "ctl_close unlinks the socket");
	loop_free(loop);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/run", dir);
	rmdir(sub);
	rmdir(dir);
}

/* ctl_close removes its own socket file, not one that replaced it. */
Test(ctl, close_leaves_a_newer_socket_file_alone)
{
	char dir[] = "/tmp/knlb-ctl-XXXXXX", path[128];
	struct ctl *ctl;
	char err[256] = "";
	struct loop *loop;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/knlb.sock", dir);
	cr_assert_eq(loop_new(&loop), 0);
	cr_assert_eq(ctl_open(loop, path, NULL, NULL, &ctl, err, sizeof(err)), 0, "%s", err);
	unlink(path);
	make_stale_socket(path);	/* someone else's file now */
	ctl_close(ctl);
	cr_expect_eq(access(path, F_OK), 0, "another's socket file was removed");
	unlink(path);
	loop_free(loop);
	rmdir(dir);
}

Test(ctl, path_too_long_is_an_error_naming_it)
{
	char path[200], err[256] = "";
	struct ctl *ctl;
	struct loop *loop;

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	cr_assert_eq(loop_new(&loop), 0);
	cr_expect_eq(ctl_open(loop, path, NULL, NULL, &ctl, err, sizeof(err)), -ENAMETOOLONG);
	cr_expect(strstr(err, "control socket path is too long (199 bytes, max 107)"), "%s", err);
	loop_free(loop);
}

/* ---- the command registry and knlbd's dispatch through it ---------------- */

/* What knlbd's dispatch answers before a handler runs (no daemon needed). */
static char *dispatch(const char *line, enum ctl_status *st)
{
	char buf[256], *argv[CTL_MAX_ARGS], *text = NULL, *save = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int argc = 0;

	cr_assert_not_null(out);
	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok_r(buf, " ", &save); w && argc < CTL_MAX_ARGS;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	*st = ctl_commands_handle(NULL, argc, argv, out);
	fclose(out);
	return text;
}

Test(ctl_registry, knlbd_serves_every_remote_command_and_no_local_one)
{
	for (size_t i = 0; i < CTL_N_COMMANDS; i++) {
		const struct ctl_command *c = &ctl_commands[i];

		cr_expect_not_null(c->name, "row %zu has no name", i);
		cr_expect_eq(ctl_commands_served((enum ctl_command_id)i),
			     !(c->flags & CTL_CMD_LOCAL), "%s", c->name);
		cr_expect_eq(ctl_command_find(c->name), c);
		cr_expect(c->help[strlen(c->help) - 1] == '\n', "%s: help without its newline", c->name);
		cr_expect_leq(c->min_args, ctl_command_max_args(c), "%s", c->name);
	}
}

Test(ctl_registry, suggest_finds_one_or_two_edits_and_no_more)
{
	cr_expect_str_eq(ctl_command_suggest("stauts"), "status");
	cr_expect_str_eq(ctl_command_suggest("renedr"), "render");
	cr_expect_str_eq(ctl_command_suggest("disabel"), "disable");
	cr_expect_str_eq(ctl_command_suggest("flow"), "flows");
	cr_expect_null(ctl_command_suggest("frobnicate"));
	cr_expect_null(ctl_command_suggest("x"));
}

Test(ctl_registry, weight_is_digits_up_to_the_maximum)
{
	uint32_t w = 7;

	cr_expect_eq(ctl_parse_weight("0", &w), 0);
	cr_expect_eq(w, 0);
	cr_expect_eq(ctl_parse_weight("65535", &w), 0);
	cr_expect_eq(w, KNLB_MAX_WEIGHT);
	cr_expect_lt(ctl_parse_weight("65536", &w), 0);
	cr_expect_lt(ctl_parse_weight("+5", &w), 0);
	cr_expect_lt(ctl_parse_weight("-1", &w), 0);
	cr_expect_lt(ctl_parse_weight(" 5", &w), 0);
	cr_expect_lt(ctl_parse_weight("", &w), 0);
}

Test(ctl_registry, knlbd_refuses_what_the_registry_refuses)
{
	enum ctl_status st;
	char *t;

	t = dispatch("stauts --json", &st);
	cr_expect_eq(st, CTL_ERROR);
	cr_expect_str_eq(t, "unknown command \"stauts\" (did you mean \"status\"?); commands: "
			 "status flows stats drain enable disable weight explain reload render\n");
	free(t);
	/* local commands are not knlbd's, and are not suggested by it */
	t = dispatch("check-config /etc/knlb/knlb.conf", &st);
	cr_expect_eq(st, CTL_ERROR);
	cr_expect(!strncmp(t, "unknown command \"check-config\"; commands:", 41), "%s", t);
	free(t);
	t = dispatch("weight web b1 +5", &st);
	cr_expect_eq(st, CTL_ERROR);
	cr_expect_str_eq(t, "weight: N must be an integer from 0 to 65535, not '+5'\n");
	free(t);
	t = dispatch("weight web b1 65536 --json", &st);
	cr_expect_str_eq(t, "weight: N must be an integer from 0 to 65535, not '65536'\n");
	free(t);
	t = dispatch("drain web", &st);
	cr_expect_eq(st, CTL_ERROR);
	cr_expect_str_eq(t, "drain takes 2 arguments (SERVICE BACKEND), not 1; knlbctl help drain\n");
	free(t);
	t = dispatch("status a b --json", &st);
	cr_expect_str_eq(t, "status takes 0 to 1 arguments ([SERVICE]), not 2; knlbctl help status\n");
	free(t);
	t = dispatch("explain web 198.51.100.1:0", &st);
	cr_expect_eq(st, CTL_ERROR);
	cr_expect_str_eq(t, "explain: CLIENT must be ADDR, ADDR:PORT or [IPV6]:PORT, not '198.51.100.1:0'\n");
	free(t);
}

Test(ctl_registry, explain_clients_parse_with_and_without_port)
{
	struct knlb_addr a;
	uint16_t port;

	cr_assert_eq(ctl_parse_client("198.51.100.1", &a, &port), 0);
	cr_expect_eq(a.family, AF_INET);
	cr_expect_eq(port, 0);
	cr_assert_eq(ctl_parse_client("198.51.100.1:40001", &a, &port), 0);
	cr_expect_eq(port, 40001);
	cr_assert_eq(ctl_parse_client("2001:db8::1", &a, &port), 0);
	cr_expect_eq(a.family, AF_INET6);
	cr_expect_eq(port, 0);
	cr_assert_eq(ctl_parse_client("[2001:db8::1]:443", &a, &port), 0);
	cr_expect_eq(a.family, AF_INET6);
	cr_expect_eq(port, 443);
	cr_expect_eq(ctl_parse_client("client.example", &a, &port), -EINVAL);
	cr_expect_eq(ctl_parse_client("198.51.100.1:70000", &a, &port), -EINVAL);
}
