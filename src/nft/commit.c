/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The commit step: what the loop's before-sleep hook runs once per
 * iteration.  The committer remembers what the kernel holds for each
 * service (its kernel views, as last acknowledged), decides what to send
 * (the slot deltas of every service marked dirty since) and has sync.c
 * send it; after a failed delta it falls back to a table replace, retried
 * every second until the kernel takes it.  See commit.h.
 *
 * Words, one meaning each (src/nft/):
 *   commit         this step: decide and send, once per loop iteration
 *                  (committer_run(), committer_reload()); the committer
 *                  is the object that does it.
 *   sync           one transaction that brings the kernel to a state
 *                  (sync.c: a table replace, or slot deltas).
 *   table replace  the whole owned table swapped in one transaction, at
 *                  start and after a failed delta.  Never "resync": that
 *                  is ct's word for correcting flow counts from a dump.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/nft/commit.h"
#include "knlb/config/config-t.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/lib/addr.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/reload_plan.h"
#include "knlb/sched/sched.h"
#include "knlb/nft/sync.h"

/* After a failed delta the whole table is replaced, retried this often. */
#define REPLACE_RETRY_NS 1000000000ULL

/* What the kernel holds for one service, as last acknowledged. */
struct kernel_view {
	uint32_t *slots;
	unsigned empty;		/* pool_empty_families() */
	bool on_backups;
};

struct committer {
	struct loop *loop;
	struct knlb_model *pool;
	struct nfnl_sock *nfnl;
	struct kernel_view *kernel;	/* parallel to pool->services */
	struct loop_timer replace_timer;
	struct commit_stats stats;
};

/* One view per service of pool, slots allocated; NULL on ENOMEM. */
static struct kernel_view *kernel_view_new(const struct knlb_model *pool)
{
	struct kernel_view *kv = calloc(pool->n_services ? pool->n_services : 1,
					sizeof(*kv));

	for (size_t i = 0; kv && i < pool->n_services; i++) {
		kv[i].slots = malloc((pool_slots_len(&pool->services[i]) ?: 1) *
				     sizeof(uint32_t));
		if (!kv[i].slots) {
			while (i--)
				free(kv[i].slots);
			free(kv);
			kv = NULL;
		}
	}
	return kv;
}

static void kernel_view_free(struct kernel_view *kv, const struct knlb_model *pool)
{
	for (size_t i = 0; kv && i < pool->n_services; i++)
		free(kv[i].slots);
	free(kv);
}

/* The kernel now holds the pool: remember it as the base of the next delta. */
static void kernel_view_take(struct kernel_view *kv, const struct knlb_service *svc)
{
	memcpy(kv->slots, svc->slots, pool_slots_len(svc) * sizeof(uint32_t));
	kv->empty = pool_empty_families(svc);
	kv->on_backups = svc->on_backups;
}

static const char *on_empty_effect(const struct knlb_service *svc)
{
	if (svc->cfg->on_empty == KNLB_ON_EMPTY_DROP)
		return "new flows are dropped (on_empty = drop)";
	return svc->cfg->proto == KNLB_PROTO_TCP ?
	       "new connections get a TCP reset (on_empty = reject)" :
	       "new flows get ICMP port unreachable (on_empty = reject)";
}

/*
 * One line per change of what the service can do: for the service as a
 * whole, or for one family of a dual-stack service ("no usable IPv6
 * backend").
 */
static void log_service_state(const struct knlb_service *svc,
			      const struct kernel_view *kv)
{
	unsigned empty = pool_empty_families(svc);

	for (size_t k = 0; k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;
		const char *fam = svc->n_families > 1 ? addr_family_name(f) : "";
		unsigned bit = 1u << f;

		if (!((empty ^ kv->empty) & bit))
			continue;
		if (empty & bit)
			log_warn("service %s: no usable %s%sbackend: %s",
				 svc->cfg->name, fam, *fam ? " " : "",
				 on_empty_effect(svc));
		else
			log_info("service %s: %s%s%sbackend is usable again, on_empty lifted",
				 svc->cfg->name, *fam ? "an " : "a ", fam,
				 *fam ? " " : "");
	}
	if (svc->on_backups != kv->on_backups) {
		if (svc->on_backups)
			log_warn("service %s: no primary backend is usable: backup backends serve",
				 svc->cfg->name);
		else if (!svc->empty)
			log_info("service %s: a primary backend is back: backup backends stand by",
				 svc->cfg->name);
	}
}

