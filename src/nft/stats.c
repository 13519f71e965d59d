/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The counting part of knlb's table (include/knlb/nft/stats.h): three
 * dynamic sets with a counter per element and the chains that fill them,
 * as libnftnl objects and in nft syntax.  The expressions are the ones nft
 * 1.0.6 emits for the rules stats_render_chains() prints (checked with
 * `nft --debug=netlink`), so `nft list table` prints them back the same.
 * Expressions, chains and rules come from the generic builder
 * (rule_build-int.h); the sets, with their counter and timeout, and the
 * dynset update are this file's own.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "knlb/nft/nfnl.h"
#include "knlb/nft/stats.h"
#include "rule_build-int.h"

/* nft's datatype id of mark; the others are in rule_build-int.h. */
enum { NFT_TYPE_MARK = 19 };

/* mark . ipvN_addr . inet_proto . inet_service, each padded to 32 bits */
#define STATS_KEY_LEN(addr_len) (12 + (addr_len))
/* Set ids for this transaction; ruleset.c's start at 1 and 16+. */
#define STATS_SET_ID_BASE 0x5ea70000u

/* The IPv4 sets, then the IPv6 ones: index family * 3 + which. */
static const char *const set_names[2 * 3] = {
	STATS_SET_NEW, STATS_SET_IN, STATS_SET_OUT,
	STATS_SET_NEW "6", STATS_SET_IN "6", STATS_SET_OUT "6",
};

/* What the IPv4 and IPv6 counting differ in. */
static const struct {
	uint8_t nfproto;
	uint32_t addr_len, saddr_off, daddr_off, addr_type;
	const char *type_name, *ip;
} fams[2] = {
	{ NFPROTO_IPV4, 4, 12, 16, NFT_TYPE_IPADDR, "ipv4_addr", "ip" },
	{ NFPROTO_IPV6, 16, 8, 24, NFT_TYPE_IP6ADDR, "ipv6_addr", "ip6" },
};

static uint32_t set_index(int family, enum stats_set which)
{
	return (uint32_t)(family * 3 + (int)which);
}

/* ---- expressions ------------------------------------------------------ */

/* ct mark & MASK != 0 (the & left out for a full mask, as nft does) */
static void knlb_flow(struct rule_builder *rb, uint32_t mark_mask)
{
	uint32_t zero = 0;

	rb_ct_load_mark(rb);
	if (mark_mask != UINT32_MAX)
		rb_bitwise(rb, mark_mask, 0);
	rb_cmp(rb, NFT_REG_1, NFT_CMP_NEQ, &zero, sizeof(zero));
}

/*
 * update @SET { ct mark . ip[6] ADDR . meta l4proto . th PORT }: the
 * backend is the destination of an original-direction packet (after
 * DNAT), the source of a reply.
 */
static void count_update(struct rule_builder *rb, int family,
			 enum stats_set which, bool backend_is_dst)
{
	uint32_t words = fams[family].addr_len / 4, set = set_index(family, which);
	struct nftnl_expr *e;

	rb_require_nfproto(rb, fams[family].nfproto);
	rb_ct_load_mark(rb);
	rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER,
		   backend_is_dst ? fams[family].daddr_off : fams[family].saddr_off,
		   fams[family].addr_len, NFT_REG32_01);
	rb_meta(rb, NFT_META_L4PROTO, rb_reg32(1 + words));
	rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, backend_is_dst ? 2 : 0, 2,
		   rb_reg32(2 + words));
	e = rb_expr(rb, "dynset");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set_names[set]);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, STATS_SET_ID_BASE + set);
}

/* ---- objects ---------------------------------------------------------- */

/* The user data nft writes for `type mark . ipv4_addr . inet_proto . inet_service`. */
static struct nftnl_udata_buf *key_udata(void)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(32);
	struct nftnl_udata *nest;

	if (!ud)
		return NULL;
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 0);
	nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_CONCAT);
	nftnl_udata_nest_end(ud, nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA));
	nftnl_udata_nest_end(ud, nest);
	return ud;
}

