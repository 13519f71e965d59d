/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Weighted Maglev: what users rely on is balance (each backend gets its
 * weighted share of new flows), small disruption (removing a backend moves
 * its own flows and few others) and stability (the same backends give the
 * same table, whatever their order in the config, across restarts).  The
 * tests measure those on real tables and log the worst cases seen.
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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ID_LEN 48

/* Backends with their own id storage; ids look like real ones. */
struct pool {
	size_t n;
	struct sched_backend *b;
	char (*ids)[ID_LEN];
};

/* Fixed-seed PRNG (splitmix64) so that every run tests the same inputs. */
static uint64_t prng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void pool_init(struct pool *p, size_t n)
{
	p->n = n;
	p->b = calloc(n ? n : 1, sizeof(*p->b));
	p->ids = calloc(n ? n : 1, sizeof(*p->ids));
	cr_assert(p->b && p->ids);
	for (size_t i = 0; i < n; i++) {
		snprintf(p->ids[i], ID_LEN, "10.0.%zu.%zu:8080", i / 250,
			 i % 250 + 1);
		p->b[i].id = p->ids[i];
		p->b[i].weight = 1;
	}
}

static void pool_destroy(struct pool *p)
{
	free(p->b);
	free(p->ids);
	p->b = NULL;
	p->ids = NULL;
}

/* A copy of p without backend skip, order kept; ids still point into p. */
static struct sched_backend *without(const struct pool *p, size_t skip)
{
	struct sched_backend *b = calloc(p->n, sizeof(*b));
	size_t k = 0;

	cr_assert_not_null(b);
	for (size_t i = 0; i < p->n; i++)
		if (i != skip)
			b[k++] = p->b[i];
	return b;
}

static uint32_t *table_new(uint32_t m)
{
	uint32_t *t = malloc((size_t)m * sizeof(*t));

	cr_assert_not_null(t);
	/* A pattern no builder writes, to catch slots left unwritten. */
	memset(t, 0xa5, (size_t)m * sizeof(*t));
	return t;
}

static uint32_t *build(const struct sched_backend *b, size_t n, uint32_t seed,
		       uint32_t m)
{
	uint32_t *t = table_new(m);
	int err = maglev_build(b, n, seed, t, m);

	cr_assert_eq(err, 0, "maglev_build(n=%zu, m=%" PRIu32 ") = %d", n, m,
		     err);
	for (uint32_t i = 0; i < m; i++)
		cr_assert_lt(t[i], n, "slot %" PRIu32 " holds %" PRIu32
			     " of %zu backends", i, t[i], n);
	return t;
}

static uint32_t next_prime(uint32_t m)
{
	while (!sched_is_prime(m))
		m++;
	return m;
}

/*
 * Balance.  The target from the design is "within 1% of the weighted share
 * when M >= 100 * N".  The scheme guarantees a bound in slots: a backend
 * takes floor(R * w / W) + 1 turns when R rounds are complete (one fewer if
 * the table fills before its turn in the last round), which puts every
 * backend within 1 + N * w / sum(w) slots of its share M * w / sum(w).
 * Slot counts are integers, so the 1% is a statement about large shares:
 * it holds for equal weights when M >= 100 * N (within one slot of a
 * share of 100), and for any weights when M >= 200 * sum(w) / min(w)
 * (1/200 from the first term, N / M <= 1/200 from the second).
 */
struct balance_stats {
	double worst_rel;	/* max |slots - share| / share */
	double worst_abs;	/* max |slots - share| */
	double min_share;
};

/*
 * Each backend must be within max_rel of its share, or within max_abs
 * slots of it; max_abs < 0 means the scheme's own bound, 1 + N * w / sum(w).
 */
