/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp probes from knlbd's raw sockets (src/health/check_syn.c) and http
 * probes on kept sockets (src/health/check_sock.c), as the kernel sees
 * them: a live backend stays up and a closed port goes down,
 * for each kind, probe after probe on the same sockets; the tcp backend's
 * application never has a connection to accept; and nothing is left
 * behind: no TIME-WAIT, no connection to a backend, during the run or
 * after knlbd stopped.
 */
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(checks, .init = kt_enter_netns, .timeout = 60);

/* Lines of `ss -Htan` (every TCP socket of the netns) matching state and port. */
static int ss_count(const char *state, uint16_t port)
{
	char cmd[160], *out, *line, *save = NULL;
	char want[16];
	int status, n = 0;

	snprintf(cmd, sizeof(cmd), "ss -Htan state %s", state);
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s: %s", cmd, out);
	snprintf(want, sizeof(want), ":%u ", port);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char padded[512];

		snprintf(padded, sizeof(padded), "%s ", line);
		if (strstr(padded, want))
			n++;
	}
	free(out);
	return n;
}

Test(checks, live_up_closed_down_and_nothing_left_behind)
{
	struct kt_knlbd d;
	char conf[1024], knlbd[512], srv[600], cmd[900];
	uint16_t tcp_live, tcp_closed, http_live, http_closed;
	int tcp_fd, status;
	pid_t server;

	free(kt_run("ip link set lo up", &status));
	cr_assert_eq(status, 0);
	snprintf(knlbd, sizeof(knlbd), "%s", kt_knlbd());
	snprintf(srv, sizeof(srv), "%s/lab/knlb-testsrv", dirname(knlbd));
	if (access(srv, X_OK) == -1)
		cr_skip_test("%s not built (make all)", srv);
	tcp_fd = kt_loopback_port(true, &tcp_live);
	kt_loopback_port(false, &tcp_closed);
	kt_loopback_port(false, &http_live);
	kt_loopback_port(false, &http_closed);
	snprintf(cmd, sizeof(cmd), "%s --name www --tcp 127.0.0.1:%u", srv, http_live);
	server = kt_start_command(cmd, "/dev/null");
	for (int i = 0; i < 100 && ss_count("listening", http_live) == 0; i++)
		usleep(20000);
	cr_assert_eq(ss_count("listening", http_live), 1, "knlb-testsrv did not listen");

	snprintf(conf, sizeof(conf),
		 "[global]\ntable = checks\n"
		 "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 31\n"
		 "check = tcp\ninterval = 100ms\ntimeout = 100ms\nrise = 1\nfall = 3\n"
		 "backend = 127.0.0.1:%u id=live\nbackend = 127.0.0.1:%u id=closed\n"
		 "[service api]\nvip = 192.0.2.10\nport = 81\ntable_size = 31\n"
		 "check = http\ninterval = 100ms\ntimeout = 100ms\nrise = 1\nfall = 3\n"
		 "backend = 127.0.0.1:%u id=www\nbackend = 127.0.0.1:%u id=gone\n",
		 tcp_live, tcp_closed, http_live, http_closed);
	kt_knlbd_start(&d, "checks", conf);
	/* Root in a netns: tcp probes go out from raw sockets (check_syn.c). */
	cr_expect(kt_wait_for_log(d.log, "tcp probes: half-open, from raw sockets", 5000),
		  "%s", kt_read_file(d.log));
	cr_expect(kt_wait_for_log(d.log, "web/closed DOWN: connect refused", 5000),
		  "%s", kt_read_file(d.log));
	cr_expect(kt_wait_for_log(d.log, "api/gone DOWN: connect refused", 5000),
		  "%s", kt_read_file(d.log));
	/* ~20 probes of each backend, on the same few sockets (a backend with
	 * no verdict yet goes down at its first failure, later at the third) */
	usleep(2000 * 1000);
	cr_expect_eq(kt_count_in_log(d.log, "web/live DOWN"), 0, "%s", kt_read_file(d.log));
	cr_expect_eq(kt_count_in_log(d.log, "api/www DOWN"), 0, "%s", kt_read_file(d.log));
	cr_expect_eq(kt_count_in_log(d.log, "could not run"), 0, "%s", kt_read_file(d.log));
	cr_expect_eq(kt_count_in_log(d.log, "closed UP"), 0, "%s", kt_read_file(d.log));
	/* Resets, not FINs: nothing waits, nothing stays open to a backend. */
	cr_expect_eq(ss_count("time-wait", tcp_live), 0, "TIME-WAIT to the tcp backend");
	cr_expect_eq(ss_count("time-wait", http_live), 0, "TIME-WAIT to the http backend");
	cr_expect_leq(ss_count("established", tcp_live), 1, "probe connections left open");
	cr_expect_eq(poll(&(struct pollfd){ .fd = tcp_fd, .events = POLLIN }, 1, 0), 0,
		     "a tcp probe's connection reached the backend's accept()");
	kt_knlbd_stop(&d);
	cr_expect_eq(ss_count("connected", tcp_live), 0, "left after knlbd stopped");
	cr_expect_eq(ss_count("connected", http_live), 0, "left after knlbd stopped");
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	close(tcp_fd);
}

