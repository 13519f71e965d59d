/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The gather step shared by knlbctl status and the metrics exposition
 * (status_view-int.h): read-only, every number from a module's own state.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "knlb/config/config-t.h"
#include "knlb/ct/flowtab.h"
#include "knlb/daemon/slot_digest.h"
#include "knlb/nft/commit.h"
#include "knlb/health/health.h"
#include "knlb/pool/pool.h"
#include "status_view-int.h"

/*
 * The slot table as programmed: the committer's copy of what the kernel
 * acknowledged last, so a delta still pending (or refused) does not show
 * a table the kernel does not hold; the pool's own without a committer.
 */
static const uint32_t *programmed_slots(const struct metrics_sources *src,
					size_t s)
{
	const uint32_t *slots = NULL;

	if (src->committer)
		slots = committer_kernel_slots(src->committer, s);
	return slots ? slots : src->pool->services[s].slots;
}

int status_view_gather(struct status_view *v, const struct metrics_sources *src)
{
	const struct knlb_model *pool = src->pool;
	size_t total = 0, widest = 1;
	uint32_t *slots;

	v->src = src;
	v->n_services = pool->n_services;
	for (size_t s = 0; s < pool->n_services; s++) {
		total += pool->services[s].n_backends;
		if (pool->services[s].n_backends > widest)
			widest = pool->services[s].n_backends;
	}
	v->n_backends = total;
	v->services = calloc(pool->n_services ? pool->n_services : 1,
			     sizeof(*v->services));
	v->backends = calloc(total ? total : 1, sizeof(*v->backends));
	/* Slots per backend of one service at a time (pool_count_slots). */
	slots = calloc(widest, sizeof(*slots));
	if (!v->services || !v->backends || !slots) {
		free(slots);
		return -ENOMEM;
	}

	total = 0;
	for (size_t s = 0; s < pool->n_services; s++) {
		const struct knlb_service *svc = &pool->services[s];
		struct service_row *sr = &v->services[s];
		bool checked = svc->cfg->health.check.kind != CHECK_NONE;

		sr->svc = svc;
		sr->backends = &v->backends[total];
		total += svc->n_backends;
		if (src->flows)
			flowtab_service_counts(src->flows, svc->ct_mark,
					       &sr->flows);
		pool_count_slots(svc, slots);
		sr->slot_digest = slot_digest(svc, programmed_slots(src, s));
		if (src->committer) {
			long lead = committer_shared_leader(src->committer, s);

			sr->shared_with = lead >= 0 ? &pool->services[lead] : NULL;
		}
		for (size_t b = 0; b < svc->n_backends; b++) {
			struct backend_row *br = &sr->backends[b];
			const struct knlb_backend_config *cfg;

			br->be = &svc->backends[b];
			br->slots = slots[b];
			cfg = br->be->cfg;
			sr->usable += br->be->effective_weight > 0;
			/* -ENOENT (no flow ever seen) leaves zeroes: right. */
			if (src->flows)
				flowtab_backend_counts(src->flows, svc->ct_mark,
						       &cfg->addr, cfg->port,
						       (uint8_t)svc->cfg->proto,
						       &br->flows);
			if (src->health && checked)
				br->health = health_backend(src->health, s, b);
		}
	}
	free(slots);
	return 0;
}

void status_view_free(struct status_view *v)
{
	for (size_t s = 0; v->services && s < v->n_services; s++)
		free(v->services[s].labels);
	for (size_t b = 0; v->backends && b < v->n_backends; b++)
		free(v->backends[b].labels);
	free(v->services);
	v->services = NULL;
	free(v->backends);
	v->backends = NULL;
}
