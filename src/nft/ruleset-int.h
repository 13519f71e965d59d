/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What ruleset.c shares with the files that add to knlb's table (persist.c). */
#ifndef KNLB_NFT_RULESET_INT_H
#define KNLB_NFT_RULESET_INT_H

struct nfnl_batch;
struct rule_builder;
struct knlb_service;

/* `ct state new jump target` at the end of chain: 0 or -ENOMEM. */
int ruleset_add_new_flow_jump(struct nfnl_batch *batch, const char *table,
			      const char *chain, const char *target);

/*
 * meta l4proto P ct mark set MARK [ct event set ...]: how every rule of a
 * service chain that DNATs starts (the slot rule, persistence's lookup),
 * so a flow is marked and its events masked whichever rule translates it.
 */
void ruleset_put_service_head(struct rule_builder *rb,
			      const struct knlb_service *svc);

#endif