static void check_balance(const struct pool *p, uint32_t m, double max_rel,
			  double max_abs, struct balance_stats *st)
{
	uint32_t *t = build(p->b, p->n, 0, m);
	uint32_t *count = calloc(p->n, sizeof(*count));
	uint64_t sum = 0;

	cr_assert_not_null(count);
	for (size_t i = 0; i < p->n; i++)
		sum += p->b[i].weight;
	for (uint32_t i = 0; i < m; i++)
		count[t[i]]++;
	for (size_t i = 0; i < p->n; i++) {
		double share = (double)m * p->b[i].weight / (double)sum;
		double err = count[i] > share ? count[i] - share :
						share - count[i];

		if (err / share > st->worst_rel)
			st->worst_rel = err / share;
		if (err > st->worst_abs)
			st->worst_abs = err;
		if (!st->min_share || share < st->min_share)
			st->min_share = share;
		double bound = max_abs >= 0 ? max_abs :
			       1 + (double)p->n * p->b[i].weight / (double)sum;

		cr_expect(err <= max_rel * share || err < bound,
			  "n=%zu m=%" PRIu32 ": backend %zu weight %" PRIu32
			  " has %" PRIu32 " slots, share %.2f: off by %.2f "
			  "(%.3f%%)", p->n, m, i, p->b[i].weight, count[i],
			  share, err, 100 * err / share);
	}
	free(count);
	free(t);
}

Test(maglev, balance_equal_weights)
{
	static const size_t ns[] = { 3, 10, 100 };
	static const uint32_t ms[] = { 16381, 65537 };
	struct balance_stats st = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(ms); j++) {
			struct pool p;

			pool_init(&p, ns[i]);
			check_balance(&p, ms[j], 0.01, 0, &st);
			pool_destroy(&p);
		}
	}
	cr_log_info("maglev balance, equal weights, N=3/10/100, M=16381/65537: "
		    "worst %.4f%% (%.2f slots)", 100 * st.worst_rel,
		    st.worst_abs);
}

Test(maglev, balance_weights_1_2_3)
{
	static const uint32_t ms[] = { 16381, 65537 };
	struct balance_stats st = { 0 };

	for (size_t j = 0; j < ARRAY_SIZE(ms); j++) {
		struct pool p;

		pool_init(&p, 3);
		for (size_t i = 0; i < 3; i++)
			p.b[i].weight = (uint32_t)i + 1;
		check_balance(&p, ms[j], 0.01, 0, &st);
		pool_destroy(&p);
	}
	cr_log_info("maglev balance, weights 1,2,3, M=16381/65537: worst "
		    "%.4f%% (%.2f slots)", 100 * st.worst_rel, st.worst_abs);
}

/* Random weights 1..100, M the smallest prime >= 200 * sum(w) / min(w). */
Test(maglev, balance_random_weights)
{
	static const size_t ns[] = { 3, 10, 30, 100 };
	uint64_t rng = 0x6d61676c6576;
	struct balance_stats st = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		for (unsigned int rep = 0; rep < 3; rep++) {
			uint64_t sum = 0;
			uint32_t wmin = UINT32_MAX, m;
			struct pool p;

			pool_init(&p, ns[i]);
			for (size_t j = 0; j < p.n; j++) {
				p.b[j].weight =
					1 + (uint32_t)(prng_next(&rng) % 100);
				sum += p.b[j].weight;
				if (p.b[j].weight < wmin)
					wmin = p.b[j].weight;
			}
			m = next_prime((uint32_t)((200 * sum + wmin - 1) / wmin));
			check_balance(&p, m, 0.01, 0, &st);
			pool_destroy(&p);
		}
	}
	cr_log_info("maglev balance, random weights 1..100, N=3..100, "
		    "M >= 200 * sum(w) / min(w): worst %.4f%% (%.2f slots)",
		    100 * st.worst_rel, st.worst_abs);
}

/*
 * Random weights at the usual sizes, where small shares are a few slots:
 * 1% of those is a fraction of a slot, so the bound there is the scheme's
 * own, 1 + N * w / sum(w) slots.
 */
