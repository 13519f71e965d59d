/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fallback shape in the kernel (pool/fallback.h says what it holds):
 *
 *   map NAME_fb<b>   per backend b: b's base slots -> where each goes
 *                    once b stops (same key and value types as NAME_slots)
 *   chain fb_NAME    one rule per backend b that does not serve:
 *                    [meta nfproto F] <head> dnat ip[6] to <selector> map @NAME_fb<b>
 *   chain svc_NAME   [meta nfproto F] jump fb_NAME, right before each
 *                    family's slot rule (after persistence's)
 *
 * A slot not in the map of a dead backend misses the lookup, the rule
 * breaks, the chain returns and the slot rule maps it from the base: so a
 * backend stopping costs one rule, and the maps are not touched except
 * where another dead backend's slot pointed at it.  The rules are few (the
 * dead ones): a transition that changes them flushes the chain and adds
 * them again, so knlbd needs no rule handles.
 *
 * Why data maps and rules rather than a verdict map of per-backend
 * chains: any rule or element that jumps makes the kernel validate the
 * table at each commit by walking every verdict map element, O(all
 * slots) per failover (docs/architecture.md).  Data maps are not walked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config-t.h"
#include "knlb/nft/diff.h"
#include "knlb/nft/ruleset.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "rule_build-int.h"
#include "ruleset-int.h"

/*
 * Set ids of the fallback maps in a replace: above every other kind
 * (persist.h's start at 1 << 20), 512 per service: a service in the
 * shape has at most KNLB_MAX_SLOTS / KNLB_FALLBACK_SLOTS_PER_BACKEND
 * backends per family.
 */
#define FALLBACK_SET_ID_BASE (1u << 27)
#define FALLBACK_IDS_PER_SERVICE 1024u

_Static_assert(2 * KNLB_MAX_SLOTS / KNLB_FALLBACK_SLOTS_PER_BACKEND <
	       FALLBACK_IDS_PER_SERVICE, "fallback set ids overlap");

const char *ruleset_fallback_chain_name(const struct knlb_service *svc,
					char *buf, size_t len)
{
	snprintf(buf, len, "fb_%s", svc->cfg->name);
	return buf;
}

const char *ruleset_fallback_backend_chain_name(const struct knlb_service *svc,
						size_t b, char *buf, size_t len)
{
	/* a digit after "fb": never another service's fb_NAME */
	snprintf(buf, len, "fb%u_%s", (unsigned)(uint16_t)b, svc->cfg->name);
	return buf;
}

const char *ruleset_fallback_map_name(const struct knlb_service *svc, size_t b,
				      char *buf, size_t len)
{
	/* b < FALLBACK_IDS_PER_SERVICE: at most 4 digits */
	snprintf(buf, len, "%s_fb%u", svc->cfg->name, (unsigned)(uint16_t)b);
	return buf;
}

static uint32_t map_set_id(size_t i, size_t b)
{
	return FALLBACK_SET_ID_BASE + (uint32_t)(i * FALLBACK_IDS_PER_SERVICE + b);
}

static enum knlb_family backend_family(const struct knlb_service *svc, size_t b)
{
	return addr_family_index(&svc->backends[b].cfg->addr);
}

/*
 * The slots of list (n entries, indexes into svc->slots' layout) grouped
 * by owner[slot]: on return order[] holds them owner by owner and
 * start[b] .. start[b + 1] is backend b's run.  start has n_backends + 1
 * entries.  One pass to count, one to place: no per-backend scan of the
 * table.
 */
static void group_by_owner(const uint32_t *owner, const uint32_t *list, size_t n,
			   size_t n_backends, size_t *start, uint32_t *order)
{
	memset(start, 0, (n_backends + 1) * sizeof(*start));
	for (size_t i = 0; i < n; i++)
		start[owner[list[i]] + 1]++;
	for (size_t b = 0; b < n_backends; b++)
		start[b + 1] += start[b];
	for (size_t i = 0; i < n; i++)
		order[start[owner[list[i]]]++] = list[i];
	/* start[b] now ends b's run: shift back */
	memmove(start + 1, start, n_backends * sizeof(*start));
	start[0] = 0;
}

/*
 * For each backend, one element message run in its map: deletes (values
 * NULL) or adds of the slots in list, whose owner is owner[slot] (and
 * value values[slot]).
 */
