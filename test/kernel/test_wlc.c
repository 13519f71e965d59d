/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scheduler = wlc end to end: knlbd re-weights the slot map from the
 * flows conntrack holds per backend, and gives the shares back when they
 * end.  Flows are conntrack entries made with `conntrack -I`, marked as
 * the service's, DNATed (reply source) to one backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(wlc, .init = kt_enter_netns, .timeout = 60);

static int slots_of(const char *addr)
{
	char cmd[256], *out;
	int status, n;

	snprintf(cmd, sizeof(cmd),
		 "nft list map inet knlb web_slots | grep -o ': %s' | wc -l", addr);
	out = kt_run(cmd, &status);
	n = atoi(out);
	free(out);
	return n;
}

/* Poll until backend addr has between lo and hi slots, up to timeout_ms. */
static int wait_slots(const char *addr, int lo, int hi, int timeout_ms)
{
	int n = -1;

	for (int waited = 0; waited <= timeout_ms; waited += 100) {
		n = slots_of(addr);
		if (n >= lo && n <= hi)
			break;
		usleep(100000);
	}
	return n;
}

Test(wlc, loaded_backend_loses_slots_and_gets_them_back)
{
	char dir[] = "/tmp/knlb-kt-wlc-XXXXXX", path[128], args[256], cmd[512];
	char log[128], *out;
	int status, n;
	pid_t pid;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[service web]\nvip = 192.0.2.10\nport = 80\nscheduler = wlc\n"
	      "table_size = 1000\nbackend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "-c %s -s %s/sock", path, dir);
	pid = kt_start_knlbd(args, log);
	cr_assert(kt_wait_for_log(log, "programmed table", 10000), "%s", kt_read_file(log));
	cr_expect_eq(slots_of("10.0.0.11 . 8080"), 500);

	/* 19 flows on .11, none on .12: weights 1/20 : 1 -> 48 : 952 */
	snprintf(cmd, sizeof(cmd),
		 "for i in $(seq 100 118); do conntrack -I -p tcp -s 198.51.100.$i -d 192.0.2.10 "
		 "--sport 1000 --dport 80 --state ESTABLISHED -t 300 --mark 1 "
		 "--reply-src 10.0.0.11 --reply-dst 198.51.100.$i --reply-port-src 8080 "
		 "--reply-port-dst 1000 >/dev/null 2>&1 || exit 1; done");
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "conntrack -I failed: %s", out);
	free(out);
	n = wait_slots("10.0.0.11 . 8080", 40, 60, 5000);
	cr_expect(n >= 40 && n <= 60, "loaded backend has %d slots, want ~48:\n%s", n,
		  kt_read_file(log));

	/* the flows end: back to an even split */
	out = kt_run("conntrack -D -m 1 >/dev/null 2>&1", &status);
	free(out);
	n = wait_slots("10.0.0.11 . 8080", 500, 500, 5000);
	cr_expect_eq(n, 500, "after the flows ended:\n%s", kt_read_file(log));
	cr_expect_eq(kt_stop_knlbd(pid), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	free(kt_run(cmd, &status));
}