static void schedule_replace(struct committer *c)
{
	if (!loop_timer_armed(&c->replace_timer) &&
	    loop_timer_arm(c->loop, &c->replace_timer, REPLACE_RETRY_NS) < 0)
		log_error("cannot schedule the table replace: out of memory");
}

/* Desired state, not replayed events: after a failed delta, replace all. */
static void on_replace_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct committer *c = arg;
	struct sync_result res;
	char err[512];

	(void)loop;
	(void)t;
	c->stats.replaces++;
	for (size_t i = 0; i < c->pool->n_services; i++)
		if (c->pool->services[i].dirty &&
		    pool_compute_slots(&c->pool->services[i]) < 0) {
			schedule_replace(c);
			return;
		}
	if (sync_replace(c->nfnl, c->pool, &res, err, sizeof(err)) < 0) {
		c->stats.failures++;
		log_error("replacing table inet %s failed, retrying in 1s: %s",
			  c->pool->config->global.table, err);
		schedule_replace(c);
		return;
	}
	for (size_t i = 0; i < c->pool->n_services; i++) {
		log_service_state(&c->pool->services[i], &c->kernel[i]);
		kernel_view_take(&c->kernel[i], &c->pool->services[i]);
	}
	log_info("table inet %s replaced: %zu slot elements in 1 transaction (%.1f ms)",
		 c->pool->config->global.table, res.elements, res.elapsed_ms);
	if (res.persist_kept)
		log_info("persistence: %zu entries carried over the replace",
			 res.persist_kept);
}

/*
 * Every service changed during this loop iteration gets its new slot
 * table, sent as one transaction of exactly the elements that differ.
 * Runs right after the events that caused it, so a backend going down is
 * out of the map within the same iteration.
 */
void committer_run(struct committer *c)
{
	if (loop_timer_armed(&c->replace_timer))
		return;		/* a full replace is pending */
	for (size_t i = 0; i < c->pool->n_services; i++) {
		struct knlb_service *svc = &c->pool->services[i];
		struct kernel_view *kv = &c->kernel[i];
		struct sync_result res;
		uint64_t since;
		char err[512];
		int ret;

		if (!svc->dirty)
			continue;
		since = svc->dirty_since_ns;
		ret = pool_compute_slots(svc);
		if (ret < 0) {
			log_error("service %s: computing slots: %s", svc->cfg->name,
				  strerror(-ret));
			schedule_replace(c);
			return;
		}
		ret = sync_service_slots(c->nfnl, c->pool, svc, kv->slots, kv->empty,
					 &res, err, sizeof(err));
		if (ret < 0) {
			c->stats.failures++;
			log_error("service %s: updating the kernel failed, old state kept: %s; replacing the whole table",
				  svc->cfg->name, err);
			schedule_replace(c);
			return;
		}
		log_service_state(svc, kv);
		kernel_view_take(kv, svc);
		if (res.persist_purged)
			log_info("service %s: %zu persistence entries purged with their backend",
				 svc->cfg->name, res.persist_purged);
		if (!res.messages)
			continue;
		c->stats.transactions++;
		c->stats.last_elements = res.elements;
		c->stats.last_moved = res.moved;
		c->stats.last_ack_ms = res.elapsed_ms;
		c->stats.last_decision_ms = (double)(loop_now_ns() - since) / 1e6;
		log_info("service %s: %u of %u slots moved, %zu elements in 1 transaction, %.2f ms to the kernel's ack, %.2f ms after the decision",
			 svc->cfg->name, res.moved, svc->cfg->table_size,
			 res.elements, res.elapsed_ms, c->stats.last_decision_ms);
	}
}


int committer_new(struct loop *loop, struct knlb_model *pool,
		  struct nfnl_sock *nfnl, struct committer **out)
{
	struct committer *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->pool = pool;
	c->nfnl = nfnl;
	loop_timer_init(&c->replace_timer, on_replace_timer, c);
	c->kernel = kernel_view_new(pool);
	if (!c->kernel) {
		committer_free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pool->n_services; i++)
		kernel_view_take(&c->kernel[i], &pool->services[i]);
	*out = c;
	return 0;
}

