/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes the netlink seeds of the fuzz corpora (make fuzz-seeds): real
 * messages built by the libraries that build them for the kernel, so the
 * fuzzer starts from what knlbd receives.
 *   ct_msg/     ctnetlink NEW, DELETE and update messages, IPv4 and IPv6,
 *               TCP/UDP/ICMP, and a dump datagram of several messages,
 *               built with nfct_nlmsg_build() plus the attributes only the
 *               kernel sends (CTA_ID, counters, timestamps)
 *   nft_stats/  NEWSETELEM dump replies of the counting sets, both
 *               expression forms (the first byte picks the set)
 * Usage: fuzz-gen-seeds DIR   (test/fuzz/corpus)
 */
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

static const char *dir;

static void write_seed(const char *sub, const char *name, const void *buf,
		       size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

struct flow_spec {
	int family;
	const char *client, *vip, *backend;
	uint8_t proto;
	uint16_t sport, dport, bport;
	int tcp_state;		/* -1: none */
	uint32_t mark, id;
	bool counters, timestamp;
};

static void set_addr(struct nf_conntrack *ct, int family, enum nf_conntrack_attr v4,
		     enum nf_conntrack_attr v6, const char *text)
{
	uint8_t a[16];

	if (inet_pton(family, text, a) != 1)
		abort();
	nfct_set_attr(ct, family == AF_INET ? v4 : v6, a);
}

/* Appends one ctnetlink message of type to buf; returns its aligned length. */
static size_t put_ct(char *buf, uint8_t type, const struct flow_spec *s)
{
	struct nf_conntrack *ct = nfct_new();
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	struct nlattr *nest;

	if (!ct)
		abort();
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)s->family;
	nfg->version = NFNETLINK_V0;
	nfct_set_attr_u8(ct, ATTR_L3PROTO, (uint8_t)s->family);
	nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, (uint8_t)s->family);
	nfct_set_attr_u8(ct, ATTR_L4PROTO, s->proto);
	nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, s->proto);
	set_addr(ct, s->family, ATTR_IPV4_SRC, ATTR_IPV6_SRC, s->client);
	set_addr(ct, s->family, ATTR_IPV4_DST, ATTR_IPV6_DST, s->vip);
	set_addr(ct, s->family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, s->backend);
	set_addr(ct, s->family, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, s->client);
	if (s->proto == IPPROTO_ICMP || s->proto == IPPROTO_ICMPV6) {
		nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(s->sport));
		nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, 8);
		nfct_set_attr_u8(ct, ATTR_ICMP_CODE, 0);
	} else {
		nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons(s->sport));
		nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(s->dport));
		nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(s->bport));
		nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(s->sport));
	}
	if (s->tcp_state >= 0)
		nfct_set_attr_u8(ct, ATTR_TCP_STATE, (uint8_t)s->tcp_state);
	nfct_set_attr_u32(ct, ATTR_TIMEOUT, 300);
	if (s->mark)
		nfct_set_attr_u32(ct, ATTR_MARK, s->mark);
	nfct_set_attr_u32(ct, ATTR_STATUS, IPS_CONFIRMED | IPS_DST_NAT | IPS_SEEN_REPLY);
	if (nfct_nlmsg_build(nlh, ct) < 0)
		abort();
	nfct_destroy(ct);

	/* What only the kernel sends. */
	mnl_attr_put_u32(nlh, CTA_ID, htonl(s->id));
	if (s->counters) {
		for (int dir_ = 0; dir_ < 2; dir_++) {
			nest = mnl_attr_nest_start(nlh, dir_ ? CTA_COUNTERS_REPLY :
							      CTA_COUNTERS_ORIG);
			mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(12 + dir_));
			mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(3400 + dir_));
			mnl_attr_nest_end(nlh, nest);
		}
	}
	if (s->timestamp) {
		nest = mnl_attr_nest_start(nlh, CTA_TIMESTAMP);
		mnl_attr_put_u64(nlh, CTA_TIMESTAMP_START,
				 htobe64(1699999990000000000ULL));
		mnl_attr_nest_end(nlh, nest);
	}
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

