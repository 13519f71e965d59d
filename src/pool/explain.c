/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl explain, the pure half: the kernel's slot choice for a client
 * (sched/jhash.c) looked up in the service's slot table, and a few words
 * on why each backend takes new flows or not.
 */
#include <errno.h>
#include <sys/socket.h>

#include "knlb/config/config-t.h"
#include "knlb/pool/explain.h"
#include "knlb/sched/jhash.h"
#include "knlb/sched/sched.h"

int pool_explain(const struct knlb_service *svc, const struct knlb_addr *client,
		 uint16_t port, struct pool_explanation *out)
{
	const struct knlb_service_config *cfg = svc->cfg;
	struct sched_flow flow = {
		.saddr = *client, .sport = port,
		.daddr = cfg->vip, .dport = cfg->port,
	};

	*out = (struct pool_explanation){
		.backend = SCHED_SLOT_EMPTY,
		.pending = svc->dirty,
	};
	if (cfg->scheduler != KNLB_SCHED_MAGLEV) {
		out->per_flow = true;
		return 0;
	}
	if (client->family != cfg->vip.family || client->family != AF_INET)
		return -EAFNOSUPPORT;
	if (cfg->hash_key != KNLB_HASH_SRC_IP && port == 0)
		return -EINVAL;
	out->slot = sched_jhash_slot(cfg->hash_key, &flow, cfg->hash_seed,
				     cfg->table_size);
	out->backend = svc->slots[out->slot];
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