/*
 * lo up, a listening and a closed loopback port, and into conf a service
 * web in table `table` checking both with check = tcp at `timing`
 * ("interval = ...\ntimeout = ...\nrise = ...\nfall = ...\n").  Returns
 * the live port's listening socket.
 */
static int live_and_closed_conf(char *conf, size_t len, const char *table,
				const char *timing, uint16_t *live, uint16_t *closed)
{
	int status, live_fd;

	free(kt_run("ip link set lo up", &status));
	cr_assert_eq(status, 0);
	live_fd = kt_loopback_port(true, live);
	kt_loopback_port(false, closed);
	snprintf(conf, len,
		 "[global]\ntable = %s\n"
		 "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 31\n"
		 "check = tcp\n%s"
		 "backend = 127.0.0.1:%u id=live\nbackend = 127.0.0.1:%u id=closed\n",
		 table, timing, *live, *closed);
	return live_fd;
}

/*
 * Without CAP_NET_RAW (a unit or a container that does not grant it)
 * knlbd opens no raw socket: tcp probes are connect()s in the prober, it
 * says so at start, and they judge backends as before.
 */
Test(checks, without_cap_net_raw_tcp_probes_connect_in_the_prober)
{
	struct kt_knlbd d;
	char conf[512];
	uint16_t live, closed;
	int live_fd, status;

	free(kt_run("command -v setpriv", &status));
	if (status != 0)
		cr_skip_test("setpriv (util-linux) not installed");
	live_fd = live_and_closed_conf(conf, sizeof(conf), "noraw",
				       "interval = 100ms\ntimeout = 100ms\nrise = 1\nfall = 1\n",
				       &live, &closed);
	kt_knlbd_start_wrapped(&d, "noraw", conf,
			       "setpriv --bounding-set=-net_raw --inh-caps=-net_raw");
	cr_expect(kt_wait_for_log(d.log, "tcp probes: connect() in the prober (no raw socket:", 5000),
		  "%s", kt_read_file(d.log));
	cr_expect(kt_wait_for_log(d.log, "web/closed DOWN: connect refused", 5000),
		  "%s", kt_read_file(d.log));
	usleep(500 * 1000);	/* five more probes of each */
	cr_expect_eq(kt_count_in_log(d.log, "web/live DOWN"), 0, "%s", kt_read_file(d.log));
	cr_expect_eq(kt_count_in_log(d.log, "half-open"), 0, "%s", kt_read_file(d.log));
	kt_knlbd_stop(&d);
	close(live_fd);
}

