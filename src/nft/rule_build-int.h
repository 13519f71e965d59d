/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generic libnftnl builder of rule_build.c: expressions (rb_*) added
 * to a rule in the order called, and objects appended to an nfnl batch,
 * family inet, each message labelled with what it touches.  Nothing here
 * knows knlb; ruleset.c builds knlb's table with it.
 */
#ifndef KNLB_NFT_RULE_BUILD_INT_H
#define KNLB_NFT_RULE_BUILD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nfnl_batch;
struct nftnl_expr;
struct nftnl_rule;
struct nftnl_udata_buf;
struct nlattr;
struct nlmsghdr;

/* Longest object name the labels hold in full. */
#define RB_NAME_MAX 80

/* nft's datatype ids and expression ids, as stored in set user data. */
enum {
	NFT_TYPE_VERDICT = 1,
	NFT_TYPE_INTEGER = 4,
	NFT_TYPE_IPADDR = 7,
	NFT_TYPE_IP6ADDR = 8,
	NFT_TYPE_INET_PROTOCOL = 12,
	NFT_TYPE_INET_SERVICE = 13,
	NFT_TYPE_BITS = 6,		/* concat: (a << 12) | (b << 6) | c */
	NFT_EXPR_ID_PAYLOAD = 7,
	NFT_EXPR_ID_CONCAT = 13,
	NFT_EXPR_ID_NUMGEN = 23,
	NFT_PROTO_DESC_UDP = 6,
	NFT_PROTO_DESC_TCP = 8,
	NFT_PROTO_DESC_IP = 12,
	NFT_PROTO_DESC_IP6 = 13,
	NFT_IPHDR_DADDR = 12,
	NFT_IP6HDR_DADDR = 9,
	NFT_THDR_DPORT = 2,
	NFT_BYTEORDER_HOST = 1,
};

/* rb_lookup() of a set: NFT_REG_VERDICT is 0, so 0 cannot mean "none". */
#define RB_LOOKUP_NO_DREG UINT32_MAX

/* Collects expressions; remembers an allocation failure for the end. */
struct rule_builder {
	struct nftnl_rule *rule;
	bool failed;
};

/* ---- expressions: each appends one to rb->rule, or marks rb failed ---- */

struct nftnl_expr *rb_expr(struct rule_builder *rb, const char *name);
void rb_meta(struct rule_builder *rb, uint32_t key, uint32_t dreg);
void rb_cmp(struct rule_builder *rb, uint32_t sreg, uint32_t op,
	    const void *data, uint32_t len);
void rb_cmp_eq(struct rule_builder *rb, uint32_t sreg, const void *data,
	       uint32_t len);
void rb_cmp_eq_u8(struct rule_builder *rb, uint32_t sreg, uint8_t v);
void rb_cmp_eq_u32(struct rule_builder *rb, uint32_t sreg, uint32_t v);
void rb_payload(struct rule_builder *rb, uint32_t base, uint32_t offset,
		uint32_t len, uint32_t dreg);
void rb_immediate(struct rule_builder *rb, uint32_t dreg, const void *data,
		  uint32_t len);
void rb_lookup(struct rule_builder *rb, const char *set, uint32_t set_id,
	       uint32_t sreg, uint32_t dreg);
void rb_ct_load(struct rule_builder *rb, uint32_t key);
void rb_ct_load_mark(struct rule_builder *rb);
void rb_ct_set(struct rule_builder *rb, uint32_t key, uint32_t sreg);
void rb_bitwise(struct rule_builder *rb, uint32_t and, uint32_t xor);
void rb_require_ipv4(struct rule_builder *rb);
/* meta nfproto ipv4|ipv6 (NFPROTO_*) */
void rb_require_nfproto(struct rule_builder *rb, uint8_t nfproto);
/*
 * The register holding 32-bit word i of the register file: NFT_REG_N
 * where a 16-byte register starts (as nft names it), else NFT_REG32_NN.
 */
uint32_t rb_reg32(uint32_t i);
void rb_numgen(struct rule_builder *rb, uint32_t type, uint32_t modulus,
	       uint32_t dreg);
void rb_jhash(struct rule_builder *rb, uint32_t sreg, uint32_t len,
	      uint32_t modulus, uint32_t seed, uint32_t dreg);
void rb_nat(struct rule_builder *rb, uint32_t type, uint32_t family,
	    uint32_t reg_addr, uint32_t reg_proto);
