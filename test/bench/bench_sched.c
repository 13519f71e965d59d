/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Slot-table build times, for the design's budget (Maglev, M = 65537,
 * N = 1000: under 2 ms), and the answer a failover computes from the kept
 * fill (one backend of N stopped: its slots to their next preference).
 * Not a test: it only prints.  Median of RUNS builds or answers after
 * one warm-up, with min and max, CLOCK_MONOTONIC.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "knlb/sched/sched.h"

#define RUNS 21
#define M 65537
#define ID_LEN 32

enum bench_algo { BENCH_MAGLEV, BENCH_WRR, BENCH_FAILOVER };

struct bench_case {
	const char *name;
	enum bench_algo algo;
	size_t n;
	bool random_weights;	/* 1..100, fixed seed; else all 1 */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * BENCH_FAILOVER: backend (round % n) stopped, the others serving, answered
 * from a fill kept once (what pool.c does at a health transition).
 */
static int failover(const struct bench_case *c, const struct sched_backend *b,
		    uint32_t *table, int round)
{
	static struct maglev_prefs *prefs;
	static uint32_t *base;
	static bool *serving;
	size_t down = (size_t)round % c->n;
	int err;

	if (round < 0) {		/* the warm-up: keep a fill */
		maglev_prefs_free(prefs);
		free(base);
		free(serving);
		base = malloc(M * sizeof(*base));
		serving = malloc(c->n * sizeof(*serving));
		if (!base || !serving)
			return -12;	/* -ENOMEM */
		err = maglev_prefs_new(b, c->n, 0, base, M, &prefs);
		if (err)
			return err;
		down = 0;
	}
	for (size_t i = 0; i < c->n; i++)
		serving[i] = i != down;
	return maglev_prefs_answer(prefs, base, serving, table);
}

static int build(const struct bench_case *c, const struct sched_backend *b,
		 uint32_t *table, int round)
{
	if (c->algo == BENCH_FAILOVER)
		return failover(c, b, table, round);
	if (c->algo == BENCH_MAGLEV)
		return maglev_build(b, c->n, 0, table, M);
	return wrr_build(b, c->n, table, M);
}

static int run_case(const struct bench_case *c, uint32_t *table)
{
	struct sched_backend *b = calloc(c->n, sizeof(*b));
	char (*ids)[ID_LEN] = calloc(c->n, sizeof(*ids));
	uint64_t rng = 0x62656e6368;	/* "bench" */
	double t[RUNS];
	int err = -1;

	if (!b || !ids)
		goto out_free;
	for (size_t i = 0; i < c->n; i++) {
		snprintf(ids[i], ID_LEN, "10.%zu.%zu.%zu:8080", i / 65536,
			 i / 256 % 256, i % 256);
		b[i].id = ids[i];
		/* An LCG is plenty for benchmark weights. */
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		b[i].weight = c->random_weights ? 1 + (uint32_t)(rng >> 33) % 100
						: 1;
	}
	err = build(c, b, table, -1);	/* warm-up: page in the table */
	for (int r = 0; r < RUNS && !err; r++) {
		double start = now_ms();

		err = build(c, b, table, r);
		t[r] = now_ms() - start;
	}
	if (err) {
		fprintf(stderr, "%s: build failed: %s\n", c->name,
			strerror(-err));
		goto out_free;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	printf("%-8s %7zu %-8s %10.3f %10.3f %10.3f\n", c->name, c->n,
	       c->random_weights ? "1..100" : "equal", t[RUNS / 2], t[0],
	       t[RUNS - 1]);
out_free:
	free(ids);
	free(b);
	return err;
}

int main(void)
{
	static const struct bench_case cases[] = {
		{ "maglev", BENCH_MAGLEV, 10, false },
		{ "maglev", BENCH_MAGLEV, 100, false },
		{ "maglev", BENCH_MAGLEV, 1000, false },
		{ "maglev", BENCH_MAGLEV, 1000, true },
		{ "wrr", BENCH_WRR, 1000, false },
		{ "wrr", BENCH_WRR, 1000, true },
		{ "1-down", BENCH_FAILOVER, 10, false },
		{ "1-down", BENCH_FAILOVER, 100, false },
		{ "1-down", BENCH_FAILOVER, 1000, false },
		{ "1-down", BENCH_FAILOVER, 1000, true },
	};
	uint32_t *table = malloc(M * sizeof(*table));
	int status = 0;

	if (!table)
		return 1;
	printf("slot table build (maglev, wrr) and one-down answer from the kept fill (1-down),\nM=%d, %d runs each (ms)\n", M, RUNS);
	printf("%-8s %7s %-8s %10s %10s %10s\n", "algo", "N", "weights",
	       "median", "min", "max");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (run_case(&cases[i], table))
			status = 1;
	free(table);
	return status;
}
