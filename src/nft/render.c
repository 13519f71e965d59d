/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pool in nft syntax, without a kernel.  The layout (tabs, element
 * wrapping: five integer-keyed elements per line, one concatenated key per
 * line) follows nft 1.0.6's listing, so `knlbd --render` output can be
 * diffed against `nft list table` directly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/pool/pool.h"
#include "knlb/nft/persist.h"
#include "knlb/nft/render.h"
#include "knlb/nft/ruleset.h"
#include "knlb/nft/stats.h"
#include "knlb/nft/sync.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/slot_share.h"
#include "knlb/sched/sched.h"

#define ELEM_NEWLINE ",\n\t\t\t     "

static void render_base_chain(FILE *out, const char *name, const char *hook,
			      const char *prio);
static void render_mark_match(FILE *out, const struct knlb_service *svc,
			      const char *prefix);

/* nft's names of a family: its address type and its payload protocol. */
static const char *const addr_type[KNLB_FAMILIES] = { "ipv4_addr", "ipv6_addr" };
static const char *const ip_word[KNLB_FAMILIES] = { "ip", "ip6" };

static void render_dispatch_map(FILE *out, const struct knlb_model *pool,
				enum knlb_family f, const size_t *leader)
{
	bool first = true;

	fprintf(out, "%s\tmap %s%s {\n", f ? "\n" : "", RULESET_DISPATCH_MAP,
		ruleset_family_suffix(f));
	fprintf(out, "\t\ttype %s . inet_proto . inet_service : verdict\n",
		addr_type[f]);
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		char vip[KNLB_ADDRSTRLEN], chain[RULESET_NAME_MAX];

		if (!config_service_has_family(svc->cfg, f))
			continue;
		/* a shared service's empty family is not dispatched (slot_share.c) */
		if (leader[i] != SLOT_SHARE_NONE &&
		    (pool_empty_families(svc) & (1u << f)))
			continue;
		fputs(first ? "\t\telements = { " : ELEM_NEWLINE, out);
		first = false;
		fprintf(out, "%s . %s . %u : jump %s",
			addr_format(&svc->cfg->vip[f], vip, sizeof(vip)),
			config_proto_name(svc->cfg->proto), svc->cfg->port,
			ruleset_chain_name(svc, chain, sizeof(chain)));
	}
	if (!first)
		fputs(" }\n", out);
	fputs("\t}\n", out);
}

/*
 * A map slot -> ADDR . PORT of family f named name: the slots of table
 * (m entries) for which pick(table, s) holds, size line when sized.
 */
static void render_slot_elements(FILE *out, const struct knlb_service *svc,
				 const char *name, enum knlb_family f,
				 bool sized, const uint32_t *owner, uint32_t only,
				 const uint32_t *value)
{
	const char *proto = config_proto_name(svc->cfg->proto);
	uint32_t m = svc->cfg->table_size, shown = 0;

	fprintf(out, "\n\tmap %s {\n", name);
	fprintf(out, "\t\ttypeof numgen inc mod %u : %s daddr . %s dport\n",
		m, ip_word[f], proto);
	if (sized)
		fprintf(out, "\t\tsize %u\n", m);
	for (uint32_t i = 0; i < m; i++) {
		const struct knlb_backend_config *b;
		char addr[KNLB_ADDRSTRLEN];

		if (value[i] == SCHED_SLOT_EMPTY ||
		    (owner && owner[i] != only))
			continue;
		b = svc->backends[value[i]].cfg;
		/* nft prints integer-keyed elements five to a line */
		if (shown == 0)
			fputs("\t\telements = { ", out);
		else
			fputs(shown % 5 == 0 ? ELEM_NEWLINE : ", ", out);
		shown++;
		fprintf(out, "%u : %s . %u", i,
			addr_format(&b->addr, addr, sizeof(addr)), b->port);
	}
	if (shown)
		fputs(" }\n", out);
	fputs("\t}\n", out);
}

/* NAME_slots[6]: the effective table, or the base in the fallback shape. */
static void render_slots_map(FILE *out, const struct knlb_service *svc,
			     const struct knlb_service_family *fam, size_t k,
			     const struct fallback_state *fb)
{
	char name[RULESET_NAME_MAX];
	uint32_t m = svc->cfg->table_size;

	render_slot_elements(out, svc,
			     ruleset_slots_name(svc, fam->family, name, sizeof(name)),
			     fam->family, true, NULL, 0,
			     (fb ? fb->base : svc->slots) + k * m);
}

/*
 * The shared base shape (nft/slot_share.c): the leader's base maps, then
 * per family its override map, in the order the replace creates them.
 * held: what svc's own slot map would hold (as render_slots_map()).
 */
