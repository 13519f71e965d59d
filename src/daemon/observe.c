/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * observe = yes: passive health from real traffic (see
 * include/knlb/daemon/observe.h and include/knlb/health/observe.h).
 * Bounded work: at most OBSERVE_PER_BACKEND flows of a backend are
 * waiting to be judged at any time, each costs one conntrack GET.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "knlb/config/config-t.h"
#include "knlb/ct/ct.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/observe.h"
#include "knlb/health/health.h"
#include "knlb/health/observe.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/pool/pool.h"

#define OBSERVE_PER_BACKEND	64
#define OBSERVE_QUERY_MAX	1024	/* GETs per tick */

struct observe_sample {
	struct ct_new_flow flow;
	uint64_t due_ns;		/* began + observe_timeout; 0 = judged */
	bool reset;			/* destroyed before any reply: no GET needed */
};

/* One backend's evidence, by service mark and address: reloads keep it. */
struct observe_backend {
	uint32_t mark;
	struct knlb_addr addr;
	uint16_t port;
	uint32_t waiting;		/* samples not judged yet */
	struct observe_window w;
};

struct observe {
	struct knlbd *d;
	/* whether some service of pool observes: most NEW events stop here */
	const struct knlb_model *pool;
	bool any;
	struct loop_timer timer;
	struct observe_sample *samples;
	size_t n, cap;
	struct observe_backend *backends;
	size_t nb, bcap;
	/* scratch for one tick's queries */
	struct ct_new_flow *q;
	struct ct_flow_now *now;
	size_t *qi;
};

static struct observe_backend *backend_of(struct observe *o, uint32_t mark,
					  const struct knlb_addr *addr,
					  uint16_t port, bool create)
{
	for (size_t i = 0; i < o->nb; i++)
		if (o->backends[i].mark == mark && o->backends[i].port == port &&
		    addr_equal(&o->backends[i].addr, addr))
			return &o->backends[i];
	if (!create || grow(&o->backends, &o->bcap, o->nb + 1,
			    sizeof(*o->backends), 16) < 0)
		return NULL;
	o->backends[o->nb] = (struct observe_backend){
		.mark = mark, .addr = *addr, .port = port,
	};
	return &o->backends[o->nb++];
}

static struct knlb_service *service_of(const struct knlbd *d, uint32_t mark,
				       size_t *index)
{
	for (size_t s = 0; s < d->pool->n_services; s++) {
		if (d->pool->services[s].ct_mark == mark) {
			*index = s;
			return &d->pool->services[s];
		}
	}
	return NULL;
}

static long backend_index(const struct knlb_service *svc,
			  const struct knlb_addr *addr, uint16_t port)
{
	for (size_t b = 0; b < svc->n_backends; b++)
		if (svc->backends[b].cfg->port == port &&
		    addr_equal(&svc->backends[b].cfg->addr, addr))
			return (long)b;
	return -1;
}

static bool any_observe(const struct knlb_model *pool)
{
	for (size_t s = 0; s < pool->n_services; s++)
		if (pool->services[s].cfg->health.observe)
			return true;
	return false;
}

/* A sampled flow the kernel killed when a reset was its only reply. */
static void on_reset(struct observe *o, const struct ct_new_flow *f)
{
	for (size_t i = 0; i < o->n; i++) {
		struct observe_sample *x = &o->samples[i];

		if (x->flow.id == f->id && x->flow.client_port == f->client_port &&
		    addr_equal(&x->flow.client, &f->client)) {
			x->reset = true;
			x->due_ns = 1;	/* due now */
			return;
		}
	}
}

/* From ct's event handler: keep a sample, call no ct function. */
static void on_new_flow(const struct ct_new_flow *f, void *arg)
{
	struct observe *o = arg;
	struct observe_backend *ob;
	struct knlb_service *svc;
	size_t s;
	long b;

	if (o->pool != o->d->pool) {	/* started, or reloaded */
		o->pool = o->d->pool;
		o->any = any_observe(o->pool);
	}
	if (!o->any)
		return;
	if (f->destroyed) {
		on_reset(o, f);
		return;
	}
	svc = service_of(o->d, f->mark, &s);
	if (!svc || !svc->cfg->health.observe || f->proto != IPPROTO_TCP)
		return;
	b = backend_index(svc, &f->backend, f->backend_port);
	if (b < 0 || !svc->backends[b].up)
		return;
	ob = backend_of(o, f->mark, &f->backend, f->backend_port, true);
	if (!ob || ob->waiting >= OBSERVE_PER_BACKEND ||
	    grow(&o->samples, &o->cap, o->n + 1, sizeof(*o->samples), 256) < 0)
		return;
	o->samples[o->n++] = (struct observe_sample){
		.flow = *f,
		.due_ns = loop_now_ns() + svc->cfg->health.observe_timeout_ns,
	};
	ob->waiting++;
	if (!loop_timer_armed(&o->timer) &&
	    loop_timer_arm(o->d->loop, &o->timer, OBSERVE_TICK_NS) < 0)
		log_error("observe: cannot schedule: out of memory");
}

