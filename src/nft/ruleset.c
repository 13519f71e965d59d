/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlb's own table: the pool -> its chains, maps, dispatch and service
 * rules, SNAT and on_empty rules, built from the generic pieces of
 * rule_build.c and appended to a batch.  The expressions are the ones nft 1.0.6 emits
 * for the equivalent nft syntax (checked with `nft -d netlink`), in the
 * same order, and sets carry the same user data: that is what lets
 * `nft list table inet knlb` print our table back as readable nft syntax.
 *
 *   prerouting/output: ip daddr . meta l4proto . th dport vmap @svc_dispatch
 *   svc_NAME:          meta l4proto P ct mark set MARK
 *                      dnat ip to <jhash ...|numgen ...> map @NAME_slots
 *   postrouting:       ct mark MARK masquerade | snat ip to ADDR
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/ip_icmp.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "knlb/config/config-t.h"
#include "knlb/nft/diff.h"
#include "knlb/nft/nfnl.h"
#include "knlb/pool/pool-t.h"
#include "knlb/nft/ruleset.h"
#include "knlb/nft/stats.h"
#include "knlb/sched/sched.h"
#include "rule_build-int.h"

_Static_assert(RULESET_NAME_MAX <= RB_NAME_MAX,
	       "object labels of rule_build.c hold knlb's names in full");

/* Set ids link rules to sets created in the same transaction. */
enum {
	SET_ID_DISPATCH = 1,
	SET_ID_EMPTY_REJECT = 2,
	SET_ID_EMPTY_DROP = 3,
	SET_ID_SLOTS_BASE = 16,
};

/* Slot map values: IPv4 address then port, each padded to 32 bits. */
#define SLOT_DATA_LEN 8
/* Elements per NEWSETELEM message: ~40 bytes each, well under NFNL_MSG_MAX. */
#define ELEMS_PER_MSG 1024

const char *ruleset_chain_name(const struct knlb_service *svc, char *buf,
			       size_t len)
{
	snprintf(buf, len, "svc_%s", svc->cfg->name);
	return buf;
}

const char *ruleset_slots_name(const struct knlb_service *svc, char *buf,
			       size_t len)
{
	snprintf(buf, len, "%s_slots", svc->cfg->name);
	return buf;
}

/* ---- the table -------------------------------------------------------- */

/*
 * User data of the dispatch map, as nft writes it for
 * `type ipv4_addr . inet_proto . inet_service : verdict`.
 */
static struct nftnl_udata_buf *dispatch_udata(void)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	struct nftnl_udata *nest;

	if (!ud)
		return NULL;
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 0);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 0);
	nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_CONCAT);
	nftnl_udata_nest_end(ud, nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA));
	nftnl_udata_nest_end(ud, nest);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
	return ud;
}

/*
 * User data of a slot map, as nft writes it for
 * `typeof numgen inc mod M : ip daddr . tcp dport` (udp for udp services).
 * Without it nft cannot name the integer key and prints raw types.
 */
static struct nftnl_udata_buf *slots_udata(const struct knlb_service *svc)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(128);
	struct nftnl_udata *nest, *data;
	uint32_t l4 = svc->cfg->proto == KNLB_PROTO_TCP ?
		NFT_PROTO_DESC_TCP : NFT_PROTO_DESC_UDP;

	if (!ud)
		return NULL;
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_HOST);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 0);

	nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_NUMGEN);
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	nftnl_udata_put_u32(ud, 0, NFT_NG_INCREMENTAL);
	nftnl_udata_put_u32(ud, 1, svc->cfg->table_size);
	nftnl_udata_put_u32(ud, 2, 0);		/* offset */
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);

	nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_DATA_TYPEOF);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_CONCAT);
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	rb_udata_payload(ud, 0, NFT_PROTO_DESC_IP, NFT_IPHDR_DADDR);
	rb_udata_payload(ud, 1, l4, NFT_THDR_DPORT);
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);

	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
	return ud;
}

