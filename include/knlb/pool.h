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

/* Slots that point at backend index b (for reports and tests). */
uint32_t pool_slots_of(const struct knlb_service *svc, size_t b);

#endif