static void ct_seeds(void)
{
	static char buf[16384];
	const struct flow_spec tcp4 = {
		AF_INET, "192.0.2.10", "198.51.100.1", "10.0.0.2", IPPROTO_TCP,
		40000, 80, 8080, TCP_CONNTRACK_ESTABLISHED, 0x00010100, 1001,
		true, true };
	struct flow_spec s;
	size_t n;

	n = put_ct(buf, IPCTNL_MSG_CT_NEW, &tcp4);
	write_seed("ct_msg", "new-tcp4", buf, n);

	s = tcp4;
	s.tcp_state = TCP_CONNTRACK_TIME_WAIT;
	s.counters = s.timestamp = false;
	n = put_ct(buf, IPCTNL_MSG_CT_NEW, &s);
	write_seed("ct_msg", "update-tcp4-time-wait", buf, n);

	n = put_ct(buf, IPCTNL_MSG_CT_DELETE, &tcp4);
	write_seed("ct_msg", "destroy-tcp4", buf, n);

	s = (struct flow_spec){ AF_INET6, "2001:db8::10", "2001:db8:1::1",
		"2001:db8:2::2", IPPROTO_UDP, 5353, 53, 5300, -1, 0x00020100,
		2002, true, false };
	n = put_ct(buf, IPCTNL_MSG_CT_NEW, &s);
	write_seed("ct_msg", "new-udp6", buf, n);

	s = (struct flow_spec){ AF_INET, "192.0.2.11", "198.51.100.1",
		"10.0.0.3", IPPROTO_ICMP, 77, 0, 0, -1, 0, 3003, false, false };
	n = put_ct(buf, IPCTNL_MSG_CT_NEW, &s);
	write_seed("ct_msg", "new-icmp4-unmarked", buf, n);

	/* A dump datagram: several entries back to back. */
	n = put_ct(buf, IPCTNL_MSG_CT_NEW, &tcp4);
	s = tcp4;
	s.client = "192.0.2.12";
	s.id = 1002;
	s.tcp_state = TCP_CONNTRACK_FIN_WAIT;
	n += put_ct(buf + n, IPCTNL_MSG_CT_NEW, &s);
	s = (struct flow_spec){ AF_INET6, "2001:db8::11", "2001:db8:1::1",
		"2001:db8:2::3", IPPROTO_TCP, 41000, 443, 8443,
		TCP_CONNTRACK_SYN_SENT, 0x00030100, 1003, true, true };
	n += put_ct(buf + n, IPCTNL_MSG_CT_NEW, &s);
	write_seed("ct_msg", "dump-3-entries", buf, n);
}

struct elem {
	uint32_t mark;
	const char *addr;
	uint8_t proto;
	uint16_t port;
	uint64_t packets, bytes;
	bool as_list;
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

/* A NEWSETELEM dump reply as the kernel sends it (test/unit/test_stats.c). */
static size_t put_elems(char *buf, const char *set, const struct elem *elems,
			size_t n)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *list;

	nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, "knlb");
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = 0; i < n; i++) {
		struct nlattr *elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		struct nlattr *key, *l;
		uint16_t port = htons(elems[i].port);
		uint8_t k[16] = { 0 };

		memcpy(k, &elems[i].mark, 4);
		if (inet_pton(AF_INET, elems[i].addr, k + 4) != 1)
			abort();
		k[8] = elems[i].proto;
		memcpy(k + 12, &port, 2);
		key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(k), k);
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
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

static void nft_seeds(void)
{
	static const struct elem elems[] = {
		{ 0x00010100, "10.0.0.2", IPPROTO_TCP, 8080, 40, 52000, false },
		{ 0x00010100, "10.0.0.3", IPPROTO_TCP, 8080, 7, 900, true },
		{ 0x00020100, "10.0.0.4", IPPROTO_UDP, 53, 3, 210, false },
	};
	static const char *const sets[] = { "backend_new", "backend_in", "backend_out" };
	static char buf[8192];
	char name[64];

	for (int which = 0; which < 3; which++) {
		buf[0] = (char)which;
		size_t n = 1 + put_elems(buf + 1, sets[which], elems, 3);

		/* Two datagram messages: a dump that repeats an element. */
		n += put_elems(buf + n, sets[which], elems, 1);
		snprintf(name, sizeof(name), "%s-3-elems", sets[which]);
		write_seed("nft_stats", name, buf, n);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	ct_seeds();
	nft_seeds();
	return 0;
}
