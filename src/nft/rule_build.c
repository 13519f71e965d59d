/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A generic libnftnl builder: expressions into a rule (payload, meta, ct,
 * cmp, bitwise, lookup, immediate, numgen, hash, nat, masq, reject), and
 * tables, sets, chains, rules and set element messages appended to an
 * nfnl batch, each labelled for the error that may come back.  It knows
 * nftables, not knlb: knlb's own table (its chains, maps, dispatch and
 * service rules) is built from these pieces in ruleset.c.  Family inet.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "knlb/nft/nfnl.h"
#include "rule_build-int.h"

/* ---- expressions ------------------------------------------------------ */

struct nftnl_expr *rb_expr(struct rule_builder *rb, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e) {
		rb->failed = true;
		return NULL;
	}
	nftnl_rule_add_expr(rb->rule, e);
	return e;
}

void rb_meta(struct rule_builder *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

void rb_cmp(struct rule_builder *rb, uint32_t sreg, uint32_t op,
		   const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(rb, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

void rb_cmp_eq(struct rule_builder *rb, uint32_t sreg, const void *data,
		      uint32_t len)
{
	rb_cmp(rb, sreg, NFT_CMP_EQ, data, len);
}

void rb_cmp_eq_u8(struct rule_builder *rb, uint32_t sreg, uint8_t v)
{
	rb_cmp_eq(rb, sreg, &v, sizeof(v));
}

void rb_cmp_eq_u32(struct rule_builder *rb, uint32_t sreg, uint32_t v)
{
	rb_cmp_eq(rb, sreg, &v, sizeof(v));
}

void rb_payload(struct rule_builder *rb, uint32_t base, uint32_t offset,
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

void rb_immediate(struct rule_builder *rb, uint32_t dreg,
			 const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

void rb_lookup(struct rule_builder *rb, const char *set, uint32_t set_id,
		      uint32_t sreg, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	/* A set (not a map) lookup only matches: no destination register. */
	if (dreg != RB_LOOKUP_NO_DREG)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
}

/* ct KEY => reg 1 */
void rb_ct_load(struct rule_builder *rb, uint32_t key)
{
	struct nftnl_expr *e = rb_expr(rb, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
}

void rb_ct_load_mark(struct rule_builder *rb)
{
	rb_ct_load(rb, NFT_CT_MARK);
}

/* reg 1 = (reg 1 & and) ^ xor, as nft emits for `& A | B` and `& A ==`. */
void rb_bitwise(struct rule_builder *rb, uint32_t and, uint32_t xor)
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

void rb_require_nfproto(struct rule_builder *rb, uint8_t nfproto)
{
	rb_meta(rb, NFT_META_NFPROTO, NFT_REG_1);
	rb_cmp_eq_u8(rb, NFT_REG_1, nfproto);
}

/* meta nfproto ipv4: the dependency nft adds before any `ip` payload. */
void rb_require_ipv4(struct rule_builder *rb)
{
	rb_require_nfproto(rb, NFPROTO_IPV4);
}

uint32_t rb_reg32(uint32_t i)
{
	return i % 4 == 0 ? NFT_REG_1 + i / 4 : NFT_REG32_00 + i;
}

/* ct KEY set sreg */
void rb_ct_set(struct rule_builder *rb, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rb_expr(rb, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, sreg);
}

/* numgen inc|random mod modulus => dreg */
void rb_numgen(struct rule_builder *rb, uint32_t type, uint32_t modulus,
	       uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "numgen");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, modulus);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, type);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
}

/* jhash of len bytes from sreg on, mod modulus seed seed => dreg */
void rb_jhash(struct rule_builder *rb, uint32_t sreg, uint32_t len,
	      uint32_t modulus, uint32_t seed, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "hash");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_TYPE, NFT_HASH_JENKINS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_MODULUS, modulus);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_SEED, seed);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_OFFSET, 0);
}

/* dnat|snat <family> to reg_addr [: reg_proto]; reg_proto 0: no port. */
void rb_nat(struct rule_builder *rb, uint32_t type, uint32_t family,
	    uint32_t reg_addr, uint32_t reg_proto)
{
	struct nftnl_expr *e = rb_expr(rb, "nat");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
	if (reg_proto)
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_proto);
}

void rb_masq(struct rule_builder *rb)
{
	rb_expr(rb, "masq");
}

void rb_reject(struct rule_builder *rb, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = rb_expr(rb, "reject");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
}

/* immediate verdict: drop, accept, or jump to chain */
void rb_verdict(struct rule_builder *rb, int verdict, const char *chain)
{
	struct nftnl_expr *e = rb_expr(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

void rb_dynset_update(struct rule_builder *rb, const char *set, uint32_t set_id,
		      uint32_t sreg_key, uint32_t sreg_data)
{
	struct nftnl_expr *e = rb_expr(rb, "dynset");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg_key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, sreg_data);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
}


/* ---- objects ---------------------------------------------------------- */

int rb_add_table(struct nfnl_batch *batch, const char *name, uint16_t type,
		 uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	char what[RB_NAME_MAX + 16];

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

int rb_del_table_if_any(struct nfnl_batch *batch, const char *name)
{
	int ret = rb_add_table(batch, name, NFT_MSG_NEWTABLE, NLM_F_CREATE);

	return ret ? ret : rb_add_table(batch, name, NFT_MSG_DELTABLE, 0);
}

int rb_add_set(struct nfnl_batch *batch, const char *table,
	       const struct rb_set_spec *spec)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	char what[RB_NAME_MAX + 8];

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
	if (spec->timeout_ms)
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, spec->timeout_ms);
	if (spec->size)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, spec->size);
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

