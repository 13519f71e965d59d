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
#include "knlb/pool/fallback.h"
#include "knlb/pool/reload_plan.h"
#include "knlb/pool/slot_share.h"
#include "knlb/sched/sched.h"
#include "knlb/nft/sync.h"

/* After a failed delta the whole table is replaced, retried this often. */
#define REPLACE_RETRY_NS 1000000000ULL

/*
 * The fallback maps' precomputed entries are refreshed this long after a
 * transition (sync_fallback_refresh()): off the failover's path, and a
 * burst of transitions costs one refresh.
 */
#define FALLBACK_REFRESH_NS 20000000ULL

/* What the kernel holds for one service, as last acknowledged. */
struct kernel_view {
	uint32_t *slots;	/* what it forwards each slot to */
	uint64_t base_gen;	/* svc->base_gen slots was computed on */
	unsigned empty;		/* pool_empty_families() */
	bool on_backups;
	/* the fallback shape (base NULL when not in it), and whether its
	 * serving backends' maps wait for a refresh */
	struct fallback_state fb;
	bool fb_stale;
	/*
	 * Some backend came back since those maps were computed: they may
	 * skip it, so they are no hint until the refresh.  While backends
	 * only stop, the maps of the serving ones are still right answers
	 * (their earlier preferences are all still dead), stale or not: a
	 * second failure within the refresh delay costs what the first did.
	 */
	bool fb_revived;
	/* sized as fb: where a delta builds the desired state (sync_old) */
	struct fallback_state fb_scratch;
	/*
	 * A service sharing a base slot map (pool/slot_share.h): its group's
	 * leader (a service index; -1: a map of its own), whose view keeps
	 * in share_own the table that map holds as of the last replace
	 * (sync_old.shared_base: shared_base()).
	 */
	long share_leader;
	uint32_t *share_own;
};

struct committer {
	struct loop *loop;
	struct knlb_model *pool;
	struct nfnl_sock *nfnl;
	struct kernel_view *kernel;	/* parallel to pool->services */
	struct loop_timer replace_timer;
	struct loop_timer refresh_timer;
	struct commit_stats stats;
};

static void kernel_view_free(struct kernel_view *kv, const struct knlb_model *pool);

/* One view per service of pool, slots allocated; NULL on ENOMEM. */
static struct kernel_view *kernel_view_new(const struct knlb_model *pool)
{
	struct kernel_view *kv = calloc(pool->n_services ? pool->n_services : 1,
					sizeof(*kv));

	for (size_t i = 0; kv && i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];

		kv[i].share_leader = -1;
		kv[i].slots = malloc((pool_slots_len(svc) ?: 1) * sizeof(uint32_t));
		if (!kv[i].slots || (pool_has_fallback_maps(svc) &&
				     (fallback_state_init(&kv[i].fb, svc) < 0 ||
				      fallback_state_init(&kv[i].fb_scratch, svc) < 0))) {
			kernel_view_free(kv, pool);
			kv = NULL;
		}
	}
	return kv;
}

static void kernel_view_free(struct kernel_view *kv, const struct knlb_model *pool)
{
	for (size_t i = 0; kv && i < pool->n_services; i++) {
		free(kv[i].slots);
		free(kv[i].share_own);
		fallback_state_free(&kv[i].fb);
		fallback_state_free(&kv[i].fb_scratch);
	}
	free(kv);
}

/* The kernel now holds the pool: remember it as the base of the next delta. */
static void kernel_view_take(struct kernel_view *kv, const struct knlb_service *svc)
{
	memcpy(kv->slots, svc->slots, pool_slots_len(svc) * sizeof(uint32_t));
	kv->base_gen = svc->base_gen;
	kv->empty = pool_empty_families(svc);
	kv->on_backups = svc->on_backups;
}

/*
 * The same after a table replace, which wrote the base and the fallbacks
 * of the backends that do not serve (sync_fallback_now()): computed again
 * here, the same pure function of the pool.  The serving backends' maps
 * are empty, so the view is stale until a refresh fills them: scheduled
 * here.  0 or -ENOMEM (the view is then unknown: replace again).
 */
