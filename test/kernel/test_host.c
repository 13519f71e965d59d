/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host prerequisites as an operator meets them: knlbd in a netns whose
 * forwarding is off, or whose snat address is missing, says so in its
 * log, in knlbctl status (exit 4) and in a metric, and says when it
 * cleared: by the periodic re-check for a sysctl, at once on reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(host_checks, .init = kt_enter_netns, .timeout = 60);

static char *scrape(void)
{
	int status;

	return kt_run("curl -sS --max-time 5 http://127.0.0.1:9410/metrics 2>&1", &status);
}

#define SERVICE "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\nbackend = 10.0.0.1:80\n"

Test(host_checks, forwarding_off_warns_in_log_status_and_metric_then_clears)
{
	struct kt_knlbd r;
	char *out;
	int code, status;

	free(kt_run("ip link set lo up", &status));
	kt_set_sysctl("net/ipv4/ip_forward", "0");
	kt_knlbd_start(&r, "host", "[global]\nmetrics_listen = 127.0.0.1:9410\n" SERVICE "snat = none\n");
	cr_expect(kt_wait_for_log(r.log, "host: net.ipv4.ip_forward = 0", 2000),
		  "%s", kt_read_file(r.log));

	out = kt_knlbctl(&r, "status", &code);
	cr_expect_eq(code, 4, "knlbctl status exit %d:\n%s", code, out);
	cr_expect(strstr(out, "host: 1 problem:"), "%s", out);
	cr_expect(strstr(out, "  ip_forward: net.ipv4.ip_forward = 0"), "%s", out);
	free(out);
	out = kt_knlbctl(&r, "status --json", &code);
	cr_expect(strstr(out, "\"host_problems\":[{\"check\":\"ip_forward\""), "%s", out);
	free(out);
	out = scrape();
	cr_expect(strstr(out, "\nknlb_host_problem{check=\"ip_forward\"} 1\n"), "%s", out);
	cr_expect(strstr(out, "\nknlb_host_problem{check=\"snat_address\"} 0\n"), "%s", out);
	free(out);

	/* Fixed by the operator: seen by the periodic pass, no reload. */
	kt_set_sysctl("net/ipv4/ip_forward", "1");
	cr_expect(kt_wait_for_log(r.log, "host: cleared: ip_forward", 12000),
		  "%s", kt_read_file(r.log));
	out = kt_knlbctl(&r, "status", &code);
	cr_expect_eq(code, 0, "knlbctl status exit %d:\n%s", code, out);
	cr_expect(strstr(out, "host: ok"), "%s", out);
	free(out);
	out = scrape();
	cr_expect(strstr(out, "\nknlb_host_problem{check=\"ip_forward\"} 0\n"), "%s", out);
	free(out);
	out = kt_read_file(r.log);
	cr_expect(!strstr(strstr(out, "host: net.ipv4.ip_forward") + 1,
			  "host: net.ipv4.ip_forward"),
		  "the problem was logged more than once:\n%s", out);
	free(out);
	kt_knlbd_stop(&r);
}

