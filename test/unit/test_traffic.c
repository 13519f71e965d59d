/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * traffic_counters: the setting (its words, the table it renders, auto
 * resolved at start and kept by a reload), the per-backend sums of
 * conntrack's accounting (ended flows plus live ones, never shown going
 * backwards), and turning the accounting sysctl on (against a fake /proc).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/ct/flowtab.h"
#include "knlb/daemon/traffic.h"
#include "config-test.h"
#include "render-test.h"

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\nbackend = 10.0.0.11:8080\n"

/* ---- the setting ---- */

Test(traffic, the_four_settings_and_a_wrong_one)
{
	struct result a = load_ok(WEB), b = load_ok("[global]\ntraffic_counters = conntrack\n" WEB),
		      c = load_ok("[global]\ntraffic_counters = no\n" WEB),
		      d = load_ok("[global]\ntraffic_counters = yes\n" WEB);

	cr_expect_eq(a.cfg->global.traffic_counters, KNLB_TRAFFIC_AUTO, "auto is the default");
	cr_expect_not(a.cfg->global.traffic_auto, "resolved only at start");
	cr_expect_eq(b.cfg->global.traffic_counters, KNLB_TRAFFIC_CONNTRACK);
	cr_expect_eq(c.cfg->global.traffic_counters, KNLB_TRAFFIC_OFF);
	cr_expect_eq(d.cfg->global.traffic_counters, KNLB_TRAFFIC_RULES);
	result_free(&a);
	result_free(&b);
	result_free(&c);
	result_free(&d);
	expect_error("[global]\ntraffic_counters = acct\n" WEB, "test.conf:2:",
		     "unknown traffic_counters \"acct\" (expected auto, conntrack, yes or no)");
}

Test(traffic, conntrack_renders_no_chain_that_every_packet_walks)
{
	char *rules = render_of("[global]\ntraffic_counters = yes\n" WEB),
	     *ct = render_of("[global]\ntraffic_counters = conntrack\n" WEB);

	cr_expect(strstr(rules, "chain count_forward {"), "%s", rules);
	cr_expect(strstr(ct, "chain count_new {"), "%s", ct);
	cr_expect_null(strstr(ct, "chain count_forward"), "%s", ct);
	cr_expect_null(strstr(ct, "chain count_input"), "%s", ct);
	cr_expect_null(strstr(ct, "chain count_output"), "%s", ct);
	cr_expect_null(strstr(ct, "set backend_in"), "%s", ct);
	free(rules);
	free(ct);
}

/* knlbd --render changes nothing on the host: auto renders as conntrack. */
Test(traffic, auto_renders_as_conntrack)
{
	struct result a = load_ok(WEB);

	traffic_render_as(&a.cfg->global);
	cr_expect_eq(a.cfg->global.traffic_counters, KNLB_TRAFFIC_CONNTRACK);
	cr_expect(a.cfg->global.traffic_auto);
	result_free(&a);
}

/* A reload's auto is what the start resolved; an explicit word is itself. */
Test(traffic, a_reload_keeps_what_auto_resolved_at_start)
{
	struct result run = load_ok(WEB), again = load_ok(WEB),
		      yes = load_ok("[global]\ntraffic_counters = yes\n" WEB);

	run.cfg->global.traffic_counters = KNLB_TRAFFIC_RULES;	/* the fallback */
	run.cfg->global.traffic_auto = true;
	traffic_keep_running(&run.cfg->global, &again.cfg->global);
	cr_expect_eq(again.cfg->global.traffic_counters, KNLB_TRAFFIC_RULES);
	cr_expect(again.cfg->global.traffic_auto);
	traffic_keep_running(&run.cfg->global, &yes.cfg->global);
	cr_expect_eq(yes.cfg->global.traffic_counters, KNLB_TRAFFIC_RULES);
	cr_expect_not(yes.cfg->global.traffic_auto);
	result_free(&run);
	result_free(&again);
	result_free(&yes);
}

/* ---- the sums ---- */

static struct knlb_addr be(int n)
{
	struct knlb_addr a = { .family = AF_INET };

	a.in.s_addr = htonl(0x0a00000b + (uint32_t)n);	/* 10.0.0.11 + n */
	return a;
}

static struct flow fl(uint32_t id, int backend)
{
	struct flow f = { .mark = 1, .backend = be(backend), .backend_port = 8080 };

	f.key.id = id;
	f.key.proto = IPPROTO_TCP;
	f.key.src_port = (uint16_t)(1024 + id);
	f.key.src.family = AF_INET;
	f.key.src.in.s_addr = htonl(0xc6336402);	/* 198.51.100.2 */
	return f;
}