static int add_grouped(struct nfnl_batch *batch, const char *table,
		       const struct knlb_service *svc, const uint32_t *owner,
		       const uint32_t *values, const uint32_t *list, size_t n)
{
	size_t nb = svc->n_backends, *start = malloc((nb + 1) * sizeof(*start));
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	uint32_t *keys = malloc((n ? n : 1) * sizeof(*keys));
	uint32_t *vals = malloc((n ? n : 1) * sizeof(*vals));
	uint32_t m = svc->cfg->table_size;
	int ret = start && order && keys && vals ? 0 : -ENOMEM;

	if (ret == 0)
		group_by_owner(owner, list, n, nb, start, order);
	for (size_t b = 0; ret == 0 && b < nb; b++) {
		char map[RULESET_NAME_MAX];
		size_t k = 0;

		for (size_t i = start[b]; i < start[b + 1]; i++) {
			keys[k] = order[i] % m;
			vals[k++] = values ? values[order[i]] : 0;
		}
		if (k)
			ret = ruleset_add_map_elements(batch, table, svc,
					ruleset_fallback_map_name(svc, b, map, sizeof(map)),
					backend_family(svc, b), keys,
					values ? vals : NULL, k);
	}
	free(start);
	free(order);
	free(keys);
	free(vals);
	return ret;
}

/*
 * An empty map NAME_fb<b>, set id id.  No size: a fixed-size hash of M
 * buckets per backend would cost N x M x 8 bytes of kernel memory for
 * M/N elements each.
 */
static int add_map(struct nfnl_batch *batch, const char *table,
		   const struct knlb_service *svc, size_t b, uint32_t id)
{
	char name[RULESET_NAME_MAX];

	return ruleset_add_slot_shaped_map(batch, table, svc, backend_family(svc, b),
			ruleset_fallback_map_name(svc, b, name, sizeof(name)), id, 0);
}

int fallback_add_maps(struct nfnl_batch *batch, const char *table,
		      const struct knlb_service *svc, size_t i)
{
	int ret = 0;

	for (size_t b = 0; ret == 0 && b < svc->n_backends; b++)
		ret = add_map(batch, table, svc, b, map_set_id(i, b));
	return ret;
}

int fallback_add_map_elements(struct nfnl_batch *batch, const char *table,
			      const struct knlb_service *svc,
			      const struct fallback_state *fb)
{
	uint32_t *list = malloc((fb->n_slots ? fb->n_slots : 1) * sizeof(*list));
	size_t n = 0;
	int ret;

	if (!list)
		return -ENOMEM;
	for (size_t s = 0; s < fb->n_slots; s++)
		if (fb->base[s] != SCHED_SLOT_EMPTY && fb->fb[s] != SCHED_SLOT_EMPTY)
			list[n++] = (uint32_t)s;
	ret = add_grouped(batch, table, svc, fb->base, fb->fb, list, n);
	free(list);
	return ret;
}

/* A rule `jump target` in chain (of table), named for errors. */
static int add_jump_rule(struct nfnl_batch *batch, const char *table,
			 const struct knlb_service *svc, const char *chain,
			 const char *target, int nfproto)
{
	char what[3 * RULESET_NAME_MAX + 32];
	struct rule_builder rb = { .rule = rb_rule_new(table, chain) };

	if (!rb.rule)
		return -ENOMEM;
	if (nfproto >= 0)
		rb_require_nfproto(&rb, (uint8_t)nfproto);
	rb_verdict(&rb, NFT_JUMP, target);
	snprintf(what, sizeof(what), "service %s: chain %s: jump %s",
		 svc->cfg->name, chain, target);
	return rb_add_rule(batch, &rb, what);
}

/* One jump per dead backend, in chain fb_NAME, to its chain fb<b>_NAME. */
static int add_rules(struct nfnl_batch *batch, const char *table,
		     const struct knlb_service *svc, const bool *dead)
{
	char chain[RULESET_NAME_MAX], target[RULESET_NAME_MAX];
	int ret = 0;

	ruleset_fallback_chain_name(svc, chain, sizeof(chain));
	for (size_t b = 0; ret == 0 && b < svc->n_backends; b++)
		if (dead[b])
			ret = add_jump_rule(batch, table, svc, chain,
					    ruleset_fallback_backend_chain_name(svc, b, target,
										sizeof(target)),
					    -1);
	return ret;
}

/*
 * Chain fb<b>_NAME for each backend, holding its one rule reading map
 * NAME_fb<b> (set id ids + b when the map is made in this batch), then
 * chain fb_NAME with a jump per dead backend.  The rules that read the
 * maps are made once here: binding a map to a rule walks its elements,
 * which a failover must not pay for; a jump binds nothing.
 */
static int add_chains(struct nfnl_batch *batch, const char *table,
		      const struct knlb_service *svc, uint32_t ids, const bool *dead,
		      bool with_jumps_chain)
{
	char chain[RULESET_NAME_MAX], map[RULESET_NAME_MAX];
	int ret = 0;

	for (size_t b = 0; ret == 0 && b < svc->n_backends; b++) {
		ruleset_fallback_backend_chain_name(svc, b, chain, sizeof(chain));
		ret = rb_add_chain(batch, table, chain, NULL, -1, 0);
		if (ret == 0)
			ret = ruleset_add_dnat_rule(batch, table, chain, svc,
					backend_family(svc, b),
					ruleset_fallback_map_name(svc, b, map, sizeof(map)),
					ids + (uint32_t)b);
	}
	if (ret == 0 && with_jumps_chain)
		ret = rb_add_chain(batch, table,
				   ruleset_fallback_chain_name(svc, chain, sizeof(chain)),
				   NULL, -1, 0);
	return ret ? ret : add_rules(batch, table, svc, dead);
}

