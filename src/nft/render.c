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

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/pool/pool-t.h"
#include "knlb/nft/render.h"
#include "knlb/nft/ruleset.h"
#include "knlb/nft/stats.h"
#include "knlb/sched/sched.h"

#define ELEM_NEWLINE ",\n\t\t\t     "

static void render_dispatch_map(FILE *out, const struct knlb_model *pool)
{
	fprintf(out, "\tmap %s {\n", RULESET_DISPATCH_MAP);
	fprintf(out, "\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n");
	if (pool->n_services) {
		fputs("\t\telements = { ", out);
		for (size_t i = 0; i < pool->n_services; i++) {
			const struct knlb_service *svc = &pool->services[i];
			char vip[KNLB_ADDRSTRLEN], chain[RULESET_NAME_MAX];

			fprintf(out, "%s%s . %s . %u : jump %s", i ? ELEM_NEWLINE : "",
				addr_format(&svc->cfg->vip, vip, sizeof(vip)),
				config_proto_name(svc->cfg->proto), svc->cfg->port,
				ruleset_chain_name(svc, chain, sizeof(chain)));
		}
		fputs(" }\n", out);
	}
	fputs("\t}\n", out);
}

static void render_slots_map(FILE *out, const struct knlb_service *svc)
{
	const char *proto = config_proto_name(svc->cfg->proto);
	char name[RULESET_NAME_MAX];
	uint32_t shown = 0;

	fprintf(out, "\n\tmap %s {\n", ruleset_slots_name(svc, name, sizeof(name)));
	fprintf(out, "\t\ttypeof numgen inc mod %u : ip daddr . %s dport\n",
		svc->cfg->table_size, proto);
	for (uint32_t i = 0; i < svc->cfg->table_size; i++) {
		const struct knlb_backend_config *b;
		char addr[KNLB_ADDRSTRLEN];

		if (svc->slots[i] == SCHED_SLOT_EMPTY)
			continue;
		b = svc->backends[svc->slots[i]].cfg;
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

/* empty_reject / empty_drop: services with no usable backend right now. */
static void render_empty_set(FILE *out, const struct knlb_model *pool,
			     const char *name, enum knlb_on_empty how)
{
	bool first = true;

	fprintf(out, "\n\tset %s {\n", name);
	fputs("\t\ttype ipv4_addr . inet_proto . inet_service\n", out);
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		char vip[KNLB_ADDRSTRLEN];

		if (!svc->empty || svc->cfg->on_empty != how)
			continue;
		fputs(first ? "\t\telements = { " : ELEM_NEWLINE, out);
		first = false;
		fprintf(out, "%s . %s . %u", addr_format(&svc->cfg->vip, vip, sizeof(vip)),
			config_proto_name(svc->cfg->proto), svc->cfg->port);
	}
	if (!first)
		fputs(" }\n", out);
	fputs("\t}\n", out);
}

static void render_on_empty(FILE *out)
{
	const char *match = "\t\tip daddr . meta l4proto . th dport @";

	fprintf(out, "\n\tchain %s {\n", RULESET_ON_EMPTY);
	fprintf(out, "%s%s meta l4proto tcp reject with tcp reset\n", match,
		RULESET_EMPTY_REJECT);
	fprintf(out, "%s%s reject with icmp port-unreachable\n", match,
		RULESET_EMPTY_REJECT);
	fprintf(out, "%s%s drop\n\t}\n", match, RULESET_EMPTY_DROP);
	fprintf(out, "\n\tchain %s {\n", RULESET_FILTER_PREROUTING);
	fprintf(out, "\t\ttype filter hook prerouting priority dstnat + 10; policy accept;\n");
	fprintf(out, "\t\tct state new jump %s\n\t}\n", RULESET_ON_EMPTY);
	fprintf(out, "\n\tchain %s {\n", RULESET_FILTER_OUTPUT);
	fprintf(out, "\t\ttype filter hook output priority %d; policy accept;\n",
		RULESET_FILTER_PRIO);
	fprintf(out, "\t\tct state new jump %s\n\t}\n", RULESET_ON_EMPTY);
}

static void render_selector(FILE *out, const struct knlb_service_config *cfg)
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
	fputs("jhash ip saddr", out);
	if (cfg->hash_key != KNLB_HASH_SRC_IP)
		fprintf(out, " . %s sport", p);
	if (cfg->hash_key == KNLB_HASH_5TUPLE)
		fprintf(out, " . ip daddr . %s dport", p);
	fprintf(out, " mod %u seed 0x%x", cfg->table_size, cfg->hash_seed);
}

