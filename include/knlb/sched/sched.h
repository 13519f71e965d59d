/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_SCHED_H
#define KNLB_SCHED_H

#include "knlb/lib/prime.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Slot-table builders.  Pure functions: no allocation per call beyond what
 * is documented, no I/O.  A slot table has M entries, each the index of a
 * backend in the array given, or SCHED_SLOT_EMPTY when no backend has a
 * positive weight.
 */

#define SCHED_SLOT_EMPTY UINT32_MAX

struct sched_backend {
	const char *id;		/* stable identity: "ADDR:PORT" or id= */
	uint32_t weight;	/* effective weight; 0 = gets no slot */
};

/* 64-bit hash of a byte string with a seed (stable across releases). */
uint64_t sched_hash(const void *data, size_t len, uint64_t seed);

/*
 * Weighted Maglev (Eisenbud et al., NSDI 2016).  M must be prime and
 * >= the number of backends with a positive weight.  The table depends only
 * on the set of (id, weight) pairs and the seed, not on their order in the
 * array.  Every backend with a positive weight gets at least one slot.
 * Returns 0, -EINVAL on bad arguments (also: a NULL or duplicate id),
 * -ENOMEM.
 */
int maglev_build(const struct sched_backend *backends, size_t n,
		 uint32_t seed, uint32_t *table, uint32_t m);

/*
 * Maglev's fallback (src/sched/maglev_pref.c).  Carrying the fill on past
 * a full table, on the same turn schedule, each turn stepping one place
 * along the backend's permutation, the backends other than a slot's owner
 * land on it in an order: the slot's preference order.
 *
 * maglev_effective(): base gets maglev_build()'s table; eff[s] = base[s]
 * when serving[base[s]], else the first serving backend in s's preference
 * order (SCHED_SLOT_EMPTY when no backend with a slot serves).  serving is
 * indexed like backends; a serving backend of weight 0 takes no slot.
 * The result depends on the backends, weights, seed, M and the serving
 * set only: not on the order in which backends stopped or came back.
 *
 * maglev_fallback(): base as above; next[s] = the first backend of s's
 * preference order (what eff would hold were base[s] alone to stop),
 * SCHED_SLOT_EMPTY when fewer than two backends have slots.
 *
 * Both cost about one maglev_build() plus the walk, and return what it
 * returns, or -ENOMEM, or -EINVAL (also: n >= UINT32_MAX - 1).
 */
int maglev_effective(const struct sched_backend *backends, size_t n,
		     uint32_t seed, const bool *serving, uint32_t *base,
		     uint32_t *eff, uint32_t m);
int maglev_fallback(const struct sched_backend *backends, size_t n,
		    uint32_t seed, uint32_t *base, uint32_t *next, uint32_t m);

/*
 * The same in two steps, for a caller that answers for many serving sets
 * over one base (health transitions): maglev_prefs_new() builds base (as
 * maglev_build(), same errors) and keeps what the answers need, about 50
 * bytes per backend with a positive weight; maglev_prefs_answer() is
 * maglev_effective() (serving given) or maglev_fallback() (serving NULL)
 * for that base, costing only the walk: 0, -EINVAL or -ENOMEM.
 */
struct maglev_prefs;
int maglev_prefs_new(const struct sched_backend *backends, size_t n,
		     uint32_t seed, uint32_t *base, uint32_t m,
		     struct maglev_prefs **out);
int maglev_prefs_answer(const struct maglev_prefs *p, const uint32_t *base,
			const bool *serving, uint32_t *out);
/*
 * out[s] = the first serving backend other than base[s] in s's preference
 * order, whether base[s] serves or not (SCHED_SLOT_EMPTY when none):
 * where slot s goes once its owner stops, given the others that serve.
 * For a slot whose owner does not serve it is maglev_effective()'s
 * answer; with serving NULL it is maglev_fallback().  What a per-owner
 * fallback map in the kernel holds.  0, -EINVAL or -ENOMEM.
 */
int maglev_prefs_next(const struct maglev_prefs *p, const uint32_t *base,
		      const bool *serving, uint32_t *out);
/*
 * out[s] == SCHED_SLOT_PENDING gets the first serving backend other than
 * base[s] in s's preference order (SCHED_SLOT_EMPTY when none); every
 * other entry is left as it is.  For a caller that knows most answers
 * already (a failure answered from precomputed fallbacks): the cost is
 * that of the pending slots only.  0, -EINVAL or -ENOMEM.
 */