static struct flow_traffic tr(uint64_t pi, uint64_t bi, uint64_t po, uint64_t bo)
{
	return (struct flow_traffic){ pi, bi, po, bo };
}

static void expect_shown(struct flowtab *ft, int backend, struct flow_traffic want)
{
	struct knlb_addr a = be(backend);
	struct flow_traffic got;

	cr_assert_eq(flowtab_traffic_shown(ft, 1, &a, 8080, IPPROTO_TCP, &got), 0);
	cr_expect(got.pkts_in == want.pkts_in && got.bytes_in == want.bytes_in &&
		  got.pkts_out == want.pkts_out && got.bytes_out == want.bytes_out,
		  "backend %d shown %lu %lu %lu %lu, want %lu %lu %lu %lu", backend,
		  got.pkts_in, got.bytes_in, got.pkts_out, got.bytes_out,
		  want.pkts_in, want.bytes_in, want.pkts_out, want.bytes_out);
}

static void reading(struct flowtab *ft, uint32_t id, struct flow_traffic t)
{
	struct flow f = fl(id, 0);

	cr_assert_eq(flowtab_flow_traffic(ft, &f.key, &t), 0, "flow %u", id);
}

static struct flowtab *counting(void)
{
	struct flowtab *ft = flowtab_new();

	cr_assert_not_null(ft);
	cr_assert_eq(flowtab_count_traffic(ft), 0);
	return ft;
}

Test(traffic, each_flow_counts_its_last_reading_and_keeps_it_when_it_goes)
{
	struct flowtab *ft = counting();
	struct flow f1 = fl(1, 0), f2 = fl(2, 0), f3 = fl(3, 0);
	struct knlb_addr a = be(0);
	struct flow_traffic got;

	cr_expect_eq(flowtab_traffic_shown(ft, 1, &a, 8080, IPPROTO_TCP, &got), -ENOENT);
	cr_expect_eq(flowtab_flow_traffic(ft, &f1.key, &got), -ENOENT, "not known yet");
	cr_assert_eq(flowtab_flow_new(ft, &f1), 1);
	cr_assert_eq(flowtab_flow_new(ft, &f2), 1);
	cr_assert_eq(flowtab_flow_new(ft, &f3), 1);
	reading(ft, 1, tr(3, 300, 2, 2000));
	reading(ft, 2, tr(4, 400, 3, 3000));
	expect_shown(ft, 0, tr(7, 700, 5, 5000));

	/* A later reading replaces the flow's figures, it does not add to them. */
	reading(ft, 1, tr(5, 500, 3, 3000));
	expect_shown(ft, 0, tr(9, 900, 6, 6000));

	/* Its DESTROY: the final reading, then the flow goes; its figures stay. */
	reading(ft, 1, tr(6, 600, 4, 4000));
	cr_assert_eq(flowtab_flow_destroy(ft, &f1.key), 1);
	expect_shown(ft, 0, tr(10, 1000, 7, 7000));

	/*
	 * A pass that no longer sees flow 2 (its DESTROY lost, or the
	 * service counted by dumps): its last reading stays counted.
	 */
	flowtab_resync_begin(ft);
	cr_assert_eq(flowtab_resync_seen(ft, &f3), 0);
	reading(ft, 3, tr(1, 100, 1, 100));
	flowtab_resync_end(ft, NULL);
	cr_expect_not(flowtab_flow_known(ft, &f2.key));
	expect_shown(ft, 0, tr(11, 1100, 8, 7100));

	/* The DESTROY of a flow never known goes to its backend's total. */
	cr_assert_eq(flowtab_traffic_ended(ft, 1, &a, 8080, IPPROTO_TCP,
					   &(struct flow_traffic){ 1, 10, 1, 10 }), 0);
	expect_shown(ft, 0, tr(12, 1110, 9, 7110));
	cr_expect_eq(flowtab_traffic_ended(ft, 0, &a, 8080, IPPROTO_TCP, &got), -EINVAL);
	flowtab_free(ft);
}

