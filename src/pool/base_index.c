/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A maglev service's base table grouped by owner: which slots each backend
 * owns.  The base does not move with health, so one counting sort per
 * rebuild lets every health transition look at the slots of the backends
 * it concerns (M/N each) instead of all M: at M = 65537 the whole-table
 * passes were most of a failover's 0.5 ms in knlbd (computing the
 * effective table, the fallback maps' desired state, the moved count).
 */
#include <stdint.h>
#include <string.h>

#include "knlb/pool/base_index.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

/* Names each content of some service's base_slots; 0 means none. */
static uint64_t last_base_gen;

void pool_base_changed(struct knlb_service *svc)
{
	svc->base_gen = ++last_base_gen;
}

bool pool_base_index_valid(const struct knlb_service *svc)
{
	return svc->base_start && svc->base_gen &&
	       svc->base_index_gen == svc->base_gen;
}

void pool_base_index_build(struct knlb_service *svc)
{
	size_t len = pool_slots_len(svc), n = svc->n_backends;
	uint32_t *start = svc->base_start, *order = svc->base_order;

	if (!start || pool_base_index_valid(svc))
		return;
	memset(start, 0, (n + 1) * sizeof(*start));
	for (size_t s = 0; s < len; s++)
		if (svc->base_slots[s] < n)
			start[svc->base_slots[s] + 1]++;
	for (size_t b = 0; b < n; b++)
		start[b + 1] += start[b];
	/* start[b] is where b's next slot goes; afterwards where b's end */
	for (size_t s = 0; s < len; s++) {
		uint32_t b = svc->base_slots[s];

		if (b < n)
			order[start[b]++] = (uint32_t)s;
	}
	memmove(start + 1, start, n * sizeof(*start));
	start[0] = 0;
	svc->base_index_gen = svc->base_gen;
}

const uint32_t *pool_base_slots_of(const struct knlb_service *svc, size_t b,
				   size_t *n)
{
	*n = svc->base_start[b + 1] - svc->base_start[b];
	return svc->base_order + svc->base_start[b];
}

size_t pool_slots_concerned(const struct knlb_service *svc,
			    const uint32_t *old_slots, uint32_t *out)
{
	size_t total = 0;

	for (size_t b = 0; b < svc->n_backends; b++) {
		size_t n_own;
		const uint32_t *own = pool_base_slots_of(svc, b, &n_own);

		/* all of b's base slots hold b, or none does (pool.c) */
		if (!n_own || (old_slots[own[0]] == b && svc->slots[own[0]] == b))
			continue;
		if (out)
			memcpy(out + total, own, n_own * sizeof(*own));
		total += n_own;
	}
	return total;
}