static int render_shared_maps(FILE *out, const struct knlb_service *svc,
			      const uint32_t *held,
			      const struct knlb_service *lead, bool leads)
{
	uint32_t m = svc->cfg->table_size;
	uint32_t *ovr = malloc(m * sizeof(*ovr));
	char name[RULESET_NAME_MAX];

	if (!ovr)
		return -ENOMEM;
	for (size_t k = 0; k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;
		const uint32_t *base = lead->base_slots + k * m;
		const uint32_t *own = held + k * m;

		if (leads)
			render_slot_elements(out, svc,
				ruleset_share_base_name(svc, f, name, sizeof(name)),
				f, true, NULL, 0, base);
		for (uint32_t s = 0; s < m; s++)
			ovr[s] = own[s] == base[s] ? SCHED_SLOT_EMPTY : own[s];
		render_slot_elements(out, svc,
				     ruleset_share_ovr_name(svc, f, name, sizeof(name)),
				     f, false, NULL, 0, ovr);
	}
	free(ovr);
	return 0;
}

/* NAME_fb<b>: backend b's base slots -> their fallback (nft/fallback.c). */
static void render_fallback_maps(FILE *out, const struct knlb_service *svc,
				 const struct fallback_state *fb)
{
	uint32_t m = svc->cfg->table_size;

	for (size_t b = 0; b < svc->n_backends; b++) {
		enum knlb_family f = addr_family_index(&svc->backends[b].cfg->addr);
		char name[RULESET_NAME_MAX];
		size_t k = pool_service_family(svc, f) - svc->families;

		ruleset_fallback_map_name(svc, b, name, sizeof(name));
		render_slot_elements(out, svc, name, f, false, fb->base + k * m,
				     (uint32_t)b, fb->fb + k * m);
	}
}

/* A timeout as nft prints it: 1d2h3m4s, units that are 0 left out. */
static void render_timeout(FILE *out, uint64_t ms)
{
	static const struct { uint64_t ms; const char *unit; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" },
		{ 1000, "s" }, { 1, "ms" },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms / units[i].ms) {
			fprintf(out, "%llu%s",
				(unsigned long long)(ms / units[i].ms), units[i].unit);
			ms %= units[i].ms;
		}
}

/* NAME_persist[6]: its elements are the kernel's, never rendered. */
static void render_persist_map(FILE *out, const struct knlb_service *svc,
			       enum knlb_family f)
{
	char name[RULESET_NAME_MAX];

	fprintf(out, "\n\tmap %s {\n", persist_map_name(svc, f, name, sizeof(name)));
	fprintf(out, "\t\ttypeof %s saddr : %s daddr . %s dport\n", ip_word[f],
		ip_word[f], config_proto_name(svc->cfg->proto));
	fprintf(out, "\t\tsize %u\n\t\tflags dynamic,timeout\n\t\ttimeout ",
		PERSIST_MAP_SIZE);
	render_timeout(out, svc->cfg->persistence_ns / 1000000);
	fputs("\n\t}\n", out);
}

/* chain persist: what fills the persistence maps. */
static void render_persist_chain(FILE *out, const struct knlb_model *pool)
{
	if (!persist_any(pool))
		return;
	fprintf(out, "\n\tchain %s {\n", PERSIST_CHAIN);
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];

		for (size_t k = 0; persist_enabled(svc) && k < svc->n_families; k++) {
			enum knlb_family f = svc->families[k].family;
			char name[RULESET_NAME_MAX];

			render_mark_match(out, svc, "");
			fprintf(out, " update @%s { %s saddr : %s daddr . %s dport }\n",
				persist_map_name(svc, f, name, sizeof(name)),
				ip_word[f], ip_word[f],
				config_proto_name(svc->cfg->proto));
		}
	}
	fputs("\t}\n", out);
}

/* empty_reject[6] / empty_drop[6]: VIPs with no usable backend right now. */
static void render_empty_set(FILE *out, const struct knlb_model *pool,
			     const char *name, enum knlb_on_empty how,
			     enum knlb_family f)
{
	bool first = true;

	fprintf(out, "\n\tset %s%s {\n", name, ruleset_family_suffix(f));
	fprintf(out, "\t\ttype %s . inet_proto . inet_service\n", addr_type[f]);
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		const struct knlb_service_family *fam = pool_service_family(svc, f);
		char vip[KNLB_ADDRSTRLEN];

