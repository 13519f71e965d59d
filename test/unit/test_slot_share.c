/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which services share a base slot map (pool/slot_share.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/slot_share.h"

/* A [service NAME], m slots, n backends 10.<net>.0.(1 ..):<port>, the first of weight w. */
struct spec {
	const char *name;
	unsigned m;
	size_t n;
	int net, port, w;
};

struct fixture {
	struct result r;
	struct knlb_model *pool;
	size_t leader[8];
	long sharing;
};

/* The services of specs (up to 8) as a config, their pool and its groups. */
static void groups_of(struct fixture *fx, const struct spec *specs, size_t n)
{
	static char text[65536];
	size_t off = 0;

	cr_assert_leq(n, 8);
	for (size_t i = 0; i < n; i++) {
		const struct spec *sp = &specs[i];

		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"[service %s]\nvip = 192.0.2.%zu\nport = 80\ntable_size = %u\n",
					sp->name, 1 + i, sp->m);
		for (size_t b = 0; b < sp->n; b++)
			off += (size_t)snprintf(text + off, sizeof(text) - off,
						"backend = 10.%d.0.%zu:%d%s\n", sp->net,
						1 + b, sp->port,
						b == 0 && sp->w != 1 ? " weight=2" : "");
	}
	fx->r = load_ok(text);
	cr_assert_eq(pool_create(fx->r.cfg, &fx->pool), 0);
	fx->sharing = pool_slot_share_groups(fx->pool, fx->leader);
}

static void fixture_free(struct fixture *fx)
{
	pool_free(fx->pool);
	result_free(&fx->r);
}

static void expect_nobody_shares(const struct fixture *fx)
{
	cr_expect_eq(fx->sharing, 0);
	for (size_t i = 0; i < fx->pool->n_services; i++)
		cr_expect_eq(fx->leader[i], SLOT_SHARE_NONE, "service %s shares",
			     fx->pool->services[i].cfg->name);
}

#define BIG 10007	/* >= SLOT_SHARE_MIN_SLOTS */

Test(slot_share, services_with_the_same_backends_share_the_first_ones_map)
{
	static const struct spec specs[] = {
		{ "a", BIG, 50, 1, 8080, 1 }, { "other", BIG, 50, 2, 8080, 1 },
		{ "b", BIG, 50, 1, 8080, 1 }, { "c", BIG, 50, 1, 8080, 1 },
		{ "other2", BIG, 50, 2, 8080, 1 },
	};
	struct fixture fx;

	groups_of(&fx, specs, 5);
	cr_expect_eq(fx.sharing, 5);
	cr_expect_eq(fx.leader[0], 0);
	cr_expect_eq(fx.leader[2], 0);
	cr_expect_eq(fx.leader[3], 0);
	cr_expect_eq(fx.leader[1], 1, "other leads its own group");
	cr_expect_eq(fx.leader[4], 1);
	fixture_free(&fx);
}

Test(slot_share, what_the_map_would_hold_must_be_the_same)
{
	static const struct spec specs[] = {
		{ "a", BIG, 50, 1, 8080, 1 },
		{ "port", BIG, 50, 1, 8081, 1 },	/* other values */
		{ "weight", BIG, 50, 1, 8080, 2 },	/* another table */
		{ "fewer", BIG, 49, 1, 8080, 1 },
		{ "size", 10009, 50, 1, 8080, 1 },
	};
	struct fixture fx;

	groups_of(&fx, specs, 5);
	expect_nobody_shares(&fx);
	fixture_free(&fx);
}

Test(slot_share, small_tables_keep_their_own_maps)
{
	static const struct spec specs[] = {
		/* under SLOT_SHARE_MIN_SLOTS */
		{ "s1", 5003, 50, 1, 8080, 1 }, { "s2", 5003, 50, 1, 8080, 1 },
	};
	struct fixture fx;

	groups_of(&fx, specs, 2);
	expect_nobody_shares(&fx);
	fixture_free(&fx);
}

