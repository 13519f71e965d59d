/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * When re-weighting from measurements (wlc, latency_weights) is worth a
 * slot rewrite: the hysteresis both share (see sched.h).
 */
#include <stdbool.h>
#include <stdint.h>

#include "knlb/sched/sched.h"

bool sched_weight_moved(uint32_t old, uint32_t new)
{
	uint32_t big = old > new ? old : new;
	uint32_t diff = old > new ? old - new : new - old;

	/* Into or out of 0 always counts: that is a backend coming or going. */
	if ((old == 0) != (new == 0))
		return true;
	return (uint64_t)diff * 100 > (uint64_t)big * SCHED_HYSTERESIS_PCT;
}