Test(maglev, balance_random_weights_usual_sizes)
{
	static const size_t ns[] = { 10, 100 };
	static const uint32_t ms[] = { 16381, 65537 };
	uint64_t rng = 0x77656967687473;
	struct balance_stats st = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(ms); j++) {
			struct pool p;

			pool_init(&p, ns[i]);
			for (size_t k = 0; k < p.n; k++)
				p.b[k].weight =
					1 + (uint32_t)(prng_next(&rng) % 100);
			check_balance(&p, ms[j], 0, -1, &st);
			pool_destroy(&p);
		}
	}
	cr_log_info("maglev balance, random weights 1..100, N=10/100, "
		    "M=16381/65537: worst %.2f slots (%.3f%%, smallest share "
		    "%.1f slots)", st.worst_abs, 100 * st.worst_rel,
		    st.min_share);
}

/*
 * Disruption: remove each backend in turn and compare, by id, with the
 * full table.  Every slot whose backend changed counts: the removed
 * backend's own (about M * w / sum(w), all of which must move) and any slot
 * of a surviving backend that moved, which must stay under max_extra * M.
 */
struct disruption_stats {
	double worst_moved;	/* fraction of M */
	double worst_extra;	/* survivors' slots that moved, fraction of M */
};

static void check_disruption(size_t n, uint32_t m, const uint32_t *weights,
			     double max_extra, struct disruption_stats *st)
{
	struct pool p;
	uint32_t *full;
	uint64_t sum = 0;

	pool_init(&p, n);
	if (weights)
		for (size_t i = 0; i < n; i++)
			p.b[i].weight = weights[i];
	for (size_t i = 0; i < n; i++)
		sum += p.b[i].weight;
	full = build(p.b, n, 0, m);

	for (size_t r = 0; r < n; r++) {
		struct sched_backend *less = without(&p, r);
		uint32_t *t = build(less, n - 1, 0, m);
		uint32_t moved = 0, extra = 0, own = 0;
		double limit = (double)m * p.b[r].weight / (double)sum +
			       max_extra * m;

		for (uint32_t i = 0; i < m; i++) {
			const char *before = p.b[full[i]].id;
			const char *after = less[t[i]].id;

			if (full[i] == r) {
				own++;
				cr_assert(after != p.b[r].id,
					  "slot %" PRIu32 " still points at "
					  "removed %s", i, p.b[r].id);
			}
			if (before != after) {
				moved++;
				if (full[i] != r)
					extra++;
			}
		}
		if ((double)moved / m > st->worst_moved)
			st->worst_moved = (double)moved / m;
		if ((double)extra / m > st->worst_extra)
			st->worst_extra = (double)extra / m;
		cr_expect_leq(moved, limit, "n=%zu m=%" PRIu32 ": removing %s "
			      "(%" PRIu32 " slots) moved %" PRIu32 " slots, "
			      "%" PRIu32 " of them from survivors; limit %.1f",
			      n, m, p.b[r].id, own, moved, extra, limit);
		free(t);

		/* Put it back, at the end of the array: the original table. */
		less[n - 1] = p.b[r];
		t = build(less, n, 0, m);
		for (uint32_t i = 0; i < m; i++)
			cr_assert_eq(less[t[i]].id, p.b[full[i]].id,
				     "n=%zu m=%" PRIu32 ": after removing "
				     "and re-adding %s, slot %" PRIu32 " is %s,"
				     " was %s", n, m, p.b[r].id, i,
				     less[t[i]].id, p.b[full[i]].id);
		free(t);
		free(less);
	}
	free(full);
	pool_destroy(&p);
}

