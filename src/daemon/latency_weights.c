/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * latency_weights = yes: least response time from the health checks'
 * latencies.  The rule is src/sched/lrt.c, the state the pool's; this is
 * the timer that reads each new probe result once.
 */
#include "knlb/config/config-t.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/observe.h"
#include "knlb/health/health.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/pool/pool.h"

#define LRT_INTERVAL_NS	1000000000ULL

static void read_probes(struct knlbd *d, size_t s)
{
	struct knlb_service *svc = &d->pool->services[s];

	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct health_backend_info *h = health_backend(d->health, s, b);
		struct knlb_backend *be = &svc->backends[b];

		if (!h || h->probes == be->probes_seen)
			continue;
		be->probes_seen = h->probes;
		if (h->last.status == CHECK_OK)
			pool_note_latency(svc, b, h->last.latency_ms);
	}
}

static void on_lrt_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct knlbd *d = arg;
	uint64_t now = loop_now_ns();

	for (size_t s = 0; d->health && s < d->pool->n_services; s++) {
		if (!d->pool->services[s].cfg->health.latency_weights)
			continue;
		read_probes(d, s);
		if (pool_apply_lrt(&d->pool->services[s], now) < 0)
			log_error("service %s: latency weights: out of memory",
				  d->pool->services[s].cfg->name);
	}
	if (loop_timer_arm(loop, t, LRT_INTERVAL_NS) < 0)
		log_error("latency weights: cannot schedule the next pass: out of memory");
}

void latency_weights_start(struct knlbd *d)
{
	loop_timer_init(&d->lrt_timer, on_lrt_timer, d);
	if (loop_timer_arm(d->loop, &d->lrt_timer, LRT_INTERVAL_NS) < 0)
		log_error("latency weights: cannot schedule: out of memory");
}

void latency_weights_stop(struct knlbd *d)
{
	if (d->loop)
		loop_timer_cancel(d->loop, &d->lrt_timer);
}