static void schedule_refresh(struct committer *c);

static int kernel_view_take_all(struct committer *c, struct kernel_view *kv,
				const struct knlb_service *svc)
{
	kernel_view_take(kv, svc);
	kv->fb_stale = kv->fb.base != NULL;
	kv->fb_revived = false;	/* recomputed for the serving set of now */
	if (!kv->fb.base)
		return 0;
	schedule_refresh(c);
	return sync_fallback_now(svc, &kv->fb);
}

/* The table service i's base map holds (views kv), NULL for a map of its own. */
static const uint32_t *shared_base(const struct kernel_view *kv, size_t i)
{
	return kv[i].share_leader >= 0 ? kv[kv[i].share_leader].share_own : NULL;
}

static void forget_shares(struct kernel_view *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].share_own);
		kv[i].share_own = NULL;
		kv[i].share_leader = -1;
	}
}

/*
 * After a replace: which services share a base map now, and what it
 * holds, each leader's base as sync_replace() wrote it.  0 or -ENOMEM
 * (no view shares then: the next delta fails and a replace follows).
 */
static int kernel_view_take_shares(struct kernel_view *kv,
				   const struct knlb_model *pool)
{
	size_t n = pool->n_services;
	size_t *leader = malloc((n ?: 1) * sizeof(*leader));
	long sharing = leader ? pool_slot_share_groups(pool, leader) : -ENOMEM;

	forget_shares(kv, n);
	for (size_t i = 0; sharing > 0 && i < n; i++) {
		const struct knlb_service *svc = &pool->services[i];
		size_t len = pool_slots_len(svc) * sizeof(uint32_t);

		if (leader[i] == SLOT_SHARE_NONE)
			continue;
		kv[i].share_leader = (long)leader[i];
		if (leader[i] != i)
			continue;
		kv[i].share_own = malloc(len);
		if (!kv[i].share_own)
			sharing = -ENOMEM;
		else
			memcpy(kv[i].share_own, svc->base_slots, len);
	}
	free(leader);
	if (sharing < 0)
		forget_shares(kv, n);
	return sharing < 0 ? (int)sharing : 0;
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

static void schedule_refresh(struct committer *c)
{
	if (!loop_timer_armed(&c->refresh_timer) &&
	    loop_timer_arm(c->loop, &c->refresh_timer, FALLBACK_REFRESH_NS) < 0)
		log_error("cannot schedule the fallback maps' refresh: out of memory");
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
		if (kernel_view_take_all(c, &c->kernel[i], &c->pool->services[i]) < 0)
			schedule_replace(c);
	}
	if (kernel_view_take_shares(c->kernel, c->pool) < 0)
		schedule_replace(c);
	log_info("table inet %s replaced: %zu slot elements in 1 transaction (%.1f ms)",
		 c->pool->config->global.table, res.elements, res.elapsed_ms);
	if (res.persist_kept)
		log_info("persistence: %zu entries carried over the replace",
			 res.persist_kept);
}

/*
 * Refresh the stale services' fallback maps.  one: stop after the first
 * that wrote anything and come back a tick later, so that after a replace
 * 100 services' maps (1.6 M elements at M = 16381) go in as 100 short
 * transactions between which a failover still runs, not as one long one.
 */
