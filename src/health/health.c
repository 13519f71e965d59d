/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Health: probe scheduling, the rise/fall state machine and the one
 * function every result goes through.  Probes themselves are check*.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/health/check.h"
#include "knlb/config/config-t.h"
#include "knlb/health/health.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/pool/pool.h"

/* Slow start moves weights in this many steps: smooth, few commits. */
#define RAMP_STEPS		10
#define RAMP_STEP_MIN_NS	100000000ULL

struct health_backend {
	struct health *health;
	size_t svc, b;
	struct health_backend_info info;
	struct loop_timer timer;
	struct check_probe *probe;	/* in flight, or NULL */
	uint64_t probe_start_ns;
	bool local_error_logged;	/* once per streak, not per probe */
};

struct health_service {
	struct health *health;
	size_t svc;
	struct health_backend *backends;
	struct loop_timer ramp_timer;
};

struct health {
	struct loop *loop;
	struct knlb_model *pool;
	struct checker *checker;
	struct health_service *services;
	health_transition_fn on_transition;
	void *on_transition_arg;
};

enum health_transition health_counter_apply(struct health_counter *c,
					     const struct knlb_health_config *cfg,
					     enum check_status status)
{
	if (status == CHECK_LOCAL_ERROR)
		return HEALTH_NO_CHANGE;
	if (c->up) {
		if (status == CHECK_OK) {
			c->failures = 0;
			return HEALTH_NO_CHANGE;
		}
		if (++c->failures < cfg->fall)
			return HEALTH_NO_CHANGE;
		c->up = false;
		c->successes = 0;
		return HEALTH_WENT_DOWN;
	}
	if (status != CHECK_OK) {
		c->successes = 0;
		return HEALTH_NO_CHANGE;
	}
	if (++c->successes < cfg->rise)
		return HEALTH_NO_CHANGE;
	c->up = true;
	c->failures = 0;
	return HEALTH_WENT_UP;
}

uint64_t health_counter_next_ns(const struct health_counter *c,
				const struct knlb_health_config *cfg)
{
	if (c->up)
		return c->failures ? cfg->fastinter_ns : cfg->interval_ns;
	return c->successes ? cfg->fastinter_ns : cfg->downinter_ns;
}

static struct health_backend *hb_of(const struct health *h, size_t svc,
				    size_t b)
{
	return &h->services[svc].backends[b];
}

static const struct knlb_service *svc_of(const struct health *h, size_t svc)
{
	return &h->pool->services[svc];
}

/*
 * Probe starts fall on a grid of HEALTH_PROBE_GRID_NS (an eighth of the
 * interval when that is shorter).  10,000 backends probed every 2 s are
 * 5000 starts a second; each on its own deadline, each was a wakeup of
 * the loop (epoll_wait, the timerfd read and set again).  On the grid
 * they start 25 at a time, 200 wakeups a second, and go to the prober in
 * the batch its requests wait 5 ms for anyway.  A probe starts within
 * half a step of its interval, either way, so intervals do not drift.
 */
uint64_t health_probe_on_grid(uint64_t t, uint64_t interval, uint64_t now)
{
	uint64_t grid = interval / 8 < HEALTH_PROBE_GRID_NS ? interval / 8 :
			HEALTH_PROBE_GRID_NS;

	if (grid)
		t = (t + grid / 2) / grid * grid;
	return t < now ? now : t;
}

static void schedule_next(struct health_backend *hb)
{
	struct health *h = hb->health;
	const struct knlb_health_config *cfg = &svc_of(h, hb->svc)->cfg->health;
	uint64_t every = health_counter_next_ns(&hb->info.counter, cfg);
	uint64_t now = loop_now_ns();
	/* A probe that took longer than the interval: the next at once. */
	uint64_t next = health_probe_on_grid(hb->probe_start_ns + every, every, now);

	if (loop_timer_arm_at(h->loop, &hb->timer, next) < 0)
		log_error("%s/%s: cannot schedule the next probe: out of memory",
			  svc_of(h, hb->svc)->cfg->name,
			  svc_of(h, hb->svc)->backends[hb->b].cfg->id);
}

/*
 * Slow start: while a backend ramps up, recompute the service's weights
 * every step; the loop's commit sends whatever slots moved.
 */
static void ramp_arm(struct health_service *hs)
{
	struct health *h = hs->health;
	uint64_t step = svc_of(h, hs->svc)->cfg->health.slowstart_ns / RAMP_STEPS;

	if (step < RAMP_STEP_MIN_NS)
		step = RAMP_STEP_MIN_NS;
	if (loop_timer_arm(h->loop, &hs->ramp_timer, step) < 0)
		log_error("service %s: cannot schedule slow start: out of memory",
			  svc_of(h, hs->svc)->cfg->name);
}