/* ip daddr . meta l4proto . th dport vmap @svc_dispatch */
static int add_dispatch_rule(struct nfnl_batch *batch, const char *table,
			     const char *chain)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, chain) };
	char what[RULESET_NAME_MAX + 16];

	if (!rb.rule)
		return -ENOMEM;
	rb_require_ipv4(&rb);
	rb_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	rb_meta(&rb, NFT_META_L4PROTO, NFT_REG32_01);
	rb_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_02);
	rb_lookup(&rb, RULESET_DISPATCH_MAP, SET_ID_DISPATCH, NFT_REG_1,
		  NFT_REG_VERDICT);
	snprintf(what, sizeof(what), "chain %s: dispatch rule", chain);
	return rb_add_rule(batch, &rb, what);
}

/* The selector that picks a slot, into NFT_REG_1. */
static void put_slot_selector(struct rule_builder *rb,
			     const struct knlb_service_config *cfg)
{
	uint32_t len = 4;

	if (cfg->scheduler != KNLB_SCHED_MAGLEV) {
		rb_numgen(rb, cfg->scheduler != KNLB_SCHED_RANDOM ?
			      NFT_NG_INCREMENTAL : NFT_NG_RANDOM,
			  cfg->table_size, NFT_REG_1);
		return;
	}
	/* jhash over a concatenation starting in NFT_REG_2 (= NFT_REG32_04). */
	rb_require_ipv4(rb);
	rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG_2);
	if (cfg->hash_key != KNLB_HASH_SRC_IP) {
		rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG32_05);
		len = 8;
	}
	if (cfg->hash_key == KNLB_HASH_5TUPLE) {
		rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG32_06);
		rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_07);
		len = 16;
	}
	rb_jhash(rb, NFT_REG_2, len, cfg->table_size, cfg->hash_seed, NFT_REG_1);
}

/* meta l4proto P ct mark set MARK dnat ip to <selector> map @NAME_slots */
static int add_service_rule(struct nfnl_batch *batch, const char *table,
			    const struct knlb_service *svc, uint32_t set_id)
{
	char chain[RULESET_NAME_MAX], slots[RULESET_NAME_MAX];
	char what[2 * RULESET_NAME_MAX];
	uint32_t mask = svc->ct_mark_mask;
	struct rule_builder rb;

	ruleset_chain_name(svc, chain, sizeof(chain));
	ruleset_slots_name(svc, slots, sizeof(slots));
	rb.rule = rb_rule_new(table, chain);
	rb.failed = false;
	if (!rb.rule)
		return -ENOMEM;
	rb_meta(&rb, NFT_META_L4PROTO, NFT_REG_1);
	rb_cmp_eq_u8(&rb, NFT_REG_1, (uint8_t)svc->cfg->proto);
	if (mask == UINT32_MAX) {
		rb_immediate(&rb, NFT_REG_1, &svc->ct_mark, sizeof(svc->ct_mark));
	} else {	/* ct mark set ct mark & ~mask | mark: other bits kept */
		rb_ct_load_mark(&rb);
		rb_bitwise(&rb, ~mask, svc->ct_mark);
	}
	rb_ct_set(&rb, NFT_CT_MARK, NFT_REG_1);
	put_slot_selector(&rb, svc->cfg);
	rb_lookup(&rb, slots, set_id, NFT_REG_1, NFT_REG_1);
	rb_nat(&rb, NFT_NAT_DNAT, NFPROTO_IPV4, NFT_REG_1, NFT_REG32_01);
	snprintf(what, sizeof(what), "service %s: chain %s", svc->cfg->name, chain);
	return rb_add_rule(batch, &rb, what);
}

