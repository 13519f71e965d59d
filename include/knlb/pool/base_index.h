/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_BASE_INDEX_H
#define KNLB_POOL_BASE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/pool/pool-t.h"

/*
 * A maglev service's base slots grouped by owner (svc->base_start,
 * base_order; pool-t.h).  pool.c calls pool_base_changed() whenever it
 * writes base_slots and pool_base_index_build() once the computation is
 * over.
 */
void pool_base_changed(struct knlb_service *svc);
void pool_base_index_build(struct knlb_service *svc);

/* Whether the index describes what base_slots holds now. */
bool pool_base_index_valid(const struct knlb_service *svc);

/*
 * The slots (indexes into svc->slots, ascending) whose base owner is b,
 * n of them; the index must be valid.  A backend's slots are all in its
 * family's table.
 */
const uint32_t *pool_base_slots_of(const struct knlb_service *svc, size_t b,
				   size_t *n);

/*
 * The slots that can differ between old_slots, an effective table the
 * pool computed on the base it has now (the same base_gen), and
 * svc->slots: the base slots of each backend that holds them in neither
 * (it did not serve, or does not).  The others hold their owner in both.
 * Written to out (NULL: only counted); returns how many.
 */
size_t pool_slots_concerned(const struct knlb_service *svc,
			    const uint32_t *old_slots, uint32_t *out);

#endif
