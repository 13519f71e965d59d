/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel counters' pure parts: rates from two samples (first sample,
 * restart), the nft-syntax render of the counting objects, the parse of a
 * set element dump message, and the JSON reader the client uses.
 */
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <criterion/criterion.h>

#include "knlb/lib/counter_rate.h"
#include "knlb/lib/json_read.h"
#include "knlb/lib/addr.h"
#include "knlb/nft/stats.h"

/* ---- counter_rate ----------------------------------------------------- */

Test(counter_rate, the_first_sample_has_no_rate)
{
	double r = -7;

	cr_expect_not(counter_rate(NULL, 1000, 1.0, &r));
	cr_expect_eq(r, -7, "left untouched");
}

Test(counter_rate, delta_over_interval)
{
	uint64_t prev = 1000;
	double r;

	cr_assert(counter_rate(&prev, 1500, 0.5, &r));
	cr_expect_float_eq(r, 1000.0, 1e-9);
	cr_assert(counter_rate(&prev, 1000, 2, &r));
	cr_expect_float_eq(r, 0.0, 1e-9);
}

Test(counter_rate, a_counter_going_backwards_restarted_from_zero)
{
	uint64_t prev = 5000000;
	double r;

	/* the element expired idle and came back with 30 packets */
	cr_assert(counter_rate(&prev, 30, 1.0, &r));
	cr_expect_float_eq(r, 30.0, 1e-9, "not negative, not a 2^64 wrap: %g", r);
	cr_assert(counter_rate(&prev, 0, 1.0, &r));
	cr_expect_float_eq(r, 0.0, 1e-9);
}

Test(counter_rate, no_interval_no_rate)
{
	uint64_t prev = 1;
	double r;

	cr_expect_not(counter_rate(&prev, 2, 0, &r));
	cr_expect_not(counter_rate(&prev, 2, -1, &r));
	cr_expect_not(counter_rate(&prev, 2, NAN, &r));
}

Test(counter_rate, human_units)
{
	char b[16];

	cr_expect_str_eq(counter_human(0, b, sizeof(b)), "0");
	cr_expect_str_eq(counter_human(2.5, b, sizeof(b)), "2.5");
	cr_expect_str_eq(counter_human(950, b, sizeof(b)), "950");
	cr_expect_str_eq(counter_human(12345, b, sizeof(b)), "12.3K");
	cr_expect_str_eq(counter_human(4560000, b, sizeof(b)), "4.56M");
	cr_expect_str_eq(counter_human(125e6, b, sizeof(b)), "125M");
	cr_expect_str_eq(counter_human(1.2e9, b, sizeof(b)), "1.20G");
	cr_expect_str_eq(counter_human(-1, b, sizeof(b)), "-");
}

/* ---- render ----------------------------------------------------------- */

static char *render_chains(uint32_t mask)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	stats_render_chains(out, mask, false, true);
	fclose(out);
	return text;
}

Test(stats_render, chains_match_knlb_flows_by_the_mark_mask)
{
	char *full = render_chains(UINT32_MAX), *prefix = render_chains(0xff000000),
	     *mid = render_chains(0x00ff0000);

	cr_expect(strstr(full, "\t\tct mark != 0x00000000 ct state new update @backend_new { ct mark . ip daddr . meta l4proto . th dport }\n"),
		  "%s", full);
	cr_expect(strstr(prefix, "ct mark != 0x00000000/8 ct direction original update @backend_in { ct mark . ip daddr . meta l4proto . th dport }\n"),
		  "%s", prefix);
	cr_expect(strstr(mid, "ct mark & 0x00ff0000 != 0x00000000 ct direction reply update @backend_out { ct mark . ip saddr . meta l4proto . th sport }\n"),
		  "%s", mid);
	/* new flows before srcnat; forwarded and local traffic both counted */
	cr_expect(strstr(full, "type nat hook postrouting priority srcnat - 10;"), "%s", full);
	cr_expect(strstr(full, "chain count_forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"), "%s", full);
	cr_expect(strstr(full, "chain count_input {\n\t\ttype filter hook input priority filter; policy accept;\n"), "%s", full);
	cr_expect(strstr(full, "chain count_output {\n\t\ttype filter hook output priority filter; policy accept;\n"), "%s", full);
	free(full);
	free(prefix);
	free(mid);
}

Test(stats_render, sets_are_dynamic_with_counters_and_an_hour_timeout)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	stats_render_sets(out, false, true);
	fclose(out);
	cr_expect_str_eq(text,
		"\n\tset backend_new {\n\t\ttype mark . ipv4_addr . inet_proto . inet_service\n"
		"\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\tcounter\n\t\ttimeout 1h\n\t}\n"
		"\n\tset backend_in {\n\t\ttype mark . ipv4_addr . inet_proto . inet_service\n"
		"\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\tcounter\n\t\ttimeout 1h\n\t}\n"
		"\n\tset backend_out {\n\t\ttype mark . ipv4_addr . inet_proto . inet_service\n"
		"\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\tcounter\n\t\ttimeout 1h\n\t}\n");
	free(text);
}