/* 4 backends in 10007 slots: the fallback shape, whose base shares too */
Test(slot_share, the_fallback_shape_shares_its_base)
{
	static const struct spec specs[] = {
		{ "f1", BIG, 4, 2, 8080, 1 }, { "d", BIG, 50, 2, 8080, 1 },
		{ "f2", BIG, 4, 2, 8080, 1 },
	};
	struct fixture fx;

	groups_of(&fx, specs, 3);
	cr_assert(pool_has_fallback_maps(&fx.pool->services[0]));
	cr_expect_eq(fx.sharing, 2);
	cr_expect_eq(fx.leader[0], 0);
	cr_expect_eq(fx.leader[2], 0);
	cr_expect_eq(fx.leader[1], SLOT_SHARE_NONE, "d lists more backends");
	fixture_free(&fx);
}

/*
 * Grouping reads the base: health leaves it (the service still shares),
 * a drain moves it (the next replace gives the service its own map).
 */
Test(slot_share, a_drained_backend_moves_the_base_and_health_does_not)
{
	static const struct spec specs[] = {
		{ "a", BIG, 50, 1, 8080, 1 }, { "b", BIG, 50, 1, 8080, 1 },
		{ "c", BIG, 50, 1, 8080, 1 },
	};
	struct fixture fx;

	groups_of(&fx, specs, 3);
	cr_assert_eq(fx.sharing, 3);

	pool_set_health(&fx.pool->services[1], 7, false, 0);
	cr_assert_eq(pool_compute_slots(&fx.pool->services[1]), 0);
	cr_expect_eq(pool_slot_share_groups(fx.pool, fx.leader), 3);
	cr_expect_eq(fx.leader[1], 0, "a health verdict split the group");

	pool_set_admin(&fx.pool->services[0], 7, KNLB_ADMIN_DRAIN, 0);
	cr_assert_eq(pool_compute_slots(&fx.pool->services[0]), 0);
	cr_expect_eq(pool_slot_share_groups(fx.pool, fx.leader), 2);
	cr_expect_eq(fx.leader[0], SLOT_SHARE_NONE, "a drained service still shares");
	cr_expect_eq(fx.leader[1], 1, "b leads once a left");
	cr_expect_eq(fx.leader[2], 1);
	fixture_free(&fx);
}

/*
 * A service listing an earlier one's backends copies its Maglev fill at
 * pool creation (pool.c, build_twin): its tables are those a pool of it
 * alone builds, and stay so through the same transitions.
 */
Test(slot_share, a_copied_fill_answers_as_a_built_one)
{
	static const struct spec three[] = {
		{ "a", BIG, 50, 1, 8080, 1 }, { "other", BIG, 50, 2, 8080, 1 },
		{ "b", BIG, 50, 1, 8080, 1 },
	};
	static const struct spec alone[] = { { "b", BIG, 50, 1, 8080, 1 } };
	struct fixture fx, one;
	size_t len = BIG * sizeof(uint32_t);

	groups_of(&fx, three, 3);
	groups_of(&one, alone, 1);
	cr_assert_eq(fx.pool->services[2].build_twin, NULL, "the twin outlived pool_create()");
	cr_expect_arr_eq(fx.pool->services[2].base_slots, one.pool->services[0].base_slots,
			 len, "the copied base is not the built one");
	for (size_t step = 0; step < 6; step++) {
		size_t b = (step % 3) * 7;
		bool up = step >= 3;
		struct knlb_service *copied = &fx.pool->services[2];
		struct knlb_service *built = &one.pool->services[0];

		pool_set_health(copied, b, up, 0);
		pool_set_health(built, b, up, 0);
		cr_assert_eq(pool_compute_slots(copied), 0);
		cr_assert_eq(pool_compute_slots(built), 0);
		cr_expect_arr_eq(copied->slots, built->slots, len,
				 "step %zu: the copied fill answers otherwise", step);
	}
	fixture_free(&fx);
	fixture_free(&one);
}
