/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Health verdicts and what they do to the pool: rise/fall hysteresis,
 * probe intervals, backups, slow start, on_empty, and that results which
 * change nothing leave the service clean (so no batch is sent).
 */
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/health/health.h"
#include "knlb/lib/loop.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

#define MS 1000000ULL

static const struct knlb_health_config hc = {
	.interval_ns = 2000 * MS, .fastinter_ns = 500 * MS,
	.downinter_ns = 5000 * MS, .rise = 2, .fall = 3,
};

Test(health, fall_needs_consecutive_failures)
{
	struct health_counter c = { .up = true };

	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_FAILED), HEALTH_NO_CHANGE);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_FAILED), HEALTH_NO_CHANGE);
	/* one success in between starts the count again */
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_OK), HEALTH_NO_CHANGE);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_FAILED), HEALTH_NO_CHANGE);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_FAILED), HEALTH_NO_CHANGE);
	cr_expect(c.up);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_FAILED), HEALTH_WENT_DOWN);
	cr_expect(!c.up);
	/* further failures are not transitions */
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_FAILED), HEALTH_NO_CHANGE);
}

Test(health, rise_needs_consecutive_successes)
{
	struct health_counter c = { .up = false };

	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_OK), HEALTH_NO_CHANGE);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_FAILED), HEALTH_NO_CHANGE);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_OK), HEALTH_NO_CHANGE);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_OK), HEALTH_WENT_UP);
	cr_expect(c.up);
	cr_expect_eq(health_counter_apply(&c, &hc, CHECK_OK), HEALTH_NO_CHANGE);
}

Test(health, local_errors_are_no_evidence)
{
	struct health_counter c = { .up = true };

	for (int i = 0; i < 10; i++)
		cr_expect_eq(health_counter_apply(&c, &hc, CHECK_LOCAL_ERROR),
			     HEALTH_NO_CHANGE);
	cr_expect(c.up);
	cr_expect_eq(c.failures, 0);
	c = (struct health_counter){ .up = false, .successes = 1 };
	health_counter_apply(&c, &hc, CHECK_LOCAL_ERROR);
	cr_expect_eq(c.successes, 1, "a local error must not break a rise streak");
}

Test(health, fastinter_in_transition_downinter_when_down)
{
	struct health_counter c = { .up = true };

	cr_expect_eq(health_counter_next_ns(&c, &hc), 2000 * MS);
	health_counter_apply(&c, &hc, CHECK_FAILED);
	cr_expect_eq(health_counter_next_ns(&c, &hc), 500 * MS, "falling: fastinter");
	health_counter_apply(&c, &hc, CHECK_FAILED);
	health_counter_apply(&c, &hc, CHECK_FAILED);
	cr_expect_eq(health_counter_next_ns(&c, &hc), 5000 * MS, "down: downinter");
	health_counter_apply(&c, &hc, CHECK_OK);
	cr_expect_eq(health_counter_next_ns(&c, &hc), 500 * MS, "rising: fastinter");
	health_counter_apply(&c, &hc, CHECK_OK);
	cr_expect_eq(health_counter_next_ns(&c, &hc), 2000 * MS, "up again: interval");
}

/* A pool and a health module fed by hand (no checker, no kernel). */
struct rig {
	struct result r;
	struct knlb_model *pool;
	struct loop *loop;
	struct health *health;
};

static void rig_up(struct rig *g, const char *conf)
{
	g->r = load_ok(conf);
	cr_assert_eq(pool_create(g->r.cfg, &g->pool), 0);
	cr_assert_eq(loop_new(&g->loop), 0);
	cr_assert_eq(health_new(g->loop, g->pool, NULL, &g->health), 0);
	g->pool->services[0].dirty = false;
}

static void rig_down(struct rig *g)
{
	health_free(g->health);
	loop_free(g->loop);
	pool_free(g->pool);
	result_free(&g->r);
}