void rb_masq(struct rule_builder *rb);
void rb_reject(struct rule_builder *rb, uint32_t type, uint8_t code);
void rb_verdict(struct rule_builder *rb, int verdict, const char *chain);
/* update @set { reg sreg_key : reg sreg_data }, the set's own timeout */
void rb_dynset_update(struct rule_builder *rb, const char *set, uint32_t set_id,
		      uint32_t sreg_key, uint32_t sreg_data);

/* ---- objects: 0 or -ENOMEM ---- */

int rb_add_table(struct nfnl_batch *batch, const char *name, uint16_t type,
		 uint16_t flags);
/*
 * Delete table name whether it exists or not: create-if-absent, then
 * delete, so the transaction never fails on a fresh host.
 */
int rb_del_table_if_any(struct nfnl_batch *batch, const char *name);

struct rb_set_spec {
	const char *name;
	uint32_t id;
	uint32_t flags;			/* NFT_SET_MAP for maps, 0 for sets */
	uint32_t key_type, key_len;
	uint32_t data_type, data_len;	/* data_len unused for verdict maps */
	struct nftnl_udata_buf *udata;
	uint64_t timeout_ms;		/* NFT_SET_TIMEOUT sets: elements' default */
	uint32_t size;			/* most elements; 0 = no limit given */
};

int rb_add_set(struct nfnl_batch *batch, const char *table,
	       const struct rb_set_spec *spec);
/* hook < 0: a regular chain; otherwise a base chain of type (nat, filter). */
int rb_add_chain(struct nfnl_batch *batch, const char *table, const char *name,
		 const char *type, int hook, int prio);
/* A rule for table/chain to fill with rb_*(); NULL when out of memory. */
struct nftnl_rule *rb_rule_new(const char *table, const char *chain);
/* Sends and frees the rule; fails when any expression could not be made. */
int rb_add_rule(struct nfnl_batch *batch, struct rule_builder *rb,
		const char *what);

/* Delete set (or map) name of table, with its elements. */
int rb_del_set(struct nfnl_batch *batch, const char *table, const char *name);

/* Delete an empty chain nothing jumps to. */
int rb_del_chain(struct nfnl_batch *batch, const char *table, const char *name);

/* Delete every rule of table/chain (a DELRULE without a handle). */
int rb_flush_chain(struct nfnl_batch *batch, const char *table, const char *chain);

/* ---- set elements ---- */

/* A NFTA_DATA_VALUE nest of type holding data. */
void rb_put_data_value(struct nlmsghdr *nlh, uint16_t type, const void *data,
		       size_t len);
/*
 * One element of a map with a 4-byte integer key (a slot): the nests
 * LIST_ELEM { KEY { VALUE key } [DATA { VALUE value }] } written in
 * place, byte for byte what mnl_attr_nest_start()/rb_put_data_value()
 * build (test_rule_build checks it).  value NULL: key only (deletes).
 * The caller has room for RB_MAP_ELEM_MAX bytes.  A table of 100 x 16381
 * slots is 1.6 M elements: the generic calls cost a quarter of its
 * programming time.
 */
#define RB_MAP_ELEM_MAX 64
void rb_put_map_elem(struct nlmsghdr *nlh, uint32_t key, const void *value,
		     size_t value_len);

/*
 * A NEWSETELEM (create, exclusive) or DELSETELEM message for set, its
 * element list opened in *list for the caller to fill and close.
 */
struct nlmsghdr *rb_elem_msg(struct nfnl_batch *batch, uint16_t type,
			     const char *table, const char *set,
			     const char *what, struct nlattr **list);

/* ---- set user data ---- */

/* The type id of a concatenation of two or three nft types (c 0: two). */
uint32_t rb_concat_type(uint32_t a, uint32_t b, uint32_t c);
/*
 * A typeof concatenation of two payload fields at type (e.g.
 * NFTNL_UDATA_SET_DATA_TYPEOF for `: ip daddr . tcp dport`).
 */
void rb_udata_concat2(struct nftnl_udata_buf *ud, uint8_t type,
		      uint32_t desc_a, uint32_t field_a,
		      uint32_t desc_b, uint32_t field_b);
/* A payload typeof entry (protocol description, header field) at type. */
void rb_udata_payload(struct nftnl_udata_buf *ud, uint8_t type, uint32_t desc,
		      uint32_t field);

#endif