/* The sets and the chains, full mark mask, as render.c prints them. */
static char *render_all(bool ipv6, bool traffic)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	cr_assert_not_null(out);
	stats_render_sets(out, ipv6, traffic);
	stats_render_chains(out, UINT32_MAX, ipv6, traffic);
	fclose(out);
	return text;
}

Test(stats_render, without_traffic_counters_no_chain_counts_every_packet)
{
	char *text = render_all(true, false);

	/* new flows still counted, in the nat chain (first packets only) */
	cr_expect(strstr(text, "\tset backend_new {\n"), "%s", text);
	cr_expect(strstr(text, "\tset backend_new6 {\n"), "%s", text);
	cr_expect(strstr(text, "chain count_new {\n"), "%s", text);
	cr_expect(strstr(text, "ct state new update @backend_new6 {"), "%s", text);
	/* nothing in a filter hook, and no set it would fill */
	cr_expect_null(strstr(text, "backend_in"), "%s", text);
	cr_expect_null(strstr(text, "backend_out"), "%s", text);
	cr_expect_null(strstr(text, "type filter"), "%s", text);
	cr_expect_null(strstr(text, "count_forward"), "%s", text);
	free(text);
}

/* ---- parse ------------------------------------------------------------ */

struct elem {
	uint32_t mark;
	const char *addr;
	uint8_t proto;
	uint16_t port;
	uint64_t packets, bytes;
	bool as_list;		/* NFTA_SET_ELEM_EXPRESSIONS instead of _EXPR */
};

static void put_counter(struct nlmsghdr *nlh, uint16_t type, const struct elem *e)
{
	struct nlattr *expr = mnl_attr_nest_start(nlh, type), *data;

	mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "counter");
	data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
	mnl_attr_put_u64(nlh, NFTA_COUNTER_BYTES, htobe64(e->bytes));
	mnl_attr_put_u64(nlh, NFTA_COUNTER_PACKETS, htobe64(e->packets));
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, expr);
}

/* A NEWSETELEM dump reply as the kernel sends it. */
static struct nlmsghdr *elem_msg(char *buf, const struct elem *elems, size_t n)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *list;

	nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, "knlb");
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "backend_in");
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = 0; i < n; i++) {
		struct nlattr *elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM), *key, *l;
		bool v6 = strchr(elems[i].addr, ':') != NULL;
		size_t alen = v6 ? 16 : 4;
		uint8_t k[28] = { 0 };
		uint16_t port = htons(elems[i].port);

		/* mark . addr . proto . port, as backend_in[6] key them */
		memcpy(k, &elems[i].mark, 4);
		cr_assert_eq(inet_pton(v6 ? AF_INET6 : AF_INET, elems[i].addr, k + 4), 1);
		k[4 + alen] = elems[i].proto;
		memcpy(k + 8 + alen, &port, 2);
		key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, 12 + alen, k);
		mnl_attr_nest_end(nlh, key);
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_EXPIRATION, htobe64(3599000));
		if (elems[i].as_list) {
			l = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_EXPRESSIONS);
			put_counter(nlh, NFTA_LIST_ELEM, &elems[i]);
			mnl_attr_nest_end(nlh, l);
		} else {
			put_counter(nlh, NFTA_SET_ELEM_EXPR, &elems[i]);
		}
		mnl_attr_nest_end(nlh, elem);
	}
	mnl_attr_nest_end(nlh, list);
	return nlh;
}

static const struct knlb_addr *ip(const char *s)
{
	static struct knlb_addr a[4];
	static unsigned int next;
	struct knlb_addr *out = &a[next++ % 4];

	cr_assert_eq(addr_parse(s, out), 0);
	return out;
}