static enum health_transition feed(struct rig *g, size_t b, enum check_status st)
{
	struct check_result res = { .status = st };

	strcpy(res.reason, st == CHECK_OK ? "ok" : "connect refused");
	return health_result(g->health, 0, b, &res);
}

#define SVC3 "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\nrise = 2\nfall = 2\n" \
	"backend = 10.0.0.11:80\nbackend = 10.0.0.12:80\nbackend = 10.0.0.13:80\n"

/*
 * Probe starts on a 5 ms grid: 10,000 backends every 2 s start in 200
 * wakeups a second, not 5000; a start moves at most half a step, and
 * never before now.
 */
Test(health, probe_starts_fall_on_a_grid)
{
	uint64_t now = 1000 * MS, every = 2000 * MS;

	cr_expect_eq(health_probe_on_grid(now + 2 * MS, every, now), now);
	cr_expect_eq(health_probe_on_grid(now + 3 * MS, every, now), now + 5 * MS);
	cr_expect_eq(health_probe_on_grid(now + 8 * MS, every, now), now + 10 * MS);
	cr_expect_eq(health_probe_on_grid(now - 50 * MS, every, now), now,
		     "a late probe starts now");
	/* 10,000 starts spread over an interval: 401 deadlines, both ends in. */
	size_t distinct = 0;
	uint64_t last = 0;

	for (uint64_t b = 0; b < 10000; b++) {
		uint64_t t = health_probe_on_grid(now + every * b / 10000, every, now);

		cr_assert_geq(t, last);
		cr_assert_leq(t > now + every * b / 10000 ? t - (now + every * b / 10000) :
			      now + every * b / 10000 - t, 2500 * 1000ULL);
		distinct += t != last;
		last = t;
	}
	cr_expect_eq(distinct, 401);
	/* A 10 ms interval: a grid of 1.25 ms, not 5. */
	cr_expect_eq(health_probe_on_grid(now + 1 * MS, 10 * MS, now), now + 1250 * 1000ULL);
}

Test(health, non_transitions_leave_the_service_clean)
{
	struct rig g;

	rig_up(&g, SVC3);
	for (int i = 0; i < 5; i++)
		cr_expect_eq(feed(&g, 0, CHECK_OK), HEALTH_NO_CHANGE);
	cr_expect_eq(feed(&g, 1, CHECK_OK), HEALTH_NO_CHANGE);
	cr_expect_eq(feed(&g, 1, CHECK_FAILED), HEALTH_NO_CHANGE);
	cr_expect_eq(feed(&g, 2, CHECK_LOCAL_ERROR), HEALTH_NO_CHANGE);
	cr_expect(!g.pool->services[0].dirty, "no transition, yet the service is dirty");
	cr_expect_eq(feed(&g, 1, CHECK_FAILED), HEALTH_WENT_DOWN);
	cr_expect(g.pool->services[0].dirty, "a transition must mark the service dirty");
	cr_expect_eq(health_backend(g.health, 0, 1)->transitions, 1);
	rig_down(&g);
}

/* HAProxy's start: up, but down at the first failure until a success. */
Test(health, unknown_backend_falls_at_its_first_failure)
{
	struct rig g;

	rig_up(&g, SVC3);
	cr_expect_eq(feed(&g, 0, CHECK_FAILED), HEALTH_WENT_DOWN);
	cr_expect_eq(feed(&g, 1, CHECK_OK), HEALTH_NO_CHANGE);
	cr_expect_eq(feed(&g, 1, CHECK_FAILED), HEALTH_NO_CHANGE,
		     "after a success the full fall count applies");
	rig_down(&g);
}

