/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics endpoint under hostile clients (issue 13, defects 1 and 2):
 * the server runs on the test's loop, a forked driver plays the abusers
 * and the legitimate scraper and writes what it timed to a pipe.
 *
 * Abusers connect from their own loopback addresses (127.0.0.2 and up:
 * all of 127/8 is local) so that the per-address limit does not hide
 * what the whole-request deadline and the accept path must do; one case
 * puts them all on one address to show that limit at work.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/daemon/metrics.h"
#include "knlb/pool/pool.h"

#include "config-test.h"
#include "../common/loopback.h"

#define CONF "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.11:8080\n"

struct rig {
	struct result r;
	struct knlb_model *pool;
	struct loop *loop;
	struct metrics_sources src;
	struct metrics *m;
};

static void rig_up(struct rig *g)
{
	char err[256];

	memset(g, 0, sizeof(*g));
	g->r = load_ok(CONF);
	cr_assert_eq(pool_create(g->r.cfg, &g->pool), 0);
	cr_assert_eq(loop_new(&g->loop), 0);
	g->src = (struct metrics_sources){ .pool = g->pool };
	if (getenv("KT_DEBUG")) log_set_level(LOG_LEVEL_DEBUG);
	cr_assert_eq(metrics_open(g->loop, "127.0.0.1:0", &g->src, &g->m, err,
				  sizeof(err)), 0, "%s", err);
}

static void rig_down(struct rig *g)
{
	metrics_close(g->m);
	loop_free(g->loop);
	pool_free(g->pool);
	result_free(&g->r);
}

/*
 * One scrape from 127.0.0.1 as a scraper with a timeout does it: the time
 * to the whole answer in ms, or -1 when it failed or took over timeout_ms.
 */
