/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The probes' conntrack entries without events (see
 * include/knlb/nft/probe_events.h):
 *
 *   table inet knlb.probes {
 *     chain probe_events {
 *       type filter hook output priority -150; policy accept;
 *       meta nfproto ipv4 meta l4proto tcp tcp sport 40312-40375 ct event set 0x0
 *       meta nfproto ipv6 meta l4proto tcp tcp sport 51022-51085 ct event set 0x0
 *     }
 *   }
 *
 * Output only: the probes leave from this host.  After conntrack (-200),
 * which created the entry, and before it is confirmed (postrouting),
 * where its NEW event would be sent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/rule.h>

#include "knlb/nft/nfnl.h"
#include "knlb/nft/probe_events.h"
#include "rule_build-int.h"

#define PROBE_EVENTS_CHAIN	"probe_events"
#define PROBE_EVENTS_PRIO	(-150)

int probe_events_table_name(const char *table, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.probes", table);

	return n < 0 || (size_t)n >= len || (size_t)n > RB_NAME_MAX ?
	       -ENAMETOOLONG : 0;
}

static int add_range_rule(struct nfnl_batch *batch, const char *table,
			  const struct probe_port_range *r)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, PROBE_EVENTS_CHAIN) };
	uint16_t lo = htons(r->first);
	uint16_t hi = htons((uint16_t)(r->first + r->count - 1));
	uint32_t none = 0;
	char what[64];

	if (!rb.rule)
		return -ENOMEM;
	rb_require_nfproto(&rb, r->family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	rb_meta(&rb, NFT_META_L4PROTO, NFT_REG_1);
	rb_cmp_eq_u8(&rb, NFT_REG_1, IPPROTO_TCP);
	/* network order compares as numbers byte by byte */
	rb_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG_1);
	rb_cmp(&rb, NFT_REG_1, NFT_CMP_GTE, &lo, sizeof(lo));
	rb_cmp(&rb, NFT_REG_1, NFT_CMP_LTE, &hi, sizeof(hi));
	rb_immediate(&rb, NFT_REG_1, &none, sizeof(none));
	rb_ct_set(&rb, NFT_CT_EVENTMASK, NFT_REG_1);
	snprintf(what, sizeof(what), "the %s probes' rule",
		 r->family == AF_INET6 ? "IPv6" : "IPv4");
	return rb_add_rule(batch, &rb, what);
}

static int commit(struct nfnl_sock *sock, struct nfnl_batch *batch, int ret,
		  const char *name, char *err, size_t errlen)
{
	if (ret == 0)
		ret = nfnl_batch_commit(sock, batch, err, errlen);
	else
		snprintf(err, errlen, "table inet %s: %s", name, strerror(-ret));
	nfnl_batch_free(batch);
	return ret;
}

int probe_events_install(struct nfnl_sock *sock, const char *name,
			 const struct probe_port_range *ranges, size_t n,
			 char *err, size_t errlen)
{
	struct nfnl_batch *batch = nfnl_batch_new(sock);
	int ret = batch ? 0 : -ENOMEM;

	/* one transaction replaces a leftover */
	if (ret == 0)
		ret = rb_del_table_if_any(batch, name);
	if (ret == 0)
		ret = rb_add_table(batch, name, NFT_MSG_NEWTABLE,
				   NLM_F_CREATE | NLM_F_EXCL);
	if (ret == 0)
		ret = rb_add_chain(batch, name, PROBE_EVENTS_CHAIN, "filter",
				   NF_INET_LOCAL_OUT, PROBE_EVENTS_PRIO);
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = add_range_rule(batch, name, &ranges[i]);
	return commit(sock, batch, ret, name, err, errlen);
}

int probe_events_remove(struct nfnl_sock *sock, const char *name,
			char *err, size_t errlen)
{
	struct nfnl_batch *batch = nfnl_batch_new(sock);
	int ret = batch ? 0 : -ENOMEM;

	if (ret == 0)
		ret = rb_del_table_if_any(batch, name);
	return commit(sock, batch, ret, name, err, errlen);
}