Test(health, probe_port_backend_then_service_then_own)
{
	struct result r = load_ok("[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\n"
				  "check_port = 9000\nbackend = 10.0.0.11:8080\n"
				  "backend = 10.0.0.12:8080 check_port=9001\n"
				  "[service api]\nvip = 192.0.2.11\nport = 80\ncheck = tcp\n"
				  "backend = 10.0.0.13:8080\n");
	const struct knlb_service_config *web = &r.cfg->services[0];
	const struct knlb_service_config *api = &r.cfg->services[1];

	cr_expect_eq(health_probe_port(web, &web->backends[0]), 9000);
	cr_expect_eq(health_probe_port(web, &web->backends[1]), 9001);
	cr_expect_eq(health_probe_port(api, &api->backends[0]), 8080);
	result_free(&r);
}

/* Maglev: a failing backend takes its slots, and only them (plus the bound). */
Test(health, down_moves_only_its_slots_and_up_restores_the_table)
{
	struct rig g;
	struct knlb_service *svc;
	uint32_t *before, m, moved_other = 0, owned = 0;

	rig_up(&g, SVC3);
	svc = &g.pool->services[0];
	m = svc->cfg->table_size;
	before = malloc(m * sizeof(*before));
	memcpy(before, svc->slots, m * sizeof(*before));

	feed(&g, 1, CHECK_OK);
	feed(&g, 1, CHECK_FAILED);
	feed(&g, 1, CHECK_FAILED);
	cr_assert_eq(pool_compute_slots(svc), 0);
	for (uint32_t i = 0; i < m; i++) {
		cr_assert_neq(svc->slots[i], 1, "slot %u still maps the dead backend", i);
		owned += before[i] == 1;
		moved_other += before[i] != 1 && before[i] != svc->slots[i];
	}
	cr_expect_gt(owned, 0);
	cr_expect_leq(moved_other, m / 100, "%u slots of healthy backends moved", moved_other);

	feed(&g, 1, CHECK_OK);
	feed(&g, 1, CHECK_OK);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_arr_eq(svc->slots, before, m * sizeof(*before),
			 "recovery must give back exactly the old table");
	free(before);
	rig_down(&g);
}

Test(health, backups_take_over_and_give_back)
{
	struct rig g;
	struct knlb_service *svc;

	rig_up(&g, "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\nrise = 1\nfall = 1\n"
		   "backend = 10.0.0.11:80\nbackend = 10.0.0.12:80\n"
		   "backend = 10.0.0.13:80 backup\n");
	svc = &g.pool->services[0];
	cr_expect_eq(svc->backends[2].effective_weight, 0, "a backup stands by");
	cr_expect(!svc->on_backups);
	feed(&g, 0, CHECK_FAILED);
	cr_expect_eq(svc->backends[2].effective_weight, 0, "one primary left");
	feed(&g, 1, CHECK_FAILED);
	cr_expect_gt(svc->backends[2].effective_weight, 0, "no primary: the backup serves");
	cr_expect(svc->on_backups);
	cr_expect(!svc->empty);
	cr_assert_eq(pool_compute_slots(svc), 0);
	for (uint32_t i = 0; i < svc->cfg->table_size; i++)
		cr_assert_eq(svc->slots[i], 2);
	feed(&g, 0, CHECK_OK);
	cr_expect_eq(svc->backends[2].effective_weight, 0, "a primary is back: give back");
	cr_expect(!svc->on_backups);
	rig_down(&g);
}

Test(health, everything_down_is_empty)
{
	struct rig g;
	struct knlb_service *svc;

	rig_up(&g, SVC3);
	svc = &g.pool->services[0];
	for (size_t b = 0; b < 3; b++) {
		cr_expect(!svc->empty);
		feed(&g, b, CHECK_FAILED);
		feed(&g, b, CHECK_FAILED);
	}
	cr_expect(svc->empty);
	cr_assert_eq(pool_compute_slots(svc), 0);
	for (uint32_t i = 0; i < svc->cfg->table_size; i++)
		cr_assert_eq(svc->slots[i], SCHED_SLOT_EMPTY);
	feed(&g, 0, CHECK_OK);
	feed(&g, 0, CHECK_OK);
	cr_expect(!svc->empty);
	rig_down(&g);
}