/* ct mark MARK masquerade | snat ip to ADDR */
static int add_snat_rule(struct nfnl_batch *batch, const char *table,
			 const struct knlb_service *svc)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, RULESET_POSTROUTING) };
	char what[RULESET_NAME_MAX + 32];

	if (!rb.rule)
		return -ENOMEM;
	rb_ct_load_mark(&rb);
	if (svc->ct_mark_mask != UINT32_MAX)
		rb_bitwise(&rb, svc->ct_mark_mask, 0);
	rb_cmp_eq_u32(&rb, NFT_REG_1, svc->ct_mark);
	if (svc->cfg->snat == KNLB_SNAT_MASQUERADE) {
		rb_masq(&rb);
	} else {
		rb_immediate(&rb, NFT_REG_1, &svc->cfg->snat_addr.in,
			     sizeof(svc->cfg->snat_addr.in));
		rb_nat(&rb, NFT_NAT_SNAT, NFPROTO_IPV4, NFT_REG_1, 0);
	}
	snprintf(what, sizeof(what), "service %s: snat rule", svc->cfg->name);
	return rb_add_rule(batch, &rb, what);
}

/* ---- elements, built with libmnl directly: no allocation per element --- */


static void slot_value(const struct knlb_service *svc, uint32_t backend,
		       uint8_t out[SLOT_DATA_LEN])
{
	const struct knlb_backend_config *b = svc->backends[backend].cfg;
	uint16_t port = htons(b->port);

	memset(out, 0, SLOT_DATA_LEN);
	memcpy(out, &b->addr.in, 4);
	memcpy(out + 4, &port, 2);
}

/*
 * Append one message per ELEMS_PER_MSG slots.  op picks which slots take
 * part and with which value: for adds, the backend index to map to; for
 * deletes, SCHED_SLOT_EMPTY (keys only).
 */
struct elem_op {
	uint16_t type;			/* NFT_MSG_NEWSETELEM / DELSETELEM */
	const uint32_t *slots;		/* slot numbers */
	const uint32_t *values;		/* backend per slot (adds only) */
	size_t n;
};

static int add_elements(struct nfnl_batch *batch, const char *table,
			const struct knlb_service *svc, const struct elem_op *op)
{
	char set[RULESET_NAME_MAX], what[2 * RULESET_NAME_MAX + 48];
	struct nlattr *list = NULL;
	struct nlmsghdr *nlh = NULL;

	ruleset_slots_name(svc, set, sizeof(set));
	for (size_t i = 0; i < op->n; i++) {
		struct nlattr *elem;

		if (i % ELEMS_PER_MSG == 0) {
			if (nlh)
				mnl_attr_nest_end(nlh, list);
			snprintf(what, sizeof(what),
				 "service %s: map %s: %s slots %u..",
				 svc->cfg->name, set,
				 op->type == NFT_MSG_NEWSETELEM ? "adding" : "deleting",
				 op->slots[i]);
			nlh = rb_elem_msg(batch, op->type, table, set, what, &list);
			if (!nlh)
				return -ENOMEM;
		}
		elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		rb_put_data_value(nlh, NFTA_SET_ELEM_KEY, &op->slots[i],
			       sizeof(op->slots[i]));
		if (op->values) {
			uint8_t value[SLOT_DATA_LEN];

			slot_value(svc, op->values[i], value);
			rb_put_data_value(nlh, NFTA_SET_ELEM_DATA, value, sizeof(value));
		}
		mnl_attr_nest_end(nlh, elem);
	}
	if (nlh)
		mnl_attr_nest_end(nlh, list);
	return 0;
}

/* VIP . proto . port, as the dispatch map and on_empty sets key it. */
static void service_key(const struct knlb_service *svc, uint8_t key[12])
{
	uint16_t port = htons(svc->cfg->port);

	memset(key, 0, 12);
	memcpy(key, &svc->cfg->vip.in, 4);
	key[4] = (uint8_t)svc->cfg->proto;
	memcpy(key + 8, &port, 2);
}

