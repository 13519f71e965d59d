/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Maglev's preference order and the effective table (src/sched/
 * maglev_pref.c): what failover without a rebuild relies on.  A backend
 * that stops moves only its own slots, to the others by weight; the table
 * for a set of serving backends is the same whatever order they failed and
 * came back in; with every backend serving it is Maglev's own table; the
 * precomputed fallback of a slot is what it gets when its owner alone stops.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/sched/sched.h"

#define ID_LEN 32
#define MAX_BACKENDS 16

struct pref_pool {
	size_t n;
	struct sched_backend b[MAX_BACKENDS];
	char ids[MAX_BACKENDS][ID_LEN];
	uint32_t m;
};

static void pref_pool_init(struct pref_pool *p, size_t n, uint32_t m)
{
	cr_assert_leq(n, MAX_BACKENDS);
	p->n = n;
	p->m = m;
	for (size_t i = 0; i < n; i++) {
		snprintf(p->ids[i], ID_LEN, "10.0.0.%zu:8080", i + 1);
		p->b[i].id = p->ids[i];
		p->b[i].weight = 1;
	}
}

static uint32_t *table_new(uint32_t m)
{
	uint32_t *t = malloc((size_t)m * sizeof(*t));

	cr_assert_not_null(t);
	memset(t, 0xa5, (size_t)m * sizeof(*t));
	return t;
}

/* eff for the backends whose bit is clear in down. */
static uint32_t *eff_of(const struct pref_pool *p, unsigned down)
{
	bool serving[MAX_BACKENDS];
	uint32_t *base = table_new(p->m), *eff = table_new(p->m);

	for (size_t i = 0; i < p->n; i++)
		serving[i] = !(down & (1u << i));
	cr_assert_eq(maglev_effective(p->b, p->n, 7, serving, base, eff, p->m), 0);
	free(base);
	return eff;
}

Test(maglev_pref, all_serving_is_maglev)
{
	struct pref_pool p;
	uint32_t *t = table_new(16381), *eff;

	pref_pool_init(&p, 5, 16381);
	p.b[2].weight = 3;
	cr_assert_eq(maglev_build(p.b, p.n, 7, t, p.m), 0);
	eff = eff_of(&p, 0);
	cr_assert_arr_eq(eff, t, p.m * sizeof(*t));
	free(t);
	free(eff);
}

/*
 * One backend stops: its slots and no other move, none to it.  With equal
 * weights the moved slots spread evenly: each survivor's turns land at
 * pseudo-random places, so its part is a sample, within 10 % of an even
 * share at M/N ~ 4000.
 */
Test(maglev_pref, one_failure_moves_only_its_slots)
{
	struct pref_pool p;
	uint32_t *all, *eff;

	pref_pool_init(&p, 4, 16381);
	all = eff_of(&p, 0);
	for (size_t f = 0; f < p.n; f++) {
		uint32_t got[MAX_BACKENDS] = { 0 }, moved = 0;

		eff = eff_of(&p, 1u << f);
		for (uint32_t s = 0; s < p.m; s++) {
			cr_assert_neq(eff[s], f, "slot %" PRIu32 " kept the failed backend", s);
			if (all[s] != f) {
				cr_assert_eq(eff[s], all[s], "slot %" PRIu32 " moved", s);
				continue;
			}
			cr_assert_lt(eff[s], p.n);
			got[eff[s]]++;
			moved++;
		}
		for (size_t i = 0; i < p.n; i++) {
			double share = i == f ? 0 : (double)moved / (double)(p.n - 1);

			cr_expect(got[i] >= share * 0.9 && got[i] <= share * 1.1,
				  "backend %zu down: backend %zu got %" PRIu32
				  " of %" PRIu32 " moved slots, share %.0f",
				  f, i, got[i], moved, share);
		}
		free(eff);
	}
	free(all);
}

/*
 * Weights: a backend's first landing on a slot comes at a uniform place
 * in its own cycle of M turns, and heavier backends go through theirs
 * faster, so they win a little more than their weighted part of the moved
 * slots (2:1:1 gives the heavy one ~58 % instead of 50 %).  The table as a
 * whole stays within 10 % of the survivors' weighted shares.
 */
