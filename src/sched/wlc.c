/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Weighted least connections as slot weights (see sched.h).  Pure: the
 * counts come from conntrack through the pool, the table from wrr_build.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/sched/sched.h"

static uint32_t wlc_one(uint32_t weight, uint64_t active, double best)
{
	double w;

	if (weight == 0 || best <= 0)
		return 0;
	w = (double)WLC_SCALE * ((double)weight / (1.0 + (double)active)) / best;
	if (w < 1.0)
		return 1;
	return (uint32_t)(w + 0.5);
}

bool wlc_weights(const uint32_t *weight, const uint64_t *active, size_t n,
		 const uint32_t *cur, bool have_cur, uint32_t *out)
{
	double best = 0;
	bool change = !have_cur;

	for (size_t i = 0; i < n; i++) {
		double r = (double)weight[i] / (1.0 + (double)active[i]);

		if (weight[i] && r > best)
			best = r;
	}
	for (size_t i = 0; i < n && !change; i++)
		change = sched_weight_moved(cur[i], wlc_one(weight[i], active[i], best));
	if (!change)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = wlc_one(weight[i], active[i], best);
	return true;
}