/* Lines of `cmd` output containing needle (cmd run by sh in the netns). */
static int lines_with(const char *cmd, const char *needle)
{
	char *out = kt_run(cmd, &(int){ 0 }), *line, *save = NULL;
	int n = 0;

	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, needle))
			n++;
	free(out);
	return n;
}

/* static: .fini reads them after a failed assertion left the test */
static struct kt_knlbd quiet_d, quiet_again;

static void kill_quiet_knlbds(void)
{
	struct kt_knlbd *all[] = { &quiet_d, &quiet_again };

	for (size_t i = 0; i < 2; i++)
		if (all[i]->pid > 0 && kill(all[i]->pid, SIGKILL) == 0)
			waitpid(all[i]->pid, NULL, 0);
}

/*
 * The raw probes' conntrack entries send no events (nft/probe_events.c):
 * a listener of its own sees none in a second of probes every 50 ms, while
 * the entries are still tracked.  The table goes with knlbd; a knlbd
 * killed with -9 leaves it, and the next one replaces it.
 */
Test(checks, raw_probes_send_no_conntrack_events_and_their_table_goes_at_exit,
     .fini = kill_quiet_knlbds)
{
	struct kt_knlbd *d = &quiet_d, *again = &quiet_again;
	char conf[512], want[32], *table;
	uint16_t live, closed;
	int live_fd, status;

	live_fd = live_and_closed_conf(conf, sizeof(conf), "quiet",
				       "interval = 50ms\ntimeout = 40ms\nrise = 1\nfall = 3\n",
				       &live, &closed);
	kt_knlbd_start(d, "quiet", conf);
	cr_assert(kt_wait_for_log(d->log, "tcp probes: their conntrack entries send no events (table inet quiet.probes)", 5000),
		  "%s", kt_read_file(d->log));
	table = kt_run("nft list table inet quiet.probes", &status);
	cr_expect_eq(status, 0, "%s", table);
	cr_expect(strstr(table, "meta nfproto ipv4 tcp sport ") &&
		  strstr(table, "ct event set 0x0"), "%s", table);
	free(table);
	cr_expect(kt_wait_for_log(d->log, "web/closed DOWN: connect refused", 5000),
		  "%s", kt_read_file(d->log));

	snprintf(want, sizeof(want), "dport=%u ", live);
	cr_expect_eq(lines_with("timeout -s INT 1 conntrack -E -p tcp 2>/dev/null", want), 0,
		     "conntrack events of the live backend's probes");
	snprintf(want, sizeof(want), "dport=%u ", closed);
	cr_expect_eq(lines_with("timeout -s INT 1 conntrack -E -p tcp 2>/dev/null", want), 0,
		     "conntrack events of the closed backend's probes");
	/* still tracked: replies are replies to a stateful firewall */
	snprintf(want, sizeof(want), "dport=%u ", live);
	cr_expect_gt(lines_with("conntrack -L -p tcp 2>/dev/null", want), 0,
		     "the probes' entries are not tracked any more");
	cr_expect_eq(kt_count_in_log(d->log, "web/live DOWN"), 0, "%s", kt_read_file(d->log));

	/* kill -9 leaves the table; the next knlbd replaces it */
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	free(kt_run("nft list table inet quiet.probes", &status));
	cr_expect_eq(status, 0, "a killed knlbd's table is gone already");
	kt_knlbd_start(again, "quiet2", conf);
	cr_expect(kt_wait_for_log(again->log, "send no events (table inet quiet.probes)", 5000),
		  "%s", kt_read_file(again->log));
	kt_knlbd_stop(again);
	again->pid = 0;
	free(kt_run("nft list table inet quiet.probes", &status));
	cr_expect_neq(status, 0, "table inet quiet.probes left after knlbd stopped");
	snprintf(conf, sizeof(conf), "rm -rf %s", d->dir);	/* the killed one's */
	free(kt_run(conf, &status));
	close(live_fd);
}