Test(maglev_pref, one_failure_respects_weights)
{
	struct pref_pool p;

	pref_pool_init(&p, 4, 16381);
	p.b[3].weight = 2;
	for (size_t f = 0; f < 3; f++) {
		uint32_t got[MAX_BACKENDS] = { 0 }, wsum = 0;
		uint32_t *eff = eff_of(&p, 1u << f);

		for (uint32_t s = 0; s < p.m; s++)
			got[eff[s]]++;
		for (size_t i = 0; i < p.n; i++)
			wsum += i == f ? 0 : p.b[i].weight;
		for (size_t i = 0; i < p.n; i++) {
			double share = (double)p.m * (i == f ? 0 : p.b[i].weight) / wsum;

			cr_expect(got[i] >= share * 0.9 && got[i] <= share * 1.1,
				  "backend %zu down: backend %zu has %" PRIu32
				  " slots, share %.0f", f, i, got[i], share);
		}
		cr_expect_gt(got[3], got[(f + 1) % 3], "the heavier backend has more");
		free(eff);
	}
}

/*
 * The table of a serving set, reached by any path: each step down moves
 * only the slots of the backend that stopped, each step up only slots
 * that go to the backend that came back, and the end is the same.
 * Four backends, all 24 orders of taking three down then bringing them
 * back in each other order.
 */
static void check_step(const struct pref_pool *p, const uint32_t *from,
		       const uint32_t *to, size_t b, bool up)
{
	for (uint32_t s = 0; s < p->m; s++) {
		if (from[s] == to[s])
			continue;
		if (up)
			cr_assert_eq(to[s], b, "backend %zu back: slot %" PRIu32
				     " moved to %" PRIu32, b, s, to[s]);
		else
			cr_assert_eq(from[s], b, "backend %zu down: slot %" PRIu32
				     " of %" PRIu32 " moved", b, s, from[s]);
	}
}