Test(maglev, disruption_remove_one, .timeout = 60)
{
	static const struct {
		size_t n;
		uint32_t m;
	} cfg[] = {
		{ 10, 16381 }, { 10, 65537 }, { 50, 65537 }, { 100, 65537 },
	};
	struct disruption_stats st = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(cfg); i++)
		check_disruption(cfg[i].n, cfg[i].m, NULL, 0.01, &st);
	cr_log_info("maglev disruption, equal weights, N=10/50/100, M=65537 "
		    "(and N=10, M=16381), each backend removed in turn: worst "
		    "moved %.3f%% of M, of which survivors' slots %.3f%% of M",
		    100 * st.worst_moved, 100 * st.worst_extra);
}

/*
 * Measured, not designed: the survivors' share of the churn depends mostly
 * on M, not on M / N.  With the default M = 16381 it is 1.0-1.7% of M from
 * N = 30 up (0.8-1% at M = 32749, under 1% at M = 65537 up to N = 1000),
 * so the design's "at most 1% of M" needs M = 65537 there.  This keeps it
 * from getting worse than 2%.
 */
Test(maglev, disruption_default_table_size, .timeout = 60)
{
	static const size_t ns[] = { 50, 100 };
	struct disruption_stats st = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
		check_disruption(ns[i], 16381, NULL, 0.02, &st);
	cr_log_info("maglev disruption, equal weights, N=50/100, M=16381: "
		    "worst moved %.3f%% of M, of which survivors' slots %.3f%% "
		    "of M", 100 * st.worst_moved, 100 * st.worst_extra);
}

/* The same with random weights 1..100: limit M * w / sum(w) + 1% of M. */
Test(maglev, disruption_remove_one_weighted, .timeout = 60)
{
	static const size_t ns[] = { 10, 50 };
	uint64_t rng = 0x646973;
	struct disruption_stats st = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		uint32_t w[50];

		for (size_t k = 0; k < ns[i]; k++)
			w[k] = 1 + (uint32_t)(prng_next(&rng) % 100);
		check_disruption(ns[i], 65537, w, 0.01, &st);
	}
	cr_log_info("maglev disruption, random weights 1..100, N=10/50, "
		    "M=65537: worst moved %.3f%% of M, of which survivors' "
		    "slots %.3f%% of M", 100 * st.worst_moved,
		    100 * st.worst_extra);
}

Test(maglev, deterministic)
{
	struct pool p;
	uint32_t *a, *b;

	pool_init(&p, 37);
	a = build(p.b, p.n, 1234, 16381);
	b = build(p.b, p.n, 1234, 16381);
	cr_expect_eq(memcmp(a, b, 16381 * sizeof(*a)), 0,
		     "two builds of the same input differ");
	free(b);
	free(a);
	pool_destroy(&p);
}

/* The config order must not matter: same ids in every slot. */
Test(maglev, independent_of_array_order)
{
	uint64_t rng = 99;
	struct pool p;
	uint32_t *want;

	pool_init(&p, 50);
	for (size_t i = 0; i < p.n; i++)
		p.b[i].weight = 1 + (uint32_t)(prng_next(&rng) % 10);
	p.b[7].weight = 0;
	want = build(p.b, p.n, 5, 16381);

	for (unsigned int shuffle = 0; shuffle < 10; shuffle++) {
		struct sched_backend *s = malloc(p.n * sizeof(*s));
		uint32_t *got;

		cr_assert_not_null(s);
		memcpy(s, p.b, p.n * sizeof(*s));
		for (size_t i = p.n - 1; i > 0; i--) {
			size_t j = prng_next(&rng) % (i + 1);
			struct sched_backend tmp = s[i];

			s[i] = s[j];
			s[j] = tmp;
		}
		got = build(s, p.n, 5, 16381);
		for (uint32_t i = 0; i < 16381; i++)
			cr_assert_eq(s[got[i]].id, p.b[want[i]].id,
				     "shuffle %u: slot %" PRIu32 " is %s, "
				     "unshuffled %s", shuffle, i, s[got[i]].id,
				     p.b[want[i]].id);
		free(got);
		free(s);
	}
	free(want);
	pool_destroy(&p);
}