Test(health, slowstart_ramps_linearly_and_ends_on_the_old_table)
{
	struct result r = load_ok("[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\n"
				  "slowstart = 10s\nbackend = 10.0.0.11:80 weight=4\n"
				  "backend = 10.0.0.12:80 weight=2\nbackend = 10.0.0.13:80\n");
	struct knlb_model *pool;
	struct knlb_service *svc;
	uint32_t *before, m;
	uint64_t t0 = 1000 * 1000 * MS;

	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	svc = &pool->services[0];
	m = svc->cfg->table_size;
	before = malloc(m * sizeof(*before));
	memcpy(before, svc->slots, m * sizeof(*before));

	pool_set_health(svc, 0, false, t0);
	cr_expect_eq(pool_effective_weight(svc, 0), 0);
	pool_set_health(svc, 0, true, t0 + 1000 * MS);
	cr_expect(pool_service_ramping(svc, t0 + 1000 * MS));
	cr_expect_eq(svc->weight_scale, KNLB_RAMP_SCALE);
	pool_refresh_weights(svc, t0 + 3500 * MS);	/* 25% in */
	cr_expect_float_eq(pool_effective_weight(svc, 0), 1.0, 0.011);
	cr_expect_float_eq(pool_effective_weight(svc, 1), 2.0, 1e-9, "others keep theirs");
	pool_refresh_weights(svc, t0 + 6000 * MS);	/* 50% in */
	cr_expect_float_eq(pool_effective_weight(svc, 0), 2.0, 0.011);
	cr_assert_eq(pool_compute_slots(svc), 0);
	{
		uint32_t n0 = pool_slots_of(svc, 0);
		/* 2 of 2+2+1: 40% of the slots, within 1% */
		cr_expect_float_eq((double)n0 / m, 0.4, 0.01, "half-way share %u/%u", n0, m);
	}
	pool_refresh_weights(svc, t0 + 11000 * MS);	/* done */
	cr_expect(!pool_service_ramping(svc, t0 + 11000 * MS));
	cr_expect_eq(svc->weight_scale, 1);
	cr_expect_eq(pool_effective_weight(svc, 0), 4.0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_arr_eq(svc->slots, before, m * sizeof(*before),
			 "after the ramp the table must be the one before the failure");
	free(before);
	pool_free(pool);
	result_free(&r);
}

/* Scaling every weight by the ramp factor must not move a single slot. */
Test(health, weight_scale_moves_no_slot)
{
	static const char *const sched[] = { "maglev", "wrr" };

	for (int k = 0; k < 2; k++) {
		char conf[512];
		struct result r;
		struct knlb_model *pool;
		struct knlb_service *svc;
		uint32_t *before;

		snprintf(conf, sizeof(conf), "[service web]\nvip = 192.0.2.10\nport = 80\n"
			 "scheduler = %s\ntable_size = 4093\n"
			 "backend = 10.0.0.11:80 weight=5\nbackend = 10.0.0.12:80 weight=3\n"
			 "backend = 10.0.0.13:80 weight=1\n", sched[k]);
		r = load_ok(conf);
		cr_assert_eq(pool_create(r.cfg, &pool), 0);
		svc = &pool->services[0];
		before = malloc(4093 * sizeof(*before));
		memcpy(before, svc->slots, 4093 * sizeof(*before));
		for (size_t b = 0; b < 3; b++)
			svc->backends[b].effective_weight *= KNLB_RAMP_SCALE;
		cr_assert_eq(pool_compute_slots(svc), 0);
		cr_expect_arr_eq(svc->slots, before, 4093 * sizeof(*before),
				 "%s: scaled weights gave another table", sched[k]);
		free(before);
		pool_free(pool);
		result_free(&r);
	}
}