static void on_ramp_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct health_service *hs = arg;
	struct knlb_service *svc = &hs->health->pool->services[hs->svc];
	uint64_t now = loop_now_ns();

	(void)loop;
	(void)t;
	pool_refresh_weights(svc, now);
	if (pool_service_ramping(svc, now))
		ramp_arm(hs);
}

/* "web/10.0.0.12:8080 DOWN: connect refused (3/3)" */
static void log_transition(const struct health *h,
			   const struct health_backend *hb,
			   const struct check_result *res, uint32_t count)
{
	const struct knlb_service *svc = svc_of(h, hb->svc);
	const struct knlb_health_config *cfg = &svc->cfg->health;
	bool up = hb->info.counter.up;

	log_info("%s/%s %s: %s (%u/%u)", svc->cfg->name,
		 svc->backends[hb->b].cfg->id, up ? "UP" : "DOWN",
		 res->reason[0] ? res->reason : up ? "ok" : "failed", count,
		 up ? cfg->rise : cfg->fall);
}

static void note_local_error(struct health_backend *hb,
			     const struct check_result *res)
{
	const struct knlb_service *svc = svc_of(hb->health, hb->svc);

	hb->info.local_errors++;
	if (hb->local_error_logged)
		return;
	hb->local_error_logged = true;
	log_warn("%s/%s: probe could not run: %s (our side, not the backend's: state unchanged, %s)",
		 svc->cfg->name, svc->backends[hb->b].cfg->id, res->reason,
		 hb->info.counter.up ? "still up" : "still down");
}

enum health_transition health_result(struct health *h, size_t s, size_t b,
				     const struct check_result *res)
{
	struct health_backend *hb = hb_of(h, s, b);
	struct knlb_service *svc = &h->pool->services[s];
	enum health_transition t;
	uint64_t now = loop_now_ns();

	hb->info.last = *res;
	hb->info.probed = true;
	hb->info.probes++;
	if (res->status == CHECK_LOCAL_ERROR) {
		note_local_error(hb, res);
		return HEALTH_NO_CHANGE;
	}
	hb->local_error_logged = false;
	t = health_counter_apply(&hb->info.counter, &svc->cfg->health, res->status);
	if (t == HEALTH_NO_CHANGE)
		return t;

	hb->info.transitions++;
	hb->info.last_change_ns = now;
	log_transition(h, hb, res, t == HEALTH_WENT_UP ?
			hb->info.counter.successes : hb->info.counter.failures);

	pool_set_health(svc, b, t == HEALTH_WENT_UP, now);
	if (t == HEALTH_WENT_UP && pool_service_ramping(svc, now) &&
	    !loop_timer_armed(&h->services[s].ramp_timer))
		ramp_arm(&h->services[s]);
	if (h->on_transition)
		h->on_transition(h->pool, s, b, t == HEALTH_WENT_UP,
				 h->on_transition_arg);
	return t;
}

enum health_transition health_observed_down(struct health *h, size_t s,
					     size_t b, const char *evidence)
{
	struct health_backend *hb = hb_of(h, s, b);
	struct knlb_service *svc = &h->pool->services[s];
	struct health_counter *c = &hb->info.counter;
	uint64_t now = loop_now_ns();

	if (!c->up)
		return HEALTH_NO_CHANGE;
	c->up = false;
	c->successes = 0;
	c->failures = svc->cfg->health.fall;
	hb->info.last.status = CHECK_FAILED;
	snprintf(hb->info.last.reason, sizeof(hb->info.last.reason), "%s (observed)",
		 evidence);
	hb->info.transitions++;
	hb->info.last_change_ns = now;
	log_info("%s/%s DOWN: %s", svc->cfg->name, svc->backends[b].cfg->id,
		 hb->info.last.reason);
	pool_set_health(svc, b, false, now);
	if (h->on_transition)
		h->on_transition(h->pool, s, b, false, h->on_transition_arg);
	return HEALTH_WENT_DOWN;
}

uint16_t health_probe_port(const struct knlb_service_config *svc,
			   const struct knlb_backend_config *be)
{
	if (be->check_port)
		return be->check_port;
	return svc->health.check.port ? svc->health.check.port : be->port;
}

static void on_probe_done(const struct check_result *res, void *arg)
{
	struct health_backend *hb = arg;

	hb->probe = NULL;
	health_result(hb->health, hb->svc, hb->b, res);
	schedule_next(hb);
}

