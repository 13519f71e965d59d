/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * table_size when the file gives none: derived from the backends per
 * scheduler, an explicit value wins, and a running size is kept on reload
 * or restart while it is adequate (docs/configuration.md, table_size).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/config/table_size.h"
#include "knlb/lib/prime.h"
#include "knlb/sched/sched.h"
#include "config-test.h"

/* A service with n backends (weights w[i % nw]), scheduler sched. */
static struct result load_service(const char *sched, size_t n,
				  const unsigned int *w, size_t nw,
				  const char *extra)
{
	size_t cap = 256 + n * 48, len;
	char *text = malloc(cap);
	struct result r;

	cr_assert_not_null(text);
	len = (size_t)snprintf(text, cap, "%sscheduler = %s\n%s", SVC, sched,
			       extra ? extra : "");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"backend = 10.%zu.%zu.%zu:80 weight=%u\n",
					i >> 16, (i >> 8) & 255, i & 255,
					w ? w[i % nw] : 1);
	r = load_ok(text);
	free(text);
	return r;
}

static uint32_t derived(const char *sched, size_t n, const unsigned int *w,
			size_t nw)
{
	struct result r = load_service(sched, n, w, nw, NULL);
	uint32_t m = r.cfg->services[0].table_size;

	cr_expect_eq(r.cfg->services[0].table_size_source,
		     KNLB_TABLE_SIZE_DERIVED);
	result_free(&r);
	return m;
}

Test(table_size, maglev_is_the_smallest_prime_above_100_per_backend)
{
	cr_expect_eq(derived("maglev", 1, NULL, 0), 1021);	/* the floor */
	cr_expect_eq(derived("maglev", 4, NULL, 0), 1021);
	cr_expect_eq(derived("maglev", 10, NULL, 0), 1021);
	cr_expect_eq(derived("maglev", 11, NULL, 0), 1103);	/* >= 1100 */
	cr_expect_eq(derived("maglev", 100, NULL, 0), 10007);
	cr_expect_eq(derived("maglev", 1000, NULL, 0), 100003);
	/* 100 x 2000 is above the cap. */
	cr_expect_eq(derived("maglev", 2000, NULL, 0), KNLB_MAX_SLOTS);
	for (size_t n = 1; n < 40; n += 3) {
		uint32_t m = derived("maglev", n, NULL, 0);

		cr_expect(is_prime(m), "N=%zu: %u not prime", n, m);
		cr_expect_geq(m, 100 * n);
	}
}

Test(table_size, backups_count_as_backends)
{
	struct result r = load_service("maglev", 10, NULL, 0,
				       "backend = 10.9.0.1:80 backup\n");

	cr_expect_eq(r.cfg->services[0].n_backends, 11);
	cr_expect_eq(r.cfg->services[0].table_size, 1103);
	result_free(&r);
}

Test(table_size, round_robin_is_a_multiple_of_the_reduced_weight_sum)
{
	static const unsigned int w123[] = { 1, 2, 3 }, w24[] = { 2, 4 },
		big[] = { 1000, 999 }, huge[] = { 65535, 65534 };
	static const char *const scheds[] = { "wrr", "random", "wlc" };

	for (size_t i = 0; i < 3; i++) {
		/* 1+2+3 = 6: 102 = 17 x 6 >= 100 */
		cr_expect_eq(derived(scheds[i], 3, w123, 3), 102, "%s", scheds[i]);
		/* 2,4 reduce to 1,2: 3 divides 102 */
		cr_expect_eq(derived(scheds[i], 2, w24, 2), 102, "%s", scheds[i]);
		/* equal weights: 10 x N once above 100 */
		cr_expect_eq(derived(scheds[i], 50, NULL, 0), 500, "%s", scheds[i]);
		cr_expect_eq(derived(scheds[i], 3, NULL, 0), 102, "%s", scheds[i]);
		/* 1999 is above the floor: one period */
		cr_expect_eq(derived(scheds[i], 2, big, 2), 1999, "%s", scheds[i]);
		/* S = 65535 x 2 + 65534 x 2 = 262138 > cap: the cap */
		cr_expect_eq(derived(scheds[i], 4, huge, 2), KNLB_MAX_SLOTS,
			     "%s", scheds[i]);
		/* S = 65535 + 65534 fits once under the cap */
		cr_expect_eq(derived(scheds[i], 2, huge, 2), 131069, "%s",
			     scheds[i]);
	}
}

