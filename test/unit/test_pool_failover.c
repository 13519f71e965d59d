/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pool's slots after health and maxconn transitions (maglev): the
 * effective table of the serving set, whatever order the transitions came
 * in, computed against a base table that health does not move.
 */
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

#define FOUR "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n" \
	"backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080 weight=2\n" \
	"backend = 10.0.0.13:8080\nbackend = 10.0.0.14:8080\n"

static struct knlb_model *pool_of(struct result *r, const char *text)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	return pool;
}

static uint32_t *copy_slots(const struct knlb_service *svc, const uint32_t *t)
{
	size_t size = svc->cfg->table_size * sizeof(uint32_t);
	uint32_t *c = malloc(size);

	cr_assert_not_null(c);
	memcpy(c, t, size);
	return c;
}

static void set_down(struct knlb_service *svc, unsigned down)
{
	for (size_t b = 0; b < svc->n_backends; b++)
		pool_set_health(svc, b, !(down & (1u << b)), 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
}

/* The table of a serving set from a fresh pool, no history. */
static uint32_t *fresh_table(unsigned down)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	uint32_t *t;

	set_down(&pool->services[0], down);
	t = copy_slots(&pool->services[0], pool->services[0].slots);
	pool_free(pool);
	result_free(&r);
	return t;
}

Test(pool_failover, any_order_gives_the_table_of_the_serving_set)
{
	static const unsigned path[][6] = {
		{ 1, 3, 7, 6, 4, 0 },	/* 0 down, 1 down, 2 down; 0 up, 1 up, 2 up */
		{ 4, 6, 7, 3, 1, 0 },
		{ 2, 6, 14, 12, 4, 0 },
		{ 8, 9, 11, 10, 2, 0 },
	};
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	size_t size = svc->cfg->table_size * sizeof(uint32_t);
	uint32_t *base = copy_slots(svc, svc->families[0].base);

	for (size_t p = 0; p < sizeof(path) / sizeof(path[0]); p++) {
		for (size_t i = 0; i < 6; i++) {
			uint32_t *want = fresh_table(path[p][i]);

			set_down(svc, path[p][i]);
			cr_assert_eq(memcmp(svc->slots, want, size), 0,
				     "path %zu step %zu: not the table of the serving set", p, i);
			cr_assert_eq(memcmp(svc->families[0].base, base, size), 0,
				     "health moved the base table");
			for (uint32_t s = 0; s < svc->cfg->table_size; s++)
				cr_assert(!(path[p][i] & (1u << svc->slots[s])),
					  "slot %u maps a backend that is down", s);
			free(want);
		}
	}
	free(base);
	pool_free(pool);
	result_free(&r);
}

Test(pool_failover, one_down_moves_only_its_slots)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	uint32_t *before = copy_slots(svc, svc->slots);

	set_down(svc, 1u << 2);
	for (uint32_t s = 0; s < svc->cfg->table_size; s++)
		if (before[s] != 2)
			cr_assert_eq(svc->slots[s], before[s], "slot %u moved", s);
	free(before);
	pool_free(pool);
	result_free(&r);
}

/* maxconn full stops a backend like health does: base stays. */
Test(pool_failover, maxconn_full_falls_back)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r,
		"[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n"
		"backend = 10.0.0.11:8080 maxconn=10\nbackend = 10.0.0.12:8080\n"
		"backend = 10.0.0.13:8080\n");
	struct knlb_service *svc = &pool->services[0];
	uint32_t *base = copy_slots(svc, svc->families[0].base);

	cr_assert(pool_apply_maxconn(svc, 0, 10, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(pool_slots_of(svc, 0), 0);
	cr_expect_eq(memcmp(svc->families[0].base, base, 1021 * sizeof(uint32_t)), 0);
	free(base);
	pool_free(pool);
	result_free(&r);
}

/* With every primary down the backups serve: their own table, base = it. */
Test(pool_failover, backups_take_a_table_of_their_own)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r,
		"[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n"
		"backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080\n"
		"backend = 10.0.0.13:8080 backup\n");
	struct knlb_service *svc = &pool->services[0];

	set_down(svc, 3);
	cr_expect_eq(pool_slots_of(svc, 2), 1021);
	cr_expect_eq(memcmp(svc->families[0].base, svc->slots, 1021 * sizeof(uint32_t)), 0);
	set_down(svc, 1);
	cr_expect_eq(pool_slots_of(svc, 2), 0);
	cr_expect_eq(pool_slots_of(svc, 1), 1021);
	pool_free(pool);
	result_free(&r);
}
