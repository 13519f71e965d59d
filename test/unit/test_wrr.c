/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Smooth weighted round robin: the slot table that numgen inc walks.  What
 * a user sees is the order in which new connections go to backends, so the
 * tests look at the sequence: exact for small cases, proportions and runs
 * for large ones, and against a plain nginx loop for everything else.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/sched/sched.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fixed-seed PRNG (splitmix64) so that every run tests the same weights. */
static uint64_t prng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct sched_backend *backends_new(const uint32_t *weights, size_t n)
{
	struct sched_backend *b = calloc(n ? n : 1, sizeof(*b));

	cr_assert_not_null(b);
	for (size_t i = 0; i < n; i++) {
		b[i].id = "unused-by-wrr";
		b[i].weight = weights[i];
	}
	return b;
}

static uint32_t *table_new(uint32_t m)
{
	uint32_t *t = malloc(m * sizeof(*t));

	cr_assert_not_null(t);
	/* A pattern no builder writes, to catch slots left unwritten. */
	memset(t, 0xa5, m * sizeof(*t));
	return t;
}

/* nginx's loop, literally, as the reference for wrr_build(). */
static void wrr_reference(const uint32_t *weights, size_t n, uint32_t *table,
			  uint32_t m)
{
	int64_t *cur = calloc(n ? n : 1, sizeof(*cur));
	int64_t total = 0;

	cr_assert_not_null(cur);
	for (size_t i = 0; i < n; i++)
		total += weights[i];
	for (uint32_t t = 0; t < m; t++) {
		size_t best = SIZE_MAX;

		for (size_t i = 0; i < n; i++) {
			if (!weights[i])
				continue;
			cur[i] += weights[i];
			if (best == SIZE_MAX || cur[i] > cur[best])
				best = i;
		}
		if (best == SIZE_MAX) {
			table[t] = SCHED_SLOT_EMPTY;
			continue;
		}
		cur[best] -= total;
		table[t] = (uint32_t)best;
	}
	free(cur);
}

static uint32_t longest_run(const uint32_t *table, uint32_t m, uint32_t idx)
{
	uint32_t run = 0, longest = 0;

	for (uint32_t i = 0; i < m; i++) {
		run = table[i] == idx ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest;
}

Test(wrr, nginx_5_1_1)
{
	const uint32_t w[] = { 5, 1, 1 };
	const uint32_t want[] = { 0, 0, 1, 0, 2, 0, 0 };	/* a a b a c a a */
	struct sched_backend *b = backends_new(w, ARRAY_SIZE(w));
	uint32_t *t = table_new(7);

	cr_assert_eq(wrr_build(b, ARRAY_SIZE(w), t, 7), 0);
	for (uint32_t i = 0; i < 7; i++)
		cr_expect_eq(t[i], want[i], "slot %" PRIu32 ": got %" PRIu32
			     ", want %" PRIu32, i, t[i], want[i]);
	free(t);
	free(b);
}

/* Equal weights: plain round robin in array order. */
Test(wrr, equal_weights_round_robin)
{
	const uint32_t w[] = { 3, 3, 3 };
	struct sched_backend *b = backends_new(w, ARRAY_SIZE(w));
	uint32_t *t = table_new(10);

	cr_assert_eq(wrr_build(b, ARRAY_SIZE(w), t, 10), 0);
	for (uint32_t i = 0; i < 10; i++)
		cr_expect_eq(t[i], i % 3, "slot %" PRIu32 ": got %" PRIu32, i,
			     t[i]);
	free(t);
	free(b);
}

static void check_proportions(const uint32_t *w, size_t n, uint32_t m,
			      double *worst)
{
	struct sched_backend *b = backends_new(w, n);
	uint32_t *t = table_new(m);
	uint32_t *count = calloc(n, sizeof(*count));
	uint64_t sum = 0;

	cr_assert_not_null(count);
	for (size_t i = 0; i < n; i++)
		sum += w[i];
	cr_assert_eq(wrr_build(b, n, t, m), 0);
	for (uint32_t i = 0; i < m; i++) {
		cr_assert_lt(t[i], n, "slot %" PRIu32 " holds %" PRIu32, i,
			     t[i]);
		count[t[i]]++;
	}
	for (size_t i = 0; i < n; i++) {
		double share = (double)m * w[i] / (double)sum;
		double err = count[i] - share;

		if (err < 0)
			err = -err;
		if (err > *worst)
			*worst = err;
		cr_expect_leq(err, 1.0, "n=%zu m=%" PRIu32 ": backend %zu "
			      "(weight %" PRIu32 ") has %" PRIu32 " slots, "
			      "share %.3f", n, m, i, w[i], count[i], share);
	}
	free(count);
	free(t);
	free(b);
}

Test(wrr, proportions_1_2_3)
{
	const uint32_t w[] = { 1, 2, 3 };
	double worst = 0;

	check_proportions(w, ARRAY_SIZE(w), 16381, &worst);
	cr_log_info("wrr 1,2,3 M=16381: worst |slots - share| %.3f", worst);
}

/* Within one slot of the share also for many random weights. */
Test(wrr, proportions_random_weights)
{
	static const size_t ns[] = { 3, 10, 100, 1000 };
	uint64_t rng = 0x5eed;
	double worst = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		uint32_t *w = calloc(ns[i], sizeof(*w));

		cr_assert_not_null(w);
		for (size_t j = 0; j < ns[i]; j++)
			w[j] = 1 + (uint32_t)(prng_next(&rng) % 100);
		check_proportions(w, ns[i], 16381, &worst);
		free(w);
	}
	cr_log_info("wrr random weights 1..100, N=3..1000, M=16381: "
		    "worst |slots - share| %.3f", worst);
}

