/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The shared base shape (pool/slot_share.h), as knlb's table holds it:
 *
 *   map LEAD_base[6]   the group's base table, written once per replace;
 *                      LEAD is the group's first service
 *   map NAME_ovr[6]    per service: only the slots where its own table
 *                      differs from the base (a dead, drained or
 *                      reweighted backend's slots); no size: it holds
 *                      M/N elements per backend out, not M
 *   chain svc_NAME     per family the slot rule twice: on NAME_ovr, then
 *                      on LEAD_base; a slot not in NAME_ovr misses, the
 *                      first rule breaks and the second maps it
 *
 * "Its own table" is what NAME_slots[6] would hold: the effective table
 * in the direct shape, the service's base in the fallback shape, whose
 * maps NAME_fb<b> and chains stay the service's own and are read first
 * (the jump to fb_NAME comes before both slot rules), as without sharing.
 *
 * A family of the service with no usable backend cannot be said with the
 * maps (the base would still map every slot): its dispatch element is
 * taken out instead, so its new flows reach on_empty untranslated, as
 * they do in the direct shape once its map is empty.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter/nf_tables.h>

#include "knlb/config/config-t.h"
#include "knlb/nft/diff.h"
#include "knlb/nft/ruleset.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "ruleset-int.h"

/* Set ids of the base maps: the leader's index and the family. */
#define SHARE_SET_ID_BASE (1u << 26)

static uint32_t share_set_id(size_t lead, size_t k)
{
	return SHARE_SET_ID_BASE + (uint32_t)(lead * KNLB_FAMILIES + k);
}

const char *ruleset_share_base_name(const struct knlb_service *lead,
				    enum knlb_family f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", lead->cfg->name, RULESET_SHARE_BASE,
		 ruleset_family_suffix(f));
	return buf;
}

const char *ruleset_share_ovr_name(const struct knlb_service *svc,
				   enum knlb_family f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", svc->cfg->name, RULESET_SHARE_OVR,
		 ruleset_family_suffix(f));
	return buf;
}

int share_add_maps(struct nfnl_batch *batch, const char *table,
		   const struct knlb_service *svc, size_t i, size_t lead,
		   uint32_t set_id)
{
	char name[RULESET_NAME_MAX];
	int ret = 0;

	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;

		/* sized, as a slot map: the kernel's fixed hash */
		if (lead == i)
			ret = ruleset_add_slot_shaped_map(batch, table, svc, f,
				ruleset_share_base_name(svc, f, name, sizeof(name)),
				share_set_id(i, k), svc->cfg->table_size);
		if (ret == 0)
			ret = ruleset_add_slot_shaped_map(batch, table, svc, f,
				ruleset_share_ovr_name(svc, f, name, sizeof(name)),
				set_id + (uint32_t)k, 0);
	}
	return ret;
}

int share_add_rules(struct nfnl_batch *batch, const char *table,
		    const struct knlb_service *svc, size_t k, uint32_t set_id,
		    const struct knlb_service *lsvc, size_t lead)
{
	enum knlb_family f = svc->families[k].family;
	char chain[RULESET_NAME_MAX], ovr[RULESET_NAME_MAX], base[RULESET_NAME_MAX];
	int ret;

	ruleset_chain_name(svc, chain, sizeof(chain));
	ret = ruleset_add_dnat_rule(batch, table, chain, svc, f,
				    ruleset_share_ovr_name(svc, f, ovr, sizeof(ovr)),
				    set_id + (uint32_t)k);
	if (ret == 0)
		ret = ruleset_add_dnat_rule(batch, table, chain, svc, f,
					    ruleset_share_base_name(lsvc, f, base,
								    sizeof(base)),
					    share_set_id(lead, k));
	return ret;
}

int share_add_elements(struct nfnl_batch *batch, const char *table,
		       const struct knlb_service *svc, const uint32_t *held,
		       const uint32_t *over)
{
	uint32_t m = svc->cfg->table_size;
	char name[RULESET_NAME_MAX];
	int ret = 0;

	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;

		if (over)
			ret = ruleset_add_table_elements(batch, table, svc,
				ruleset_share_ovr_name(svc, f, name, sizeof(name)),
				f, held + k * m, over + k * m);
		else
			ret = ruleset_add_table_elements(batch, table, svc,
				ruleset_share_base_name(svc, f, name, sizeof(name)),
				f, svc->base_slots + k * m, NULL);
	}
	return ret;
}

size_t share_count_ovr(const struct knlb_service *svc, const uint32_t *held,
		       const uint32_t *base)
{
	size_t n = 0;

	for (size_t s = 0; s < pool_slots_len(svc); s++)
		n += held[s] != SCHED_SLOT_EMPTY && held[s] != base[s];
	return n;
}

int ruleset_add_dispatch_change(struct nfnl_batch *batch,
				const struct knlb_model *pool,
				const struct knlb_service *svc,
				enum knlb_family f, bool present)
{
	return ruleset_add_dispatch_element(batch, pool->config->global.table,
					    svc, f, present ? NFT_MSG_NEWSETELEM
							    : NFT_MSG_DELSETELEM);
}
