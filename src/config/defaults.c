/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Defaults, in two steps.  When a section opens, every key gets the
 * default its table row gives, read by the row's own parser, so the value
 * the documentation shows and the value in force cannot differ.  Once the
 * whole file is read, the defaults that follow from other keys are set
 * ([global] may come after the services that inherit from it).  The
 * whole-file checks only read.
 */
#include <string.h>

#include "knlb/config/table_size.h"
#include "config-int.h"

void config_set_defaults(struct config_parser *p, bool global, void *base)
{
	size_t n;
	const struct config_keyword *kw = config_keywords(&n);

	for (size_t i = 0; i < n; i++) {
		size_t off = global ? kw[i].global_offset : kw[i].service_offset;

		if (off == CONFIG_NOWHERE || !kw[i].def ||
		    (kw[i].flags & CONFIG_KW_DERIVED))
			continue;
		/* A default the parser refuses is a bug: it is reported. */
		kw[i].parse(p, &kw[i], kw[i].def, (char *)base + off);
	}
}

static void derive_service(struct config_parser *p, size_t i)
{
	struct knlb_service_config *svc = &p->config->services[i];
	struct knlb_health_config *h = &svc->health;
	const int *set = p->meta[i].key_line;

	if (!set[config_keyword_index("hash_seed")])
		svc->hash_seed = p->config->global.hash_seed;
	if (!set[config_keyword_index("announce")])
		svc->announce = p->config->global.announce;
	/* HAProxy's defaults: fastinter and downinter = inter. */
	if (!set[config_keyword_index("fastinter")])
		h->fastinter_ns = h->interval_ns;
	if (!set[config_keyword_index("downinter")])
		h->downinter_ns = h->interval_ns;
	/* Sized to the backends, all of them read by now. */
	if (set[config_keyword_index("table_size")]) {
		svc->table_size_source = KNLB_TABLE_SIZE_SET;
	} else {
		svc->table_size = config_table_size_derive(svc);
		svc->table_size_source = KNLB_TABLE_SIZE_DERIVED;
	}
	/* UDP has no connection to reset: stale entries keep a dead backend. */
	if (!set[config_keyword_index("flush")])
		svc->flush = svc->proto == KNLB_PROTO_UDP;
}

void config_derive_defaults(struct config_parser *p)
{
	for (size_t i = 0; i < p->config->n_services; i++)
		derive_service(p, i);
}