static void refresh_fallbacks(struct committer *c, bool one,
			      struct sync_result *total)
{
	if (loop_timer_armed(&c->replace_timer))
		return;		/* the replace writes them again */
	for (size_t i = 0; i < c->pool->n_services; i++) {
		struct knlb_service *svc = &c->pool->services[i];
		struct kernel_view *kv = &c->kernel[i];
		struct sync_result res;
		char err[512];

		if (!kv->fb_stale)
			continue;
		if (svc->dirty) {	/* its delta first, then the refresh */
			schedule_refresh(c);
			continue;
		}
		if (sync_fallback_refresh(c->nfnl, c->pool, svc, &kv->fb,
					  shared_base(c->kernel, i), &res,
					  err, sizeof(err)) < 0) {
			c->stats.failures++;
			log_error("service %s: refreshing the fallback maps failed: %s; replacing the whole table",
				  svc->cfg->name, err);
			schedule_replace(c);
			return;
		}
		kv->fb_stale = false;
		kv->fb_revived = false;
		if (!res.messages)
			continue;
		c->stats.transactions++;
		log_debug("service %s: fallback maps refreshed: %zu elements (%.2f ms)",
			  svc->cfg->name, res.elements, res.elapsed_ms);
		if (total) {
			total->messages += res.messages;
			total->elements += res.elements;
			total->elapsed_ms += res.elapsed_ms;
		}
		if (one) {	/* a tick with nothing stale left sends nothing */
			schedule_refresh(c);
			return;
		}
	}
}

void committer_refresh_fallbacks(struct committer *c, struct sync_result *total)
{
	if (total)
		*total = (struct sync_result){ 0 };
	refresh_fallbacks(c, false, total);
}