static int add_set(struct nfnl_batch *batch, const char *table, int family,
		   enum stats_set which)
{
	uint32_t key_type = ((NFT_TYPE_MARK << NFT_TYPE_BITS | fams[family].addr_type)
			     << NFT_TYPE_BITS | NFT_TYPE_INET_PROTOCOL)
			    << NFT_TYPE_BITS | NFT_TYPE_INET_SERVICE;
	uint32_t set = set_index(family, which);
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = key_udata();
	struct nftnl_expr *counter = nftnl_expr_alloc("counter");
	struct nlmsghdr *nlh = NULL;
	char what[64];

	if (!s || !ud || !counter)
		goto out_free;
	snprintf(what, sizeof(what), "set %s", set_names[set]);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set_names[set]);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_ID, STATS_SET_ID_BASE + set);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_EVAL | NFT_SET_TIMEOUT);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, STATS_KEY_LEN(fams[family].addr_len));
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, STATS_SET_SIZE);
	nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, STATS_TIMEOUT_S * 1000ull);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			   nftnl_udata_buf_len(ud));
	nftnl_set_add_expr(s, counter);		/* s owns it now */
	counter = NULL;
	nlh = nfnl_batch_add(batch, NFT_MSG_NEWSET, NFPROTO_INET,
			     NLM_F_CREATE | NLM_F_EXCL, what);
	if (nlh)
		nftnl_set_nlmsg_build_payload(nlh, s);
out_free:
	if (counter)
		nftnl_expr_free(counter);
	if (ud)
		nftnl_udata_buf_free(ud);
	if (s)
		nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

enum rule_kind {
	RULE_NEW,		/* ct state new: first packet only */
	RULE_ORIGINAL,		/* ct direction original */
	RULE_REPLY,		/* ct direction reply */
};

static int add_rule(struct nfnl_batch *batch, const char *table,
		    const char *chain, int family, enum rule_kind kind,
		    uint32_t mark_mask)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, chain) };
	uint32_t zero = 0;
	uint8_t dir;
	char what[64];

	if (!rb.rule)
		return -ENOMEM;
	knlb_flow(&rb, mark_mask);
	if (kind == RULE_NEW) {
		rb_ct_load(&rb, NFT_CT_STATE);
		rb_bitwise(&rb, NF_CT_STATE_BIT(IP_CT_NEW), 0);
		rb_cmp(&rb, NFT_REG_1, NFT_CMP_NEQ, &zero, sizeof(zero));
	} else {
		dir = kind == RULE_ORIGINAL ? IP_CT_DIR_ORIGINAL : IP_CT_DIR_REPLY;
		rb_ct_load(&rb, NFT_CT_DIRECTION);
		rb_cmp_eq_u8(&rb, NFT_REG_1, dir);
	}
	count_update(&rb, family, kind == RULE_NEW ? STATS_NEW :
		     kind == RULE_ORIGINAL ? STATS_IN : STATS_OUT,
		     kind != RULE_REPLY);
	snprintf(what, sizeof(what), "chain %s: counting rule", chain);
	return rb_add_rule(batch, &rb, what);
}

/* A filter chain that counts both directions of knlb's flows it sees. */
static int add_count_chain(struct nfnl_batch *batch, const char *table,
			   const char *name, uint32_t hook, uint32_t mark_mask,
			   int families)
{
	int ret = rb_add_chain(batch, table, name, "filter", (int)hook, 0);

	for (int f = 0; ret == 0 && f < families; f++) {
		ret = add_rule(batch, table, name, f, RULE_ORIGINAL, mark_mask);
		if (ret == 0)
			ret = add_rule(batch, table, name, f, RULE_REPLY, mark_mask);
	}
	return ret;
}

