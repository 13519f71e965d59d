/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pool -> libnftnl objects.  The expressions are the ones nft 1.0.6 emits
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

/* nft's datatype ids and expression ids, as stored in set user data. */
enum {
	NFT_TYPE_VERDICT = 1,
	NFT_TYPE_INTEGER = 4,
	NFT_TYPE_IPADDR = 7,
	NFT_TYPE_INET_PROTOCOL = 12,
	NFT_TYPE_INET_SERVICE = 13,
	NFT_TYPE_BITS = 6,		/* concat: (a << 12) | (b << 6) | c */
	NFT_EXPR_ID_PAYLOAD = 7,
	NFT_EXPR_ID_CONCAT = 13,
	NFT_EXPR_ID_NUMGEN = 23,
	NFT_PROTO_DESC_UDP = 6,
	NFT_PROTO_DESC_TCP = 8,
	NFT_PROTO_DESC_IP = 12,
	NFT_IPHDR_DADDR = 12,
	NFT_THDR_DPORT = 2,
	NFT_BYTEORDER_HOST = 1,
};

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
/* rb_lookup() of a set: NFT_REG_VERDICT is 0, so 0 cannot mean "none". */
#define LOOKUP_NO_DREG UINT32_MAX

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

/* ---- expressions ------------------------------------------------------ */

/* Collects expressions; remembers an allocation failure for the end. */
struct rule_builder {
	struct nftnl_rule *rule;
	bool failed;
};

static struct nftnl_expr *rb_expr(struct rule_builder *rb, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e) {
		rb->failed = true;
		return NULL;
	}
	nftnl_rule_add_expr(rb->rule, e);
	return e;
}

