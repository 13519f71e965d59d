/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Privilege separation as the kernel reports it in /proc/PID/status:
 * knlbd keeps CAP_NET_ADMIN and nothing else; its children (the spawner,
 * the health prober, which parses what backends send, and the metrics
 * worker, which parses what scrapers send) hold no capability in any set,
 * not even the bounding set, have no_new_privs and run as nobody.  The
 * prober killed with SIGKILL is logged, restarted, changes no backend's
 * state while it is gone, and health works after; so does the metrics
 * worker, and scrapes work after.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(privsep, .init = kt_enter_netns, .timeout = 60);

#define NET_ADMIN_ONLY	"0000000000001000"	/* bit 12 */
#define NO_CAPS		"0000000000000000"

static void expect_field(pid_t pid, const char *field, const char *want,
			 const char *who)
{
	char *got = kt_status_field(pid, field);

	cr_expect_str_eq(got, want, "%s (pid %d): %s %s, want %s", who, (int)pid,
			 field, got, want);
	free(got);
}

static void expect_unprivileged(pid_t pid, const char *who)
{
	struct passwd *pw = getpwnam("nobody");
	char uid[64];

	cr_assert_not_null(pw, "no user nobody on this machine");
	snprintf(uid, sizeof(uid), "%u\t%u\t%u\t%u", pw->pw_uid, pw->pw_uid,
		 pw->pw_uid, pw->pw_uid);
	expect_field(pid, "CapEff", NO_CAPS, who);
	expect_field(pid, "CapPrm", NO_CAPS, who);
	expect_field(pid, "CapBnd", NO_CAPS, who);
	expect_field(pid, "CapInh", NO_CAPS, who);
	expect_field(pid, "CapAmb", NO_CAPS, who);
	expect_field(pid, "NoNewPrivs", "1", who);
	expect_field(pid, "Uid", uid, who);
}

/* knlbd's children, from /proc/PID/task/PID/children. */
static size_t children_of(pid_t pid, pid_t *out, size_t max)
{
	char path[96], *text, *p, *end;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	text = kt_read_file(path);
	cr_assert_not_null(text, "%s", path);
	for (p = text; n < max; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		out[n++] = (pid_t)v;
	}
	free(text);
	return n;
}

/* The pid logged after prefix ("... process 1234, ..."). */
static pid_t logged_pid(const char *logpath, const char *prefix)
{
	char *log = kt_read_file(logpath), *p;
	pid_t pid = 0;

	p = log ? strstr(log, prefix) : NULL;
	if (p)
		pid = (pid_t)strtol(p + strlen(prefix), NULL, 10);
	free(log);
	return pid;
}

/* GET /metrics: the body, or fails the test. */
static char *scrape(uint16_t port)
{
	char cmd[160];
	int status;
	char *out;

	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 5 http://127.0.0.1:%u/metrics 2>&1",
		 port);
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s: %s", cmd, out);
	return out;
}

