/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which services share a base slot map (see slot_share.h).  The base
 * table is what the shared map holds; each service keeps only where its
 * own table differs from it in a map of its own, so a service whose
 * health, drain or weights diverge stays correct without a split.
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/slot_share.h"

bool pool_slot_share_eligible(const struct knlb_service *svc)
{
	return svc->cfg->scheduler == KNLB_SCHED_MAGLEV && svc->base_slots &&
	       svc->cfg->table_size >= SLOT_SHARE_MIN_SLOTS;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

/* A digest of what the shared map would hold: equal services, equal digests. */
static uint64_t share_digest(const struct knlb_service *svc)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ svc->cfg->table_size;
	size_t len = pool_slots_len(svc);

	h = mix(mix(h, (uint64_t)svc->cfg->proto), svc->n_backends);
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_addr *a = &svc->backends[b].cfg->addr;
		uint32_t w[4] = { 0 };

		memcpy(w, a->family == AF_INET6 ? (const void *)&a->in6 :
			  (const void *)&a->in,
		       a->family == AF_INET6 ? 16 : 4);
		h = mix(h, (uint64_t)svc->backends[b].cfg->port << 32 | w[0]);
		h = mix(mix(mix(h, w[1]), w[2]), w[3]);
	}
	for (size_t s = 0; s < len; s++)
		h = mix(h, svc->base_slots[s]);
	return h;
}

static bool same_families(const struct knlb_service *a,
			  const struct knlb_service *b)
{
	if (a->n_families != b->n_families)
		return false;
	for (size_t k = 0; k < a->n_families; k++)
		if (a->families[k].family != b->families[k].family)
			return false;
	return true;
}

/* The map a would hold is the one b would: the same slots, to the same values. */
static bool same_base_map(const struct knlb_service *a,
			  const struct knlb_service *b)
{
	if (a->cfg->table_size != b->cfg->table_size ||
	    a->cfg->proto != b->cfg->proto || !same_families(a, b) ||
	    a->n_backends != b->n_backends)
		return false;
	for (size_t i = 0; i < a->n_backends; i++) {
		const struct knlb_backend_config *x = a->backends[i].cfg;
		const struct knlb_backend_config *y = b->backends[i].cfg;

		if (x->port != y->port || !addr_equal(&x->addr, &y->addr))
			return false;
	}
	return memcmp(a->base_slots, b->base_slots,
		      pool_slots_len(a) * sizeof(*a->base_slots)) == 0;
}

long pool_slot_share_groups(const struct knlb_model *pool, size_t *leader)
{
	size_t n = pool->n_services;
	uint64_t *digest = malloc((n ? n : 1) * sizeof(*digest));
	long sharing = 0;

	if (!digest)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		leader[i] = SLOT_SHARE_NONE;
		if (pool_slot_share_eligible(&pool->services[i]))
			digest[i] = share_digest(&pool->services[i]);
	}
	for (size_t i = 0; i < n; i++) {
		const struct knlb_service *svc = &pool->services[i];

		if (!pool_slot_share_eligible(svc))
			continue;
		/* the first earlier service that leads a group or is alone */
		for (size_t j = 0; j < i; j++) {
			if (!pool_slot_share_eligible(&pool->services[j]) ||
			    digest[j] != digest[i] ||
			    (leader[j] != SLOT_SHARE_NONE && leader[j] != j) ||
			    !same_base_map(&pool->services[j], svc))
				continue;
			sharing += leader[j] == SLOT_SHARE_NONE ? 2 : 1;
			leader[j] = j;
			leader[i] = j;
			break;
		}
	}
	free(digest);
	return sharing;
}
