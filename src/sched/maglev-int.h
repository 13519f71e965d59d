/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What maglev.c shares with maglev_pref.c: the fill's end state. */
#ifndef KNLB_SCHED_MAGLEV_INT_H
#define KNLB_SCHED_MAGLEV_INT_H

#include <stddef.h>
#include <stdint.h>

struct sched_backend;

/* A backend with a positive weight, in turn order: the fill's hot data. */
struct maglev_perm {
	uint32_t next;		/* next slot of the permutation to try */
	uint32_t skip;
	uint32_t index;		/* in the caller's array: what the table holds */
	uint32_t weight;
	uint32_t inv;		/* skip^-1 mod M; 0 until the tail needs it */
	/* Heap fill: W = q * weight + r, Bresenham error e in [0, weight). */
	uint32_t q, r, e;
	/* Round fill: credit, in [0, W) between rounds. */
	uint64_t credit;
	uint32_t claimed;	/* turns taken: slots it claimed in the fill */
};


/*
 * A finished fill: the positive-weight backends in turn order, each with
 * the number of turns it took and where its permutation goes on.  The
 * turn schedule carries on from here: backend i's t-th turn (from 0)
 * falls in round ceil(t * wmax / weight), turns of one round in turn order.
 */
struct maglev_end {
	struct maglev_perm *perms;	/* k, malloc'd: free() it */
	uint32_t k;
	uint64_t wmax;
};

/*
 * maglev_build() that also hands back the fill's end state (end->perms
 * NULL when no backend has a positive weight).  Same errors.
 */
int maglev_build_end(const struct sched_backend *backends, size_t n,
		     uint32_t seed, uint32_t *table, uint32_t m,
		     struct maglev_end *end);

/* a^-1 mod m for prime m and 0 < a < m (extended Euclid). */
uint32_t maglev_invmod(uint32_t a, uint32_t m);

/* ceil(2^64 / m) for maglev_mulmod(), also for m == 2 where it is exact. */
static inline uint64_t maglev_barrett(uint32_t m)
{
	return UINT64_MAX / m + 1;
}

/* a * b mod m for a, b < m, by Barrett reduction: no division. */
static inline uint32_t maglev_mulmod(uint32_t a, uint32_t b, uint32_t m,
				     uint64_t barrett)
{
	uint64_t x = (uint64_t)a * b;
	/* floor(x / m) or one more, since x < 2^64 and barrett is rounded up */
	uint64_t q = (uint64_t)(((unsigned __int128)x * barrett) >> 64);
	int64_t r = (int64_t)(x - q * m);

	return (uint32_t)(r < 0 ? r + m : r);
}

#endif