/* Another seed gives unrelated permutations: most slots change. */
Test(maglev, seed_changes_table)
{
	struct pool p;
	uint32_t *a = NULL;
	uint32_t worst = UINT32_MAX;

	pool_init(&p, 10);
	a = build(p.b, p.n, 0, 16381);
	for (uint32_t seed = 1; seed <= 8; seed++) {
		uint32_t *b = build(p.b, p.n, seed, 16381);
		uint32_t differ = 0;

		for (uint32_t i = 0; i < 16381; i++)
			differ += a[i] != b[i];
		if (differ < worst)
			worst = differ;
		/* Unrelated tables of 10 backends differ in ~90% of slots. */
		cr_expect_gt(differ, 16381 * 8 / 10, "seeds 0 and %" PRIu32
			     " differ in only %" PRIu32 " of 16381 slots",
			     seed, differ);
		free(b);
	}
	cr_log_info("maglev: another seed changes at least %.1f%% of slots "
		    "(N=10)", 100.0 * worst / 16381);
	free(a);
	pool_destroy(&p);
}

/*
 * A small table, computed once and hard-coded: any change to the hash, the
 * seed handling, the turn order or the weighting reshuffles flows in the
 * field on upgrade, and must be a deliberate decision that updates this.
 */
Test(maglev, golden_small_table)
{
	static const struct sched_backend b[] = {
		{ .id = "10.0.0.1:80", .weight = 1 },
		{ .id = "10.0.0.2:80", .weight = 2 },
		{ .id = "10.0.0.3:80", .weight = 1 },
	};
	static const uint32_t want[] = {
		0, 0, 1, 2, 2, 0, 1, 1, 2, 1, 1, 2, 1,
	};
	uint32_t t[ARRAY_SIZE(want)];

	cr_assert_eq(maglev_build(b, ARRAY_SIZE(b), 42, t, ARRAY_SIZE(want)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		cr_expect_eq(t[i], want[i], "slot %zu: got %" PRIu32 ", want %"
			     PRIu32, i, t[i], want[i]);
}

Test(maglev, zero_weight_gets_no_slot)
{
	struct pool p;
	uint32_t *t;
	uint32_t count[6] = { 0 };

	pool_init(&p, 6);
	p.b[1].weight = 0;
	p.b[4].weight = 0;
	t = build(p.b, p.n, 0, 16381);
	for (uint32_t i = 0; i < 16381; i++)
		count[t[i]]++;
	cr_expect_eq(count[1] + count[4], 0, "weight-0 backends got %" PRIu32
		     " and %" PRIu32 " slots", count[1], count[4]);
	for (size_t i = 0; i < 6; i++)
		if (p.b[i].weight)
			cr_expect(count[i] == 4095 || count[i] == 4096,
				  "backend %zu: %" PRIu32 " slots", i,
				  count[i]);
	free(t);
	pool_destroy(&p);
}

Test(maglev, all_zero_is_empty)
{
	struct pool p;
	uint32_t *t = table_new(16381);

	pool_init(&p, 4);
	for (size_t i = 0; i < p.n; i++)
		p.b[i].weight = 0;
	cr_assert_eq(maglev_build(p.b, p.n, 0, t, 16381), 0);
	for (uint32_t i = 0; i < 16381; i++)
		cr_assert_eq(t[i], SCHED_SLOT_EMPTY, "slot %" PRIu32 ": %"
			     PRIu32, i, t[i]);
	memset(t, 0xa5, 16381 * sizeof(*t));
	cr_assert_eq(maglev_build(NULL, 0, 0, t, 16381), 0);
	for (uint32_t i = 0; i < 16381; i++)
		cr_assert_eq(t[i], SCHED_SLOT_EMPTY, "n=0, slot %" PRIu32, i);
	free(t);
	pool_destroy(&p);
}

/* Any positive weight gets a slot, however small next to the others. */
Test(maglev, every_positive_weight_gets_a_slot)
{
	struct pool p;
	uint32_t *t;
	uint32_t count[50] = { 0 };

	pool_init(&p, 50);
	p.b[0].weight = 1000000;
	p.b[1].weight = UINT32_MAX;
	t = build(p.b, p.n, 0, 53);
	for (uint32_t i = 0; i < 53; i++)
		count[t[i]]++;
	for (size_t i = 0; i < p.n; i++)
		cr_expect_geq(count[i], 1, "backend %zu (weight %" PRIu32
			      ") got no slot", i, p.b[i].weight);
	free(t);

	/* M == N: one slot each. */
	memset(count, 0, sizeof(count));
	t = build(p.b, 47, 0, 47);
	for (uint32_t i = 0; i < 47; i++)
		count[t[i]]++;
	for (size_t i = 0; i < 47; i++)
		cr_expect_eq(count[i], 1, "M=N=47: backend %zu got %" PRIu32,
			     i, count[i]);
	free(t);
	pool_destroy(&p);
}

static void expect_einval(const struct sched_backend *b, size_t n,
			  uint32_t *t, uint32_t m, const char *what)
{
	int err = maglev_build(b, n, 0, t, m);

	cr_expect_eq(err, -EINVAL, "%s: got %d, want -EINVAL", what, err);
}

Test(maglev, bad_arguments)
{
	static const uint32_t not_prime[] = { 0, 1, 4, 16383, 65535 };
	struct sched_backend dup[3] = {
		{ .id = "10.0.0.1:80", .weight = 1 },
		{ .id = "10.0.0.2:80", .weight = 1 },
		{ .id = "10.0.0.1:80", .weight = 3 },
	};
	struct pool p;
	uint32_t *t = table_new(16381);

	pool_init(&p, 5);
	for (size_t i = 0; i < ARRAY_SIZE(not_prime); i++) {
		char what[32];

		snprintf(what, sizeof(what), "m=%" PRIu32, not_prime[i]);
		expect_einval(p.b, p.n, t, not_prime[i], what);
	}
	expect_einval(p.b, p.n, t, 3, "m=3 < 5 backends");
	expect_einval(dup, 3, t, 13, "duplicate ids");
	dup[2].weight = 0;
	expect_einval(dup, 3, t, 13, "duplicate id with weight 0");
	dup[2].id = NULL;
	expect_einval(dup, 3, t, 13, "NULL id");
	expect_einval(NULL, 3, t, 13, "NULL backends, n=3");
	cr_expect_eq(maglev_build(p.b, p.n, 0, NULL, 13), -EINVAL,
		     "NULL table");
	for (uint32_t i = 0; i < 16381; i++)
		cr_assert_eq(t[i], 0xa5a5a5a5, "table touched on error");

	/* Zero weights do not count against M. */
	p.b[0].weight = p.b[1].weight = 0;
	cr_expect_eq(maglev_build(p.b, p.n, 0, t, 3), 0,
		     "m=3 with 3 of 5 backends weighted");
	free(t);
	pool_destroy(&p);
}

/*
 * The scheme written as plainly as possible: '%', a linear walk, credit
 * rounds.  maglev_build() must give exactly this table whatever internal
 * shortcut it takes (heap for skewed weights, free-slot search for the
 * last slots, small M).  The offset/skip derivation is restated here on
 * purpose: it is part of the table's stability across releases.
 */
struct ref_entry {
	uint64_t h1;
	const char *id;
	uint32_t index;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_entry *x = a, *y = b;

	if (x->h1 != y->h1)
		return x->h1 < y->h1 ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 * With answer (and serving): the schedule carried on past the fill, as
 * maglev_pref.c defines the preference order: the same rounds and turn
 * order, each turn landing one step further along the backend's
 * permutation whoever owns the slot.  answer[s] is s's owner while it
 * serves, else the first serving backend to land on s (SCHED_SLOT_EMPTY
 * when no serving backend has a turn).
 */
static void maglev_reference_run(const struct sched_backend *b, size_t n,
				 uint32_t seed, uint32_t *table, uint32_t m,
				 const bool *serving, uint32_t *answer)
{
	struct ref_entry *e = calloc(n, sizeof(*e));
	uint64_t *next = calloc(n, sizeof(*next));
	uint64_t *skip = calloc(n, sizeof(*skip));
	uint64_t *credit = calloc(n, sizeof(*credit));
	uint64_t wmax = 0;
	uint32_t filled = 0, pending = 0;
	bool servers = false;

	cr_assert(e && next && skip && credit);
	for (size_t i = 0; i < n; i++) {
		e[i].h1 = sched_hash(b[i].id, strlen(b[i].id), seed);
		e[i].id = b[i].id;
		e[i].index = (uint32_t)i;
		if (b[i].weight > wmax)
			wmax = b[i].weight;
		servers |= serving && serving[i] && b[i].weight;
	}
	qsort(e, n, sizeof(*e), ref_cmp);
	for (size_t i = 0; i < n; i++) {
		uint64_t h2 = sched_hash(e[i].id, strlen(e[i].id),
					 seed ^ 0x9e3779b97f4a7c15ULL);

		next[i] = e[i].h1 % m;
		skip[i] = h2 % (m - 1) + 1;
		credit[i] = wmax - b[e[i].index].weight;
	}
	for (uint32_t i = 0; i < m; i++)
		table[i] = SCHED_SLOT_EMPTY;
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			uint32_t w = b[e[i].index].weight, idx = e[i].index;

			if (!w)
				continue;
			credit[i] += w;
			if (credit[i] < wmax)
				continue;
			credit[i] -= wmax;
			if (filled < m) {
				while (table[next[i]] != SCHED_SLOT_EMPTY)
					next[i] = (next[i] + skip[i]) % m;
				table[next[i]] = idx;
				next[i] = (next[i] + skip[i]) % m;
				if (++filled < m)
					continue;
				if (!answer)
					goto out;
				for (uint32_t s = 0; s < m; s++) {
					if (serving[table[s]])
						answer[s] = table[s];
					else if (servers)
						answer[s] = SCHED_SLOT_PENDING;
					else
						answer[s] = SCHED_SLOT_EMPTY;
					pending += answer[s] == SCHED_SLOT_PENDING;
				}
				if (!pending)
					goto out;
				continue;	/* the round goes on, past the fill */
			}
			if (serving[idx] && answer[next[i]] == SCHED_SLOT_PENDING) {
				answer[next[i]] = idx;
				if (--pending == 0)
					goto out;
			}
			next[i] = (next[i] + skip[i]) % m;
		}
	}
out:
	free(credit);
	free(skip);
	free(next);
	free(e);
}

static void maglev_reference(const struct sched_backend *b, size_t n,
			     uint32_t seed, uint32_t *table, uint32_t m)
{
	maglev_reference_run(b, n, seed, table, m, NULL, NULL);
}

Test(maglev, matches_reference, .timeout = 60)
{
	static const uint32_t ms[] = { 2, 3, 13, 127, 131, 1009, 16381, 65537 };
	uint64_t rng = 2016;

	for (unsigned int round = 0; round < 64; round++) {
		uint32_t m = ms[round % ARRAY_SIZE(ms)];
		size_t n = 1 + prng_next(&rng) % (m < 200 ? m : 200);
		unsigned int kind = round / ARRAY_SIZE(ms) % 4;

		/* The heap needs max(w) > 32 * mean(w), hence many backends. */
		if (kind == 2 && m > 100 && n < 100)
			n = 100;
		uint32_t *got, *want;
		struct pool p;

		pool_init(&p, n);
		for (size_t i = 0; i < n; i++) {
			uint64_t r = prng_next(&rng);

			switch (kind) {
			case 0:		/* equal */
				break;
			case 1:		/* small weights, some zero */
				p.b[i].weight = (uint32_t)(r % 8);
				break;
			case 2:		/* skewed: the heap fill */
				p.b[i].weight = i % 64 ? 1 + (uint32_t)(r % 3) :
					1000000 + (uint32_t)(r % 100000);
				break;
			default:	/* extremes */
				p.b[i].weight = r % 3 ? UINT32_MAX -
					(uint32_t)(r % 2) : 1;
				break;
			}
		}
		p.b[0].weight = p.b[0].weight ? p.b[0].weight : 1;
		got = build(p.b, n, (uint32_t)round, m);
		want = table_new(m);
		maglev_reference(p.b, n, (uint32_t)round, want, m);
		for (uint32_t i = 0; i < m; i++)
			cr_assert_eq(got[i], want[i], "round %u (kind %u, n=%zu,"
				     " m=%" PRIu32 "): slot %" PRIu32 " is %"
				     PRIu32 ", reference says %" PRIu32, round,
				     kind, n, m, i, got[i], want[i]);
		free(want);
		free(got);
		pool_destroy(&p);
	}
}

/*
 * A failover's answer from the kept fill (maglev_prefs_answer(): the walk
 * of the serving backends, or slot by slot when few slots are pending)
 * equals the schedule carried on plainly.  One backend down of many takes
 * the slot-by-slot path, half of them down the walk; weights equal, small
 * and skewed.
 */
Test(maglev, failover_answers_match_the_continued_reference, .timeout = 60)
{
	static const uint32_t ms[] = { 13, 127, 1009, 4099, 16381 };
	uint64_t rng = 1865;

	for (unsigned int round = 0; round < 60; round++) {
		uint32_t m = ms[round % ARRAY_SIZE(ms)];
		size_t n = 2 + prng_next(&rng) % (m - 1 < 300 ? m - 1 : 300);
		unsigned int kind = round / ARRAY_SIZE(ms) % 3;
		uint32_t *base, *want, *got, *ref_base;
		struct maglev_prefs *prefs;
		bool *serving;
		struct pool p;

		pool_init(&p, n);
		serving = calloc(n, sizeof(*serving));
		cr_assert_not_null(serving);
		for (size_t i = 0; i < n; i++) {
			uint64_t r = prng_next(&rng);

			if (kind == 1)
				p.b[i].weight = 1 + (uint32_t)(r % 5);
			else if (kind == 2)
				p.b[i].weight = i % 16 ? 1 : 1000 + (uint32_t)(r % 100);
			/* one down, a few down, half down: both paths */
			switch (round / 15 % 4) {
			case 0: serving[i] = i != (size_t)(r % n); break;
			case 1: serving[i] = r % 10 != 0; break;
			case 2: serving[i] = r % 2; break;
			default: serving[i] = i != 0; break;
			}
		}
		base = table_new(m);
		ref_base = table_new(m);
		want = table_new(m);
		got = table_new(m);
		cr_assert_eq(maglev_prefs_new(p.b, n, round, base, m, &prefs), 0,
			     "round %u: n=%zu m=%" PRIu32, round, n, m);
		cr_assert_eq(maglev_prefs_answer(prefs, base, serving, got), 0);
		maglev_reference_run(p.b, n, round, ref_base, m, serving, want);
		cr_assert_arr_eq(base, ref_base, m * sizeof(*base), "round %u: base", round);
		for (uint32_t s = 0; s < m; s++)
			cr_assert_eq(got[s], want[s], "round %u (kind %u, n=%zu, m=%" PRIu32
				     "): slot %" PRIu32 " answered %" PRIu32 ", reference %" PRIu32,
				     round, kind, n, m, s, got[s], want[s]);
		maglev_prefs_free(prefs);
		free(base);
		free(ref_base);
		free(want);
		free(got);
		free(serving);
		pool_destroy(&p);
	}
}