Test(host_checks, snat_address_missing_warns_and_reload_clears_it)
{
	struct kt_knlbd r;
	char *out;
	int code, status;

	kt_knlbd_start(&r, "host", SERVICE "snat = 10.9.9.9\n");
	cr_expect(kt_wait_for_log(r.log, "host: service web: snat = 10.9.9.9 is not an address of this host", 2000),
		  "%s", kt_read_file(r.log));
	out = kt_knlbctl(&r, "status", &code);
	cr_expect_eq(code, 4, "knlbctl status exit %d:\n%s", code, out);
	cr_expect(strstr(out, "  snat_address: service web: snat = 10.9.9.9"), "%s", out);
	free(out);

	/* On a down interface it still is not delivered to. */
	free(kt_run("ip addr add 10.9.9.9/32 dev lo", &status));
	out = kt_knlbctl(&r, "reload", &code);
	cr_expect(strstr(out, "warning: host: service web: snat = 10.9.9.9 is on lo, which is down"),
		  "%s", out);
	free(out);

	free(kt_run("ip link set lo up", &status));
	out = kt_knlbctl(&r, "reload", &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(!strstr(out, "warning: host:"), "%s", out);
	free(out);
	cr_expect(kt_wait_for_log(r.log, "host: cleared: snat_address web", 1000),
		  "%s", kt_read_file(r.log));
	out = kt_knlbctl(&r, "status", &code);
	cr_expect_eq(code, 0, "knlbctl status exit %d:\n%s", code, out);
	free(out);
	kt_knlbd_stop(&r);
}

Test(host_checks, check_config_prints_warnings_and_exits_0)
{
	char conf[] = "/tmp/knlb-kt-host-XXXXXX.conf", cmd[1024];
	const char *text = SERVICE "snat = 10.9.9.9\n";
	int fd = mkstemps(conf, 5), status;
	char *out;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	kt_set_sysctl("net/ipv4/ip_forward", "0");
	snprintf(cmd, sizeof(cmd), "%s -t -c %s 2>&1", kt_knlbd(), conf);
	out = kt_run(cmd, &status);
	unlink(conf);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", out);
	cr_expect(strstr(out, "configuration OK"), "%s", out);
	cr_expect(strstr(out, "knlbd: warning: host: net.ipv4.ip_forward = 0"), "%s", out);
	cr_expect(strstr(out, "knlbd: warning: host: service web: snat = 10.9.9.9 is not an address"),
		  "%s", out);
	free(out);
}

/*
 * The conntrack fill as status and the metrics show it.  The full state
 * itself cannot be reached here: nf_conntrack_max is the host's, read-only
 * in a child namespace (checked below, so this comment stays true), and
 * filling the real 262144 entries is not a unit of test time.  The unit
 * tests drive the full and high states through a fake /proc tree; this
 * one proves the reading path on a real kernel: the namespace's own count
 * against the host's max.
 */
Test(host_checks, conntrack_fill_in_status_and_metrics)
{
	struct kt_knlbd r;
	char *out, *max, want[160];
	int code, status;

	free(kt_run("ip link set lo up", &status));
	kt_knlbd_start(&r, "host", "[global]\nmetrics_listen = 127.0.0.1:9410\n" SERVICE "snat = none\n");
	/* (sysctl -w exits 0 even when the write fails: write the file.) */
	out = kt_run("echo 100 > /proc/sys/net/netfilter/nf_conntrack_max 2>&1", &status);
	cr_expect(status != 0, "nf_conntrack_max became writable in a child netns: "
		  "test the full state here\n%s", out);
	free(out);
	max = kt_read_file("/proc/sys/net/netfilter/nf_conntrack_max");
	cr_assert_not_null(max);
	max[strcspn(max, "\n")] = '\0';
	for (int i = 0; i < 3; i++) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd),
			 "conntrack -I -p tcp -s 198.51.100.%d -d 192.0.2.99 --sport 4000 --dport 80 "
			 "--state ESTABLISHED -t 300 -u ASSURED 2>&1", i + 1);
		out = kt_run(cmd, &status);
		cr_assert_eq(status, 0, "%s", out);
		free(out);
	}

	out = kt_knlbctl(&r, "status", &code);
	cr_expect_eq(code, 0, "knlbctl status exit %d:\n%s", code, out);
	snprintf(want, sizeof(want), "conntrack table: 3 of %s entries (0.0 %%), warning above 90 %%\n", max);
	cr_expect(strstr(out, want), "no '%s' in:\n%s", want, out);
	free(out);
	out = kt_knlbctl(&r, "status --json", &code);
	snprintf(want, sizeof(want), "\"conntrack_table\":{\"entries\":3,\"max\":%s,", max);
	cr_expect(strstr(out, want), "no %s in:\n%s", want, out);
	cr_expect(strstr(out, "\"warning_percent\":90,\"state\":\"roomy\"}"), "%s", out);
	free(out);
	/* The 3 entries and the scrape's own connection to 127.0.0.1:9410. */
	out = scrape();
	cr_expect(strstr(out, "\nknlb_conntrack_entries 4\n"), "%s", out);
	snprintf(want, sizeof(want), "\nknlb_conntrack_max %s\n", max);
	cr_expect(strstr(out, want), "no %s in:\n%s", want + 1, out);
	free(out);

	/* Read at the scrape, not from the last 10 s host pass: only this one. */
	free(kt_run("conntrack -F 2>&1", &status));
	out = scrape();
	cr_expect(strstr(out, "\nknlb_conntrack_entries 1\n"), "%s", out);
	free(out);
	free(max);
	kt_knlbd_stop(&r);
}