Test(stats_parse, elements_become_per_backend_counters_folded_by_mark_mask)
{
	static char buf[8192];
	const struct elem in[] = {
		{ 0x01000000, "10.0.0.11", 6, 8080, 10, 1000, false },
		/* the same flow's mark with a bit another tool owns: same backend */
		{ 0x01000005, "10.0.0.11", 6, 8080, 5, 500, true },
		/* another service on the same backend address */
		{ 0x02000000, "10.0.0.11", 6, 8080, 7, 700, false },
		/* a dump repeating an element (hash resize): counted once */
		{ 0x02000000, "10.0.0.11", 6, 8080, 7, 700, false },
		/* an IPv6 backend (backend_in6's 28-byte key) */
		{ 0x01000000, "2001:db8:1::11", 6, 8080, 3, 300, false },
	};
	struct stats_table t = { 0 };
	const struct stats_counter *c;

	cr_assert_eq(stats_parse_elems(elem_msg(buf, in, 5), STATS_IN, &t), 0);
	cr_assert_eq(stats_parse_elems(elem_msg(buf, in, 1), STATS_NEW, &t), 0);
	stats_table_fold(&t, 0xff000000);
	cr_expect_eq(t.n, 3);
	c = stats_find(&t, 0x01000000, ip("2001:db8:1::11"), 6, 8080);
	cr_assert_not_null(c);
	cr_expect_eq(c->pkts_in, 3);
	cr_expect_null(stats_find(&t, 0x01000000, ip("2001:db8:1::12"), 6, 8080));
	c = stats_find(&t, 0x01000000, ip("10.0.0.11"), 6, 8080);
	cr_assert_not_null(c);
	cr_expect_eq(c->pkts_in, 15);
	cr_expect_eq(c->bytes_in, 1500);
	cr_expect_eq(c->new_flows, 10, "backend_new's packets are new flows");
	cr_expect_eq(c->pkts_out, 0);
	c = stats_find(&t, 0x02000000, ip("10.0.0.11"), 6, 8080);
	cr_assert_not_null(c);
	cr_expect_eq(c->pkts_in, 7);
	cr_expect_eq(c->bytes_in, 700);
	cr_expect_null(stats_find(&t, 0x01000000, ip("10.0.0.11"), 17, 8080));
	stats_table_free(&t);
}

Test(stats_parse, an_element_without_key_is_a_protocol_error)
{
	static char buf[512];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *list, *elem;
	struct stats_table t = { 0 };

	nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, 0);
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	cr_expect_eq(stats_parse_elems(nlh, STATS_OUT, &t), -EPROTO);
	stats_table_free(&t);
}

/*
 * Found by test/fuzz/nft_stats.c: an expression name that does not end in
 * a NUL inside its attribute was compared with strcmp, reading past it.
 * Here the padding after "counter" happens to be a zero byte, so the
 * unchecked read counted the element; the parser must refuse it.
 */
Test(stats_parse, an_expression_name_without_its_nul_is_a_protocol_error)
{
	static char buf[512];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *list, *elem, *key, *expr, *data;
	struct stats_table t = { 0 };
	uint8_t k[16] = { 1 };

	nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(k), k);
	mnl_attr_nest_end(nlh, key);
	expr = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_EXPR);
	mnl_attr_put(nlh, NFTA_EXPR_NAME, strlen("counter"), "counter");
	data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
	mnl_attr_put_u64(nlh, NFTA_COUNTER_PACKETS, htobe64(3));
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, expr);
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	cr_expect_eq(stats_parse_elems(nlh, STATS_IN, &t), -EPROTO);
	cr_expect_eq(t.n, 0);
	stats_table_free(&t);
}

/* ---- the JSON reader -------------------------------------------------- */

Test(json_read, reads_what_knlbd_writes)
{
	struct json_value *v;
	const struct json_value *svcs;
	uint64_t u;

	cr_assert_eq(json_parse(" {\"monotonic_ms\":18446744073709551615,\"x\":-1.5,"
				"\"s\":\"a\\\"b\\u00e9\",\"n\":null,\"t\":true,"
				"\"services\":[{\"name\":\"web\"},{}]} ", &v), 0);
	cr_expect(json_get_uint(v, "monotonic_ms", &u));
	cr_expect_eq(u, UINT64_MAX, "counters stay exact above 2^53");
	cr_expect_not(json_get_uint(v, "x", &u), "negative is not a counter");
	cr_expect_float_eq(json_get(v, "x")->num, -1.5, 1e-12);
	cr_expect_str_eq(json_get_str(v, "s"), "a\"b\xc3\xa9");
	cr_expect_eq(json_get(v, "n")->kind, JSON_NULL);
	cr_expect(json_get(v, "t")->b);
	svcs = json_get(v, "services");
	cr_assert_eq(svcs->n, 2);
	cr_expect_str_eq(json_get_str(&svcs->items[0], "name"), "web");
	cr_expect_null(json_get(v, "absent"));
	json_value_free(v);
}

Test(json_read, refuses_what_is_not_json)
{
	const char *bad[] = { "", "{", "{\"a\":}", "[1,]x", "{\"a\" 1}", "\"\\q\"",
			      "[1] [2]", "nul", "\"a\nb\"" };
	struct json_value *v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(json_parse(bad[i], &v), -EINVAL, "accepted: %s", bad[i]);
		cr_expect_null(v);
	}
}

Test(stats_render, ipv6_counting_has_sets_and_rules_of_its_own)
{
	char *text = render_all(true, true);

	cr_expect(strstr(text, "\tset backend_in6 {\n\t\ttype mark . ipv6_addr . inet_proto . inet_service\n"), "%s", text);
	cr_expect(strstr(text, "ct mark != 0x00000000 ct direction reply update @backend_out6 { ct mark . ip6 saddr . meta l4proto . th sport }\n"), "%s", text);
	free(text);
}