/*
 * 5,1,1: over one period (M = 7) the other two split the five a's, so runs
 * of a are at most 2.  A longer table repeats the period, and numgen inc
 * walks it cyclically, so the trailing "a a" of one period meets the
 * leading "a a" of the next: runs of 4, where 3 is the best any 5:1:1
 * sequence can do.  That is nginx's order, which the brief fixes.
 */
Test(wrr, heavy_backend_runs_short)
{
	const uint32_t w[] = { 5, 1, 1 };
	struct sched_backend *b = backends_new(w, ARRAY_SIZE(w));
	uint32_t *t = table_new(16381);
	uint32_t run;

	cr_assert_eq(wrr_build(b, ARRAY_SIZE(w), t, 7), 0);
	run = longest_run(t, 7, 0);
	cr_expect_leq(run, 2, "M=7: longest run of the weight-5 backend: %"
		      PRIu32, run);

	cr_assert_eq(wrr_build(b, ARRAY_SIZE(w), t, 16381), 0);
	run = longest_run(t, 16381, 0);
	cr_log_info("wrr 5,1,1: longest run of a is 2 in one period, %" PRIu32
		    " across period boundaries (M=16381)", run);
	cr_expect_leq(run, 4, "M=16381: longest run of the weight-5 backend: %"
		      PRIu32, run);
	free(t);
	free(b);
}

/*
 * Within one period, a backend of weight w among others of total weight r
 * cannot be spread into runs shorter than ceil(w / (r + 1)).  Smooth WRR
 * achieves that for one heavy backend among a few light ones, the common
 * case.  Not always: light backends of equal weight come due together and
 * go out back to back, so 13,4,2 gives runs of 3 (2 would do) and 2,2,298
 * runs of 100 (75 would do).
 */
Test(wrr, heavy_backend_runs_minimal)
{
	static const uint32_t sets[][4] = {
		{ 5, 1, 1, 0 }, { 3, 1, 0, 0 }, { 10, 1, 0, 0 },
		{ 7, 2, 1, 0 }, { 9, 3, 2, 1 }, { 100, 1, 1, 1 },
		{ 2, 1, 1, 1 }, { 1, 5, 0, 0 }, { 20, 3, 0, 2 },
	};

	for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
		struct sched_backend *b = backends_new(sets[s], 4);
		uint32_t heavy = 0, sum = 0, rest, want, got;
		uint32_t *t;

		for (uint32_t i = 0; i < 4; i++) {
			sum += sets[s][i];
			if (sets[s][i] > sets[s][heavy])
				heavy = i;
		}
		rest = sum - sets[s][heavy];
		want = (sets[s][heavy] + rest) / (rest + 1);
		t = table_new(sum);
		cr_assert_eq(wrr_build(b, 4, t, sum), 0);
		got = longest_run(t, sum, heavy);
		cr_expect_eq(got, want, "weights %" PRIu32 ",%" PRIu32 ",%"
			     PRIu32 ",%" PRIu32 ": longest run %" PRIu32
			     ", best possible %" PRIu32, sets[s][0],
			     sets[s][1], sets[s][2], sets[s][3], got, want);
		free(t);
		free(b);
	}
}