static double scrape(uint16_t port, int timeout_ms)
{
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	double t0 = now_ms(), left;
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int fd = connect_from(port, 0);

	if (fd == -1)
		return -1;
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto fail;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		left = timeout_ms - (now_ms() - t0);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			goto fail;
		n = read(fd, buf + (got < 16 ? got : 0), sizeof(buf) - 16);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (got == 0 && strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	return got ? now_ms() - t0 : -1;
fail:
	close(fd);
	return -1;
}

/*
 * n slow clients, client i from 127.0.0.<first + i> (same address for all
 * when spread is false): each sends a request line, then one header byte
 * a second, and connects again whenever the server closes it, until
 * seconds have passed; then all are closed.  Runs in its own process.
 */
static void slow_clients(uint16_t port, int n, int first, bool spread,
			 int seconds)
{
	const char *start = "GET /metrics HTTP/1.1\r\n";
	int fds[64];
	double end = now_ms() + seconds * 1000.0;

	for (int i = 0; i < n; i++) {
		fds[i] = connect_from(port, spread ? first + i : first);
		if (fds[i] != -1 && write(fds[i], start, strlen(start)) == -1) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	while (now_ms() < end) {
		usleep(1000 * 1000);
		for (int i = 0; i < n; i++) {
			char c;

			/* closed by the server: EOF, a reset, or a failed write */
			if (fds[i] != -1 &&
			    (recv(fds[i], &c, 1, MSG_DONTWAIT) >= 0 || errno != EAGAIN ||
			     send(fds[i], "X", 1, MSG_NOSIGNAL) != 1)) {
				close(fds[i]);
				fds[i] = -1;
			}
			if (fds[i] == -1) {
				fds[i] = connect_from(port, spread ? first + i : first);
				if (fds[i] != -1)
					(void)!write(fds[i], start, strlen(start));
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (fds[i] != -1)
			close(fds[i]);
}

/* ---- the loop side: run until the driver closes its pipe ------------- */

struct drive {
	FILE *mem;
	char *text;
	size_t len;
	bool eof;
};

static void on_driver_output(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct drive *d = arg;
	char buf[1024];
	ssize_t n;

	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, d->mem);
	if (n == 0) {
		d->eof = true;
		loop_stop(loop);
	}
}

static void on_deadline(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_stop(loop);
}

typedef void (*driver_fn)(uint16_t port, FILE *out);

/* Run the server on the loop while fn drives clients in a child. */
static char *run_driver(struct rig *g, driver_fn fn, int timeout_s)
{
	struct loop_timer deadline;
	struct drive d = { 0 };
	int pipefd[2], status;
	pid_t pid;

	cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		FILE *out;

		close(pipefd[0]);
		out = fdopen(pipefd[1], "w");
		setvbuf(out, NULL, _IOLBF, 0);
		fn(metrics_port(g->m), out);
		fclose(out);
		_exit(0);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	d.mem = open_memstream(&d.text, &d.len);
	cr_assert_eq(loop_add_fd(g->loop, pipefd[0], EPOLLIN, on_driver_output, &d), 0);
	loop_timer_init(&deadline, on_deadline, NULL);
	cr_assert_eq(loop_timer_arm(g->loop, &deadline, timeout_s * 1000000000ULL), 0);
	cr_assert_eq(loop_run(g->loop), 0);
	loop_timer_cancel(g->loop, &deadline);
	loop_del_fd(g->loop, pipefd[0]);
	close(pipefd[0]);
	fclose(d.mem);
	if (!d.eof)
		kill(-pid, SIGKILL), kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(d.eof, "driver did not finish in %d s; so far:\n%s", timeout_s, d.text);
	return d.text;
}

/* The number after "name " in the driver's output; asserts it is there. */
static double measured(const char *text, const char *name)
{
	char tag[64];
	const char *s;

	snprintf(tag, sizeof(tag), "measure: %s ", name);
	s = strstr(text, tag);
	cr_assert_not_null(s, "no \"%s\" in:\n%s", tag, text);
	return strtod(s + strlen(tag), NULL);
}

/* Fork the abusers; the caller waits for them with waitpid. */
static pid_t abuse(uint16_t port, int n, int first, bool spread, int seconds)
{
	pid_t pid = fork();

	if (pid == 0) {
		slow_clients(port, n, first, spread, seconds);
		_exit(0);
	}
	return pid;
}

/* ---- defect 1: at the connection limit, then never again ------------- */

/*
 * 17 connections (one over the limit) from 17 addresses each send a
 * request line and a byte a second for 3 s, then close.  Every scrape
 * after that timed out, for good: MHD had taken its listening socket out
 * of its epoll set at the limit and nobody ran it again.
 */
static void drive_limit_then_close(uint16_t port, FILE *out)
{
	pid_t pid = abuse(port, 15, 2, true, 3);

	waitpid(pid, NULL, 0);
	usleep(200 * 1000);
	fprintf(out, "measure: first_scrape_after_ms %.1f\n", scrape(port, 5000));
	fprintf(out, "measure: second_scrape_after_ms %.1f\n", scrape(port, 5000));
}

Test(metrics_http, accepts_again_after_the_connection_limit, .timeout = 60)
{
	struct rig g;
	char *out;
	double t;

	rig_up(&g);
	out = run_driver(&g, drive_limit_then_close, 40);
	cr_log_info("%s", out);
	t = measured(out, "first_scrape_after_ms");
	cr_expect(t >= 0 && t < 1000, "scrape after the limit: %.1f ms (-1: failed)\n%s", t, out);
	t = measured(out, "second_scrape_after_ms");
	cr_expect(t >= 0 && t < 1000, "second scrape: %.1f ms\n%s", t, out);
	free(out);
	rig_down(&g);
}

/* ---- defect 2: slow clients holding every slot ----------------------- */

/*
 * 20 clients from 20 addresses trickle a byte a second for 9 s and come
 * back whenever they are closed.  A scrape started 1 s in must be
 * answered within the whole-request deadline plus a margin; after the
 * abuse, scrapes take their normal time again.
 */
static void drive_slow_clients_spread(uint16_t port, FILE *out)
{
	double before = scrape(port, 5000);
	pid_t pid = abuse(port, 20, 2, true, 9);

	usleep(1500 * 1000);
	fprintf(out, "measure: scrape_before_ms %.1f\n", before);
	fprintf(out, "measure: scrape_during_abuse_ms %.1f\n", scrape(port, 15000));
	waitpid(pid, NULL, 0);
	{
		double t0 = now_ms(), t;

		/* recovery: from the abusers' close to the first good scrape */
		while ((t = scrape(port, 2000)) < 0 && now_ms() - t0 < 20000)
			;
		fprintf(out, "measure: recovery_ms %.1f\n", t < 0 ? -1 : now_ms() - t0);
		fprintf(out, "measure: scrape_after_ms %.1f\n", scrape(port, 5000));
	}
}

Test(metrics_http, slow_clients_from_many_addresses_cannot_hold_it, .timeout = 90)
{
	struct rig g;
	char *out;
	double t;

	rig_up(&g);
	out = run_driver(&g, drive_slow_clients_spread, 60);
	cr_log_info("%s", out);
	t = measured(out, "scrape_during_abuse_ms");
	cr_expect(t >= 0 && t < 6000, "scrape under 20 slow clients: %.1f ms (-1: failed)\n%s", t, out);
	t = measured(out, "recovery_ms");
	cr_expect(t >= 0 && t < 1000, "recovery: %.1f ms\n%s", t, out);
	t = measured(out, "scrape_after_ms");
	cr_expect(t >= 0 && t < 1000, "scrape after: %.1f ms\n%s", t, out);
	free(out);
	rig_down(&g);
}

/*
 * The same 20 from one address: the per-address limit leaves the other
 * slots to everyone else, so a scrape from elsewhere is not even delayed.
 */
static void drive_slow_clients_one_address(uint16_t port, FILE *out)
{
	pid_t pid = abuse(port, 20, 2, false, 5);

	usleep(1500 * 1000);
	fprintf(out, "measure: scrape_during_abuse_ms %.1f\n", scrape(port, 10000));
	waitpid(pid, NULL, 0);
	fprintf(out, "measure: scrape_after_ms %.1f\n", scrape(port, 5000));
}

Test(metrics_http, slow_clients_from_one_address_leave_room, .timeout = 60)
{
	struct rig g;
	char *out;
	double t;

	rig_up(&g);
	out = run_driver(&g, drive_slow_clients_one_address, 40);
	cr_log_info("%s", out);
	t = measured(out, "scrape_during_abuse_ms");
	cr_expect(t >= 0 && t < 1000, "scrape beside 20 slow clients of one address: %.1f ms\n%s",
		  t, out);
	t = measured(out, "scrape_after_ms");
	cr_expect(t >= 0 && t < 1000, "scrape after: %.1f ms\n%s", t, out);
	free(out);
	rig_down(&g);
}