static void render_service_chain(FILE *out, const struct knlb_service *svc)
{
	char chain[RULESET_NAME_MAX], slots[RULESET_NAME_MAX];

	fprintf(out, "\n\tchain %s {\n", ruleset_chain_name(svc, chain, sizeof(chain)));
	fprintf(out, "\t\tmeta l4proto %s ct mark set ", config_proto_name(svc->cfg->proto));
	if (svc->ct_mark_mask == UINT32_MAX)
		fprintf(out, "0x%08x", svc->ct_mark);
	else	/* nft prints the and-mask with the or-bits folded in */
		fprintf(out, "ct mark & 0x%08x | 0x%08x",
			~svc->ct_mark_mask | svc->ct_mark, svc->ct_mark);
	fputs(" dnat ip to ", out);
	render_selector(out, svc->cfg);
	fprintf(out, " map @%s\n\t}\n", ruleset_slots_name(svc, slots, sizeof(slots)));
}

/* "ct mark 0x00000001", "ct mark 0x01000000/8" or "ct mark & M == V" */
static void render_mark_match(FILE *out, const struct knlb_service *svc)
{
	uint32_t mask = svc->ct_mark_mask;

	if (mask == UINT32_MAX)
		fprintf(out, "\t\tct mark 0x%08x", svc->ct_mark);
	else if ((~mask & (~mask + 1)) == 0)	/* leading ones: a prefix */
		fprintf(out, "\t\tct mark 0x%08x/%d", svc->ct_mark,
			__builtin_popcount(mask));
	else
		fprintf(out, "\t\tct mark & 0x%08x == 0x%08x", mask, svc->ct_mark);
}

static void render_base_chain(FILE *out, const char *name, const char *hook,
			      const char *prio)
{
	fprintf(out, "\n\tchain %s {\n", name);
	fprintf(out, "\t\ttype nat hook %s priority %s; policy accept;\n", hook, prio);
}

int render_ruleset(FILE *out, const struct knlb_model *pool)
{
	fprintf(out, "table inet %s {\n", pool->config->global.table);
	render_dispatch_map(out, pool);
	for (size_t i = 0; i < pool->n_services; i++)
		render_slots_map(out, &pool->services[i]);
	/* nft lists every set before the first chain. */
	render_empty_set(out, pool, RULESET_EMPTY_REJECT, KNLB_ON_EMPTY_REJECT);
	render_empty_set(out, pool, RULESET_EMPTY_DROP, KNLB_ON_EMPTY_DROP);
	stats_render_sets(out);
	for (size_t i = 0; i < pool->n_services; i++)
		render_service_chain(out, &pool->services[i]);

	render_base_chain(out, RULESET_PREROUTING, "prerouting", "dstnat");
	fprintf(out, "\t\tip daddr . meta l4proto . th dport vmap @%s\n\t}\n",
		RULESET_DISPATCH_MAP);
	render_base_chain(out, RULESET_OUTPUT, "output", "-100");
	fprintf(out, "\t\tip daddr . meta l4proto . th dport vmap @%s\n\t}\n",
		RULESET_DISPATCH_MAP);
	render_base_chain(out, RULESET_POSTROUTING, "postrouting", "srcnat");
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		char addr[KNLB_ADDRSTRLEN];

		if (svc->cfg->snat == KNLB_SNAT_NONE)
			continue;
		render_mark_match(out, svc);
		if (svc->cfg->snat == KNLB_SNAT_MASQUERADE)
			fputs(" masquerade\n", out);
		else
			fprintf(out, " snat ip to %s\n",
				addr_format(&svc->cfg->snat_addr, addr, sizeof(addr)));
	}
	fputs("\t}\n", out);
	render_on_empty(out);
	stats_render_chains(out, pool->config->global.ct_mark_mask);
	fputs("}\n", out);
	return ferror(out) ? -EIO : 0;
}