#define SCHED_SLOT_PENDING (UINT32_MAX - 1)
int maglev_prefs_fill(const struct maglev_prefs *p, const uint32_t *base,
		      const bool *serving, uint32_t *out);
/*
 * The same when the caller knows where the pending entries are: only
 * out[list[0..n_list)] are looked at (the others must not be pending),
 * so the scan costs n_list, not M: a health transition that concerns
 * one backend of N looks at its M/N slots only.
 */
int maglev_prefs_fill_list(const struct maglev_prefs *p, const uint32_t *base,
			   const bool *serving, uint32_t *out,
			   const uint32_t *list, size_t n_list);
void maglev_prefs_free(struct maglev_prefs *p);
/*
 * A copy of src, which answers as src does: what maglev_prefs_new()
 * would build again from the same backends, seed and size, without the
 * fill (a tenth of a second for 100003 slots over 1000 backends).
 * 0 or -ENOMEM.
 */
int maglev_prefs_copy(const struct maglev_prefs *src, struct maglev_prefs **out);

/*
 * Smooth weighted round robin (as nginx): an interleaved sequence of
 * length M in which each backend appears in proportion to its weight
 * (within one slot), heavy backends spread out (5,1,1 -> a a b a c a a).
 * Used for both wrr (walked by numgen inc) and random (numgen random).
 * Ties go to the lowest array index, so the table follows the array order.
 * Allocates 40 bytes of scratch per positive-weight backend, freed before
 * returning.  Returns 0, -EINVAL, or -ENOMEM.
 */
int wrr_build(const struct sched_backend *backends, size_t n,
	      uint32_t *table, uint32_t m);

/*
 * Weighted least connections, approximated in the kernel: nft cannot see
 * connection counts, so the slot table is re-weighted from conntrack's
 * active-flow counts.  Backend i gets weight[i] / (1 + active[i]),
 * normalised so the largest is WLC_SCALE, at least 1 when weight[i] > 0
 * (a loaded backend still takes a trickle, so its count can fall), 0 when
 * weight[i] == 0.
 *
 * Hysteresis: the new weights are written to out, and true returned, only
 * when some backend's weight moves by more than WLC_HYSTERESIS_PCT percent
 * of the larger of old and new (or has no old weight: have_cur false).
 * Counts that wobble by a flow or two then rewrite nothing.
 */
#define WLC_SCALE		1000U
#define SCHED_HYSTERESIS_PCT	20U
#define WLC_HYSTERESIS_PCT	SCHED_HYSTERESIS_PCT

/*
 * The hysteresis of weights re-derived from measurements (wlc, latency
 * weights): whether a weight moved by more than SCHED_HYSTERESIS_PCT
 * percent of the larger of old and new, or into or out of 0.
 */
bool sched_weight_moved(uint32_t old, uint32_t new);

bool wlc_weights(const uint32_t *weight, const uint64_t *active, size_t n,
		 const uint32_t *cur, bool have_cur, uint32_t *out);

/*
 * Least response time as slot weights (latency_weights = yes): backend i
 * gets weight[i] / (LRT_FLOOR_MS + latency_ms[i]), normalised so the
 * largest is LRT_SCALE, at least 1 when weight[i] > 0, 0 when weight[i]
 * == 0.  latency_ms[i] < 0 is "not measured yet": it counts as the
 * fastest measured one (no penalty for being new); with none measured
 * nothing changes (false).  The floor keeps sub-millisecond jitter on a
 * LAN from mattering: 0.1 ms against 0.3 ms is 1.1 against 1.3.  Same
 * hysteresis as wlc (sched_weight_moved); true when out was written.
 */
#define LRT_SCALE		1000U
#define LRT_FLOOR_MS		1.0
#define LRT_EWMA_NEW		0.3	/* weight of a new sample in the average */

bool lrt_weights(const uint32_t *weight, const double *latency_ms, size_t n,
		 const uint32_t *cur, bool have_cur, uint32_t *out);

/* The smoothed latency after one more sample: EWMA, LRT_EWMA_NEW new. */
double lrt_smooth(double avg_ms, bool known, double sample_ms);

/* Whether m is prime (deterministic for any 32-bit m): lib's one test. */
static inline bool sched_is_prime(uint32_t m)
{
	return is_prime(m);
}

#endif
