/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd's metrics endpoint under hostile clients (issue 13, defects 1 and
 * 2), end to end in a throwaway netns: slow clients that fill every slot
 * and then close, slow clients that keep coming back, and meanwhile a
 * legitimate scrape (curl) and `status` on the control socket, timed.
 * The times go out as "measure:" lines (--verbose shows them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"
#include "../common/loopback.h"

#define PORT 9410

TestSuite(metrics_abuse, .init = kt_enter_netns, .timeout = 90);

/*
 * A child process: n clients from 127.0.0.2.. send a request line, then a
 * header byte a second, reconnecting whenever closed, for seconds; then
 * all close.
 */
static pid_t slow_clients(int n, int seconds)
{
	const char *start = "GET /metrics HTTP/1.1\r\n";
	pid_t pid = fork();
	double end;
	int fds[32];

	cr_assert_geq(pid, 0);
	if (pid)
		return pid;
	end = now_ms() + seconds * 1000.0;
	for (int i = 0; i < n; i++)
		fds[i] = -1;
	do {
		for (int i = 0; i < n; i++) {
			char c;

			if (fds[i] != -1 &&
			    (recv(fds[i], &c, 1, MSG_DONTWAIT) >= 0 || errno != EAGAIN ||
			     send(fds[i], "X", 1, MSG_NOSIGNAL) != 1)) {
				close(fds[i]);
				fds[i] = -1;
			}
			if (fds[i] == -1 && (fds[i] = connect_from(PORT, 2 + i)) != -1)
				(void)!write(fds[i], start, strlen(start));
		}
		usleep(1000 * 1000);
	} while (now_ms() < end);
	_exit(0);
}

/* curl's time for a whole scrape in ms, or -1 when it failed. */
static double scrape_ms(int max_s)
{
	char cmd[256], *out;
	int status;
	double t;

	snprintf(cmd, sizeof(cmd),
		 "curl -s -o /dev/null -w '%%{http_code} %%{time_total}' --max-time %d "
		 "http://127.0.0.1:%d/metrics", max_s, PORT);
	out = kt_run(cmd, &status);
	t = status == 0 && strncmp(out, "200 ", 4) == 0 ? strtod(out + 4, NULL) * 1e3 : -1;
	free(out);
	return t;
}

/* `status` on the control socket, in ms; -1 when not answered OK. */
static double status_ms(const char *sock)
{
	double t0 = now_ms(), t;
	char *out = kt_ctl(sock, "status");

	t = out && strncmp(out, "OK", 2) == 0 ? now_ms() - t0 : -1;
	free(out);
	return t;
}

struct rig {
	char conf[64], log[64], sock[80];
	pid_t pid;
};

static void rig_up(struct rig *g)
{
	const char *text = "[global]\ntable = ma\nmetrics_listen = 127.0.0.1:9410\n"
			   "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.1:80\n";
	char args[256];
	int status, fd;

	free(kt_run("ip link set lo up 2>&1", &status));
	cr_assert_eq(status, 0, "ip link set lo up");
	strcpy(g->conf, "/tmp/knlb-mabuse-XXXXXX.conf");
	strcpy(g->log, "/tmp/knlb-mabuse-log-XXXXXX");
	fd = mkstemps(g->conf, 5);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	fd = mkstemp(g->log);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(g->sock, sizeof(g->sock), "%s.sock", g->conf);
	snprintf(args, sizeof(args), "-c %s -s %s", g->conf, g->sock);
	g->pid = kt_start_knlbd(args, g->log);
	if (!kt_wait_for_log(g->log, "programmed table inet ma", 5000)) {
		kt_stop_knlbd(g->pid);
		cr_assert_fail("knlbd did not start:\n%s", kt_read_file(g->log));
	}
}

static void rig_down(struct rig *g)
{
	cr_expect_eq(kt_stop_knlbd(g->pid), 0);
	unlink(g->conf);
	unlink(g->log);
}

/* Defect 1: 17 slow clients fill the limit and close: scrapes work again. */
Test(metrics_abuse, scrapes_work_after_the_limit_was_hit)
{
	struct rig g;
	double t;
	char *log;

	rig_up(&g);
	waitpid(slow_clients(17, 3), NULL, 0);
	t = scrape_ms(5);
	cr_log_info("measure: scrape after 17 slow clients closed: %.1f ms", t);
	cr_expect(t >= 0 && t < 1000, "scrape after the limit: %.1f ms (-1: failed)", t);
	t = scrape_ms(5);
	cr_expect(t >= 0 && t < 1000, "second scrape: %.1f ms", t);
	log = kt_read_file(g.log);
	cr_expect(strstr(log, "metrics: 16 connections open, the limit") != NULL, "%s", log);
	free(log);
	rig_down(&g);
}

/*
 * Defect 2: 20 slow clients from 20 addresses that come back whenever
 * closed.  A scrape is answered within the 5 s deadline plus a margin,
 * the control socket answers as fast as ever, and once they stop,
 * scrapes take their normal time.
 */
Test(metrics_abuse, slow_clients_hold_neither_the_endpoint_nor_the_loop)
{
	struct rig g;
	double base_scrape, base_status, scrape, status, worst = 0, after;
	pid_t abusers;

	rig_up(&g);
	cr_expect_geq(status_ms(g.sock), 0, "status before the abuse");
	base_scrape = scrape_ms(5);
	base_status = status_ms(g.sock);
	abusers = slow_clients(20, 10);
	usleep(1500 * 1000);
	scrape = scrape_ms(15);
	for (int i = 0; i < 10; i++) {
		status = status_ms(g.sock);
		worst = status < 0 || worst < 0 ? -1 : status > worst ? status : worst;
		usleep(100 * 1000);
	}
	waitpid(abusers, NULL, 0);
	after = scrape_ms(5);
	cr_log_info("measure: scrape %.1f ms and status %.1f ms before abuse", base_scrape,
		    base_status);
	cr_log_info("measure: under 20 slow clients: scrape %.1f ms, status worst of 10 %.1f ms",
		    scrape, worst);
	cr_log_info("measure: scrape right after the abusers left %.1f ms", after);
	cr_expect(scrape >= 0 && scrape < 6000, "scrape under abuse: %.1f ms (-1: failed)", scrape);
	cr_expect(worst >= 0 && worst < 500, "status under abuse: %.1f ms (-1: failed)", worst);
	cr_expect(after >= 0 && after < 1000, "scrape after abuse: %.1f ms", after);
	rig_down(&g);
}
