/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ctl test server and clients; see ctl-test.h. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/ctl/commands.h"
#include "knlb/ctl/server.h"
#include "knlb/lib/loop.h"
#include "ctl-test.h"

/* knlbd's commands, as the registry knlbctl sends them says. */
static bool is_client_command(const char *name)
{
	const struct ctl_command *cmd = ctl_command_find(name);

	return cmd && !(cmd->flags & CTL_CMD_LOCAL);
}

/*
 * status --json as knlbd shapes it, for knlbctl's completion and
 * drain --wait: "drainy" has b1 draining, its active flows going 2, 1, 0
 * over three polls; "stuck" keeps 3.
 */
static bool status_json(struct test_server *s, int argc, char **argv, FILE *out)
{
	static const char backend[] =
		"{\"id\":\"%s\",\"address\":\"%s\",\"backup\":false,\"admin\":\"%s\","
		"\"health\":\"up\",\"active_flows\":%d,\"check\":null}";

	if (strcmp(argv[0], "status") || strcmp(argv[argc - 1], "--json"))
		return false;
	if (argc == 2) {
		fputs("{\"services\":[{\"name\":\"drainy\",\"backends\":[]},"
		      "{\"name\":\"stuck\",\"backends\":[]}]}\n", out);
		return true;
	}
	if (argc != 3 || (strcmp(argv[1], "drainy") && strcmp(argv[1], "stuck")))
		return false;
	fputs("{\"services\":[{\"name\":\"", out);
	fputs(argv[1], out);
	fputs("\",\"backends\":[", out);
	fprintf(out, backend, "b1", "10.0.0.11:80", "drain",
		!strcmp(argv[1], "stuck") ? 3 : s->polls < 2 ? 2 - s->polls : 0);
	fputc(',', out);
	fprintf(out, backend, "b2", "10.0.0.12:80", "enabled", 7);
	fputs("]}]}\n", out);
	s->polls++;
	return true;
}

/* What knlbctl's commands get here: see ctl-test.h. */
static enum ctl_status client_command(int argc, char **argv, FILE *out)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "refuse"))
			continue;
		fprintf(out, "refused: %s\n", argv[0]);
		return CTL_ERROR;
	}
	if (argc > 1 && !strcmp(argv[1], "degraded")) {
		fputs("service degraded: backend b2 down\n", out);
		return CTL_WARN;
	}
	if (argc > 1 && !strcmp(argv[1], "silent"))
		return CTL_OK;
	if (argc > 1 && !strcmp(argv[1], "big")) {
		for (int i = 0; i < 100000; i++)
			fprintf(out, "flow %06d\n", i);
		return CTL_OK;
	}
	fputs("got:", out);
	for (int i = 0; i < argc; i++)
		fprintf(out, " %s", argv[i]);
	fputc('\n', out);
	return CTL_OK;
}

static enum ctl_status test_handler(void *arg, int argc, char **argv, FILE *out)
{
	struct test_server *s = arg;
	size_t off = 0;

	s->last_request[0] = '\0';
	for (int i = 0; i < argc; i++)
		off += (size_t)snprintf(s->last_request + off,
					sizeof(s->last_request) - off, "%s%s",
					i ? "|" : "", argv[i]);
	if (!strcmp(argv[0], "echo")) {
		for (int i = 0; i < argc; i++)
			fprintf(out, "%s\n", argv[i]);
		return CTL_OK;
	}
	if (!strcmp(argv[0], "warn")) {
		fputs("careful\n", out);
		return CTL_WARN;
	}
	if (!strcmp(argv[0], "err")) {
		fputs("failed:", out);
		for (int i = 1; i < argc; i++)
			fprintf(out, " %s", argv[i]);
		fputc('\n', out);
		return CTL_ERROR;
	}
	if (!strcmp(argv[0], "nonl")) {
		fputs("no newline", out);
		return CTL_OK;
	}
	if (!strcmp(argv[0], "empty"))
		return CTL_OK;
	if (!strcmp(argv[0], "big") && argc == 2) {
		size_t n = strtoull(argv[1], NULL, 10);
		char line[64];

		memset(line, 'x', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\n';
		for (; n >= sizeof(line); n -= sizeof(line))
			fwrite(line, 1, sizeof(line), out);
		fwrite(line, 1, n, out);
		return CTL_OK;
	}
	if (!strcmp(argv[0], "stats")) {
		struct ctl_stats st;

		ctl_get_stats(s->ctl, &st);
		fprintf(out, "connections %llu\nrequests %llu\nbad_requests %llu\n"
			"rejected %llu\ntimeouts %llu\n",
			(unsigned long long)st.connections,
			(unsigned long long)st.requests,
			(unsigned long long)st.bad_requests,
			(unsigned long long)st.rejected,
			(unsigned long long)st.timeouts);
		return CTL_OK;
	}
	if (status_json(s, argc, argv, out))
		return CTL_OK;
	if (is_client_command(argv[0]))
		return client_command(argc, argv, out);
	fprintf(out, "unknown command '%s'\n", argv[0]);
	return CTL_ERROR;
}

static void on_stop(struct loop *loop, int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	loop_stop(loop);
}

static void *server_thread(void *arg)
{
	struct test_server *s = arg;

	s->loop_ret = loop_run(s->loop);
	return NULL;
}

void server_start(struct test_server *s, unsigned request_ms, unsigned reply_ms)
{
	char err[256] = "";
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/knlb-ctl-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/knlb.sock", s->dir);
	cr_assert_eq(loop_new(&s->loop), 0);
	cr_assert_eq(pipe2(s->stop_pipe, O_CLOEXEC), 0);
	cr_assert_eq(loop_add_fd(s->loop, s->stop_pipe[0], EPOLLIN, on_stop, s), 0);
	ret = ctl_open(s->loop, s->path, test_handler, s, &s->ctl, err, sizeof(err));
	cr_assert_eq(ret, 0, "ctl_open: %s", err);
	if (request_ms || reply_ms)
		ctl_set_timeouts(s->ctl, request_ms ? request_ms : CTL_REQUEST_TIMEOUT_MS,
				 reply_ms ? reply_ms : CTL_REPLY_TIMEOUT_MS);
	cr_assert_eq(pthread_create(&s->thread, NULL, server_thread, s), 0);
}

void server_stop(struct test_server *s)
{
	struct stat st;

	cr_assert_eq(write(s->stop_pipe[1], "x", 1), 1);
	cr_assert_eq(pthread_join(s->thread, NULL), 0);
	cr_expect_eq(s->loop_ret, 0);
	ctl_close(s->ctl);
	cr_expect_eq(lstat(s->path, &st), -1, "ctl_close must unlink %s", s->path);
	cr_expect_eq(errno, ENOENT);
	loop_free(s->loop);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	rmdir(s->dir);
}

int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 20 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_neq(fd, -1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "connect %s: %s", path, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

void client_send(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

int client_read_all(int fd, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int ret = 0;

	cr_assert_not_null(buf);
	for (;;) {
		ssize_t r;

		if (cap - n < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r == 0)
			break;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return ret;
}

char *client_request(const char *path, const char *line)
{
	int fd = client_connect(path);
	size_t len;
	char *reply;
	int ret;

	client_send(fd, line, strlen(line));
	ret = client_read_all(fd, &reply, &len);
	cr_assert_eq(ret, 0, "reading the reply to '%s': %s", line, strerror(-ret));
	close(fd);
	return reply;
}
