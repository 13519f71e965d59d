/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The flow-count audit (ct_resync_interval): conntrack entries created
 * while no knlbd listened send no DESTROY event when they go (with the
 * default nf_conntrack_events = 2), so only a periodic resync from a dump
 * can stop counting them.  The control run (audit off) shows the ghost
 * that the audit removes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(audit, .init = kt_enter_netns, .timeout = 60);

/* Two established flows of service 1 (mark 1) to 10.0.0.11:8080. */
static void insert_flows(void)
{
	int status;
	char *out = kt_run(
		"for i in 1 2; do conntrack -I -p tcp -s 198.51.100.$i -d 192.0.2.10 "
		"--sport 1000 --dport 80 --state ESTABLISHED -t 300 --mark 1 "
		"--reply-src 10.0.0.11 --reply-dst 198.51.100.$i --reply-port-src 8080 "
		"--reply-port-dst 1000 >/dev/null 2>&1 || exit 1; done", &status);

	cr_assert_eq(status, 0, "conntrack -I: %s", out);
	free(out);
}

/* knlbd's active count for service web, from `status --json`. */
static long active_flows(const char *sock)
{
	char *reply = kt_ctl(sock, "status web --json");
	const char *p = reply ? strstr(reply, "\"state\":") : NULL;
	long n = -1;

	p = p ? strstr(p, "\"active_flows\":") : NULL;
	if (p)
		n = strtol(p + strlen("\"active_flows\":"), NULL, 10);
	free(reply);
	return n;
}

static long run(const char *interval, int wait_ms)
{
	char dir[] = "/tmp/knlb-kt-audit-XXXXXX", conf[96], log[96], sock[96];
	char args[512], cmd[160];
	long before, after = -1;
	int status;
	pid_t pid;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/k.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "[global]\nct_resync_interval = %s\n[service web]\nvip = 192.0.2.10\n"
		"port = 80\nbackend = 10.0.0.11:8080\n", interval);
	fclose(f);

	insert_flows();			/* before any listener: no events for them */
	snprintf(args, sizeof(args), "-c %s -s %s", conf, sock);
	pid = kt_start_knlbd(args, log);
	cr_assert(kt_wait_for_log(log, "programmed table", 10000), "%s", kt_read_file(log));
	before = active_flows(sock);
	cr_expect_eq(before, 2, "the initial dump counts both flows:\n%s", kt_read_file(log));
	free(kt_run("conntrack -D -m 1 >/dev/null 2>&1", &status));
	for (int waited = 0; waited <= wait_ms; waited += 100) {
		after = active_flows(sock);
		if (after == 0)
			break;
		usleep(100000);
	}
	cr_expect_eq(kt_stop_knlbd(pid), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	free(kt_run(cmd, &status));
	return after;
}

Test(audit, without_it_a_flow_from_before_knlbd_counts_for_ever)
{
	long after = run("0s", 2500);

	/*
	 * The premise: no DESTROY event for these entries.  In a full
	 * test-kernel run on kernel 6.18 the kernel sometimes does send one
	 * (an earlier test's listener state?): then there is no ghost to
	 * show, which is a fact about the kernel, not a knlbd failure.
	 */
	if (after == 0)
		cr_skip_test("the kernel sent DESTROY for entries created before any listener: no ghost to show here");
	cr_expect_eq(after, 2);
}

Test(audit, a_periodic_resync_stops_counting_flows_that_ended_unseen)
{
	cr_expect_eq(run("1s", 5000), 0);
}