static const size_t orders[6][3] = {
	{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
};

Test(maglev_pref, history_independent)
{
	struct pref_pool p;
	uint32_t *tables[16] = { NULL };

	pref_pool_init(&p, 4, 2039);
	p.b[1].weight = 3;
	/* One table per serving set, computed from scratch. */
	for (unsigned down = 0; down < 16; down++)
		tables[down] = eff_of(&p, down);
	/* Backend 3 stays up; down in order d, up in order u. */
	for (size_t d = 0; d < 6; d++) {
		for (size_t u = 0; u < 6; u++) {
			unsigned down = 0;

			for (size_t i = 0; i < 3; i++) {
				size_t b = orders[d][i];

				check_step(&p, tables[down], tables[down | 1u << b], b, false);
				down |= 1u << b;
			}
			for (size_t i = 0; i < 3; i++) {
				size_t b = orders[u][i];

				check_step(&p, tables[down], tables[down & ~(1u << b)], b, true);
				down &= ~(1u << b);
			}
			cr_assert_eq(down, 0);
		}
	}
	/* With only backend 3 serving, every slot is its. */
	for (uint32_t s = 0; s < p.m; s++)
		cr_assert_eq(tables[7][s], 3);
	for (unsigned down = 0; down < 16; down++)
		free(tables[down]);
}

/*
 * Few pending slots are answered slot by slot, many by walking the
 * schedule on: taking twelve backends down one by one crosses from one
 * way to the other, and every step must still move only the slots of
 * the backend that stopped.
 */
Test(maglev_pref, many_down_consistent)
{
	struct pref_pool p;
	uint32_t *prev;
	unsigned down = 0;

	pref_pool_init(&p, 12, 251);
	p.b[5].weight = 4;
	prev = eff_of(&p, 0);
	for (size_t b = 0; b < 11; b++) {
		uint32_t *next = eff_of(&p, down | 1u << b);

		check_step(&p, prev, next, b, false);
		down |= 1u << b;
		free(prev);
		prev = next;
	}
	for (uint32_t s = 0; s < p.m; s++)
		cr_assert_eq(prev[s], 11);
	free(prev);
}

Test(maglev_pref, all_down_is_empty)
{
	struct pref_pool p;
	uint32_t *eff;

	pref_pool_init(&p, 3, 251);
	eff = eff_of(&p, 7);
	for (uint32_t s = 0; s < p.m; s++)
		cr_assert_eq(eff[s], SCHED_SLOT_EMPTY);
	free(eff);
}

/* A serving backend of weight 0 has no permutation walk: it takes no slot. */
Test(maglev_pref, zero_weight_takes_nothing)
{
	struct pref_pool p;
	uint32_t *eff;

	pref_pool_init(&p, 3, 251);
	p.b[2].weight = 0;
	eff = eff_of(&p, 1);
	for (uint32_t s = 0; s < p.m; s++)
		cr_assert_eq(eff[s], 1, "slot %" PRIu32 ": %" PRIu32, s, eff[s]);
	free(eff);
}

/* The prefilled fallback of a slot is its table when its owner alone stops. */
Test(maglev_pref, fallback_is_first_preference)
{
	struct pref_pool p;
	uint32_t *base = table_new(4093), *next = table_new(4093);

	pref_pool_init(&p, 6, 4093);
	p.b[0].weight = 2;
	cr_assert_eq(maglev_fallback(p.b, p.n, 7, base, next, p.m), 0);
	for (size_t b = 0; b < p.n; b++) {
		uint32_t *eff = eff_of(&p, 1u << b);

		for (uint32_t s = 0; s < p.m; s++) {
			cr_assert_neq(next[s], base[s]);
			if (base[s] == b)
				cr_assert_eq(next[s], eff[s], "slot %" PRIu32, s);
		}
		free(eff);
	}
	free(base);
	free(next);
}

Test(maglev_pref, fallback_of_one_backend_is_empty)
{
	struct pref_pool p;
	uint32_t *base = table_new(13), *next = table_new(13);

	pref_pool_init(&p, 1, 13);
	cr_assert_eq(maglev_fallback(p.b, p.n, 7, base, next, p.m), 0);
	for (uint32_t s = 0; s < p.m; s++) {
		cr_assert_eq(base[s], 0);
		cr_assert_eq(next[s], SCHED_SLOT_EMPTY);
	}
	free(base);
	free(next);
}

Test(maglev_pref, bad_arguments)
{
	struct pref_pool p;
	uint32_t base[13], eff[13];
	bool serving[2] = { true, true };

	pref_pool_init(&p, 2, 13);
	cr_expect_eq(maglev_effective(p.b, p.n, 7, NULL, base, eff, 13), -EINVAL);
	cr_expect_eq(maglev_effective(p.b, p.n, 7, serving, base, NULL, 13), -EINVAL);
	cr_expect_eq(maglev_effective(p.b, p.n, 7, serving, base, eff, 12), -EINVAL,
		     "M must be prime");
}

/*
 * What a per-owner fallback map holds: for every slot, where it goes once
 * its owner stops too, given the backends that serve now.  For a slot
 * whose owner is down that is the effective table; for the others, the
 * effective table with the owner down as well.  With every backend
 * serving it is maglev_fallback().
 */
Test(maglev_pref, next_is_the_table_without_the_owner)
{
	struct pref_pool p;
	struct maglev_prefs *prefs;
	uint32_t *base = table_new(4093), *next = table_new(4093);
	uint32_t *plain = table_new(4093), *fb = table_new(4093);
	bool serving[MAX_BACKENDS];
	unsigned down = 1u << 1;

	pref_pool_init(&p, 5, 4093);
	p.b[4].weight = 3;
	for (size_t i = 0; i < p.n; i++)
		serving[i] = !(down & (1u << i));
	cr_assert_eq(maglev_prefs_new(p.b, p.n, 7, base, p.m, &prefs), 0);
	cr_assert_eq(maglev_prefs_next(prefs, base, serving, next), 0);
	for (size_t o = 0; o < p.n; o++) {
		uint32_t *eff = eff_of(&p, down | 1u << o);

		for (uint32_t s = 0; s < p.m; s++)
			if (base[s] == o)
				cr_assert_eq(next[s], eff[s], "owner %zu, slot %" PRIu32, o, s);
		free(eff);
	}
	cr_assert_eq(maglev_prefs_next(prefs, base, NULL, next), 0);
	cr_assert_eq(maglev_fallback(p.b, p.n, 7, plain, fb, p.m), 0);
	cr_assert_arr_eq(next, fb, p.m * sizeof(*fb));
	cr_assert_arr_eq(base, plain, p.m * sizeof(*fb));
	maglev_prefs_free(prefs);
	free(base);
	free(next);
	free(plain);
	free(fb);
}

/* Only the owner serves: nothing to fall back to. */
Test(maglev_pref, next_of_the_last_serving_backend_is_empty)
{
	struct pref_pool p;
	struct maglev_prefs *prefs;
	uint32_t base[251], next[251];
	bool serving[3] = { false, true, false };

	pref_pool_init(&p, 3, 251);
	cr_assert_eq(maglev_prefs_new(p.b, p.n, 7, base, p.m, &prefs), 0);
	cr_assert_eq(maglev_prefs_next(prefs, base, serving, next), 0);
	for (uint32_t s = 0; s < p.m; s++)
		cr_assert_eq(next[s], base[s] == 1 ? SCHED_SLOT_EMPTY : 1,
			     "slot %" PRIu32 " of %" PRIu32 ": %" PRIu32, s, base[s], next[s]);
	maglev_prefs_free(prefs);
}
