/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Least response time as slot weights (see sched.h).  Pure: the latencies
 * are the health checks', smoothed by the pool; the table is built by the
 * service's own scheduler from the weights.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/sched/sched.h"

double lrt_smooth(double avg_ms, bool known, double sample_ms)
{
	if (!known)
		return sample_ms;
	return LRT_EWMA_NEW * sample_ms + (1.0 - LRT_EWMA_NEW) * avg_ms;
}

/* A backend not measured yet counts as the fastest measured one. */
static double latency_or(const double *latency_ms, size_t i, double fastest)
{
	return latency_ms[i] >= 0 ? latency_ms[i] : fastest;
}

static uint32_t lrt_one(uint32_t weight, double latency_ms, double best)
{
	double w;

	if (weight == 0 || best <= 0)
		return 0;
	w = (double)LRT_SCALE * ((double)weight / (LRT_FLOOR_MS + latency_ms)) / best;
	if (w < 1.0)
		return 1;
	return (uint32_t)(w + 0.5);
}

bool lrt_weights(const uint32_t *weight, const double *latency_ms, size_t n,
		 const uint32_t *cur, bool have_cur, uint32_t *out)
{
	double fastest = -1, best = 0;
	bool change = !have_cur;

	for (size_t i = 0; i < n; i++)
		if (weight[i] && latency_ms[i] >= 0 &&
		    (fastest < 0 || latency_ms[i] < fastest))
			fastest = latency_ms[i];
	if (fastest < 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		double r = (double)weight[i] /
			   (LRT_FLOOR_MS + latency_or(latency_ms, i, fastest));

		if (weight[i] && r > best)
			best = r;
	}
	for (size_t i = 0; i < n && !change; i++)
		change = sched_weight_moved(cur[i], lrt_one(weight[i],
					latency_or(latency_ms, i, fastest), best));
	if (!change)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = lrt_one(weight[i], latency_or(latency_ms, i, fastest), best);
	return true;
}