int fallback_add_chain(struct nfnl_batch *batch, const char *table,
		       const struct knlb_service *svc, size_t i,
		       const struct fallback_state *fb)
{
	return add_chains(batch, table, svc, map_set_id(i, 0), fb->dead, true);
}

int fallback_add_jump(struct nfnl_batch *batch, const char *table,
		      const struct knlb_service *svc, enum knlb_family f)
{
	char chain[RULESET_NAME_MAX], target[RULESET_NAME_MAX];

	return add_jump_rule(batch, table, svc,
			     ruleset_chain_name(svc, chain, sizeof(chain)),
			     ruleset_fallback_chain_name(svc, target, sizeof(target)),
			     rule_needs_nfproto(svc, f) ? ruleset_shapes[f].nfproto : -1);
}

int ruleset_add_fallback_remake(struct nfnl_batch *batch,
				const struct knlb_model *pool,
				const struct knlb_service *svc,
				size_t old_backends)
{
	const char *table = pool->config->global.table;
	char name[RULESET_NAME_MAX];
	bool *none = calloc(svc->n_backends ? svc->n_backends : 1, sizeof(*none));
	int ret = none ? 0 : -ENOMEM;

	/* fb_NAME's jumps first (svc_NAME jumps to it: it stays), then each
	 * backend's rule, chain, map */
	if (ret == 0)
		ret = rb_flush_chain(batch, table,
				     ruleset_fallback_chain_name(svc, name, sizeof(name)));
	for (size_t b = 0; ret == 0 && b < old_backends; b++) {
		ruleset_fallback_backend_chain_name(svc, b, name, sizeof(name));
		ret = rb_flush_chain(batch, table, name);
		if (ret == 0)
			ret = rb_del_chain(batch, table, name);
		if (ret == 0)
			ret = rb_del_set(batch, table,
					 ruleset_fallback_map_name(svc, b, name, sizeof(name)));
	}
	for (size_t b = 0; ret == 0 && b < svc->n_backends; b++)
		ret = add_map(batch, table, svc, b, map_set_id(0, b));
	/* no jump yet: ruleset_add_fallback_changes() adds the dead ones' */
	if (ret == 0)
		ret = add_chains(batch, table, svc, map_set_id(0, 0), none, false);
	free(none);
	return ret;
}

int ruleset_add_fallback_changes(struct nfnl_batch *batch,
				 const struct knlb_model *pool,
				 const struct knlb_service *svc,
				 const struct fallback_state *have,
				 const struct fallback_state *want,
				 const uint32_t *shared_base, size_t *elements)
{
	const char *table = pool->config->global.table;
	size_t len = want->n_slots, n_del = 0, n_add = 0;
	/* a partial state changes its touched slots only */
	size_t most = want->partial ? want->n_touched : len;
	uint32_t *del = malloc((most ? most : 1) * sizeof(*del));
	uint32_t *add = malloc((most ? most : 1) * sizeof(*add));
	struct slot_diff diff;
	int ret = del && add ? 0 : -ENOMEM;

	*elements = 0;
	/* partial: a transition on the same base (fallback_desired_delta()) */
	if (ret == 0 && !want->partial)
		ret = slot_diff_compute(have->base, want->base, len, &diff);
	if (ret == 0 && !want->partial) {
		size_t written;

		ret = ruleset_add_slot_changes(batch, pool, svc, &diff, shared_base,
					       &written);
		*elements += written;
		slot_diff_release(&diff);
	}
	/* An element moves maps when its slot changed owner: delete + add. */
	for (size_t j = 0; ret == 0 && j < (want->partial ? want->n_touched : len); j++) {
		size_t s = want->partial ? want->touched[j] : j;
		bool same = have->base[s] == want->base[s] &&
			    have->fb[s] == want->fb[s];

		if (same)
			continue;
		if (have->base[s] != SCHED_SLOT_EMPTY && have->fb[s] != SCHED_SLOT_EMPTY)
			del[n_del++] = (uint32_t)s;
		if (want->base[s] != SCHED_SLOT_EMPTY && want->fb[s] != SCHED_SLOT_EMPTY)
			add[n_add++] = (uint32_t)s;
	}
	if (ret == 0)
		ret = add_grouped(batch, table, svc, have->base, NULL, del, n_del);
	if (ret == 0)
		ret = add_grouped(batch, table, svc, want->base, want->fb, add, n_add);
	*elements += n_del + n_add;
	if (ret == 0 && fallback_rules_differ(have, want)) {
		char chain[RULESET_NAME_MAX];

		ret = rb_flush_chain(batch, table,
				     ruleset_fallback_chain_name(svc, chain, sizeof(chain)));
		if (ret == 0)
			ret = add_rules(batch, table, svc, want->dead);
	}
	free(del);
	free(add);
	return ret;
}