int stats_add_objects(struct nfnl_batch *batch, const char *table,
		      uint32_t mark_mask, bool ipv6, bool traffic)
{
	int last = traffic ? STATS_OUT : STATS_NEW;
	int families = ipv6 ? 2 : 1;
	int ret = 0;

	for (int f = 0; f < families; f++)
		for (int i = STATS_NEW; ret == 0 && i <= last; i++)
			ret = add_set(batch, table, f, (enum stats_set)i);
	/*
	 * A nat chain sees only the first packet of a flow, forwarded or
	 * local alike: counting new flows there costs nothing per packet.
	 */
	if (ret == 0)
		ret = rb_add_chain(batch, table, STATS_CHAIN_NEW, "nat",
				   NF_INET_POST_ROUTING, STATS_NEW_PRIO);
	for (int f = 0; ret == 0 && f < families; f++)
		ret = add_rule(batch, table, STATS_CHAIN_NEW, f, RULE_NEW, mark_mask);
	/* traffic_counters = no: no chain that every packet walks. */
	if (!traffic)
		return ret;
	if (ret == 0)
		ret = add_count_chain(batch, table, STATS_CHAIN_FORWARD,
				      NF_INET_FORWARD, mark_mask, families);
	/* Clients on the gateway itself: requests leave by output, replies come in. */
	if (ret == 0)
		ret = add_count_chain(batch, table, STATS_CHAIN_INPUT,
				      NF_INET_LOCAL_IN, mark_mask, families);
	if (ret == 0)
		ret = add_count_chain(batch, table, STATS_CHAIN_OUTPUT,
				      NF_INET_LOCAL_OUT, mark_mask, families);
	return ret;
}

/* ---- nft syntax ------------------------------------------------------- */

void stats_render_sets(FILE *out, bool ipv6, bool traffic)
{
	for (int f = 0; f < (ipv6 ? 2 : 1); f++)
		for (int i = STATS_NEW; i <= (traffic ? STATS_OUT : STATS_NEW); i++)
			fprintf(out, "\n\tset %s {\n"
				"\t\ttype mark . %s . inet_proto . inet_service\n"
				"\t\tsize %u\n"
				"\t\tflags dynamic,timeout\n"
				"\t\tcounter\n"
				"\t\ttimeout %uh\n"
				"\t}\n", set_names[set_index(f, (enum stats_set)i)],
				fams[f].type_name, STATS_SET_SIZE,
				STATS_TIMEOUT_S / 3600);
}

/* "ct mark != 0x00000000", "... != 0x00000000/8" or "ct mark & M != 0x00000000" */
static void render_knlb_flow(FILE *out, uint32_t mask)
{
	if (mask == UINT32_MAX)
		fputs("\t\tct mark != 0x00000000", out);
	else if ((~mask & (~mask + 1)) == 0)	/* leading ones: a prefix */
		fprintf(out, "\t\tct mark != 0x00000000/%d", __builtin_popcount(mask));
	else
		fprintf(out, "\t\tct mark & 0x%08x != 0x00000000", mask);
}

static void render_count_chain(FILE *out, const char *name, const char *hook,
			       uint32_t mask, int families)
{
	fprintf(out, "\n\tchain %s {\n", name);
	fprintf(out, "\t\ttype filter hook %s priority filter; policy accept;\n", hook);
	for (int f = 0; f < families; f++) {
		render_knlb_flow(out, mask);
		/* nft implies the nfproto test from the ip/ip6 payload */
		fprintf(out, " ct direction original update @%s { ct mark . %s daddr . meta l4proto . th dport }\n",
			set_names[set_index(f, STATS_IN)], fams[f].ip);
		render_knlb_flow(out, mask);
		fprintf(out, " ct direction reply update @%s { ct mark . %s saddr . meta l4proto . th sport }\n",
			set_names[set_index(f, STATS_OUT)], fams[f].ip);
	}
	fputs("\t}\n", out);
}

void stats_render_chains(FILE *out, uint32_t mark_mask, bool ipv6,
			 bool traffic)
{
	int families = ipv6 ? 2 : 1;

	fprintf(out, "\n\tchain %s {\n", STATS_CHAIN_NEW);
	fputs("\t\ttype nat hook postrouting priority srcnat - 10; policy accept;\n", out);
	for (int f = 0; f < families; f++) {
		render_knlb_flow(out, mark_mask);
		fprintf(out, " ct state new update @%s { ct mark . %s daddr . meta l4proto . th dport }\n",
			set_names[set_index(f, STATS_NEW)], fams[f].ip);
	}
	fputs("\t}\n", out);
	if (!traffic)
		return;
	render_count_chain(out, STATS_CHAIN_FORWARD, "forward", mark_mask, families);
	render_count_chain(out, STATS_CHAIN_INPUT, "input", mark_mask, families);
	render_count_chain(out, STATS_CHAIN_OUTPUT, "output", mark_mask, families);
}