Test(privsep, children_hold_nothing_and_a_killed_prober_comes_back)
{
	char conf[] = "/tmp/knlb-privsep-XXXXXX", log[] = "/tmp/knlb-privsep-log-XXXXXX";
	char config[1024], args[256], want[128], *text = NULL;
	pid_t knlbd, prober, prober2, scraper, scraper2, kids[8];
	uint16_t alive_port, flappy_port, metrics_port;
	int fd, alive_fd, flappy_fd, status;
	size_t n_kids;
	bool found = false;

	free(kt_run("ip link set lo up", &status));
	cr_assert_eq(status, 0);
	alive_fd = kt_loopback_port(true, &alive_port);
	flappy_fd = kt_loopback_port(true, &flappy_port);
	kt_loopback_port(false, &metrics_port);
	snprintf(config, sizeof(config),
		 "[global]\ntable = privsep\nmetrics_listen = 127.0.0.1:%u\n"
		 "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 31\n"
		 "check = tcp\ninterval = 100ms\ntimeout = 50ms\nrise = 1\nfall = 1\n"
		 "backend = 127.0.0.1:%u id=alive\nbackend = 127.0.0.1:%u id=flappy\n",
		 metrics_port, alive_port, flappy_port);
	fd = mkstemp(conf);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, config, strlen(config)), (ssize_t)strlen(config));
	close(fd);
	fd = mkstemp(log);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(args, sizeof(args), "-c %s -s /tmp/knlb-kt-privsep-%d.sock", conf,
		 (int)getpid());
	knlbd = kt_start_knlbd(args, log);
	cr_assert(kt_wait_for_log(log, "health probes run in process ", 10000),
		  "no prober:\n%s", kt_read_file(log));
	prober = logged_pid(log, "health probes run in process ");
	cr_assert_gt(prober, 0);
	cr_assert(kt_wait_for_log(log, "metrics: scrapes served by process ", 10000),
		  "no metrics worker:\n%s", kt_read_file(log));
	scraper = logged_pid(log, "metrics: scrapes served by process ");
	cr_assert_gt(scraper, 0);
	/* Past the daemon's own drop: its control socket is being served. */
	cr_assert(kt_wait_for_log(log, "control socket", 10000));
	usleep(300000);

	expect_field(knlbd, "CapEff", NET_ADMIN_ONLY, "knlbd");
	expect_field(knlbd, "CapPrm", NET_ADMIN_ONLY, "knlbd");
	expect_field(knlbd, "CapBnd", NET_ADMIN_ONLY, "knlbd");
	n_kids = children_of(knlbd, kids, 8);
	cr_expect_eq(n_kids, 3, "knlbd has %zu children, want the spawner, the prober and the metrics worker",
		     n_kids);
	for (size_t i = 0; i < n_kids; i++) {
		expect_unprivileged(kids[i], kids[i] == prober ? "prober" :
					     kids[i] == scraper ? "metrics worker" : "spawner");
		found |= kids[i] == prober;
	}
	cr_expect(found, "the prober (pid %d) is not knlbd's child", (int)prober);
	cr_expect_eq(kt_count_in_log(log, " DOWN"), 0, "%s", kt_read_file(log));

	/* Killed: logged, restarted, and no backend changed state meanwhile. */
	cr_assert_eq(kill(prober, SIGKILL), 0);
	snprintf(want, sizeof(want), "health prober (pid %d) died: signal 9; restarting",
		 (int)prober);
	cr_expect(kt_wait_for_log(log, want, 5000), "no \"%s\":\n%s", want, kt_read_file(log));
	cr_assert(kt_wait_for_log(log, "health prober restarted as pid ", 5000),
		  "not restarted:\n%s", kt_read_file(log));
	prober2 = logged_pid(log, "health prober restarted as pid ");
	cr_assert_gt(prober2, 0);
	cr_expect_neq(prober2, prober);
	expect_unprivileged(prober2, "restarted prober");
	usleep(500000);
	cr_expect_eq(kt_count_in_log(log, " DOWN"), 0, "a transition without a prober:\n%s",
		     kt_read_file(log));

	/* Health still works: the backend that stops listening goes down. */
	close(flappy_fd);
	cr_expect(kt_wait_for_log(log, "web/flappy DOWN: connect refused", 5000),
		  "flappy not seen down after the restart:\n%s", kt_read_file(log));
	cr_expect_eq(kt_count_in_log(log, "web/alive DOWN"), 0, "%s", kt_read_file(log));

	/* The metrics worker: served by it, killed, restarted, serving again. */
	text = scrape(metrics_port);
	cr_expect(strstr(text, "knlb_backend_up{service=\"web\",backend=\"flappy\"") != NULL,
		  "%s", text);
	free(text);
	cr_assert_eq(kill(scraper, SIGKILL), 0);
	snprintf(want, sizeof(want), "metrics worker (pid %d) died: signal 9; restarting",
		 (int)scraper);
	cr_expect(kt_wait_for_log(log, want, 5000), "no \"%s\":\n%s", want, kt_read_file(log));
	cr_assert(kt_wait_for_log(log, "metrics worker restarted as pid ", 5000),
		  "not restarted:\n%s", kt_read_file(log));
	scraper2 = logged_pid(log, "metrics worker restarted as pid ");
	cr_assert_gt(scraper2, 0);
	expect_unprivileged(scraper2, "restarted metrics worker");
	text = scrape(metrics_port);
	cr_expect(strstr(text, "# TYPE knlb_backend_up gauge") != NULL, "%s", text);
	free(text);
	text = NULL;

	cr_expect_eq(kt_stop_knlbd(knlbd), 0, "%s", text = kt_read_file(log));
	free(text);
	/* Nothing left behind: every child was reaped with knlbd. */
	for (size_t i = 0; i < n_kids; i++)
		cr_expect(kill(kids[i], 0) == -1 && errno == ESRCH, "pid %d still there", (int)kids[i]);
	cr_expect(kill(prober2, 0) == -1 && errno == ESRCH, "restarted prober still there");
	cr_expect(kill(scraper2, 0) == -1 && errno == ESRCH, "restarted metrics worker still there");
	close(alive_fd);
	unlink(conf);
	unlink(log);
}
