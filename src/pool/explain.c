/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl explain, the pure half: the kernel's slot choice for a client
 * (sched/jhash.c) looked up in the service's slot table, and a few words
 * on why each backend takes new flows or not.
 */
#include <errno.h>
#include <sys/socket.h>

#include "knlb/config/config-t.h"
#include "knlb/lib/addr.h"
#include "knlb/pool/explain.h"
#include "knlb/sched/jhash.h"
#include "knlb/sched/sched.h"

/* The slot table of family f, or NULL when svc has no VIP of it. */
static const struct knlb_service_family *family_of(const struct knlb_service *svc,
						   enum knlb_family f)
{
	for (size_t i = 0; i < svc->n_families; i++)
		if (svc->families[i].family == f)
			return &svc->families[i];
	return NULL;
}

int pool_explain(const struct knlb_service *svc, const struct knlb_addr *client,
		 uint16_t port, struct pool_explanation *out)
{
	const struct knlb_service_config *cfg = svc->cfg;
	enum knlb_family f = addr_family_index(client);
	const struct knlb_service_family *fam = family_of(svc, f);
	struct sched_flow flow = {
		.saddr = *client, .sport = port,
		.daddr = cfg->vip[f], .dport = cfg->port,
	};

	*out = (struct pool_explanation){
		.family = f,
		.backend = SCHED_SLOT_EMPTY,
		.fallback_from = SCHED_SLOT_EMPTY,
		.pending = svc->dirty,
	};
	if (!fam)
		return -EAFNOSUPPORT;
	if (cfg->scheduler != KNLB_SCHED_MAGLEV) {
		out->per_flow = true;
		return 0;
	}
	if (cfg->hash_key != KNLB_HASH_SRC_IP && port == 0)
		return -EINVAL;
	out->slot = sched_jhash_slot(cfg->hash_key, &flow, cfg->hash_seed,
				     cfg->table_size);
	out->backend = fam->slots[out->slot];
	if (out->backend != SCHED_SLOT_EMPTY && fam->base &&
	    fam->base[out->slot] != out->backend)
		out->fallback_from = fam->base[out->slot];
	return 0;
}

const char *pool_backend_why(const struct knlb_service *svc, size_t b)
{
	const struct knlb_backend *be = &svc->backends[b];

	if (be->effective_weight > 0) {
		if (be->cfg->backup)
			return "backup serving: no primary usable";
		return be->up_since_ns ? "up, ramping up (slow start)" : "up";
	}
	if (!be->up)
		return "down (health)";
	if (be->admin == KNLB_ADMIN_DRAIN)
		return "draining";
	if (be->admin == KNLB_ADMIN_DISABLED)
		return "disabled";
	if (be->weight == 0)
		return "weight 0";
	if (be->cfg->backup)
		return "backup on standby: primaries serve";
	return "no slot";
}
