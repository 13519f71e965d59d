/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Read-back of the running table, its rules (readback.c reads the rest):
 * the ct mark each service chain svc_NAME sets, and, in the fallback
 * shape, which backends chain fb_NAME sends to their fallback map.
 *
 *   chain svc_NAME      ... immediate reg 1 <- MARK; ct mark set reg 1 ...
 *                    or ... ct load mark -> reg 1;
 *                           bitwise reg 1 = (reg 1 & ~MASK) ^ MARK;
 *                           ct mark set reg 1 ...
 *   chain fb_NAME       jump fb<i>_NAME (one rule per backend i out of service)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "knlb/nft/ruleset.h"
#include "readback-int.h"

/* What reg 1 holds, as far as the rule's expressions so far tell. */
struct reg1 {
	bool known;
	uint32_t value;
	uint32_t mask;		/* the bits of ct mark value stands for */
};

struct rule_walk {
	struct adopt_service *svc;
	struct reg1 reg;
};

static int expr_cb(struct nftnl_expr *e, void *data)
{
	struct adopt_service *svc = ((struct rule_walk *)data)->svc;
	struct reg1 *reg = &((struct rule_walk *)data)->reg;
	const char *kind = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	const void *v, *and;
	uint32_t len = 0, alen = 0;

	if (strcmp(kind, "immediate") == 0 &&
	    nftnl_expr_is_set(e, NFTNL_EXPR_IMM_DATA) &&
	    nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_1) {
		v = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);
		*reg = (struct reg1){ .known = len == 4, .mask = UINT32_MAX };
		if (reg->known)
			memcpy(&reg->value, v, 4);
		return 0;
	}
	/* ct mark & ~MASK ^ MARK: the mark is XOR, ours are the cleared bits */
	if (strcmp(kind, "bitwise") == 0 &&
	    nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG) == NFT_REG_1 &&
	    (!nftnl_expr_is_set(e, NFTNL_EXPR_BITWISE_OP) ||
	     nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_OP) == NFT_BITWISE_BOOL)) {
		v = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &len);
		and = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &alen);
		*reg = (struct reg1){ .known = v && and && len == 4 && alen == 4 };
		if (reg->known) {
			memcpy(&reg->value, v, 4);
			memcpy(&reg->mask, and, 4);
			reg->mask = ~reg->mask;
		}
		return 0;
	}
	if (strcmp(kind, "ct") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_CT_SREG) &&
	    nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY) == NFT_CT_MARK) {
		if (reg->known &&
		    nftnl_expr_get_u32(e, NFTNL_EXPR_CT_SREG) == NFT_REG_1) {
			svc->has_mark = true;
			svc->mark = reg->value;
			svc->mark_mask = reg->mask;
		}
		return 0;
	}
	/* the shared base shape's second slot rule reads map <lead>_base[6] */
	if (strcmp(kind, "lookup") == 0 &&
	    nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET)) {
		const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
		size_t n = strlen(set);

		static const char *const suffix[KNLB_FAMILIES] = {
			RULESET_SHARE_BASE, RULESET_SHARE_BASE "6",
		};

		for (int f = 0; f < KNLB_FAMILIES; f++) {
			size_t sfx = strlen(suffix[f]);

			if (n <= sfx || n - sfx >= KNLB_NAME_MAX ||
			    strcmp(set + n - sfx, suffix[f]) != 0)
				continue;
			memcpy(svc->share_lead[f], set, n - sfx);
			svc->share_lead[f][n - sfx] = '\0';
			break;
		}
	}
	/* Anything else may have written reg 1 (meta, ct load, payload...). */
	reg->known = false;
	return 0;
}

/* The chain a rule of chain fb_<name> jumps to: fb<i>_<name>. */
static int fallback_jump_cb(struct nftnl_expr *e, void *data)
{
	const char *kind = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	const char **target = data;

	if (strcmp(kind, "immediate") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
		*target = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
	return 0;
}

static void note_fallback_rule(struct reader *r, struct nftnl_rule *rule,
			       const char *name)
{
	struct adopt_service *svc = readback_service_of(r, name, strlen(name));
	const char *target = NULL;
	unsigned i;
	int end = 0;

	nftnl_expr_foreach(rule, fallback_jump_cb, &target);
	if (!svc || !target || sscanf(target, "fb%u_%n", &i, &end) != 1 || !end ||
	    strcmp(target + end, name) != 0 || i >= 32 * ADOPT_FALLBACK_WORDS)
		return;
	svc->fallback_rules[i / 32] |= 1u << (i % 32);
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reader *r = data;
	struct nftnl_rule *rule = nftnl_rule_alloc();
	size_t pfx = strlen(CHAIN_PREFIX);
	struct rule_walk walk = { 0 };
	const char *chain;

	if (!rule) {
		r->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_rule_nlmsg_parse(nlh, rule) < 0) {
		r->err = -EPROTO;
		goto out_free_rule;
	}
	chain = nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN);
	if (chain && strncmp(chain, FALLBACK_CHAIN_PREFIX,
			     strlen(FALLBACK_CHAIN_PREFIX)) == 0) {
		note_fallback_rule(r, rule, chain + strlen(FALLBACK_CHAIN_PREFIX));
		goto out_free_rule;
	}
	if (!chain || strncmp(chain, CHAIN_PREFIX, pfx) != 0)
		goto out_free_rule;
	walk.svc = readback_service_of(r, chain + pfx, strlen(chain + pfx));
	if (!walk.svc)
		goto out_free_rule;
	walk.svc->has_chain = true;
	nftnl_expr_foreach(rule, expr_cb, &walk);
out_free_rule:
	nftnl_rule_free(rule);
	return MNL_CB_OK;
}

int readback_read_rules(struct reader *r, const char *table)
{
	struct nftnl_rule *rule = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!rule)
		return -ENOMEM;
	nlh = nftnl_rule_nlmsg_build_hdr(r->buf, NFT_MSG_GETRULE, NFPROTO_INET,
					 NLM_F_DUMP, ++r->seq);
	nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, table);
	nftnl_rule_nlmsg_build_payload(nlh, rule);
	nftnl_rule_free(rule);
	return readback_exchange(r, nlh, rule_cb);
}