/*
 * What the wrr derivation promises: exact shares with every backend in the
 * table, within 1 point with any one backend out (the sum no longer
 * divides M).
 */
static double worst_share_error(const unsigned int *w, size_t n, size_t out,
				uint32_t m)
{
	struct sched_backend *be = calloc(n, sizeof(*be));
	uint32_t *table = calloc(m, sizeof(*table));
	double sum = 0, worst = 0;

	cr_assert(be && table);
	for (size_t i = 0; i < n; i++) {
		be[i].id = "x";
		be[i].weight = i == out ? 0 : w[i];
		sum += be[i].weight;
	}
	cr_assert_eq(wrr_build(be, n, table, m), 0);
	for (size_t i = 0; i < n; i++) {
		uint32_t got = 0;

		for (uint32_t s = 0; s < m; s++)
			got += table[s] == i;
		if (fabs((double)got / m - be[i].weight / sum) > worst)
			worst = fabs((double)got / m - be[i].weight / sum);
	}
	free(table);
	free(be);
	return worst;
}

Test(table_size, round_robin_shares_exact_then_within_one_point)
{
	static const unsigned int sets[][5] = {
		{ 1, 2, 3, 0, 0 }, { 5, 1, 1, 0, 0 }, { 7, 3, 2, 1, 1 },
		{ 1, 1, 1, 1, 1 }, { 100, 1, 1, 0, 0 }, { 9, 8, 7, 6, 5 },
	};

	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		size_t n = sets[k][3] ? 5 : 3;
		struct result r = load_service("wrr", n, sets[k], n, NULL);
		uint32_t m = r.cfg->services[0].table_size;

		result_free(&r);
		cr_expect_lt(worst_share_error(sets[k], n, n, m), 1e-12,
			     "set %zu, M=%u: all up must be exact", k, m);
		for (size_t out = 0; out < n; out++)
			cr_expect_leq(worst_share_error(sets[k], n, out, m), 0.01,
				      "set %zu, M=%u, backend %zu out", k, m, out);
	}
}

Test(table_size, explicit_table_size_wins)
{
	struct result r = load_service("maglev", 4, NULL, 0, "table_size = 16381\n");
	char line[384];

	cr_expect_eq(r.cfg->services[0].table_size, 16381);
	cr_expect_eq(r.cfg->services[0].table_size_source, KNLB_TABLE_SIZE_SET);
	/* set is never replaced by a running size */
	cr_expect_not(config_keep_table_size(&r.cfg->services[0], 1021));
	cr_expect_eq(r.cfg->services[0].table_size, 16381);
	config_table_size_explain(&r.cfg->services[0], line, sizeof(line));
	cr_expect_str_eq(line, "table_size 16381, set");
	result_free(&r);
}

Test(table_size, explain_says_how_it_was_derived)
{
	struct result r = load_service("maglev", 4, NULL, 0, NULL);
	char line[384];

	config_table_size_explain(&r.cfg->services[0], line, sizeof(line));
	cr_expect_str_eq(line,
			 "table_size 1021, derived: maglev, 4 backends, smallest prime >= max(1021, 100 x 4)");
	result_free(&r);
}

/* Reload from running (n0 backends, extra0) to next (n1 backends, extra1). */
static uint32_t reload_size(const char *sched0, size_t n0, const char *extra0,
			    const char *sched1, size_t n1, const char *extra1,
			    enum knlb_table_size_source *src)
{
	struct result run = load_service(sched0, n0, NULL, 0, extra0);
	struct result next = load_service(sched1, n1, NULL, 0, extra1);
	uint32_t m;