static void rb_meta(struct rule_builder *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void rb_cmp(struct rule_builder *rb, uint32_t sreg, uint32_t op,
		   const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(rb, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void rb_cmp_eq(struct rule_builder *rb, uint32_t sreg, const void *data,
		      uint32_t len)
{
	rb_cmp(rb, sreg, NFT_CMP_EQ, data, len);
}

static void rb_cmp_eq_u8(struct rule_builder *rb, uint32_t sreg, uint8_t v)
{
	rb_cmp_eq(rb, sreg, &v, sizeof(v));
}

static void rb_cmp_eq_u32(struct rule_builder *rb, uint32_t sreg, uint32_t v)
{
	rb_cmp_eq(rb, sreg, &v, sizeof(v));
}

static void rb_payload(struct rule_builder *rb, uint32_t base, uint32_t offset,
		       uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

static void rb_immediate(struct rule_builder *rb, uint32_t dreg,
			 const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

static void rb_lookup(struct rule_builder *rb, const char *set, uint32_t set_id,
		      uint32_t sreg, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	/* A set (not a map) lookup only matches: no destination register. */
	if (dreg != LOOKUP_NO_DREG)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
}

/* ct KEY => reg 1 */
static void rb_ct_load(struct rule_builder *rb, uint32_t key)
{
	struct nftnl_expr *e = rb_expr(rb, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
}

static void rb_ct_load_mark(struct rule_builder *rb)
{
	rb_ct_load(rb, NFT_CT_MARK);
}

/* reg 1 = (reg 1 & and) ^ xor, as nft emits for `& A | B` and `& A ==`. */
static void rb_bitwise(struct rule_builder *rb, uint32_t and, uint32_t xor)
{
	struct nftnl_expr *e = rb_expr(rb, "bitwise");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &and, sizeof(and));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
}

/* meta nfproto ipv4: the dependency nft adds before any `ip` payload. */
static void rb_require_ipv4(struct rule_builder *rb)
{
	rb_meta(rb, NFT_META_NFPROTO, NFT_REG_1);
	rb_cmp_eq_u8(rb, NFT_REG_1, NFPROTO_IPV4);
}

/* ---- objects ---------------------------------------------------------- */

static int add_table(struct nfnl_batch *batch, const char *name, uint16_t type,
		     uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	char what[RULESET_NAME_MAX + 16];

	if (!t)
		return -ENOMEM;
	snprintf(what, sizeof(what), "table inet %s", name);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nlh = nfnl_batch_add(batch, type, NFPROTO_INET, flags, what);
	if (nlh)
		nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return nlh ? 0 : -ENOMEM;
}

struct set_spec {
	const char *name;
	uint32_t id;
	uint32_t flags;			/* NFT_SET_MAP for maps, 0 for sets */
	uint32_t key_type, key_len;
	uint32_t data_type, data_len;	/* data_len unused for verdict maps */
	struct nftnl_udata_buf *udata;
};

static int add_set(struct nfnl_batch *batch, const char *table,
		   const struct set_spec *spec)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	char what[RULESET_NAME_MAX + 8];

	if (!s)
		return -ENOMEM;
	snprintf(what, sizeof(what), "%s %s",
		 spec->flags & NFT_SET_MAP ? "map" : "set", spec->name);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, spec->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_ID, spec->id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, spec->flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, spec->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, spec->key_len);
	if (spec->flags & NFT_SET_MAP) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, spec->data_type);
		if (spec->data_type != NFT_DATA_VERDICT)
			nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, spec->data_len);
	}
	if (spec->udata)
		nftnl_set_set_data(s, NFTNL_SET_USERDATA,
				   nftnl_udata_buf_data(spec->udata),
				   nftnl_udata_buf_len(spec->udata));
	nlh = nfnl_batch_add(batch, NFT_MSG_NEWSET, NFPROTO_INET,
			     NLM_F_CREATE | NLM_F_EXCL, what);
	if (nlh)
		nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

/* hook < 0: a regular chain; otherwise a base chain of type (nat, filter). */
static int add_chain(struct nfnl_batch *batch, const char *table,
		     const char *name, const char *type, int hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	char what[RULESET_NAME_MAX + 8];

	if (!c)
		return -ENOMEM;
	snprintf(what, sizeof(what), "chain %s", name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = nfnl_batch_add(batch, NFT_MSG_NEWCHAIN, NFPROTO_INET,
			     NLM_F_CREATE | NLM_F_EXCL, what);
	if (nlh)
		nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return nlh ? 0 : -ENOMEM;
}

static struct nftnl_rule *rule_new(const char *table, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return NULL;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return r;
}

/* Sends and frees the rule; fails when any expression could not be made. */
static int add_rule(struct nfnl_batch *batch, struct rule_builder *rb,
		    const char *what)
{
	struct nlmsghdr *nlh = NULL;

	if (!rb->failed)
		nlh = nfnl_batch_add(batch, NFT_MSG_NEWRULE, NFPROTO_INET,
				     NLM_F_CREATE | NLM_F_APPEND, what);
	if (nlh)
		nftnl_rule_nlmsg_build_payload(nlh, rb->rule);
	nftnl_rule_free(rb->rule);
	rb->rule = NULL;
	return nlh ? 0 : -ENOMEM;
}

/* ---- the table -------------------------------------------------------- */

static uint32_t concat_type(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t t = a;

	t = (t << NFT_TYPE_BITS) | b;
	if (c)
		t = (t << NFT_TYPE_BITS) | c;
	return t;
}

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

static void udata_payload(struct nftnl_udata_buf *ud, uint8_t type,
			  uint32_t desc, uint32_t field)
{
	struct nftnl_udata *nest = nftnl_udata_nest_start(ud, type), *data;

	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_PAYLOAD);
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	nftnl_udata_put_u32(ud, 0, desc);	/* protocol description */
	nftnl_udata_put_u32(ud, 1, field);	/* header field */
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);
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
	udata_payload(ud, 0, NFT_PROTO_DESC_IP, NFT_IPHDR_DADDR);
	udata_payload(ud, 1, l4, NFT_THDR_DPORT);
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);

	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
	return ud;
}

/* ip daddr . meta l4proto . th dport vmap @svc_dispatch */
static int add_dispatch_rule(struct nfnl_batch *batch, const char *table,
			     const char *chain)
{
	struct rule_builder rb = { .rule = rule_new(table, chain) };
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
	return add_rule(batch, &rb, what);
}