/* The dispatch element of svc: VIP . proto . port : jump svc_NAME */
static int add_dispatch_element(struct nfnl_batch *batch, const char *table,
				const struct knlb_service *svc)
{
	char chain[RULESET_NAME_MAX], what[2 * RULESET_NAME_MAX];
	uint8_t key[12];
	struct nlattr *list, *elem, *data, *verdict;
	struct nlmsghdr *nlh;

	ruleset_chain_name(svc, chain, sizeof(chain));
	snprintf(what, sizeof(what), "service %s: map %s element",
		 svc->cfg->name, RULESET_DISPATCH_MAP);
	service_key(svc, key);

	nlh = rb_elem_msg(batch, NFT_MSG_NEWSETELEM, table, RULESET_DISPATCH_MAP,
		       what, &list);
	if (!nlh)
		return -ENOMEM;
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	rb_put_data_value(nlh, NFTA_SET_ELEM_KEY, key, sizeof(key));
	data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
	verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
	mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_JUMP));
	mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, chain);
	mnl_attr_nest_end(nlh, verdict);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return 0;
}

static int add_all_slots(struct nfnl_batch *batch, const char *table,
			 const struct knlb_service *svc)
{
	uint32_t m = svc->cfg->table_size;
	uint32_t *keys = malloc(m * sizeof(*keys));
	uint32_t *values = malloc(m * sizeof(*values));
	struct elem_op op = { .type = NFT_MSG_NEWSETELEM, .slots = keys,
			      .values = values };
	int ret;

	if (!keys || !values) {
		free(keys);
		free(values);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m; i++) {
		if (svc->slots[i] == SCHED_SLOT_EMPTY)
			continue;
		keys[op.n] = i;
		values[op.n++] = svc->slots[i];
	}
	ret = add_elements(batch, table, svc, &op);
	free(keys);
	free(values);
	return ret;
}

static int add_service_objects(struct nfnl_batch *batch, const char *table,
			       const struct knlb_service *svc, uint32_t set_id)
{
	char chain[RULESET_NAME_MAX], slots[RULESET_NAME_MAX];
	struct rb_set_spec spec = {
		.name = ruleset_slots_name(svc, slots, sizeof(slots)),
		.id = set_id,
		.flags = NFT_SET_MAP,
		.key_type = NFT_TYPE_INTEGER,
		.key_len = sizeof(uint32_t),
		.data_type = rb_concat_type(NFT_TYPE_IPADDR, NFT_TYPE_INET_SERVICE, 0),
		.data_len = SLOT_DATA_LEN,
		.udata = slots_udata(svc),
	};
	int ret;

	if (!spec.udata)
		return -ENOMEM;
	ret = rb_add_set(batch, table, &spec);
	nftnl_udata_buf_free(spec.udata);
	if (ret == 0)
		ret = add_all_slots(batch, table, svc);
	if (ret == 0)
		ret = rb_add_chain(batch, table,
				ruleset_chain_name(svc, chain, sizeof(chain)),
				NULL, -1, 0);
	if (ret == 0)
		ret = add_service_rule(batch, table, svc, set_id);
	return ret;
}

/* ---- on_empty: what new flows get when a service has no backend ------ */

/*
 * A service with no usable backend has no slot elements, so its DNAT finds
 * nothing and the packet would go on to the VIP unchanged: a black hole at
 * best.  Its VIP . proto . port key is then in empty_reject or empty_drop,
 * matched by a filter chain after DNAT (nft refuses reject in nat chains).
 * Flows that were translated no longer carry the VIP there.
 */
static const char *empty_set_name(enum knlb_on_empty how)
{
	return how == KNLB_ON_EMPTY_DROP ? RULESET_EMPTY_DROP : RULESET_EMPTY_REJECT;
}

/* ip daddr . meta l4proto . th dport @SET */
static void match_service_set(struct rule_builder *rb, const char *set,
				 uint32_t set_id)
{
	rb_require_ipv4(rb);
	rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	rb_meta(rb, NFT_META_L4PROTO, NFT_REG32_01);
	rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_02);
	rb_lookup(rb, set, set_id, NFT_REG_1, RB_LOOKUP_NO_DREG);
}

/* The three rules of chain on_empty, in order. */
enum on_empty_rule {
	ON_EMPTY_TCP_RESET,	/* @empty_reject meta l4proto tcp reject with tcp reset */
	ON_EMPTY_ICMP,		/* @empty_reject reject with icmp port-unreachable */
	ON_EMPTY_DROP,		/* @empty_drop drop */
};

