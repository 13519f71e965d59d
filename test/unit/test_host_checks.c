/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host prerequisites judged against a fake /proc tree and a hand-made
 * address list: what makes the gateway a black hole is reported, what
 * does not is not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/lib/addr.h"
#include "knlb/daemon/host_checks.h"
#include "knlb/daemon/metrics.h"
#include "knlb/pool/pool.h"

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\nbackend = 10.0.0.11:8080\n"

static char root[64];

static void put(const char *rel, const char *value)
{
	char path[256], cmd[320];
	FILE *f;
	int status;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname %s)\"", path);
	status = system(cmd);
	cr_assert_eq(status, 0);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fprintf(f, "%s\n", value);
	fclose(f);
}

/* A gateway as it should be: forwarding on, a roomy empty conntrack table. */
static void healthy_host(void)
{
	snprintf(root, sizeof(root), "/tmp/knlb-proc-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	put("sys/net/ipv4/ip_forward", "1");
	put("sys/net/ipv6/conf/all/forwarding", "1");
	put("sys/net/netfilter/nf_conntrack_max", "262144");
	put("sys/net/netfilter/nf_conntrack_count", "12");
}

static void remove_tree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(host_checks, .init = healthy_host, .fini = remove_tree);

/* Evaluate text on the fake tree with the given addresses ("ADDR@IF", "!" for down). */
static struct host_problems judge_flags(const char *text, unsigned flags,
					const char *const *addrs)
{
	struct result r = load_ok(text);
	struct host_facts f = { 0 };
	struct host_problems p = { 0 };

	cr_assert_eq(host_facts_read_proc(root, &f), 0);
	for (; addrs && *addrs; addrs++) {
		char buf[64], *at;
		struct knlb_addr a;

		snprintf(buf, sizeof(buf), "%s", *addrs);
		at = strchr(buf, '@');
		cr_assert_not_null(at);
		*at++ = '\0';
		cr_assert_eq(addr_parse(buf, &a), 0, "%s", buf);
		cr_assert_eq(host_facts_add_addr(&f, &a, at[0] == '!' ? at + 1 : at,
						 at[0] != '!'), 0);
	}
	cr_assert_eq(host_checks_evaluate(r.cfg, &f, flags, &p), 0);
	host_facts_free(&f);
	result_free(&r);
	return p;
}

static struct host_problems judge(const char *text, const char *const *addrs)
{
	return judge_flags(text, 0, addrs);
}

/* All the problems' texts, one per line, for failure messages. */
static const char *texts(const struct host_problems *p)
{
	static char buf[4096];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s: %s\n",
					host_check_name(p->v[i].check), p->v[i].text);
	return buf;
}

Test(host_checks, a_healthy_host_has_no_problem)
{
	struct host_problems p = judge(WEB "snat = masquerade\n", NULL);

	cr_expect_eq(p.n, 0, "%s", texts(&p));
	host_problems_free(&p);
}

Test(host_checks, forwarding_off_is_a_problem_for_an_ipv4_service)
{
	struct host_problems p;

	put("sys/net/ipv4/ip_forward", "0");
	p = judge(WEB, NULL);
	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_IP_FORWARD);
	cr_expect_str_eq(host_check_name(p.v[0].check), "ip_forward");
	cr_expect(strstr(p.v[0].text, "net.ipv4.ip_forward = 0"), "%s", p.v[0].text);
	cr_expect(strstr(p.v[0].text, "sysctl -w net.ipv4.ip_forward=1"), "%s", p.v[0].text);
	cr_expect(host_problems_have(&p, HOST_CHECK_IP_FORWARD));
	cr_expect(!host_problems_have(&p, HOST_CHECK_SNAT_ADDRESS));
	host_problems_free(&p);
}

Test(host_checks, ipv6_forwarding_is_not_asked_of_an_ipv4_only_config)
{
	struct host_problems p;

	put("sys/net/ipv6/conf/all/forwarding", "0");
	p = judge(WEB, NULL);
	cr_expect_eq(p.n, 0, "%s", texts(&p));
	host_problems_free(&p);
}