/* The selector that picks a slot, into NFT_REG_1. */
static void rb_slot_selector(struct rule_builder *rb,
			     const struct knlb_service_config *cfg)
{
	struct nftnl_expr *e;
	uint32_t len = 4;

	if (cfg->scheduler != KNLB_SCHED_MAGLEV) {
		e = rb_expr(rb, "numgen");
		if (!e)
			return;
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, cfg->table_size);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE,
				   cfg->scheduler != KNLB_SCHED_RANDOM ?
				   NFT_NG_INCREMENTAL : NFT_NG_RANDOM);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
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
	e = rb_expr(rb, "hash");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_TYPE, NFT_HASH_JENKINS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_SREG, NFT_REG_2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_MODULUS, cfg->table_size);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_SEED, cfg->hash_seed);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_OFFSET, 0);
}

/* meta l4proto P ct mark set MARK dnat ip to <selector> map @NAME_slots */
static int add_service_rule(struct nfnl_batch *batch, const char *table,
			    const struct knlb_service *svc, uint32_t set_id)
{
	char chain[RULESET_NAME_MAX], slots[RULESET_NAME_MAX];
	char what[2 * RULESET_NAME_MAX];
	uint32_t mask = svc->ct_mark_mask;
	struct rule_builder rb;
	struct nftnl_expr *e;

	ruleset_chain_name(svc, chain, sizeof(chain));
	ruleset_slots_name(svc, slots, sizeof(slots));
	rb.rule = rule_new(table, chain);
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
	e = rb_expr(&rb, "ct");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	}
	rb_slot_selector(&rb, svc->cfg);
	rb_lookup(&rb, slots, set_id, NFT_REG_1, NFT_REG_1);
	e = rb_expr(&rb, "nat");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG32_01);
	}
	snprintf(what, sizeof(what), "service %s: chain %s", svc->cfg->name, chain);
	return add_rule(batch, &rb, what);
}

/* ct mark MARK masquerade | snat ip to ADDR */
static int add_snat_rule(struct nfnl_batch *batch, const char *table,
			 const struct knlb_service *svc)
{
	struct rule_builder rb = { .rule = rule_new(table, RULESET_POSTROUTING) };
	char what[RULESET_NAME_MAX + 32];
	struct nftnl_expr *e;

	if (!rb.rule)
		return -ENOMEM;
	rb_ct_load_mark(&rb);
	if (svc->ct_mark_mask != UINT32_MAX)
		rb_bitwise(&rb, svc->ct_mark_mask, 0);
	rb_cmp_eq_u32(&rb, NFT_REG_1, svc->ct_mark);
	if (svc->cfg->snat == KNLB_SNAT_MASQUERADE) {
		rb_expr(&rb, "masq");
	} else {
		rb_immediate(&rb, NFT_REG_1, &svc->cfg->snat_addr.in,
			     sizeof(svc->cfg->snat_addr.in));
		e = rb_expr(&rb, "nat");
		if (e) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		}
	}
	snprintf(what, sizeof(what), "service %s: snat rule", svc->cfg->name);
	return add_rule(batch, &rb, what);
}

/* ---- elements, built with libmnl directly: no allocation per element --- */

static void put_data_value(struct nlmsghdr *nlh, uint16_t type,
			   const void *data, size_t len)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, data);
	mnl_attr_nest_end(nlh, nest);
}