		if (!fam || !fam->empty || svc->cfg->on_empty != how)
			continue;
		fputs(first ? "\t\telements = { " : ELEM_NEWLINE, out);
		first = false;
		fprintf(out, "%s . %s . %u",
			addr_format(&svc->cfg->vip[f], vip, sizeof(vip)),
			config_proto_name(svc->cfg->proto), svc->cfg->port);
	}
	if (!first)
		fputs(" }\n", out);
	fputs("\t}\n", out);
}

static void render_on_empty(FILE *out, bool v6, bool persist)
{
	static const char *const icmp[KNLB_FAMILIES] = { "icmp", "icmpv6" };

	fprintf(out, "\n\tchain %s {\n", RULESET_ON_EMPTY);
	for (int f = 0; f < (v6 ? KNLB_FAMILIES : 1); f++) {
		const char *sfx = ruleset_family_suffix(f);

		fprintf(out, "\t\t%s daddr . meta l4proto . th dport @%s%s meta l4proto tcp reject with tcp reset\n",
			ip_word[f], RULESET_EMPTY_REJECT, sfx);
		fprintf(out, "\t\t%s daddr . meta l4proto . th dport @%s%s reject with %s port-unreachable\n",
			ip_word[f], RULESET_EMPTY_REJECT, sfx, icmp[f]);
		fprintf(out, "\t\t%s daddr . meta l4proto . th dport @%s%s drop\n",
			ip_word[f], RULESET_EMPTY_DROP, sfx);
	}
	fputs("\t}\n", out);
	fprintf(out, "\n\tchain %s {\n", RULESET_FILTER_PREROUTING);
	fprintf(out, "\t\ttype filter hook prerouting priority dstnat + 10; policy accept;\n");
	fprintf(out, "\t\tct state new jump %s\n", RULESET_ON_EMPTY);
	if (persist)
		fprintf(out, "\t\tct state new jump %s\n", PERSIST_CHAIN);
	fputs("\t}\n", out);
	fprintf(out, "\n\tchain %s {\n", RULESET_FILTER_OUTPUT);
	fprintf(out, "\t\ttype filter hook output priority %d; policy accept;\n",
		RULESET_FILTER_PRIO);
	fprintf(out, "\t\tct state new jump %s\n", RULESET_ON_EMPTY);
	if (persist)
		fprintf(out, "\t\tct state new jump %s\n", PERSIST_CHAIN);
	fputs("\t}\n", out);
}

static void render_selector(FILE *out, const struct knlb_service_config *cfg,
			    enum knlb_family f)
{
	const char *p = config_proto_name(cfg->proto);

	switch (cfg->scheduler) {
	case KNLB_SCHED_WRR:
	case KNLB_SCHED_WLC:
		fprintf(out, "numgen inc mod %u", cfg->table_size);
		return;
	case KNLB_SCHED_RANDOM:
		fprintf(out, "numgen random mod %u", cfg->table_size);
		return;
	case KNLB_SCHED_MAGLEV:
		break;
	}
	fprintf(out, "jhash %s saddr", ip_word[f]);
	if (cfg->hash_key != KNLB_HASH_SRC_IP)
		fprintf(out, " . %s sport", p);
	if (cfg->hash_key == KNLB_HASH_5TUPLE)
		fprintf(out, " . %s daddr . %s dport", ip_word[f], p);
	fprintf(out, " mod %u seed 0x%x", cfg->table_size, cfg->hash_seed);
}

/* meta nfproto F, where ruleset.c's rule_needs_nfproto() puts one. */
static const char *nfproto_prefix(const struct knlb_service *svc,
				  enum knlb_family f)
{
	if (svc->n_families < 2 && f == KNLB_FAMILY_IPV4)
		return "";
	return f == KNLB_FAMILY_IPV6 ? "meta nfproto ipv6 " : "meta nfproto ipv4 ";
}

/* [meta nfproto F] meta l4proto P ct mark set MARK [ct event set ...] */
static void render_service_head(FILE *out, const struct knlb_service *svc,
				enum knlb_family f)
{
	fprintf(out, "\t\t%smeta l4proto %s ct mark set ",
		nfproto_prefix(svc, f), config_proto_name(svc->cfg->proto));
	if (svc->ct_mark_mask == UINT32_MAX)
		fprintf(out, "0x%08x", svc->ct_mark);
	else	/* nft prints the and-mask with the or-bits folded in */
		fprintf(out, "ct mark & 0x%08x | 0x%08x",
			~svc->ct_mark_mask | svc->ct_mark, svc->ct_mark);
	if (svc->cfg->track != KNLB_TRACK_EVENTS)	/* off, periodic */
		fputs(" ct event set 0x0", out);
	else if (svc->ct_events == KNLB_CT_EVENTS_LEAN)	/* ruleset.c's lean_event_mask() */
		fputs(svc->cfg->proto == KNLB_PROTO_TCP ?
		      " ct event set new,destroy,protoinfo" :
		      " ct event set new,destroy", out);
}