static void on_refresh_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	refresh_fallbacks(arg, true, NULL);
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
		bool hinted;
		char err[512];
		int ret;

		if (!svc->dirty)
			continue;
		since = svc->dirty_since_ns;
		/* the kernel's fallbacks are the answers for the dead backends' slots */
		if (kv->fb.base && pool_fallback_revived(svc, &kv->fb))
			kv->fb_revived = true;
		if (kv->fb.base && !kv->fb_revived)
			ret = pool_compute_slots_hinted(svc, &(struct pool_fallback_hint){
				kv->fb.fb, kv->fb.dead, kv->fb.base_gen });
		else
			ret = pool_compute_slots(svc);
		hinted = ret > 0;
		if (ret < 0) {
			log_error("service %s: computing slots: %s", svc->cfg->name,
				  strerror(-ret));
			schedule_replace(c);
			return;
		}
		ret = sync_service_slots(c->nfnl, c->pool, svc, &(struct sync_old){
				.slots = kv->slots, .base_gen = kv->base_gen,
				.empty = kv->empty, .fb = kv->fb.base ? &kv->fb : NULL,
				.fb_scratch = kv->fb.base ? &kv->fb_scratch : NULL,
				.shared_base = shared_base(c->kernel, i),
			}, &res, err, sizeof(err));
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
		if (kv->fb.base) {
			kv->fb_stale = true;
			schedule_refresh(c);
		}
		c->stats.transactions++;
		c->stats.last_elements = res.elements;
		c->stats.last_messages = res.messages;
		c->stats.last_moved = res.moved;
		c->stats.last_hinted = hinted;
		c->stats.last_ack_ms = res.elapsed_ms;
		/*
		 * since is 0 when the change came without a time (in-process
		 * callers that pass no clock): no decision to measure from.
		 * The figure ends at the ACK, when the kernel forwards by the
		 * new state, not after this loop's bookkeeping (copying the
		 * view, logging).
		 */
		c->stats.last_decision_ms = since && res.acked_ns > since ?
			(double)(res.acked_ns - since) / 1e6 : 0;
		if (since)
			log_info("service %s: %u of %u slots moved, %zu elements in 1 transaction, %.2f ms to the kernel's ack, %.2f ms after the decision",
				 svc->cfg->name, res.moved, svc->cfg->table_size,
				 res.elements, res.elapsed_ms, c->stats.last_decision_ms);
		else
			log_info("service %s: %u of %u slots moved, %zu elements in 1 transaction, %.2f ms to the kernel's ack",
				 svc->cfg->name, res.moved, svc->cfg->table_size,
				 res.elements, res.elapsed_ms);
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
	loop_timer_init(&c->refresh_timer, on_refresh_timer, c);
	c->kernel = kernel_view_new(pool);
	if (!c->kernel) {
		committer_free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pool->n_services; i++)
		if (kernel_view_take_all(c, &c->kernel[i], &pool->services[i]) < 0) {
			committer_free(c);
			return -ENOMEM;
		}
	if (kernel_view_take_shares(c->kernel, pool) < 0) {
		committer_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void committer_free(struct committer *c)
{
	if (!c)
		return;
	loop_timer_cancel(c->loop, &c->replace_timer);
	loop_timer_cancel(c->loop, &c->refresh_timer);
	kernel_view_free(c->kernel, c->pool);
	free(c);
}

/*
 * What the kernel holds for service s of the new pool, in the new pool's
 * backend indexes: the old view with each backend renumbered, and a slot
 * of a backend the new file dropped marked so the diff rewrites it.
 */
#define SLOT_BACKEND_GONE (SCHED_SLOT_EMPTY - 1)

/* old backend index -> new one (SLOT_BACKEND_GONE when the file dropped it) */
static uint32_t *backend_map_new(const struct knlb_service *osvc,
				 const struct knlb_service *nsvc,
				 const long *backend_from)
{
	uint32_t *to_new = malloc((osvc->n_backends ? osvc->n_backends : 1) *
				  sizeof(*to_new));

	for (size_t b = 0; to_new && b < osvc->n_backends; b++)
		to_new[b] = SLOT_BACKEND_GONE;
	for (size_t b = 0; to_new && b < nsvc->n_backends; b++)
		if (backend_from[b] >= 0)
			to_new[backend_from[b]] = (uint32_t)b;
	return to_new;
}

static void translate_slots(const uint32_t *from, uint32_t *to, size_t len,
			    const uint32_t *to_new, size_t n_old)
{
	for (size_t i = 0; i < len; i++)
		to[i] = from[i] < n_old ? to_new[from[i]] : from[i];
}

/* Whether the reload kept svc's backends, each at its index. */
static bool same_backends(const struct knlb_service *osvc,
			  const struct knlb_service *nsvc, const long *backend_from)
{
	if (osvc->n_backends != nsvc->n_backends)
		return false;
	for (size_t b = 0; b < nsvc->n_backends; b++)
		if (backend_from[b] != (long)b)
			return false;
	return true;
}

/*
 * What the kernel holds for service s of the new pool, in the new pool's
 * backend indexes, into old[s] (slots allocated) and, in the fallback
 * shape, into the new view's fb: the old view as it is when the backends
 * kept their indexes, else only the base translated (the maps are made
 * again: sync_old.fb_drop_maps).  0 or -ENOMEM.
 */
static int translate_view(const struct kernel_view *kv,
			  const struct knlb_service *osvc,
			  const struct knlb_service *nsvc, const long *backend_from,
			  struct kernel_view *nkv, struct sync_old *old)
{
	uint32_t *to_new = backend_map_new(osvc, nsvc, backend_from);
	size_t len = pool_slots_len(nsvc);
	uint32_t *slots = malloc((len ? len : 1) * sizeof(*slots));

	if (!to_new || !slots) {
		free(to_new);
		free(slots);
		return -ENOMEM;
	}
	translate_slots(kv->slots, slots, len, to_new, osvc->n_backends);
	old->slots = slots;
	old->empty = kv->empty;
	if (kv->fb.base && nkv->fb.base) {
		if (same_backends(osvc, nsvc, backend_from)) {
			fallback_state_copy(&nkv->fb, &kv->fb);
		} else {
			translate_slots(kv->fb.base, nkv->fb.base, len, to_new,
					osvc->n_backends);
			old->fb_drop_maps = osvc->n_backends;
		}
		old->fb = &nkv->fb;
	}
	free(to_new);
	return 0;
}

/*
 * A delta keeps the base maps as they are, in the old backends' indexes:
 * a reload that changes the backend list of a service sharing one
 * replaces the table, which groups the services again.
 */
static bool reload_moves_shared_backends(const struct committer *c,
					 const struct knlb_model *pool,
					 const struct reload_plan *plan)
{
	if (plan->kind == RELOAD_STRUCTURE)
		return false;
	for (size_t s = 0; s < pool->n_services; s++) {
		long os = plan->svc_from[s];

		if (c->kernel[os].share_leader >= 0 &&
		    !same_backends(&c->pool->services[os], &pool->services[s],
				   plan->backend_from[s])) {
			log_info("reload: service %s shares a base slot map and its backends changed: the table is replaced",
				 pool->services[s].cfg->name);
			return true;
		}
	}
	return false;
}

static int reload_deltas(struct committer *c, const struct knlb_model *pool,
			 const struct reload_plan *plan, struct kernel_view *kv,
			 struct sync_result *res, char *err, size_t errlen)
{
	struct sync_old *old = calloc(pool->n_services ? pool->n_services : 1,
				      sizeof(*old));
	int ret = old ? 0 : -ENOMEM;

	for (size_t s = 0; ret == 0 && s < pool->n_services; s++) {
		long os = plan->svc_from[s];

		ret = translate_view(&c->kernel[os], &c->pool->services[os],
				     &pool->services[s], plan->backend_from[s],
				     &kv[s], &old[s]);
		/* the same backends at the same indexes (else the reload replaces) */
		old[s].shared_base = shared_base(c->kernel, (size_t)os);
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

/* The new pool's index of old service os (-1 stays -1, as does a service gone). */
static long new_index(const struct reload_plan *plan, size_t n, long os)
{
	for (size_t s = 0; os >= 0 && s < n; s++)
		if (plan->svc_from[s] == os)
			return (long)s;
	return -1;
}

int committer_reload(struct committer *c, struct knlb_model *pool,
		     const struct reload_plan *plan, struct sync_result *res,
		     char *err, size_t errlen)
{
	/* Allocated first: once the kernel has the new pool, nothing may fail. */
	struct kernel_view *kv = kernel_view_new(pool);
	/* A pending replace means the kernel's state is not known exactly. */
	bool replace = plan->kind == RELOAD_STRUCTURE ||
		       loop_timer_armed(&c->replace_timer) ||
		       reload_moves_shared_backends(c, pool, plan);
	int ret;

	if (!kv) {
		snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (replace)
		ret = sync_replace(c->nfnl, pool, res, err, errlen);
	else
		ret = reload_deltas(c, pool, plan, kv, res, err, errlen);
	if (ret < 0) {
		c->stats.failures++;
		kernel_view_free(kv, pool);
		return ret;
	}
	/* The kernel holds the new pool now: it is the base of every delta. */
	loop_timer_cancel(c->loop, &c->replace_timer);
	if (replace && kernel_view_take_shares(kv, pool) < 0)
		schedule_replace(c);
	for (size_t i = 0; i < pool->n_services; i++) {
		if (replace) {
			if (kernel_view_take_all(c, &kv[i], &pool->services[i]) < 0)
				schedule_replace(c);
			continue;
		}
		/* the base maps stay: their copies move to the new views */
		kv[i].share_own = c->kernel[plan->svc_from[i]].share_own;
		kv[i].share_leader = new_index(plan, pool->n_services,
					       c->kernel[plan->svc_from[i]].share_leader);
		c->kernel[plan->svc_from[i]].share_own = NULL;
		/* a delta: sync left kv[i].fb at what the kernel holds */
		kernel_view_take(&kv[i], &pool->services[i]);
		if (kv[i].fb.base) {
			kv[i].fb_stale = true;
			/* translated from the old pool: no hint until refreshed */
			kv[i].fb_revived = true;
			schedule_refresh(c);
		}
	}
	kernel_view_free(c->kernel, c->pool);
	c->pool = pool;
	c->kernel = kv;
	if (res->messages)
		c->stats.transactions++;
	return 0;
}

const uint32_t *committer_kernel_slots(const struct committer *c, size_t s)
{
	return s < c->pool->n_services ? c->kernel[s].slots : NULL;
}

long committer_shared_leader(const struct committer *c, size_t s)
{
	return s < c->pool->n_services ? c->kernel[s].share_leader : -1;
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