int rb_add_chain(struct nfnl_batch *batch, const char *table, const char *name,
		 const char *type, int hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	char what[RB_NAME_MAX + 8];

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

struct nftnl_rule *rb_rule_new(const char *table, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return NULL;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return r;
}

int rb_add_rule(struct nfnl_batch *batch, struct rule_builder *rb,
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

int rb_del_set(struct nfnl_batch *batch, const char *table, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	char what[RB_NAME_MAX + 16];

	if (!s)
		return -ENOMEM;
	snprintf(what, sizeof(what), "deleting map %s", name);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nlh = nfnl_batch_add(batch, NFT_MSG_DELSET, NFPROTO_INET, 0, what);
	if (nlh)
		nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

int rb_del_chain(struct nfnl_batch *batch, const char *table, const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	char what[RB_NAME_MAX + 16];

	if (!c)
		return -ENOMEM;
	snprintf(what, sizeof(what), "deleting chain %s", name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nlh = nfnl_batch_add(batch, NFT_MSG_DELCHAIN, NFPROTO_INET, 0, what);
	if (nlh)
		nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return nlh ? 0 : -ENOMEM;
}

int rb_flush_chain(struct nfnl_batch *batch, const char *table, const char *chain)
{
	struct nftnl_rule *r = rb_rule_new(table, chain);
	struct nlmsghdr *nlh = NULL;
	char what[RB_NAME_MAX + 16];

	if (!r)
		return -ENOMEM;
	snprintf(what, sizeof(what), "flushing chain %s", chain);
	nlh = nfnl_batch_add(batch, NFT_MSG_DELRULE, NFPROTO_INET, 0, what);
	if (nlh)
		nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nlh ? 0 : -ENOMEM;
}

/* ---- set elements, with libmnl directly: no allocation per element ---- */

void rb_put_data_value(struct nlmsghdr *nlh, uint16_t type, const void *data,
		       size_t len)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, data);
	mnl_attr_nest_end(nlh, nest);
}

/* An attribute header at p; returns where its payload starts. */
static char *put_attr_header(char *p, uint16_t type, size_t len)
{
	struct nlattr a = { .nla_len = (uint16_t)len, .nla_type = type };

	memcpy(p, &a, sizeof(a));
	return p + MNL_ATTR_HDRLEN;
}

void rb_put_map_elem(struct nlmsghdr *nlh, uint32_t key, const void *value,
		     size_t value_len)
{
	size_t key_nest = 2 * MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(key));
	size_t data_nest = 2 * MNL_ATTR_HDRLEN + MNL_ALIGN(value_len);
	size_t total = MNL_ATTR_HDRLEN + key_nest + (value ? data_nest : 0);
	char *p = mnl_nlmsg_get_payload_tail(nlh);

	p = put_attr_header(p, NLA_F_NESTED | NFTA_LIST_ELEM, total);
	p = put_attr_header(p, NLA_F_NESTED | NFTA_SET_ELEM_KEY, key_nest);
	p = put_attr_header(p, NFTA_DATA_VALUE, MNL_ATTR_HDRLEN + sizeof(key));
	memcpy(p, &key, sizeof(key));
	p += MNL_ALIGN(sizeof(key));
	if (value) {
		p = put_attr_header(p, NLA_F_NESTED | NFTA_SET_ELEM_DATA,
				    data_nest);
		p = put_attr_header(p, NFTA_DATA_VALUE,
				    MNL_ATTR_HDRLEN + value_len);
		memcpy(p, value, value_len);
		memset(p + value_len, 0, MNL_ALIGN(value_len) - value_len);
	}
	nlh->nlmsg_len += (uint32_t)total;
}

struct nlmsghdr *rb_elem_msg(struct nfnl_batch *batch, uint16_t type,
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

/* ---- set user data, as nft writes it ---------------------------------- */

uint32_t rb_concat_type(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t t = a;

	t = (t << NFT_TYPE_BITS) | b;
	if (c)
		t = (t << NFT_TYPE_BITS) | c;
	return t;
}

void rb_udata_payload(struct nftnl_udata_buf *ud, uint8_t type, uint32_t desc,
		      uint32_t field)
{
	struct nftnl_udata *nest = nftnl_udata_nest_start(ud, type), *data;

	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_PAYLOAD);
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	nftnl_udata_put_u32(ud, 0, desc);	/* protocol description */
	nftnl_udata_put_u32(ud, 1, field);	/* header field */
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);
}

void rb_udata_concat2(struct nftnl_udata_buf *ud, uint8_t type,
		      uint32_t desc_a, uint32_t field_a,
		      uint32_t desc_b, uint32_t field_b)
{
	struct nftnl_udata *nest = nftnl_udata_nest_start(ud, type), *data;

	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_CONCAT);
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	rb_udata_payload(ud, 0, desc_a, field_a);
	rb_udata_payload(ud, 1, desc_b, field_b);
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);
}