static int add_on_empty_rule(struct nfnl_batch *batch, const char *table,
			     enum on_empty_rule kind)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, RULESET_ON_EMPTY) };

	if (!rb.rule)
		return -ENOMEM;
	if (kind == ON_EMPTY_DROP)
		match_service_set(&rb, RULESET_EMPTY_DROP, SET_ID_EMPTY_DROP);
	else
		match_service_set(&rb, RULESET_EMPTY_REJECT, SET_ID_EMPTY_REJECT);
	switch (kind) {
	case ON_EMPTY_TCP_RESET:
		rb_meta(&rb, NFT_META_L4PROTO, NFT_REG_1);
		rb_cmp_eq_u8(&rb, NFT_REG_1, IPPROTO_TCP);
		rb_reject(&rb, NFT_REJECT_TCP_RST, 0);
		break;
	case ON_EMPTY_ICMP:
		rb_reject(&rb, NFT_REJECT_ICMP_UNREACH, ICMP_PORT_UNREACH);
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
static int add_new_flow_jump_rule(struct nfnl_batch *batch, const char *table,
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
			     const struct knlb_service *svc, uint16_t type)
{
	const char *set = empty_set_name(svc->cfg->on_empty);
	char what[2 * RULESET_NAME_MAX];
	struct nlattr *list, *elem;
	struct nlmsghdr *nlh;
	uint8_t key[12];

	snprintf(what, sizeof(what), "service %s: set %s element", svc->cfg->name,
		 set);
	service_key(svc, key);
	nlh = rb_elem_msg(batch, type, table, set, what, &list);
	if (!nlh)
		return -ENOMEM;
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	rb_put_data_value(nlh, NFTA_SET_ELEM_KEY, key, sizeof(key));
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return 0;
}

int ruleset_add_empty_change(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc, bool empty)
{
	return add_empty_element(batch, pool->config->global.table, svc,
				 empty ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
}

static int add_on_empty_objects(struct nfnl_batch *batch,
				const struct knlb_model *pool)
{
	const char *table = pool->config->global.table;
	struct rb_set_spec spec = {
		.key_type = rb_concat_type(NFT_TYPE_IPADDR, NFT_TYPE_INET_PROTOCOL,
					NFT_TYPE_INET_SERVICE),
		.key_len = 12,
	};
	int ret;

	spec.name = RULESET_EMPTY_REJECT;
	spec.id = SET_ID_EMPTY_REJECT;
	ret = rb_add_set(batch, table, &spec);
	spec.name = RULESET_EMPTY_DROP;
	spec.id = SET_ID_EMPTY_DROP;
	if (ret == 0)
		ret = rb_add_set(batch, table, &spec);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		if (pool->services[i].empty)
			ret = add_empty_element(batch, table, &pool->services[i],
						NFT_MSG_NEWSETELEM);
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_ON_EMPTY, NULL, -1, 0);
	if (ret == 0)
		ret = add_on_empty_rule(batch, table, ON_EMPTY_TCP_RESET);
	if (ret == 0)
		ret = add_on_empty_rule(batch, table, ON_EMPTY_ICMP);
	if (ret == 0)
		ret = add_on_empty_rule(batch, table, ON_EMPTY_DROP);
	/* After DNAT (dstnat = -100): only untranslated packets still match. */
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_FILTER_PREROUTING, "filter",
				NF_INET_PRE_ROUTING, RULESET_FILTER_PRIO);
	if (ret == 0)
		ret = add_new_flow_jump_rule(batch, table, RULESET_FILTER_PREROUTING,
				    RULESET_ON_EMPTY);
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_FILTER_OUTPUT, "filter",
				NF_INET_LOCAL_OUT, RULESET_FILTER_PRIO);
	if (ret == 0)
		ret = add_new_flow_jump_rule(batch, table, RULESET_FILTER_OUTPUT,
				    RULESET_ON_EMPTY);
	return ret;
}