/* A verdict for ob, if its window holds one. */
static void judge(struct observe *o, struct observe_backend *ob)
{
	struct knlb_service *svc;
	char evidence[96];
	size_t s;
	long b;

	svc = service_of(o->d, ob->mark, &s);
	if (!svc || !o->d->health)
		return;
	if (!observe_verdict(&ob->w, svc->cfg->health.observe_min_flows,
			     svc->cfg->health.observe_fail_pct))
		return;
	b = backend_index(svc, &ob->addr, ob->port);
	snprintf(evidence, sizeof(evidence), "%" PRIu32 " of %" PRIu32 " new flows unanswered in %llus",
		 ob->w.unanswered, ob->w.judged,
		 (unsigned long long)(OBSERVE_WINDOW_NS / 1000000000ULL));
	ob->w = (struct observe_window){ 0 };
	if (b >= 0 && svc->backends[b].up)
		health_observed_down(o->d->health, s, (size_t)b, evidence);
}

static void on_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct observe *o = arg;
	uint64_t now = loop_now_ns();
	size_t nq = 0, keep = 0;
	int ret;

	for (size_t i = 0; i < o->n; i++) {
		struct observe_sample *x = &o->samples[i];
		struct observe_backend *ob;

		if (!x->reset)
			continue;
		ob = backend_of(o, x->flow.mark, &x->flow.backend,
				x->flow.backend_port, false);
		if (ob) {
			ob->waiting--;
			observe_count(&ob->w, OBSERVE_UNANSWERED, now);
		}
		x->due_ns = 0;
	}
	for (size_t i = 0; i < o->n && nq < OBSERVE_QUERY_MAX; i++) {
		if (!o->samples[i].due_ns || o->samples[i].due_ns > now)
			continue;
		o->q[nq] = o->samples[i].flow;
		o->qi[nq++] = i;
	}
	ret = nq ? ct_query_flows(o->d->ct, o->q, nq, o->now) : 0;
	if (ret < 0 && ret != -EBUSY)
		log_warn("observe: looking flows up: %s", strerror(-ret));
	for (size_t k = 0; ret == 0 && k < nq; k++) {
		const struct ct_new_flow *f = &o->q[k];
		struct observe_backend *ob =
			backend_of(o, f->mark, &f->backend, f->backend_port, false);

		o->samples[o->qi[k]].due_ns = 0;	/* judged */
		if (!ob)
			continue;
		ob->waiting--;
		observe_count(&ob->w, observe_classify(o->now[k].found,
						       o->now[k].tcp_state,
						       o->now[k].status), now);
	}
	for (size_t i = 0; i < o->nb; i++)
		judge(o, &o->backends[i]);
	/* drop the judged samples, keep the order of the rest */
	for (size_t i = 0; i < o->n; i++)
		if (o->samples[i].due_ns)
			o->samples[keep++] = o->samples[i];
	o->n = keep;
	if (o->n && loop_timer_arm(loop, t, OBSERVE_TICK_NS) < 0)
		log_error("observe: cannot schedule: out of memory");
}

int observe_start(struct knlbd *d)
{
	struct observe *o;

	if (!d->ct) {
		if (any_observe(d->pool))
			log_warn("observe: needs conntrack, which is not available: passive health is off");
		return 0;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->q = calloc(OBSERVE_QUERY_MAX, sizeof(*o->q));
	o->now = calloc(OBSERVE_QUERY_MAX, sizeof(*o->now));
	o->qi = calloc(OBSERVE_QUERY_MAX, sizeof(*o->qi));
	if (!o->q || !o->now || !o->qi) {
		free(o->q);
		free(o->now);
		free(o->qi);
		free(o);
		return -ENOMEM;
	}
	o->d = d;
	loop_timer_init(&o->timer, on_tick, o);
	ct_set_new_flow_fn(d->ct, on_new_flow, o);
	d->observe = o;
	return 0;
}

void observe_stop(struct knlbd *d)
{
	struct observe *o = d->observe;

	if (!o)
		return;
	if (d->ct)
		ct_set_new_flow_fn(d->ct, NULL, NULL);
	loop_timer_cancel(d->loop, &o->timer);
	free(o->samples);
	free(o->backends);
	free(o->q);
	free(o->now);
	free(o->qi);
	free(o);
	d->observe = NULL;
}
