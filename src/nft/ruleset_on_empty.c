/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * on_empty, the part of knlb's table for services with no usable backend:
 * per family an empty_reject and an empty_drop set keyed by VIP . proto .
 * port, the on_empty chain that rejects or drops their new flows, and the
 * filter hooks that jump to it (see ruleset.c for the rest of the table).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>

#include "knlb/config/config-t.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/ruleset.h"
#include "knlb/pool/pool.h"
#include "rule_build-int.h"
#include "ruleset-int.h"

/* ---- on_empty: what new flows get when a service has no backend ------ */

/*
 * A service with no usable backend has no slot elements, so its DNAT finds
 * nothing and the packet would go on to the VIP unchanged: a black hole at
 * best.  Its VIP . proto . port key is then in empty_reject or empty_drop,
 * matched by a filter chain after DNAT (nft refuses reject in nat chains).
 * Flows that were translated no longer carry the VIP there.
 */
static const char *empty_set_name(enum knlb_on_empty how, enum knlb_family f,
				  char *buf, size_t len)
{
	return ruleset_family_object(how == KNLB_ON_EMPTY_DROP ? RULESET_EMPTY_DROP
						       : RULESET_EMPTY_REJECT,
			     f, buf, len);
}

/* ip[6] daddr . meta l4proto . th dport @SET */
static void match_service_set(struct rule_builder *rb, enum knlb_family f,
			      enum knlb_on_empty how)
{
	char set[RULESET_NAME_MAX];

	ruleset_load_service_key(rb, f);
	rb_lookup(rb, empty_set_name(how, f, set, sizeof(set)),
		  family_set_id(how == KNLB_ON_EMPTY_DROP ? SET_ID_EMPTY_DROP
							  : SET_ID_EMPTY_REJECT, f),
		  NFT_REG_1, RB_LOOKUP_NO_DREG);
}

/* The three rules of chain on_empty, in order. */
enum on_empty_rule {
	ON_EMPTY_TCP_RESET,	/* @empty_reject meta l4proto tcp reject with tcp reset */
	ON_EMPTY_ICMP,		/* @empty_reject reject with icmp[v6] port-unreachable */
	ON_EMPTY_DROP,		/* @empty_drop drop */
};

static int add_on_empty_rule(struct nfnl_batch *batch, const char *table,
			     enum knlb_family f, enum on_empty_rule kind)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, RULESET_ON_EMPTY) };

	if (!rb.rule)
		return -ENOMEM;
	match_service_set(&rb, f, kind == ON_EMPTY_DROP ? KNLB_ON_EMPTY_DROP
							: KNLB_ON_EMPTY_REJECT);
	switch (kind) {
	case ON_EMPTY_TCP_RESET:
		rb_meta(&rb, NFT_META_L4PROTO, NFT_REG_1);
		rb_cmp_eq_u8(&rb, NFT_REG_1, IPPROTO_TCP);
		rb_reject(&rb, NFT_REJECT_TCP_RST, 0);
		break;
	case ON_EMPTY_ICMP:
		rb_reject(&rb, NFT_REJECT_ICMP_UNREACH, ruleset_shapes[f].port_unreachable);
		break;
	case ON_EMPTY_DROP:
		rb_verdict(&rb, NF_DROP, NULL);
		break;
	}
	return rb_add_rule(batch, &rb, "chain " RULESET_ON_EMPTY);
}

/*
 * `ct state new jump TARGET`: only the first packet of a flow can still
 * carry a VIP here (later ones are translated by conntrack), so every
 * other packet skips the on_empty lookups.  nft 1.0.6's bytecode.
 */
int ruleset_add_new_flow_jump(struct nfnl_batch *batch, const char *table,
			      const char *chain, const char *target)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, chain) };
	uint32_t zero = 0;

	if (!rb.rule)
		return -ENOMEM;
	rb_ct_load(&rb, NFT_CT_STATE);
	rb_bitwise(&rb, NF_CT_STATE_BIT(IP_CT_NEW), 0);
	rb_cmp(&rb, NFT_REG_1, NFT_CMP_NEQ, &zero, sizeof(zero));
	rb_verdict(&rb, NFT_JUMP, target);
	return rb_add_rule(batch, &rb, chain);
}

