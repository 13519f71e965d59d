/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp and http probes keep their sockets (check_sock.c): a probe that connected
 * resets its connection and leaves the socket for the next one; one that
 * failed closes it, so no error carries over; nothing is left behind,
 * neither a connection to accept, nor a TIME_WAIT socket, nor an fd once
 * the checker is freed.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/health/check.h"
#include "knlb/lib/loop.h"
#include "check-test.h"

#define MS	1000000ULL

static struct loop *g_loop;
static struct checker *g_checker;
static int g_pending;
static int g_fds_before;
static pid_t g_server = -1;

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int listener(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	cr_assert_neq(fd, -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Start n probes of kind to port at once and run until all have a result. */
static void probe_kind_n(enum check_kind kind, uint16_t port, int n,
			 struct check_outcome *o)
{
	struct check_spec spec = check_test_spec(kind, 1000);
	struct knlb_addr addr = check_test_loopback();

	for (int i = 0; i < n; i++) {
		o[i] = (struct check_outcome){ .loop = g_loop, .pending = &g_pending };
		cr_assert_eq(checker_start(g_checker, &spec, &addr, port, check_outcome_done,
					   &o[i], NULL), 0);
		g_pending++;
	}
	check_loop_run(g_loop, 3000);
}

static void probe_n(uint16_t port, int n, struct check_outcome *o)
{
	probe_kind_n(CHECK_TCP, port, n, o);
}

static void expect_all(const struct check_outcome *o, int n, enum check_status status)
{
	for (int i = 0; i < n; i++) {
		cr_expect_eq(o[i].calls, 1);
		cr_expect_eq(o[i].res.status, status, "probe %d: %s", i, o[i].res.reason);
	}
}

/* The socket inode behind fd ("socket:[N]"), 0 when fd is not a socket. */
static unsigned long socket_inode(int fd)
{
	char path[64], link[64];
	unsigned long ino = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "socket:[%lu]", &ino) != 1)
		return 0;
	return ino;
}

/* The one socket open now that is not lfd (and was not open at setup). */
static unsigned long kept_socket(int lfd, int below)
{
	unsigned long found = 0;
	int n = 0;

	for (int fd = below; fd < 1024; fd++) {
		unsigned long ino = fd == lfd ? 0 : socket_inode(fd);

		if (ino) {
			found = ino;
			n++;
		}
	}
	cr_expect_eq(n, 1, "%d probe sockets open between probes, want the one kept", n);
	return found;
}

/* /proc/net/tcp lines of local port port in state st (hex, "06": TIME_WAIT). */
static int sockets_in_state(uint16_t port, const char *st)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512], local[64], remote[64], state[8];
	char want[8];
	int n = 0;

	cr_assert_not_null(f);
	snprintf(want, sizeof(want), ":%04X", port);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %63s %63s %7s", local, remote, state) == 3 &&
		    (strstr(local, want) || strstr(remote, want)) && !strcmp(state, st))
			n++;
	fclose(f);
	return n;
}

static void setup(void)
{
	g_fds_before = open_fds();
	cr_assert_eq(loop_new(&g_loop), 0);
	cr_assert_eq(checker_new(g_loop, &g_checker), 0);
	g_pending = 0;
}

static void teardown(void)
{
	cr_expect_eq(checker_running(g_checker), 0, "probes left running");
	checker_free(g_checker);
	loop_free(g_loop);
	child_http_stop(&g_server);
}

TestSuite(check_sock, .init = setup, .fini = teardown, .timeout = 10);

Test(check_sock, probes_in_a_row_reuse_one_socket)
{
	uint16_t port;
	int lfd = listener(&port), fds;
	int below = lfd + 1;	/* the loop's own fds are older */
	struct check_outcome o[1];
	unsigned long kept;

	probe_n(port, 1, o);
	expect_all(o, 1, CHECK_OK);
	fds = open_fds();
	kept = kept_socket(lfd, below);
	for (int i = 0; i < 20; i++) {
		probe_n(port, 1, o);
		expect_all(o, 1, CHECK_OK);
	}
	cr_expect_eq(open_fds(), fds, "20 more probes: %d fds, %d after the first",
		     open_fds(), fds);
	cr_expect_eq(kept_socket(lfd, below), kept, "not the same socket");
	cr_expect_eq(accept(lfd, NULL, NULL), -1, "a probe's connection reached accept()");
	cr_expect_eq(sockets_in_state(port, "06"), 0, "TIME_WAIT sockets left");
	close(lfd);
}

Test(check_sock, concurrent_probes_keep_at_most_their_sockets)
{
	uint16_t port;
	int lfd = listener(&port), fds;
	struct check_outcome o[16];

	probe_n(port, 16, o);
	expect_all(o, 16, CHECK_OK);
	fds = open_fds();
	probe_n(port, 16, o);
	expect_all(o, 16, CHECK_OK);
	cr_expect_eq(open_fds(), fds);
	cr_expect_eq(sockets_in_state(port, "06"), 0, "TIME_WAIT sockets left");
	close(lfd);
}

Test(check_sock, a_refusal_does_not_reach_the_next_probe)
{
	uint16_t live, dead;
	int lfd = listener(&live), dfd = listener(&dead);
	struct check_outcome o[1];

	close(dfd);	/* nothing listens on dead any more: refused */
	probe_n(live, 1, o);
	expect_all(o, 1, CHECK_OK);
	probe_n(dead, 1, o);
	expect_all(o, 1, CHECK_FAILED);
	cr_expect_str_eq(o[0].res.reason, "connect refused");
	for (int i = 0; i < 3; i++) {
		probe_n(live, 1, o);
		expect_all(o, 1, CHECK_OK);
		probe_n(dead, 1, o);
		expect_all(o, 1, CHECK_FAILED);
	}
	close(lfd);
}

Test(check_sock, freeing_the_checker_closes_every_socket)
{
	uint16_t port;
	int lfd = listener(&port);
	struct check_outcome o[8];

	probe_n(port, 8, o);
	expect_all(o, 8, CHECK_OK);
	close(lfd);
	checker_free(g_checker);
	loop_free(g_loop);
	cr_expect_eq(open_fds(), g_fds_before, "%d fds open, %d before",
		     open_fds(), g_fds_before);
	cr_assert_eq(loop_new(&g_loop), 0);
	cr_assert_eq(checker_new(g_loop, &g_checker), 0);
}

Test(check_sock, http_probes_in_a_row_reuse_one_socket)
{
	uint16_t port = child_http_start(&g_server);
	int fds;
	struct check_outcome o[1];

	probe_kind_n(CHECK_HTTP, port, 1, o);
	expect_all(o, 1, CHECK_OK);
	fds = open_fds();
	for (int i = 0; i < 10; i++) {
		probe_kind_n(CHECK_HTTP, port, 1, o);
		expect_all(o, 1, CHECK_OK);
		cr_expect_str_eq(o[0].res.reason, "status 200");
	}
	cr_expect_eq(open_fds(), fds, "10 more probes: %d fds, %d after the first",
		     open_fds(), fds);
	cr_expect_eq(sockets_in_state(port, "06"), 0, "TIME_WAIT sockets left");
}
