/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_H
#define KNLB_POOL_H

#include "knlb/pool-t.h"

/*
 * Build the runtime pool for a validated config and compute every
 * service's slot table.  The pool borrows config: free the pool first.
 * Returns 0, -ENOMEM, or the scheduler's error.
 */
int pool_create(const struct knlb_config *config, struct knlb_pool **out);
void pool_free(struct knlb_pool *pool);

/* Recompute one service's slot table from effective weights; clears dirty. */
int pool_compute_slots(struct knlb_service *svc);

/*
 * Effective weights from weight, health, backups and slow
 * start at time now_ns.  Marks the service dirty (and returns true) when
 * any effective weight changed; on_backups and empty follow.
 */
bool pool_refresh_weights(struct knlb_service *svc, uint64_t now_ns);

/* A health verdict; starts slow start on down -> up.  Refreshes weights. */
bool pool_set_health(struct knlb_service *svc, size_t b, bool up,
		     uint64_t now_ns);

/* A backend still ramping up at now_ns (slow start timer needed). */
bool pool_service_ramping(const struct knlb_service *svc, uint64_t now_ns);

/* effective_weight in the config's units (undoes weight_scale). */
double pool_effective_weight(const struct knlb_service *svc, size_t b);


/* Slots that point at backend index b (for reports and tests). */
uint32_t pool_slots_of(const struct knlb_service *svc, size_t b);

#endif