static int add_empty_element(struct nfnl_batch *batch, const char *table,
			     const struct knlb_service *svc, enum knlb_family f,
			     uint16_t type)
{
	char what[3 * RULESET_NAME_MAX], set[RULESET_NAME_MAX];
	struct nlattr *list, *elem;
	struct nlmsghdr *nlh;
	uint8_t key[SERVICE_KEY_MAX];

	empty_set_name(svc->cfg->on_empty, f, set, sizeof(set));
	snprintf(what, sizeof(what), "service %s: set %s element", svc->cfg->name,
		 set);
	ruleset_service_key(svc, f, key);
	nlh = rb_elem_msg(batch, type, table, set, what, &list);
	if (!nlh)
		return -ENOMEM;
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	rb_put_data_value(nlh, NFTA_SET_ELEM_KEY, key, service_key_len(f));
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return 0;
}

int ruleset_add_empty_change(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc, enum knlb_family f,
			     bool empty)
{
	return add_empty_element(batch, pool->config->global.table, svc, f,
				 empty ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
}

/* One family's empty_reject and empty_drop sets, with their elements. */
static int add_empty_sets(struct nfnl_batch *batch, const struct knlb_model *pool,
			  enum knlb_family f)
{
	const char *table = pool->config->global.table;
	char reject[RULESET_NAME_MAX], drop[RULESET_NAME_MAX];
	struct rb_set_spec spec = {
		.key_type = rb_concat_type(ruleset_shapes[f].addr_type,
					   NFT_TYPE_INET_PROTOCOL,
					   NFT_TYPE_INET_SERVICE),
		.key_len = service_key_len(f),
	};
	int ret;

	spec.name = empty_set_name(KNLB_ON_EMPTY_REJECT, f, reject, sizeof(reject));
	spec.id = family_set_id(SET_ID_EMPTY_REJECT, f);
	ret = rb_add_set(batch, table, &spec);
	spec.name = empty_set_name(KNLB_ON_EMPTY_DROP, f, drop, sizeof(drop));
	spec.id = family_set_id(SET_ID_EMPTY_DROP, f);
	if (ret == 0)
		ret = rb_add_set(batch, table, &spec);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++) {
		const struct knlb_service_family *fam =
			pool_service_family(&pool->services[i], f);

		if (fam && fam->empty)
			ret = add_empty_element(batch, table, &pool->services[i],
						f, NFT_MSG_NEWSETELEM);
	}
	return ret;
}

int ruleset_add_on_empty_objects(struct nfnl_batch *batch,
				 const struct knlb_model *pool)
{
	const char *table = pool->config->global.table;
	bool v6 = pool_serves_family(pool, KNLB_FAMILY_IPV6);
	int ret;

	ret = add_empty_sets(batch, pool, KNLB_FAMILY_IPV4);
	if (ret == 0 && v6)
		ret = add_empty_sets(batch, pool, KNLB_FAMILY_IPV6);
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_ON_EMPTY, NULL, -1, 0);
	for (int f = 0; ret == 0 && f < (v6 ? KNLB_FAMILIES : 1); f++) {
		ret = add_on_empty_rule(batch, table, f, ON_EMPTY_TCP_RESET);
		if (ret == 0)
			ret = add_on_empty_rule(batch, table, f, ON_EMPTY_ICMP);
		if (ret == 0)
			ret = add_on_empty_rule(batch, table, f, ON_EMPTY_DROP);
	}
	/* After DNAT (dstnat = -100): only untranslated packets still match. */
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_FILTER_PREROUTING, "filter",
				NF_INET_PRE_ROUTING, RULESET_FILTER_PRIO);
	if (ret == 0)
		ret = ruleset_add_new_flow_jump(batch, table,
						RULESET_FILTER_PREROUTING,
						RULESET_ON_EMPTY);
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_FILTER_OUTPUT, "filter",
				NF_INET_LOCAL_OUT, RULESET_FILTER_PRIO);
	if (ret == 0)
		ret = ruleset_add_new_flow_jump(batch, table, RULESET_FILTER_OUTPUT,
						RULESET_ON_EMPTY);
	return ret;
}