/* The parser takes IPv4 only today: an IPv6 VIP is put in by hand. */
Test(host_checks, an_ipv6_vip_needs_ipv6_forwarding)
{
	struct result r = load_ok(WEB);
	struct host_facts f = { 0 };
	struct host_problems p = { 0 };

	r.cfg->services[0].vip[KNLB_FAMILY_IPV4].family = 0;
	r.cfg->services[0].vip[KNLB_FAMILY_IPV6].family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, "2001:db8::10", &r.cfg->services[0].vip[KNLB_FAMILY_IPV6].in6), 1);
	put("sys/net/ipv4/ip_forward", "0");	/* not served: not asked */
	put("sys/net/ipv6/conf/all/forwarding", "0");
	cr_assert_eq(host_facts_read_proc(root, &f), 0);
	cr_assert_eq(host_checks_evaluate(r.cfg, &f, 0, &p), 0);
	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_IPV6_FORWARDING);
	cr_expect(strstr(p.v[0].text, "net.ipv6.conf.all.forwarding = 0"), "%s", p.v[0].text);

	/* No /proc/sys/net/ipv6 at all: IPv6 is disabled. */
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s/sys/net/ipv6", root);
		cr_assert_eq(system(cmd), 0);
	}
	cr_assert_eq(host_facts_read_proc(root, &f), 0);
	cr_expect_eq(f.forwarding[HOST_FAMILY_IPV6], HOST_UNKNOWN);
	cr_assert_eq(host_checks_evaluate(r.cfg, &f, 0, &p), 0);
	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect(strstr(p.v[0].text, "IPv6 is disabled"), "%s", p.v[0].text);
	host_problems_free(&p);
	host_facts_free(&f);
	result_free(&r);
}

/* A standby gateway (issue 11 makes a file without services valid). */
Test(host_checks, no_service_needs_nothing)
{
	struct result r = load_ok(WEB);
	struct host_facts f = { 0 };
	struct host_problems p = { 0 };
	size_t n = r.cfg->n_services;

	put("sys/net/ipv4/ip_forward", "0");
	put("sys/net/netfilter/nf_conntrack_max", "10");
	cr_assert_eq(host_facts_read_proc(root, &f), 0);
	r.cfg->n_services = 0;
	cr_assert_eq(host_checks_evaluate(r.cfg, &f, 0, &p), 0);
	r.cfg->n_services = n;
	cr_expect_eq(p.n, 0, "%s", texts(&p));
	host_problems_free(&p);
	host_facts_free(&f);
	result_free(&r);
}

Test(host_checks, snat_address_absent_is_a_problem_naming_the_service)
{
	const char *const addrs[] = { "10.0.0.1@eth0", "127.0.0.1@lo", NULL };
	struct host_problems p = judge(WEB "snat = 10.9.9.9\n", addrs);

	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_SNAT_ADDRESS);
	cr_expect_str_eq(p.v[0].subject, "web");
	cr_expect(strstr(p.v[0].text, "service web: snat = 10.9.9.9 is not an address of this host"),
		  "%s", p.v[0].text);
	host_problems_free(&p);
}

Test(host_checks, snat_address_present_is_fine)
{
	const char *const addrs[] = { "10.0.0.1@eth0", "10.9.9.9@eth1", NULL };
	struct host_problems p = judge(WEB "snat = 10.9.9.9\n", addrs);

	cr_expect_eq(p.n, 0, "%s", texts(&p));
	host_problems_free(&p);
}

Test(host_checks, snat_address_on_a_down_interface_is_a_problem)
{
	const char *const down[] = { "10.9.9.9@!eth1", NULL };
	const char *const both[] = { "10.9.9.9@!eth1", "10.9.9.9@eth2", NULL };
	struct host_problems p = judge(WEB "snat = 10.9.9.9\n", down);

	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect(strstr(p.v[0].text, "is on eth1, which is down"), "%s", p.v[0].text);
	host_problems_free(&p);
	p = judge(WEB "snat = 10.9.9.9\n", both);
	cr_expect_eq(p.n, 0, "up on eth2 is enough: %s", texts(&p));
	host_problems_free(&p);
}

Test(host_checks, conntrack_more_than_90_percent_full_is_a_problem)
{
	struct host_problems p;

	put("sys/net/netfilter/nf_conntrack_max", "100000");
	put("sys/net/netfilter/nf_conntrack_count", "90000");
	p = judge(WEB, NULL);
	cr_expect_eq(p.n, 0, "90%% is not yet: %s", texts(&p));
	host_problems_free(&p);

	put("sys/net/netfilter/nf_conntrack_count", "95000");
	p = judge(WEB, NULL);
	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_CONNTRACK_FULL);
	cr_expect(strstr(p.v[0].text, "conntrack table 95% full (95000 of 100000 entries)"),
		  "%s", p.v[0].text);
	host_problems_free(&p);
}

/* Appends backend lines 10.0.0.(10+first .. 10+last):8080 to text. */
static void add_backends(char *text, int first, int last)
{
	for (int i = first; i <= last; i++) {
		char line[64];

		snprintf(line, sizeof(line), "backend = 10.0.0.%d:8080\n", 10 + i);
		strcat(text, line);
	}
}

/* The one problem text's config gives is the conntrack floor saying what. */
static void expect_floor(const char *text, const char *what)
{
	struct host_problems p = judge(text, NULL);

	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect(strstr(p.v[0].text, what), "%s", p.v[0].text);
	host_problems_free(&p);
}