int ruleset_add_replace(struct nfnl_batch *batch, const struct knlb_model *pool)
{
	const char *table = pool->config->global.table;
	struct rb_set_spec dispatch = {
		.name = RULESET_DISPATCH_MAP,
		.id = SET_ID_DISPATCH,
		.flags = NFT_SET_MAP,
		.key_type = rb_concat_type(NFT_TYPE_IPADDR, NFT_TYPE_INET_PROTOCOL,
					NFT_TYPE_INET_SERVICE),
		.key_len = 12,
		.data_type = NFT_DATA_VERDICT,
	};
	int ret;

	/* Create-if-absent then delete: the delete never fails on a fresh host. */
	ret = rb_add_table(batch, table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	if (ret == 0)
		ret = rb_add_table(batch, table, NFT_MSG_DELTABLE, 0);
	if (ret == 0)
		ret = rb_add_table(batch, table, NFT_MSG_NEWTABLE,
				NLM_F_CREATE | NLM_F_EXCL);
	if (ret < 0)
		return ret;

	dispatch.udata = dispatch_udata();
	if (!dispatch.udata)
		return -ENOMEM;
	ret = rb_add_set(batch, table, &dispatch);
	nftnl_udata_buf_free(dispatch.udata);

	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		ret = add_service_objects(batch, table, &pool->services[i],
					  SET_ID_SLOTS_BASE + (uint32_t)i);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		ret = add_dispatch_element(batch, table, &pool->services[i]);

	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_PREROUTING, "nat",
				NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST);
	if (ret == 0)
		ret = add_dispatch_rule(batch, table, RULESET_PREROUTING);
	/* Clients on the gateway itself reach the VIP through this hook. */
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_OUTPUT, "nat",
				NF_INET_LOCAL_OUT, NF_IP_PRI_NAT_DST);
	if (ret == 0)
		ret = add_dispatch_rule(batch, table, RULESET_OUTPUT);
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_POSTROUTING, "nat",
				NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		if (pool->services[i].cfg->snat != KNLB_SNAT_NONE)
			ret = add_snat_rule(batch, table, &pool->services[i]);
	if (ret == 0)
		ret = add_on_empty_objects(batch, pool);
	if (ret == 0)
		ret = stats_add_objects(batch, table, pool->config->global.ct_mark_mask);
	return ret;
}

int ruleset_add_slot_changes(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc,
			     const struct slot_diff *diff)
{
	const char *table = pool->config->global.table;
	uint32_t *keys, *values;
	struct elem_op op = { 0 };
	int ret;

	if (diff->n_changes == 0)
		return 0;
	keys = malloc(diff->n_changes * sizeof(*keys));
	values = malloc(diff->n_changes * sizeof(*values));
	if (!keys || !values) {
		ret = -ENOMEM;
		goto out_free;
	}
	/* Deletes first: a changed slot is delete + add of the same key. */
	op = (struct elem_op){ .type = NFT_MSG_DELSETELEM, .slots = keys };
	for (size_t i = 0; i < diff->n_changes; i++)
		if (diff->changes[i].from != SCHED_SLOT_EMPTY)
			keys[op.n++] = diff->changes[i].slot;
	ret = add_elements(batch, table, svc, &op);
	if (ret < 0)
		goto out_free;
	op = (struct elem_op){ .type = NFT_MSG_NEWSETELEM, .slots = keys,
			       .values = values };
	for (size_t i = 0; i < diff->n_changes; i++) {
		if (diff->changes[i].to == SCHED_SLOT_EMPTY)
			continue;
		keys[op.n] = diff->changes[i].slot;
		values[op.n++] = diff->changes[i].to;
	}
	ret = add_elements(batch, table, svc, &op);
out_free:
	free(keys);
	free(values);
	return ret;
}

int ruleset_add_delete_table(struct nfnl_batch *batch, const char *table)
{
	return rb_add_table(batch, table, NFT_MSG_DELTABLE, 0);
}