Test(traffic, untracked_flows_count_from_the_last_dump_and_never_go_back)
{
	struct flowtab *ft = counting();
	struct knlb_addr a = be(0);
	struct flow_traffic t = tr(2, 200, 2, 200);

	flowtab_traffic_untracked_begin(ft);
	cr_assert_eq(flowtab_traffic_untracked(ft, 1, &a, 8080, IPPROTO_TCP, &t), 0);
	cr_assert_eq(flowtab_traffic_untracked(ft, 1, &a, 8080, IPPROTO_TCP, &t), 0);
	expect_shown(ft, 0, tr(4, 400, 4, 400));
	/* The next dump replaces them. */
	flowtab_traffic_untracked_begin(ft);
	t = tr(5, 500, 1, 100);
	cr_assert_eq(flowtab_traffic_untracked(ft, 1, &a, 8080, IPPROTO_TCP, &t), 0);
	/* in went up; out went down (a flow ended unseen): shown as before */
	expect_shown(ft, 0, tr(5, 500, 4, 400));
	flowtab_traffic_untracked_begin(ft);
	expect_shown(ft, 0, tr(5, 500, 4, 400));
	flowtab_free(ft);
}

Test(traffic, readings_follow_their_flows_through_growth_removal_and_moves)
{
	struct flowtab *ft = counting();
	struct flow moved = fl(1, 0);
	enum { N = 5000 };

	/* Enough flows to grow the table several times, each with its reading. */
	for (uint32_t id = 1; id <= N; id++) {
		struct flow f = fl(id, 0);

		cr_assert_eq(flowtab_flow_new(ft, &f), 1);
		reading(ft, id, tr(1, id, 1, 2 * id));
	}
	expect_shown(ft, 0, tr(N, (uint64_t)N * (N + 1) / 2, N, (uint64_t)N * (N + 1)));
	/* Every other one ends (backward shifts move their neighbours). */
	for (uint32_t id = 2; id <= N; id += 2) {
		struct flow f = fl(id, 0);

		reading(ft, id, tr(2, id, 2, 2 * id));
		cr_assert_eq(flowtab_flow_destroy(ft, &f.key), 1);
	}
	/* The ones left still carry their own readings. */
	for (uint32_t id = 1; id <= N; id += 2)
		reading(ft, id, tr(1, id, 1, 2 * id));
	expect_shown(ft, 0, tr(N + N / 2, (uint64_t)N * (N + 1) / 2,
			       N + N / 2, (uint64_t)N * (N + 1)));
	/* A dump shows flow 1 at another backend: its figures go with it. */
	moved.backend = be(1);
	cr_assert_eq(flowtab_flow_new(ft, &moved), 0);
	reading(ft, 1, tr(1, 1, 1, 2));
	expect_shown(ft, 1, tr(1, 1, 1, 2));
	/* backend 0 never shows less: flow 1's one packet each way stays */
	expect_shown(ft, 0, tr(N + N / 2, (uint64_t)N * (N + 1) / 2,
			       N + N / 2, (uint64_t)N * (N + 1)));
	flowtab_free(ft);
}

/* ---- the sysctl ---- */

static char *fake_proc(const char *value)
{
	char *root = strdup("/tmp/knlb-proc-XXXXXX"), path[256];
	FILE *f;

	cr_assert_not_null(mkdtemp(root));
	snprintf(path, sizeof(path), "mkdir -p %s/sys/net/netfilter", root);
	cr_assert_eq(system(path), 0);
	if (value) {
		snprintf(path, sizeof(path), "%s/sys/net/netfilter/nf_conntrack_acct", root);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(value, f);
		fclose(f);
	}
	return root;
}

static char *acct_value(const char *root)
{
	char path[256];
	FILE *f;
	static char v[8];

	snprintf(path, sizeof(path), "%s/sys/net/netfilter/nf_conntrack_acct", root);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(v, sizeof(v), f));
	fclose(f);
	return v;
}

static void rm_proc(char *root)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
	free(root);
}

Test(traffic, accounting_is_turned_on_for_conntrack_and_auto)
{
	struct result rules = load_ok("[global]\ntraffic_counters = yes\n" WEB),
		      ct = load_ok("[global]\ntraffic_counters = conntrack\n" WEB);
	char *off = fake_proc("0\n"), *on = fake_proc("1\n"), *none = fake_proc(NULL),
	     *empty = fake_proc("");
	bool turned;

	cr_expect_eq(traffic_accounting_on(&rules.cfg->global, off, &turned), 0);
	cr_expect_str_eq(acct_value(off), "0\n", "traffic_counters = yes touched it");
	cr_expect_not(turned);
	cr_expect_eq(rules.cfg->global.traffic_counters, KNLB_TRAFFIC_RULES);
	cr_expect_eq(traffic_accounting_on(&ct.cfg->global, off, &turned), 0);
	cr_expect_str_eq(acct_value(off), "1\n");
	cr_expect(turned, "0 -> 1 not reported as knlbd's");
	cr_expect_eq(traffic_accounting_on(&ct.cfg->global, on, &turned), 0);
	cr_expect_str_eq(acct_value(on), "1\n");
	cr_expect_not(turned, "on already, yet reported as knlbd's");
	/* No such sysctl (no conntrack): knlbd does not start. */
	cr_expect_eq(traffic_accounting_on(&ct.cfg->global, none, &turned), -ENOENT);
	cr_expect_eq(traffic_accounting_on(&ct.cfg->global, empty, &turned), -EIO);
	cr_expect_eq(ct.cfg->global.traffic_counters, KNLB_TRAFFIC_CONNTRACK);
	cr_expect_not(ct.cfg->global.traffic_auto);
	rm_proc(empty);
	rm_proc(off);
	rm_proc(on);
	rm_proc(none);
	result_free(&rules);
	result_free(&ct);
}