void committer_free(struct committer *c)
{
	if (!c)
		return;
	loop_timer_cancel(c->loop, &c->replace_timer);
	kernel_view_free(c->kernel, c->pool);
	free(c);
}

/*
 * What the kernel holds for service s of the new pool, in the new pool's
 * backend indexes: the old view with each backend renumbered, and a slot
 * of a backend the new file dropped marked so the diff rewrites it.
 */
#define SLOT_BACKEND_GONE (SCHED_SLOT_EMPTY - 1)

static uint32_t *translate_view(const struct kernel_view *kv,
				const struct knlb_service *osvc,
				const struct knlb_service *nsvc,
				const long *backend_from)
{
	uint32_t *to_new = malloc((osvc->n_backends ? osvc->n_backends : 1) *
				  sizeof(*to_new));
	size_t len = pool_slots_len(nsvc);
	uint32_t *slots = malloc((len ? len : 1) * sizeof(*slots));

	if (!to_new || !slots) {
		free(to_new);
		free(slots);
		return NULL;
	}
	for (size_t b = 0; b < osvc->n_backends; b++)
		to_new[b] = SLOT_BACKEND_GONE;
	for (size_t b = 0; b < nsvc->n_backends; b++)
		if (backend_from[b] >= 0)
			to_new[backend_from[b]] = (uint32_t)b;
	for (size_t i = 0; i < len; i++)
		slots[i] = kv->slots[i] < osvc->n_backends ?
			   to_new[kv->slots[i]] : kv->slots[i];
	free(to_new);
	return slots;
}

static int reload_deltas(struct committer *c, const struct knlb_model *pool,
			 const struct reload_plan *plan, struct sync_result *res,
			 char *err, size_t errlen)
{
	struct sync_old *old = calloc(pool->n_services ? pool->n_services : 1,
				      sizeof(*old));
	int ret = old ? 0 : -ENOMEM;

	for (size_t s = 0; ret == 0 && s < pool->n_services; s++) {
		long os = plan->svc_from[s];

		old[s].slots = translate_view(&c->kernel[os],
					      &c->pool->services[os],
					      &pool->services[s],
					      plan->backend_from[s]);
		old[s].empty = c->kernel[os].empty;
		if (!old[s].slots)
			ret = -ENOMEM;
	}
	if (ret == 0)
		ret = sync_pool_slots(c->nfnl, pool, old, res, err, errlen);
	else
		snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
	for (size_t s = 0; old && s < pool->n_services; s++)
		free((void *)old[s].slots);
	free(old);
	return ret;
}

int committer_reload(struct committer *c, struct knlb_model *pool,
		     const struct reload_plan *plan, struct sync_result *res,
		     char *err, size_t errlen)
{
	/* Allocated first: once the kernel has the new pool, nothing may fail. */
	struct kernel_view *kv = kernel_view_new(pool);
	int ret;

	if (!kv) {
		snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	/* A pending replace means the kernel's state is not known exactly. */
	if (plan->kind == RELOAD_STRUCTURE || loop_timer_armed(&c->replace_timer))
		ret = sync_replace(c->nfnl, pool, res, err, errlen);
	else
		ret = reload_deltas(c, pool, plan, res, err, errlen);
	if (ret < 0) {
		c->stats.failures++;
		kernel_view_free(kv, pool);
		return ret;
	}
	/* The kernel holds the new pool now: it is the base of every delta. */
	kernel_view_free(c->kernel, c->pool);
	c->pool = pool;
	c->kernel = kv;
	for (size_t i = 0; i < pool->n_services; i++)
		kernel_view_take(&c->kernel[i], &pool->services[i]);
	loop_timer_cancel(c->loop, &c->replace_timer);
	if (res->messages)
		c->stats.transactions++;
	return 0;
}

const uint32_t *committer_kernel_slots(const struct committer *c, size_t s)
{
	return s < c->pool->n_services ? c->kernel[s].slots : NULL;
}

bool committer_synced(const struct committer *c)
{
	if (loop_timer_armed(&c->replace_timer))
		return false;
	for (size_t i = 0; i < c->pool->n_services; i++)
		if (c->pool->services[i].dirty)
			return false;
	return true;
}

void committer_get_stats(const struct committer *c, struct commit_stats *out)
{
	*out = c->stats;
}
