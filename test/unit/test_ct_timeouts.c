/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct_shortest_timeout_ns(): the shortest of a protocol's conntrack
 * timeouts, read from a fake /proc, which bounds the unread interval.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/ct/ct.h"

#define SEC 1000000000ULL

static char root[] = "/tmp/knlb-ct-timeouts-XXXXXX";
static char dir[128];

static void put(const char *name, const char *value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(value, f);
	fclose(f);
}

static void setup(void)
{
	char path[128];

	cr_assert_not_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/sys", root);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sys/net", root);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/sys/net/netfilter", root);
	cr_assert_eq(mkdir(dir, 0700), 0);
}

static void teardown(void)
{
	char cmd[192];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(ct_timeouts, .init = setup, .fini = teardown);

/* The kernel's defaults: TCP's shortest is CLOSE, UDP's the unreplied one. */
Test(ct_timeouts, the_shortest_of_each_protocols_own)
{
	put("nf_conntrack_tcp_timeout_established", "432000\n");
	put("nf_conntrack_tcp_timeout_time_wait", "120\n");
	put("nf_conntrack_tcp_timeout_close", "10\n");
	put("nf_conntrack_tcp_timeout_syn_sent", "120\n");
	put("nf_conntrack_udp_timeout", "30\n");
	put("nf_conntrack_udp_timeout_stream", "120\n");
	put("nf_conntrack_generic_timeout", "2\n");	/* not TCP's or UDP's */
	put("nf_conntrack_icmp_timeout", "1\n");

	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_TCP), 10 * SEC);
	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_UDP), 30 * SEC);
	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_SCTP), 0,
		     "no protocol of knlb's");
}

/* An operator's shorter UDP timeout on a DNS gateway is the bound. */
Test(ct_timeouts, a_lowered_timeout_is_the_bound)
{
	put("nf_conntrack_udp_timeout", "8\n");
	put("nf_conntrack_udp_timeout_stream", "120\n");
	put("nf_conntrack_tcp_timeout_close", "10\n");
	put("nf_conntrack_tcp_timeout_syn_recv", "4\n");

	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_UDP), 8 * SEC);
	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_TCP), 4 * SEC,
		     "a flow may end in any state");
}

/* Unreadable or not a number: not a bound (0 when none is left). */
Test(ct_timeouts, what_is_not_a_number_is_skipped)
{
	put("nf_conntrack_udp_timeout", "soon\n");
	put("nf_conntrack_udp_timeout_stream", "0\n");
	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_UDP), 0);

	put("nf_conntrack_udp_timeout_stream", "60\n");
	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_UDP), 60 * SEC);
	cr_expect_eq(ct_shortest_timeout_ns(root, IPPROTO_TCP), 0,
		     "no TCP file");
	cr_expect_eq(ct_shortest_timeout_ns("/nonexistent", IPPROTO_UDP), 0);
}