/*
 * --flush-on-exit: back to 0 only what knlbd turned on; the operator's
 * (or an earlier knlbd's) stays on; a sysctl gone is an error, no crash.
 */
Test(traffic, accounting_is_turned_back_off_only_when_knlbd_turned_it_on)
{
	struct result ct = load_ok(WEB);
	char *off = fake_proc("0\n"), *on = fake_proc("1\n"), *none = fake_proc(NULL);
	bool turned;

	cr_assert_eq(traffic_accounting_on(&ct.cfg->global, off, &turned), 0);
	cr_assert(turned);
	traffic_accounting_restore(off, turned);
	cr_expect_str_eq(acct_value(off), "0\n", "knlbd's own accounting left on");
	cr_assert_eq(traffic_accounting_on(&ct.cfg->global, on, &turned), 0);
	traffic_accounting_restore(on, turned);
	cr_expect_str_eq(acct_value(on), "1\n", "the operator's accounting turned off");
	traffic_accounting_restore(none, true);
	rm_proc(off);
	rm_proc(on);
	rm_proc(none);
	result_free(&ct);
}

/* auto: conntrack where the accounting can be turned on, else the rules. */
Test(traffic, auto_counts_with_conntrack_where_it_can_else_with_rules)
{
	struct result on = load_ok(WEB), fails = load_ok(WEB), unreadable = load_ok(WEB);
	char *off = fake_proc("0\n"), *none = fake_proc(NULL), *empty = fake_proc("");
	bool turned;

	cr_expect_eq(traffic_accounting_on(&on.cfg->global, off, &turned), 0);
	cr_expect_str_eq(acct_value(off), "1\n");
	cr_expect_eq(on.cfg->global.traffic_counters, KNLB_TRAFFIC_CONNTRACK);
	cr_expect(on.cfg->global.traffic_auto);
	cr_expect_str_eq(traffic_status_line(&on.cfg->global, (struct ct *)1),
			 "traffic counters: conntrack's accounting (traffic_counters = auto), summed by knlbd from each flow's last reading: a lower bound for the ended flows of track = off services and for flows opened before the accounting was on");
	/* No sysctl: knlbd starts, counting with the rules, and says so. */
	cr_expect_eq(traffic_accounting_on(&fails.cfg->global, none, &turned), 0);
	cr_expect_eq(fails.cfg->global.traffic_counters, KNLB_TRAFFIC_RULES);
	cr_expect(fails.cfg->global.traffic_auto);
	cr_expect(strstr(traffic_status_line(&fails.cfg->global, NULL), "a rule per packet (traffic_counters = auto"));
	/* A sysctl that cannot be read: the same. */
	cr_expect_eq(traffic_accounting_on(&unreadable.cfg->global, empty, &turned), 0);
	cr_expect_eq(unreadable.cfg->global.traffic_counters, KNLB_TRAFFIC_RULES);
	/* Without conntrack, auto is the rules; an explicit word stays. */
	result_free(&on);
	on = load_ok(WEB);
	traffic_without_conntrack(&on.cfg->global);
	cr_expect_eq(on.cfg->global.traffic_counters, KNLB_TRAFFIC_RULES);
	cr_expect(on.cfg->global.traffic_auto);
	result_free(&on);
	on = load_ok("[global]\ntraffic_counters = conntrack\n" WEB);
	traffic_without_conntrack(&on.cfg->global);
	cr_expect_eq(on.cfg->global.traffic_counters, KNLB_TRAFFIC_CONNTRACK);
	rm_proc(off);
	rm_proc(none);
	rm_proc(empty);
	result_free(&on);
	result_free(&fails);
	result_free(&unreadable);
}