	config_keep_table_sizes(run.cfg, next.cfg);
	m = next.cfg->services[0].table_size;
	*src = next.cfg->services[0].table_size_source;
	result_free(&run);
	result_free(&next);
	return m;
}

Test(table_size, reload_keeps_a_running_size_that_is_still_adequate)
{
	enum knlb_table_size_source src;

	/* 4 -> 12 backends: 1021 >= 50 x 12, kept (derived would be 1201). */
	cr_expect_eq(reload_size("maglev", 4, NULL, "maglev", 12, NULL, &src), 1021);
	cr_expect_eq(src, KNLB_TABLE_SIZE_KEPT);
	/* 4 -> 30: 1021 < 50 x 30 = 1500: derived again, 3001. */
	cr_expect_eq(reload_size("maglev", 4, NULL, "maglev", 30, NULL, &src), 3001);
	cr_expect_eq(src, KNLB_TABLE_SIZE_DERIVED);
	/* Never shrunk: 16381 set before, the line removed, 4 backends. */
	cr_expect_eq(reload_size("maglev", 4, "table_size = 16381\n", "maglev",
				 4, NULL, &src), 16381);
	cr_expect_eq(src, KNLB_TABLE_SIZE_KEPT);
	/* Same backends, same derivation: derived, not kept. */
	cr_expect_eq(reload_size("maglev", 4, NULL, "maglev", 5, NULL, &src), 1021);
	cr_expect_eq(src, KNLB_TABLE_SIZE_DERIVED);
	/* The operator asks: an explicit size wins over the running one. */
	cr_expect_eq(reload_size("maglev", 4, "table_size = 16381\n", "maglev",
				 4, "table_size = 251\n", &src), 251);
	cr_expect_eq(src, KNLB_TABLE_SIZE_SET);
	/* Another scheduler rebuilds the table anyway: derived. */
	cr_expect_eq(reload_size("wrr", 4, "table_size = 16381\n", "maglev", 4,
				 NULL, &src), 1021);
	cr_expect_eq(src, KNLB_TABLE_SIZE_DERIVED);
	/* wrr 3 -> 30 backends: 102 < max(100, 5 x 30): derived, 300. */
	cr_expect_eq(reload_size("wrr", 3, NULL, "wrr", 30, NULL, &src), 300);
	cr_expect_eq(src, KNLB_TABLE_SIZE_DERIVED);
	/* wrr 3 -> 20: 102 >= 100 and >= 5 x 20: kept. */
	cr_expect_eq(reload_size("wrr", 3, NULL, "wrr", 20, NULL, &src), 102);
	cr_expect_eq(src, KNLB_TABLE_SIZE_KEPT);
}

Test(table_size, adequacy_needs_a_prime_for_maglev_and_a_slot_each)
{
	struct result r = load_service("maglev", 4, NULL, 0, NULL);
	struct knlb_service_config *svc = &r.cfg->services[0];

	cr_expect(config_table_size_adequate(svc, 16381));
	cr_expect(config_table_size_adequate(svc, 211));	/* prime, 50 x 4 */
	cr_expect_not(config_table_size_adequate(svc, 199));	/* below 50 x 4 */
	cr_expect_not(config_table_size_adequate(svc, 1000));	/* not prime */
	cr_expect_not(config_table_size_adequate(svc, KNLB_MAX_SLOTS + 2));
	/* restart: 0 (no map, or empty) keeps the derived size */
	cr_expect_not(config_keep_table_size(svc, 0));
	cr_expect_eq(svc->table_size, 1021);
	cr_expect(config_keep_table_size(svc, 16381));
	cr_expect_eq(svc->table_size, 16381);
	cr_expect_eq(svc->table_size_source, KNLB_TABLE_SIZE_KEPT);
	result_free(&r);
}