/* What persist.c's persistence rule lists as: the head, then the map. */
static void render_persist_rule(FILE *out, const struct knlb_service *svc,
				enum knlb_family f)
{
	char map[RULESET_NAME_MAX];

	render_service_head(out, svc, f);
	fprintf(out, " dnat %s to %s saddr map @%s\n", ip_word[f], ip_word[f],
		persist_map_name(svc, f, map, sizeof(map)));
}

/* <head> dnat ip[6] to <selector> map @map: a slot or fallback rule. */
static void render_dnat_rule(FILE *out, const struct knlb_service *svc,
			     enum knlb_family f, const char *map)
{
	render_service_head(out, svc, f);
	fprintf(out, " dnat %s to ", ip_word[f]);
	render_selector(out, svc->cfg, f);
	fprintf(out, " map @%s\n", map);
}

/*
 * chains fb<b>_NAME, each reading its backend's map, then chain fb_NAME:
 * a jump per backend that does not serve (nft/fallback.c).
 */
static void render_fallback_chains(FILE *out, const struct knlb_service *svc,
				   const struct fallback_state *fb)
{
	char chain[RULESET_NAME_MAX], map[RULESET_NAME_MAX];

	for (size_t b = 0; b < svc->n_backends; b++) {
		fprintf(out, "\n\tchain %s {\n",
			ruleset_fallback_backend_chain_name(svc, b, chain, sizeof(chain)));
		render_dnat_rule(out, svc, addr_family_index(&svc->backends[b].cfg->addr),
				 ruleset_fallback_map_name(svc, b, map, sizeof(map)));
		fputs("\t}\n", out);
	}
	fprintf(out, "\n\tchain %s {\n",
		ruleset_fallback_chain_name(svc, chain, sizeof(chain)));
	for (size_t b = 0; b < svc->n_backends; b++)
		if (fb->dead[b])
			fprintf(out, "\t\tjump %s\n",
				ruleset_fallback_backend_chain_name(svc, b, chain,
								    sizeof(chain)));
	fputs("\t}\n", out);
}

static void render_service_chain(FILE *out, const struct knlb_service *svc,
				 const struct fallback_state *fb,
				 const struct knlb_service *lead)
{
	char chain[RULESET_NAME_MAX], slots[RULESET_NAME_MAX];
	char target[RULESET_NAME_MAX];

	fprintf(out, "\n\tchain %s {\n", ruleset_chain_name(svc, chain, sizeof(chain)));
	for (size_t k = 0; k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;

		if (persist_enabled(svc))
			render_persist_rule(out, svc, f);
		if (fb)
			fprintf(out, "\t\t%sjump %s\n", nfproto_prefix(svc, f),
				ruleset_fallback_chain_name(svc, target, sizeof(target)));
		if (lead) {
			render_dnat_rule(out, svc, f,
					 ruleset_share_ovr_name(svc, f, slots, sizeof(slots)));
			render_dnat_rule(out, svc, f,
					 ruleset_share_base_name(lead, f, slots, sizeof(slots)));
			continue;
		}
		render_dnat_rule(out, svc, f,
				 ruleset_slots_name(svc, f, slots, sizeof(slots)));
	}
	fputs("\t}\n", out);
}

/* "ct mark 0x00000001", "ct mark 0x01000000/8" or "ct mark & M == V" */
static void render_mark_match(FILE *out, const struct knlb_service *svc,
			      const char *prefix)
{
	uint32_t mask = svc->ct_mark_mask;

	if (mask == UINT32_MAX)
		fprintf(out, "\t\t%sct mark 0x%08x", prefix, svc->ct_mark);
	else if ((~mask & (~mask + 1)) == 0)	/* leading ones: a prefix */
		fprintf(out, "\t\t%sct mark 0x%08x/%d", prefix, svc->ct_mark,
			__builtin_popcount(mask));
	else
		fprintf(out, "\t\t%sct mark & 0x%08x == 0x%08x", prefix, mask,
			svc->ct_mark);
}

/* masquerade (both families), or snat ip[6] to ADDR per family */
static void render_snat(FILE *out, const struct knlb_service *svc)
{
	if (svc->cfg->snat == KNLB_SNAT_MASQUERADE) {
		render_mark_match(out, svc, "");
		fputs(" masquerade\n", out);
		return;
	}
	for (size_t k = 0; k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;
		char addr[KNLB_ADDRSTRLEN];

		render_mark_match(out, svc, nfproto_prefix(svc, f));
		fprintf(out, " snat %s to %s\n", ip_word[f],
			addr_format(&svc->cfg->snat_addr[f], addr, sizeof(addr)));
	}
}