Test(wrr, zero_weight_gets_nothing)
{
	const uint32_t w[] = { 0, 2, 0, 1, 0 };
	struct sched_backend *b = backends_new(w, ARRAY_SIZE(w));
	uint32_t *t = table_new(16381);
	uint32_t count[ARRAY_SIZE(w)] = { 0 };

	cr_assert_eq(wrr_build(b, ARRAY_SIZE(w), t, 16381), 0);
	for (uint32_t i = 0; i < 16381; i++) {
		cr_assert_lt(t[i], ARRAY_SIZE(w));
		count[t[i]]++;
	}
	cr_expect_eq(count[0] + count[2] + count[4], 0,
		     "zero-weight backends got %" PRIu32 ", %" PRIu32 ", %"
		     PRIu32 " slots", count[0], count[2], count[4]);
	cr_expect_eq(count[1], 10921, "weight 2: %" PRIu32, count[1]);
	cr_expect_eq(count[3], 5460, "weight 1: %" PRIu32, count[3]);
	free(t);
	free(b);
}

Test(wrr, all_zero_is_empty)
{
	const uint32_t w[] = { 0, 0, 0 };
	struct sched_backend *b = backends_new(w, ARRAY_SIZE(w));
	uint32_t *t = table_new(101);

	cr_assert_eq(wrr_build(b, ARRAY_SIZE(w), t, 101), 0);
	for (uint32_t i = 0; i < 101; i++)
		cr_expect_eq(t[i], SCHED_SLOT_EMPTY, "slot %" PRIu32 ": %"
			     PRIu32, i, t[i]);
	cr_assert_eq(wrr_build(NULL, 0, t, 101), 0);
	for (uint32_t i = 0; i < 101; i++)
		cr_expect_eq(t[i], SCHED_SLOT_EMPTY, "n=0, slot %" PRIu32, i);
	free(t);
	free(b);
}

Test(wrr, bad_arguments)
{
	const uint32_t w[] = { 1, 2 };
	struct sched_backend *b = backends_new(w, ARRAY_SIZE(w));
	uint32_t *t = table_new(7);

	cr_expect_eq(wrr_build(b, 2, t, 0), -EINVAL, "m == 0");
	cr_expect_eq(wrr_build(b, 2, NULL, 7), -EINVAL, "NULL table");
	cr_expect_eq(wrr_build(NULL, 2, t, 7), -EINVAL, "NULL backends");
	for (uint32_t i = 0; i < 7; i++)
		cr_expect_eq(t[i], 0xa5a5a5a5, "table touched on error");
	free(t);
	free(b);
}

/* Any M, including M not a multiple of the period and M below it. */
Test(wrr, matches_nginx_loop)
{
	static const uint32_t ms[] = { 1, 2, 7, 100, 1009, 16381 };
	uint64_t rng = 42;

	for (unsigned int round = 0; round < 40; round++) {
		size_t n = 1 + prng_next(&rng) % 20;
		uint32_t w[20], m = ms[round % ARRAY_SIZE(ms)];
		struct sched_backend *b;
		uint32_t *got, *want;

		for (size_t i = 0; i < n; i++) {
			/* Some zeros, some common factors, some large. */
			switch (prng_next(&rng) % 4) {
			case 0:
				w[i] = 0;
				break;
			case 1:
				w[i] = 6 * (1 + (uint32_t)(prng_next(&rng) % 5));
				break;
			case 2:
				w[i] = 1 + (uint32_t)(prng_next(&rng) % 100);
				break;
			default:
				w[i] = 1000000 + (uint32_t)(prng_next(&rng) % 7);
				break;
			}
		}
		b = backends_new(w, n);
		got = table_new(m);
		want = table_new(m);
		cr_assert_eq(wrr_build(b, n, got, m), 0);
		wrr_reference(w, n, want, m);
		for (uint32_t i = 0; i < m; i++) {
			cr_assert_eq(got[i], want[i], "round %u n=%zu m=%"
				     PRIu32 ": slot %" PRIu32 " is %" PRIu32
				     ", nginx says %" PRIu32, round, n, m, i,
				     got[i], want[i]);
		}
		free(want);
		free(got);
		free(b);
	}
}

/* One period repeats: weights with a common factor, long table. */
Test(wrr, periodic)
{
	const uint32_t w[] = { 4, 2, 2 };	/* period 8 / 2 = 4 */
	const uint32_t want[] = { 0, 1, 2, 0 };
	struct sched_backend *b = backends_new(w, ARRAY_SIZE(w));
	uint32_t *t = table_new(1001);

	cr_assert_eq(wrr_build(b, ARRAY_SIZE(w), t, 1001), 0);
	for (uint32_t i = 0; i < 1001; i++)
		cr_expect_eq(t[i], want[i % 4], "slot %" PRIu32 ": %" PRIu32, i,
			     t[i]);
	free(t);
	free(b);
}