static void on_probe_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct health_backend *hb = arg;
	struct health *h = hb->health;
	const struct knlb_service *svc = svc_of(h, hb->svc);
	const struct knlb_backend_config *be = svc->backends[hb->b].cfg;
	int ret;

	(void)loop;
	(void)t;
	hb->probe_start_ns = loop_now_ns();
	ret = checker_start(h->checker, &svc->cfg->health.check, &be->addr,
			    health_probe_port(svc->cfg, be), on_probe_done, hb,
			    &hb->probe);
	if (ret < 0) {
		struct check_result res = { .status = CHECK_LOCAL_ERROR };

		hb->probe = NULL;
		snprintf(res.reason, sizeof(res.reason), "%s", strerror(-ret));
		health_result(h, hb->svc, hb->b, &res);
		schedule_next(hb);
	}
}

int health_new(struct loop *loop, struct knlb_model *pool,
	       struct checker *checker, struct health **out)
{
	struct health *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->pool = pool;
	h->checker = checker;
	h->services = calloc(pool->n_services ? pool->n_services : 1,
			     sizeof(*h->services));
	if (!h->services)
		goto out_nomem;
	for (size_t s = 0; s < pool->n_services; s++) {
		struct health_service *hs = &h->services[s];
		const struct knlb_service *svc = &pool->services[s];

		hs->health = h;
		hs->svc = s;
		loop_timer_init(&hs->ramp_timer, on_ramp_timer, hs);
		hs->backends = calloc(svc->n_backends ? svc->n_backends : 1,
				      sizeof(*hs->backends));
		if (!hs->backends)
			goto out_nomem;
		for (size_t b = 0; b < svc->n_backends; b++) {
			struct health_backend *hb = &hs->backends[b];

			hb->health = h;
			hb->svc = s;
			hb->b = b;
			hb->info.counter.up = svc->backends[b].up;
			/*
			 * No verdict yet: up, but down at the first failure,
			 * as HAProxy starts its servers (health = rise).
			 */
			if (hb->info.counter.up && svc->cfg->health.fall > 1)
				hb->info.counter.failures = svc->cfg->health.fall - 1;
			hb->info.last.status = CHECK_LOCAL_ERROR;
			loop_timer_init(&hb->timer, on_probe_timer, hb);
		}
	}
	*out = h;
	return 0;

out_nomem:
	health_free(h);
	return -ENOMEM;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	for (size_t s = 0; h->services && s < h->pool->n_services; s++) {
		struct health_service *hs = &h->services[s];

		if (h->loop)
			loop_timer_cancel(h->loop, &hs->ramp_timer);
		for (size_t b = 0; hs->backends && b < h->pool->services[s].n_backends; b++) {
			struct health_backend *hb = &hs->backends[b];

			if (h->loop)
				loop_timer_cancel(h->loop, &hb->timer);
			if (hb->probe)
				checker_cancel(h->checker, hb->probe);
		}
		free(hs->backends);
	}
	free(h->services);
	free(h);
}

void health_set_transition_fn(struct health *h, health_transition_fn fn,
			      void *arg)
{
	h->on_transition = fn;
	h->on_transition_arg = arg;
}

int health_start(struct health *h)
{
	uint64_t now = loop_now_ns();

	for (size_t s = 0; s < h->pool->n_services; s++) {
		const struct knlb_service *svc = &h->pool->services[s];
		uint64_t interval = svc->cfg->health.interval_ns;

		/* Slow start carried over by a reload goes on ramping. */
		if (pool_service_ramping(svc, now))
			ramp_arm(&h->services[s]);
		if (svc->cfg->health.check.kind == CHECK_NONE)
			continue;
		/*
		 * Spread the first probes over one interval, so a thousand
		 * backends are not probed in the same millisecond, and keep
		 * them spread: each backend's next probe follows its own.
		 */
		for (size_t b = 0; b < svc->n_backends; b++) {
			uint64_t offset = svc->n_backends > 1 ?
					  interval * b / svc->n_backends : 0;
			int ret = loop_timer_arm_at(h->loop,
						    &h->services[s].backends[b].timer,
						    health_probe_on_grid(now + offset, interval, now));

			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

void health_adopt(struct health *h, size_t svc, size_t b,
		  const struct health_backend_info *from)
{
	struct health_backend *hb = hb_of(h, svc, b);

	hb->info = *from;
	/* The pool decides up/down (check = none forces up): follow it. */
	if (hb->info.counter.up != h->pool->services[svc].backends[b].up)
		hb->info.counter = (struct health_counter){
			.up = h->pool->services[svc].backends[b].up,
		};
}

const struct health_backend_info *health_backend(const struct health *h,
						 size_t svc, size_t b)
{
	return &hb_of(h, svc, b)->info;
}