Test(host_checks, conntrack_max_below_the_floor_is_a_problem)
{
	struct host_problems p;
	char text[4096] = WEB;

	put("sys/net/netfilter/nf_conntrack_max", "4096");
	put("sys/net/netfilter/nf_conntrack_count", "0");
	p = judge(WEB, NULL);
	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_CONNTRACK_MAX);
	cr_expect(strstr(p.v[0].text, "nf_conntrack_max = 4096 is below 16384"), "%s", p.v[0].text);
	host_problems_free(&p);

	/* The floor grows with the backends: 20 of them want 20480. */
	put("sys/net/netfilter/nf_conntrack_max", "16384");
	add_backends(text, 2, 20);
	expect_floor(text, "is below 20480");

	/*
	 * A second service over the same 20 backends adds none: a backend's
	 * flows do not multiply with the services listing it.
	 */
	strcat(text, "\n[service web2]\nvip = 192.0.2.10\nport = 81\ncheck = none\n");
	add_backends(text, 1, 20);
	expect_floor(text, "is below 20480");
}

Test(host_checks, conntrack_not_loaded_is_a_problem_once_knlbd_runs)
{
	struct host_problems p;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/sys/net/netfilter", root);
	cr_assert_eq(system(cmd), 0);
	p = judge(WEB, NULL);
	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_CONNTRACK);
	host_problems_free(&p);
	/* knlbd -t: programming the table would load it. */
	p = judge_flags(WEB, HOST_CHECKS_BEFORE_START, NULL);
	cr_expect_eq(p.n, 0, "%s", texts(&p));
	host_problems_free(&p);
}

Test(host_checks, every_problem_is_reported_in_check_order)
{
	const char *const addrs[] = { "10.0.0.1@eth0", NULL };
	struct host_problems p;

	put("sys/net/ipv4/ip_forward", "0");
	put("sys/net/netfilter/nf_conntrack_max", "1000");
	put("sys/net/netfilter/nf_conntrack_count", "999");
	p = judge(WEB "snat = 10.9.9.9\n[service dns]\nvip = 192.0.2.53\nport = 53\n"
		  "proto = udp\ncheck = none\nsnat = 10.9.9.8\nbackend = 10.0.0.21:53\n",
		  addrs);
	cr_assert_eq(p.n, 5, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_IP_FORWARD);
	cr_expect_eq(p.v[1].check, HOST_CHECK_SNAT_ADDRESS);
	cr_expect_str_eq(p.v[1].subject, "web");
	cr_expect_eq(p.v[2].check, HOST_CHECK_SNAT_ADDRESS);
	cr_expect_str_eq(p.v[2].subject, "dns");
	cr_expect_eq(p.v[3].check, HOST_CHECK_CONNTRACK_MAX);
	cr_expect_eq(p.v[4].check, HOST_CHECK_CONNTRACK_FULL);
	cr_expect(!host_problem_same(&p.v[1], &p.v[2]));
	host_problems_free(&p);
}

Test(host_checks, the_metric_has_one_series_per_check)
{
	struct result r = load_ok(WEB);
	struct knlb_model *pool;
	struct host_problems p = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	put("sys/net/ipv4/ip_forward", "0");
	p = judge(WEB, NULL);
	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	out = open_memstream(&text, &len);
	cr_assert_eq(metrics_render(out, &(struct metrics_sources){
					.pool = pool, .host = &p }), 0);
	fclose(out);
	cr_expect(strstr(text, "# TYPE knlb_host_problem gauge\n"), "%s", text);
	cr_expect(strstr(text, "\nknlb_host_problem{check=\"ip_forward\"} 1\n"), "%s", text);
	for (int c = 1; c < HOST_CHECK_COUNT; c++) {
		char line[128];

		snprintf(line, sizeof(line), "\nknlb_host_problem{check=\"%s\"} 0\n",
			 host_check_name((enum host_check)c));
		cr_expect(strstr(text, line), "no %s in:\n%s", line + 1, text);
	}
	free(text);
	pool_free(pool);
	host_problems_free(&p);
	result_free(&r);
}