static struct nlmsghdr *elem_msg(struct nfnl_batch *batch, uint16_t type,
				 const char *table, const char *set,
				 const char *what, struct nlattr **list)
{
	uint16_t flags = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE | NLM_F_EXCL : 0;
	struct nlmsghdr *nlh = nfnl_batch_add(batch, type, NFPROTO_INET, flags,
					      what);

	if (!nlh)
		return NULL;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	*list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	return nlh;
}

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
			nlh = elem_msg(batch, op->type, table, set, what, &list);
			if (!nlh)
				return -ENOMEM;
		}
		elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		put_data_value(nlh, NFTA_SET_ELEM_KEY, &op->slots[i],
			       sizeof(op->slots[i]));
		if (op->values) {
			uint8_t value[SLOT_DATA_LEN];

			slot_value(svc, op->values[i], value);
			put_data_value(nlh, NFTA_SET_ELEM_DATA, value, sizeof(value));
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

	nlh = elem_msg(batch, NFT_MSG_NEWSETELEM, table, RULESET_DISPATCH_MAP,
		       what, &list);
	if (!nlh)
		return -ENOMEM;
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	put_data_value(nlh, NFTA_SET_ELEM_KEY, key, sizeof(key));
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
	struct set_spec spec = {
		.name = ruleset_slots_name(svc, slots, sizeof(slots)),
		.id = set_id,
		.flags = NFT_SET_MAP,
		.key_type = NFT_TYPE_INTEGER,
		.key_len = sizeof(uint32_t),
		.data_type = concat_type(NFT_TYPE_IPADDR, NFT_TYPE_INET_SERVICE, 0),
		.data_len = SLOT_DATA_LEN,
		.udata = slots_udata(svc),
	};
	int ret;

	if (!spec.udata)
		return -ENOMEM;
	ret = add_set(batch, table, &spec);
	nftnl_udata_buf_free(spec.udata);
	if (ret == 0)
		ret = add_all_slots(batch, table, svc);
	if (ret == 0)
		ret = add_chain(batch, table,
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
static void rb_match_service_set(struct rule_builder *rb, const char *set,
				 uint32_t set_id)
{
	rb_require_ipv4(rb);
	rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	rb_meta(rb, NFT_META_L4PROTO, NFT_REG32_01);
	rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_02);
	rb_lookup(rb, set, set_id, NFT_REG_1, LOOKUP_NO_DREG);
}

static void rb_reject(struct rule_builder *rb, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = rb_expr(rb, "reject");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
}

/* immediate verdict: drop, accept, or jump to chain */
static void rb_verdict(struct rule_builder *rb, int verdict, const char *chain)
{
	struct nftnl_expr *e = rb_expr(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
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
	struct rule_builder rb = { .rule = rule_new(table, RULESET_ON_EMPTY) };

	if (!rb.rule)
		return -ENOMEM;
	if (kind == ON_EMPTY_DROP)
		rb_match_service_set(&rb, RULESET_EMPTY_DROP, SET_ID_EMPTY_DROP);
	else
		rb_match_service_set(&rb, RULESET_EMPTY_REJECT, SET_ID_EMPTY_REJECT);
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
	return add_rule(batch, &rb, "chain " RULESET_ON_EMPTY);
}

/*
 * `ct state new jump TARGET`: only the first packet of a flow can still
 * carry a VIP here (later ones are translated by conntrack), so every
 * other packet skips the on_empty lookups.  nft 1.0.6's bytecode.
 */
static int add_new_flow_jump_rule(struct nfnl_batch *batch, const char *table,
				  const char *chain, const char *target)
{
	struct rule_builder rb = { .rule = rule_new(table, chain) };
	uint32_t zero = 0;

	if (!rb.rule)
		return -ENOMEM;
	rb_ct_load(&rb, NFT_CT_STATE);
	rb_bitwise(&rb, NF_CT_STATE_BIT(IP_CT_NEW), 0);
	rb_cmp(&rb, NFT_REG_1, NFT_CMP_NEQ, &zero, sizeof(zero));
	rb_verdict(&rb, NFT_JUMP, target);
	return add_rule(batch, &rb, chain);
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
	nlh = elem_msg(batch, type, table, set, what, &list);
	if (!nlh)
		return -ENOMEM;
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	put_data_value(nlh, NFTA_SET_ELEM_KEY, key, sizeof(key));
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return 0;
}

int ruleset_add_empty_change(struct nfnl_batch *batch,
			     const struct knlb_pool *pool,
			     const struct knlb_service *svc, bool empty)
{
	return add_empty_element(batch, pool->config->global.table, svc,
				 empty ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
}

static int add_on_empty_objects(struct nfnl_batch *batch,
				const struct knlb_pool *pool)
{
	const char *table = pool->config->global.table;
	struct set_spec spec = {
		.key_type = concat_type(NFT_TYPE_IPADDR, NFT_TYPE_INET_PROTOCOL,
					NFT_TYPE_INET_SERVICE),
		.key_len = 12,
	};
	int ret;

	spec.name = RULESET_EMPTY_REJECT;
	spec.id = SET_ID_EMPTY_REJECT;
	ret = add_set(batch, table, &spec);
	spec.name = RULESET_EMPTY_DROP;
	spec.id = SET_ID_EMPTY_DROP;
	if (ret == 0)
		ret = add_set(batch, table, &spec);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		if (pool->services[i].empty)
			ret = add_empty_element(batch, table, &pool->services[i],
						NFT_MSG_NEWSETELEM);
	if (ret == 0)
		ret = add_chain(batch, table, RULESET_ON_EMPTY, NULL, -1, 0);
	if (ret == 0)
		ret = add_on_empty_rule(batch, table, ON_EMPTY_TCP_RESET);
	if (ret == 0)
		ret = add_on_empty_rule(batch, table, ON_EMPTY_ICMP);
	if (ret == 0)
		ret = add_on_empty_rule(batch, table, ON_EMPTY_DROP);
	/* After DNAT (dstnat = -100): only untranslated packets still match. */
	if (ret == 0)
		ret = add_chain(batch, table, RULESET_FILTER_PREROUTING, "filter",
				NF_INET_PRE_ROUTING, RULESET_FILTER_PRIO);
	if (ret == 0)
		ret = add_new_flow_jump_rule(batch, table, RULESET_FILTER_PREROUTING,
				    RULESET_ON_EMPTY);
	if (ret == 0)
		ret = add_chain(batch, table, RULESET_FILTER_OUTPUT, "filter",
				NF_INET_LOCAL_OUT, RULESET_FILTER_PRIO);
	if (ret == 0)
		ret = add_new_flow_jump_rule(batch, table, RULESET_FILTER_OUTPUT,
				    RULESET_ON_EMPTY);
	return ret;
}

int ruleset_add_replace(struct nfnl_batch *batch, const struct knlb_pool *pool)
{
	const char *table = pool->config->global.table;
	struct set_spec dispatch = {
		.name = RULESET_DISPATCH_MAP,
		.id = SET_ID_DISPATCH,
		.flags = NFT_SET_MAP,
		.key_type = concat_type(NFT_TYPE_IPADDR, NFT_TYPE_INET_PROTOCOL,
					NFT_TYPE_INET_SERVICE),
		.key_len = 12,
		.data_type = NFT_DATA_VERDICT,
	};
	int ret;

	/* Create-if-absent then delete: the delete never fails on a fresh host. */
	ret = add_table(batch, table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	if (ret == 0)
		ret = add_table(batch, table, NFT_MSG_DELTABLE, 0);
	if (ret == 0)
		ret = add_table(batch, table, NFT_MSG_NEWTABLE,
				NLM_F_CREATE | NLM_F_EXCL);
	if (ret < 0)
		return ret;

	dispatch.udata = dispatch_udata();
	if (!dispatch.udata)
		return -ENOMEM;
	ret = add_set(batch, table, &dispatch);
	nftnl_udata_buf_free(dispatch.udata);

	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		ret = add_service_objects(batch, table, &pool->services[i],
					  SET_ID_SLOTS_BASE + (uint32_t)i);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		ret = add_dispatch_element(batch, table, &pool->services[i]);

	if (ret == 0)
		ret = add_chain(batch, table, RULESET_PREROUTING, "nat",
				NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST);
	if (ret == 0)
		ret = add_dispatch_rule(batch, table, RULESET_PREROUTING);
	/* Clients on the gateway itself reach the VIP through this hook. */
	if (ret == 0)
		ret = add_chain(batch, table, RULESET_OUTPUT, "nat",
				NF_INET_LOCAL_OUT, NF_IP_PRI_NAT_DST);
	if (ret == 0)
		ret = add_dispatch_rule(batch, table, RULESET_OUTPUT);
	if (ret == 0)
		ret = add_chain(batch, table, RULESET_POSTROUTING, "nat",
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
			     const struct knlb_pool *pool,
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
	return add_table(batch, table, NFT_MSG_DELTABLE, 0);
}