/* prerouting, output: the dispatch of each family served. */
static void render_dispatch_chain(FILE *out, const char *name, const char *hook,
				  const char *prio, bool v6)
{
	render_base_chain(out, name, hook, prio);
	for (int f = 0; f < (v6 ? KNLB_FAMILIES : 1); f++)
		fprintf(out, "\t\t%s daddr . meta l4proto . th dport vmap @%s%s\n",
			ip_word[f], RULESET_DISPATCH_MAP, ruleset_family_suffix(f));
	fputs("\t}\n", out);
}

static void render_base_chain(FILE *out, const char *name, const char *hook,
			      const char *prio)
{
	fprintf(out, "\n\tchain %s {\n", name);
	fprintf(out, "\t\ttype nat hook %s priority %s; policy accept;\n", hook, prio);
}

int render_ruleset(FILE *out, const struct knlb_model *pool)
{
	bool v6 = pool_serves_family(pool, KNLB_FAMILY_IPV6);
	int n_families = v6 ? KNLB_FAMILIES : 1;
	struct fallback_state *fb = sync_fallback_states_new(pool, true);
	size_t *leader = malloc((pool->n_services ?: 1) * sizeof(*leader));
	int ret = 0;

	if (!fb || !leader || pool_slot_share_groups(pool, leader) < 0) {
		sync_fallback_states_free(fb, pool->n_services);
		free(leader);
		return -ENOMEM;
	}
	fprintf(out, "table inet %s {\n", pool->config->global.table);
	for (int f = 0; f < n_families; f++)
		render_dispatch_map(out, pool, f, leader);
	for (size_t i = 0; i < pool->n_services; i++)
	{
		const struct knlb_service *svc = &pool->services[i];
		const struct fallback_state *sfb = fb[i].base ? &fb[i] : NULL;

		if (leader[i] != SLOT_SHARE_NONE && ret == 0)
			ret = render_shared_maps(out, svc,
						 sfb ? sfb->base : svc->slots,
						 &pool->services[leader[i]],
						 leader[i] == i);
		for (size_t k = 0; leader[i] == SLOT_SHARE_NONE &&
				   k < svc->n_families; k++)
			render_slots_map(out, svc, &svc->families[k], k, sfb);
		if (sfb)
			render_fallback_maps(out, svc, sfb);
		for (size_t k = 0; persist_enabled(svc) && k < svc->n_families; k++)
			render_persist_map(out, svc, svc->families[k].family);
	}
	/* nft lists every set before the first chain. */
	for (int f = 0; f < n_families; f++) {
		render_empty_set(out, pool, RULESET_EMPTY_REJECT,
				 KNLB_ON_EMPTY_REJECT, f);
		render_empty_set(out, pool, RULESET_EMPTY_DROP,
				 KNLB_ON_EMPTY_DROP, f);
	}
	stats_render_sets(out, v6, pool->config->global.traffic_counters ==
					  KNLB_TRAFFIC_RULES);
	for (size_t i = 0; i < pool->n_services; i++) {
		if (fb[i].base)
			render_fallback_chains(out, &pool->services[i], &fb[i]);
		render_service_chain(out, &pool->services[i],
				     fb[i].base ? &fb[i] : NULL,
				     leader[i] == SLOT_SHARE_NONE ? NULL :
				     &pool->services[leader[i]]);
	}
	sync_fallback_states_free(fb, pool->n_services);
	free(leader);
	if (ret < 0)
		return ret;

	render_dispatch_chain(out, RULESET_PREROUTING, "prerouting", "dstnat", v6);
	render_dispatch_chain(out, RULESET_OUTPUT, "output", "-100", v6);
	render_base_chain(out, RULESET_POSTROUTING, "postrouting", "srcnat");
	for (size_t i = 0; i < pool->n_services; i++)
		if (pool->services[i].cfg->snat != KNLB_SNAT_NONE)
			render_snat(out, &pool->services[i]);
	fputs("\t}\n", out);
	render_persist_chain(out, pool);
	render_on_empty(out, v6, persist_any(pool));
	stats_render_chains(out, pool->config->global.ct_mark_mask, v6,
			    pool->config->global.traffic_counters ==
			    KNLB_TRAFFIC_RULES);
	fputs("}\n", out);
	return ferror(out) ? -EIO : 0;
}