/* Issue 13: a full table is named as such, not as "100% full". */
Test(host_checks, conntrack_full_says_the_kernel_is_dropping_new_flows)
{
	struct host_problems p, q;

	put("sys/net/netfilter/nf_conntrack_max", "100000");
	put("sys/net/netfilter/nf_conntrack_count", "100000");
	p = judge(WEB, NULL);
	cr_assert_eq(p.n, 1, "%s", texts(&p));
	cr_expect_eq(p.v[0].check, HOST_CHECK_CONNTRACK_FULL);
	cr_expect_eq(p.v[0].level, HOST_CT_FULL);
	cr_expect(strstr(p.v[0].text, "conntrack table FULL (100000 of 100000 entries): the kernel is dropping new flows now"),
		  "%s", p.v[0].text);

	put("sys/net/netfilter/nf_conntrack_count", "99999");
	q = judge(WEB, NULL);
	cr_assert_eq(q.n, 1, "%s", texts(&q));
	cr_expect_eq(q.v[0].level, HOST_CT_HIGH);
	cr_expect(strstr(q.v[0].text, "above the 90% warning threshold"), "%s", q.v[0].text);
	cr_expect(!strstr(q.v[0].text, "dropping new flows now"), "%s", q.v[0].text);
	/* One problem for the log's "cleared", two states for its warnings. */
	cr_expect(host_problem_same(&p.v[0], &q.v[0]));
	cr_expect(!host_problem_unchanged(&p.v[0], &q.v[0]));
	host_problems_free(&p);
	host_problems_free(&q);
}

Test(host_checks, conntrack_fill_boundaries)
{
	struct host_ct ct = { .loaded = true, .max = 1000 };

	ct.count = 900;
	cr_expect_eq(host_ct_fill(&ct), HOST_CT_ROOMY, "90 %% is not above 90 %%");
	ct.count = 901;
	cr_expect_eq(host_ct_fill(&ct), HOST_CT_HIGH);
	ct.count = 999;
	cr_expect_eq(host_ct_fill(&ct), HOST_CT_HIGH);
	ct.count = 1000;
	cr_expect_eq(host_ct_fill(&ct), HOST_CT_FULL);
	ct.count = 1003;	/* the count can pass max for an instant */
	cr_expect_eq(host_ct_fill(&ct), HOST_CT_FULL);
	ct.max = 0;		/* no limit */
	cr_expect_eq(host_ct_fill(&ct), HOST_CT_ROOMY);
	ct = (struct host_ct){ .loaded = false };
	cr_expect_eq(host_ct_fill(&ct), HOST_CT_ROOMY);
	cr_expect_str_eq(host_ct_fill_name(HOST_CT_FULL), "full");
	cr_expect_str_eq(host_ct_fill_name(HOST_CT_HIGH), "high");
	cr_expect_str_eq(host_ct_fill_name(HOST_CT_ROOMY), "roomy");
}

Test(host_checks, conntrack_read_from_the_proc_tree)
{
	struct host_ct ct;
	char cmd[128];

	put("sys/net/netfilter/nf_conntrack_count", "1234");
	host_ct_read(root, &ct);
	cr_expect(ct.loaded);
	cr_expect_eq(ct.count, 1234);
	cr_expect_eq(ct.max, 262144);

	snprintf(cmd, sizeof(cmd), "rm -rf %s/sys/net/netfilter", root);
	cr_assert_eq(system(cmd), 0);
	host_ct_read(root, &ct);
	cr_expect(!ct.loaded);
	cr_expect_eq(ct.count, 0);
	cr_expect_eq(ct.max, 0);
}

/* metrics_render with only a pool and a proc root: its text. */
static char *render_with_proc(const char *proc_root)
{
	struct result r = load_ok(WEB);
	struct knlb_model *pool;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	out = open_memstream(&text, &len);
	cr_assert_eq(metrics_render(out, &(struct metrics_sources){
					.pool = pool, .proc_root = proc_root }), 0);
	fclose(out);
	pool_free(pool);
	result_free(&r);
	return text;
}

Test(host_checks, conntrack_entries_and_max_are_metrics_read_at_the_scrape)
{
	char *text, cmd[128];

	put("sys/net/netfilter/nf_conntrack_count", "1234");
	text = render_with_proc(root);
	cr_expect(strstr(text, "# TYPE knlb_conntrack_entries gauge\nknlb_conntrack_entries 1234\n"),
		  "%s", text);
	cr_expect(strstr(text, "# TYPE knlb_conntrack_max gauge\nknlb_conntrack_max 262144\n"),
		  "%s", text);
	free(text);

	/* Read again at the next scrape, no host pass in between. */
	put("sys/net/netfilter/nf_conntrack_count", "262144");
	text = render_with_proc(root);
	cr_expect(strstr(text, "\nknlb_conntrack_entries 262144\n"), "%s", text);
	free(text);

	/* Not loaded: left out rather than reported as an empty table. */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/sys/net/netfilter", root);
	cr_assert_eq(system(cmd), 0);
	text = render_with_proc(root);
	cr_expect(!strstr(text, "knlb_conntrack_entries"), "%s", text);
	cr_expect(!strstr(text, "knlb_conntrack_max"), "%s", text);
	free(text);
}
