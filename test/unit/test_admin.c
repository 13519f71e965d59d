/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Operator controls on the pool: drain, disable, enable, runtime weight,
 * lookups by id or ADDR:PORT, and scheduler = wlc's re-weighting.
 */
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\n"
#define THREE WEB "backend = 10.0.0.11:8080 id=b1\nbackend = 10.0.0.12:8080\nbackend = 10.0.0.13:8080 weight=2\n"

static struct knlb_model *pool_of(struct result *r, const char *text)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	return pool;
}

Test(admin, drain_and_disable_take_the_backend_out_of_the_slots_enable_restores)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, THREE);
	struct knlb_service *svc = &pool->services[0];
	size_t size = svc->cfg->table_size * sizeof(uint32_t);
	uint32_t *before = malloc(size);

	cr_assert_not_null(before);
	memcpy(before, svc->slots, size);
	cr_assert_gt(pool_slots_of(svc, 1), 0);
	cr_expect(pool_set_admin(svc, 1, KNLB_ADMIN_DRAIN, 0));
	cr_expect(svc->dirty);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(pool_slots_of(svc, 1), 0);
	/* setting the same state again is no change */
	cr_expect(!pool_set_admin(svc, 1, KNLB_ADMIN_DRAIN, 0));
	cr_expect(!pool_set_admin(svc, 1, KNLB_ADMIN_DISABLED, 0),
		  "drain -> disable changes no weight");
	cr_expect(pool_set_admin(svc, 1, KNLB_ADMIN_ENABLED, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(memcmp(before, svc->slots, size), 0,
		     "enable must give back exactly the old table");
	free(before);
	pool_free(pool);
	result_free(&r);
}

Test(admin, runtime_weight_changes_shares)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, THREE);
	struct knlb_service *svc = &pool->services[0];

	cr_expect(pool_set_weight(svc, 0, 6, 0));
	cr_expect(svc->backends[0].weight_set);
	cr_assert_eq(pool_compute_slots(svc), 0);
	/* 6:1:2 of M */
	cr_expect_float_eq((double)pool_slots_of(svc, 0) / svc->cfg->table_size,
			   6.0 / 9, 0.01);
	/* back to the file's weight: no longer a runtime override */
	pool_set_weight(svc, 0, 1, 0);
	cr_expect(!svc->backends[0].weight_set);
	cr_expect(pool_set_weight(svc, 2, 0, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(pool_slots_of(svc, 2), 0);
	pool_free(pool);
	result_free(&r);
}

Test(admin, lookups_by_id_and_address)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, THREE);
	struct knlb_service *svc = pool_find_service(pool, "web");

	cr_assert_not_null(svc);
	cr_expect_null(pool_find_service(pool, "nope"));
	cr_expect_eq(pool_find_backend(svc, "b1"), 0);
	cr_expect_eq(pool_find_backend(svc, "10.0.0.11:8080"), 0, "address of an id'd backend");
	cr_expect_eq(pool_find_backend(svc, "10.0.0.12:8080"), 1);
	cr_expect_eq(pool_find_backend(svc, "10.0.0.12:8081"), -1);
	cr_expect_eq(pool_find_backend(svc, "b9"), -1);
	pool_free(pool);
	result_free(&r);
}

Test(wlc, weights_follow_weight_over_one_plus_active)
{
	uint32_t w[3] = { 1, 1, 2 }, out[3] = { 0 };
	uint64_t active[3] = { 0, 9, 3 };

	cr_assert(wlc_weights(w, active, 3, NULL, false, out));
	/* ratios 1, 0.1, 0.5 -> 1000, 100, 500 */
	cr_expect_eq(out[0], 1000);
	cr_expect_eq(out[1], 100);
	cr_expect_eq(out[2], 500);
}

Test(wlc, hysteresis_ignores_small_wobbles_and_follows_big_moves)
{
	uint32_t w[2] = { 1, 1 }, cur[2] = { 1000, 1000 }, out[2] = { 0 };
	uint64_t wobble[2] = { 100, 104 }, skew[2] = { 10, 200 };

	cr_expect(!wlc_weights(w, wobble, 2, cur, true, out), "4%% is no change");
	cr_expect_eq(out[0], 0, "out untouched without a change");
	cr_expect(wlc_weights(w, skew, 2, cur, true, out));
	cr_expect_eq(out[0], 1000);
	cr_expect_eq(out[1], 55);	/* (1/201)/(1/11) */
}

Test(wlc, a_loaded_backend_keeps_a_trickle_and_weight_zero_gets_nothing)
{
	uint32_t w[3] = { 1, 1, 0 }, out[3];
	uint64_t active[3] = { 0, 100000, 0 };

	cr_assert(wlc_weights(w, active, 3, NULL, false, out));
	cr_expect_eq(out[1], 1);
	cr_expect_eq(out[2], 0);
}

Test(wlc, pool_reweights_and_marks_dirty_only_on_a_real_change)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, "[service web]\nvip = 192.0.2.10\nport = 80\nscheduler = wlc\ntable_size = 1000\n"
				       "backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080\n");
	struct knlb_service *svc = &pool->services[0];
	uint64_t even[2] = { 50, 50 }, skew[2] = { 0, 99 };

	cr_assert_eq(pool_apply_wlc(svc, even, 0), 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(pool_slots_of(svc, 0), 500);
	cr_assert_eq(pool_apply_wlc(svc, even, 0), 0);
	cr_expect(!svc->dirty, "the same counts must not dirty the service");
	cr_assert_eq(pool_apply_wlc(svc, skew, 0), 0);
	cr_expect(svc->dirty);
	cr_assert_eq(pool_compute_slots(svc), 0);
	/* 1000 : 10 */
	cr_expect_geq(pool_slots_of(svc, 0), 985);
	cr_expect_geq(pool_slots_of(svc, 1), 1);
	pool_free(pool);
	result_free(&r);
}
