/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * latency_weights = yes: weights from the checks' smoothed latency
 * (sched/lrt.c), applied through the pool with the hysteresis of wlc.
 */
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

Test(lrt, weight_over_floor_plus_latency_normalised)
{
	uint32_t w[3] = { 1, 1, 2 }, out[3];
	double lat[3] = { 0.2, 20.2, 0.2 };

	cr_assert(lrt_weights(w, lat, 3, NULL, false, out));
	/* 1/1.2 : 1/21.2 : 2/1.2 -> 500 : 28 : 1000 */
	cr_expect_eq(out[2], LRT_SCALE);
	cr_expect_eq(out[0], 500);
	cr_expect_eq(out[1], 28);
}

Test(lrt, unmeasured_counts_as_fastest_and_none_measured_changes_nothing)
{
	uint32_t w[2] = { 1, 1 }, out[2] = { 7, 7 };
	double none[2] = { -1, -1 }, one[2] = { 5.0, -1 };

	cr_expect(!lrt_weights(w, none, 2, NULL, false, out));
	cr_expect_eq(out[0], 7);
	cr_assert(lrt_weights(w, one, 2, NULL, false, out));
	cr_expect_eq(out[0], out[1]);
}

Test(lrt, zero_weight_stays_zero_and_slow_keeps_a_trickle)
{
	uint32_t w[3] = { 1, 0, 1 }, out[3];
	double lat[3] = { 0.1, 0.1, 100000.0 };

	cr_assert(lrt_weights(w, lat, 3, NULL, false, out));
	cr_expect_eq(out[1], 0);
	cr_expect_eq(out[2], 1);
}

Test(lrt, jitter_within_the_hysteresis_rewrites_nothing)
{
	uint32_t w[2] = { 1, 1 }, cur[2], out[2];
	double lat[2] = { 0.2, 0.3 };

	cr_assert(lrt_weights(w, lat, 2, NULL, false, cur));
	lat[1] = 0.8;	/* 923 -> 667: 28 % less, above 20 % */
	cr_expect(lrt_weights(w, lat, 2, cur, true, out));
	lat[1] = 0.4;	/* 923 -> 857: 7 %: nothing */
	cr_expect(!lrt_weights(w, lat, 2, cur, true, out));
}

Test(lrt, smoothing_is_an_ewma)
{
	cr_expect_float_eq(lrt_smooth(0, false, 10.0), 10.0, 1e-9);
	cr_expect_float_eq(lrt_smooth(10.0, true, 20.0), 13.0, 1e-9);
	cr_expect(sched_weight_moved(100, 79));
	cr_expect(!sched_weight_moved(100, 81));
	cr_expect(sched_weight_moved(0, 1));
}

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\nscheduler = wrr\ncheck = tcp\n" \
	    "latency_weights = yes\ntable_size = 1009\n" \
	    "backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080\nbackend = 10.0.0.13:8080\n"

Test(lrt, slow_backend_loses_share_and_gets_it_back)
{
	struct result r = load_ok(WEB);
	struct knlb_model *pool;
	struct knlb_service *svc;
	uint32_t even;

	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	svc = &pool->services[0];
	even = pool_slots_of(svc, 1);
	for (int i = 0; i < 5; i++)
		for (size_t b = 0; b < 3; b++)
			pool_note_latency(svc, b, b == 1 ? 20.3 : 0.3);
	cr_assert_eq(pool_apply_lrt(svc, 0), 0);
	cr_expect(svc->dirty);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_lt(pool_slots_of(svc, 1), even / 5, "slow backend kept %u slots of %u",
		     pool_slots_of(svc, 1), even);
	/* the latency goes: the average decays, the share comes back */
	for (int i = 0; i < 30; i++)
		pool_note_latency(svc, 1, 0.3);
	cr_assert_eq(pool_apply_lrt(svc, 0), 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_geq(pool_slots_of(svc, 1), even - 2);
	pool_free(pool);
	result_free(&r);
}

Test(lrt, not_with_wlc_nor_without_a_check)
{
	expect_error("[service web]\nvip = 192.0.2.10\nport = 80\nscheduler = wlc\ncheck = tcp\n"
		     "latency_weights = yes\nbackend = 10.0.0.11:8080\n", "test.conf:6: ",
		     "latency_weights");
	expect_error("[service web]\nvip = 192.0.2.10\nport = 80\n"
		     "latency_weights = yes\nbackend = 10.0.0.11:8080\n", "test.conf:4: ",
		     "latency_weights applies only to check");
}
