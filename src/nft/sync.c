/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sync: bring the kernel to a given state in one transaction.  Each call
 * builds one batch (a table replace, or exactly the slot element deletes
 * and adds between what the kernel holds and what it should hold) and
 * sends it: the kernel either takes all of it or keeps what it had, and
 * the caller learns which.  Deciding when and what to sync is commit.c's
 * (the commit step); sending is nfnl.c's.  See sync.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/loop.h"
#include "knlb/nft/diff.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/persist.h"
#include "knlb/pool/pool-t.h"
#include "knlb/config/config-t.h"
#include "knlb/nft/ruleset.h"
#include "knlb/nft/replace_in_place.h"
#include "knlb/lib/log.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/slot_share.h"
#include "knlb/pool/base_index.h"
#include "knlb/pool/fallback.h"
#include "knlb/sched/sched.h"
#include "knlb/nft/sync.h"

/*
 * Netlink bytes of one slot element, IPv6 (the larger): list element,
 * key and data nests, a 4-byte key and a 16 + 2-byte value, padded.
 * Only sizes the buffer up front.
 */
#define SYNC_SLOT_ELEM_BYTES 48

/* The loop's clock, the one a decision's time (dirty_since_ns) is read on. */
static double now_ms(void)
{
	return (double)loop_now_ns() / 1e6;
}

static int send_transaction(struct nfnl_sock *sock, struct nfnl_batch *batch,
			    double start, struct sync_result *res, char *err, size_t errlen)
{
	int ret;

	res->messages = nfnl_batch_count(batch);
	res->bytes = nfnl_batch_size(batch);
	ret = nfnl_batch_commit(sock, batch, err, errlen);
	res->acked_ns = loop_now_ns();
	res->elapsed_ms = (double)res->acked_ns / 1e6 - start;
	nfnl_batch_free(batch);
	return ret;
}

/*
 * The persistence entries of the table being replaced, back into the new
 * maps (a replace would drop that kernel state).  Best effort: a map that
 * cannot be read starts empty, which sends no client to a wrong backend.
 */
static int add_carry_over(struct nfnl_batch *batch, const struct knlb_model *pool,
			  struct sync_result *res)
{
	const char *table = pool->config->global.table;
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		struct persist_table t = { 0 };
		size_t kept = 0;
		char err[256];

		if (!persist_enabled(svc))
			continue;
		if (persist_read(table, svc, &t, err, sizeof(err)) < 0)
			res->persist_unread = true;
		else
			ret = persist_add_carry_over(batch, table, svc, &t, &kept);
		res->persist_kept += kept;
		persist_table_free(&t);
	}
	return ret;
}

struct fallback_state *sync_fallback_states_new(const struct knlb_model *pool,
					       bool full)
{
	struct fallback_state *st = calloc(pool->n_services ? pool->n_services : 1,
					   sizeof(*st));

	for (size_t i = 0; st && i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];

		if (!pool_has_fallback_maps(svc))
			continue;
		if (fallback_state_init(&st[i], svc) < 0 ||
		    (full ? sync_fallback_full(svc, &st[i]) :
			    sync_fallback_now(svc, &st[i])) < 0) {
			sync_fallback_states_free(st, pool->n_services);
			return NULL;
		}
	}
	return st;
}

void sync_fallback_states_free(struct fallback_state *st, size_t n)
{
	for (size_t i = 0; st && i < n; i++)
		fallback_state_free(&st[i]);
	free(st);
}

int sync_fallback_now(const struct knlb_service *svc, struct fallback_state *st)
{
	fallback_desired(svc, NULL, NULL, st);
	return 0;
}

int sync_fallback_full(const struct knlb_service *svc, struct fallback_state *st)
{
	uint32_t *next = malloc((st->n_slots ? st->n_slots : 1) * sizeof(*next));
	int ret = next ? pool_fallback_next(svc, next) : -ENOMEM;

	if (ret == 0)
		fallback_desired(svc, NULL, next, st);
	free(next);
	return ret;
}

static int replace(struct nfnl_sock *sock, const struct knlb_model *pool,
		   const struct table_objects *in_place,
		   struct sync_result *res, char *err, size_t errlen)
{
	double start = now_ms();
	struct nfnl_batch *batch = nfnl_batch_new(sock);
	/* serving backends' maps are filled later: sync_fallback_refresh() */
	struct fallback_state *fb = sync_fallback_states_new(pool, false);
	size_t *leader = malloc((pool->n_services ?: 1) * sizeof(*leader));
	long sharing = leader ? pool_slot_share_groups(pool, leader) : -ENOMEM;
	int ret;

	*res = (struct sync_result){ 0 };
	if (!batch || !fb || sharing < 0)
		goto out_nomem;
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];

		/* the slot maps hold the base in the fallback shape */
		const uint32_t *held = fb[i].base ? fb[i].base : svc->slots;
		/* the map it writes whole: its own, its group's base when it leads */
		const uint32_t *own = held;

		if (leader[i] != SLOT_SHARE_NONE) {
			/* a group's base once, each member's overrides */
			own = leader[i] == i ? svc->base_slots : NULL;
			res->elements += share_count_ovr(svc, held,
				pool->services[leader[i]].base_slots);
		}
		for (size_t s = 0; s < pool_slots_len(svc); s++) {
			res->elements += own && own[s] != SCHED_SLOT_EMPTY;
			res->elements += fb[i].base && fb[i].fb[s] != SCHED_SLOT_EMPTY;
		}
	}
	res->shared = (size_t)sharing;
	ret = nfnl_batch_expect(batch, res->elements * SYNC_SLOT_ELEM_BYTES);
	if (ret == 0)
		ret = ruleset_add_replace(batch, pool, fb, sharing ? leader : NULL,
					  in_place);
	if (ret == 0)
		ret = add_carry_over(batch, pool, res);
	sync_fallback_states_free(fb, pool->n_services);
	fb = NULL;
	free(leader);
	leader = NULL;
	if (ret == -ESTALE) {
		nfnl_batch_free(batch);
		snprintf(err, errlen, "a set is defined otherwise than the running one");
		return ret;
	}
	if (ret < 0)
		goto out_nomem;
	return send_transaction(sock, batch, start, res, err, errlen);

out_nomem:
	nfnl_batch_free(batch);
	free(leader);
	sync_fallback_states_free(fb, pool->n_services);
	snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
	return -ENOMEM;
}

int sync_replace(struct nfnl_sock *sock, const struct knlb_model *pool,
		 struct sync_result *res, char *err, size_t errlen)
{
	const char *table = pool->config->global.table;
	struct table_objects objs;
	char why[512];
	int ret;

	/* In place when the table runs: no packet meets a deleted set. */
	if (table_objects_read(table, &objs, why, sizeof(why)) < 0)
		log_warn("%s: replacing the whole table", why);
	else if (objs.exists) {
		ret = replace(sock, pool, &objs, res, why, sizeof(why));
		table_objects_free(&objs);
		if (ret == 0 || ret == -ENOMEM) {
			if (ret == -ENOMEM)
				snprintf(err, errlen, "%s", why);
			res->in_place = ret == 0;
			return ret;
		}
		/* a set or a base chain whose definition changed */
		log_info("table inet %s: cannot replace it in place (%s): replacing it whole",
			 table, why);
	}
	return replace(sock, pool, NULL, res, err, errlen);
}

/*
 * Add one service's delta to batch: the element deletes and adds between
 * old_slots and svc->slots, and its on_empty set entry when that changed.
 * Counts into res.  0, or -ENOMEM.
 */
/*
 * Destroy svc's persistence entries of backends without a slot: read the
 * maps, add the deletes to batch.  0 or -errno (err says why).
 */
static int add_persist_purge(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc, size_t *purged,
			     char *err, size_t errlen)
{
	const char *table = pool->config->global.table;
	struct persist_table t = { 0 };
	int ret;

	*purged = 0;
	ret = persist_read(table, svc, &t, err, errlen);
	if (ret == 0)
		ret = persist_add_purge(batch, table, svc, &t, purged);
	persist_table_free(&t);
	return ret;
}

/*
 * old's slots and svc's, diffed over the slots of the backends concerned
 * when old was computed on svc's base (a health or maxconn transition),
 * else over the table.  0 or -ENOMEM.
 */
static int diff_slots(const struct knlb_service *svc, const struct sync_old *old,
		      struct slot_diff *diff)
{
	uint32_t *list;
	size_t n;
	int ret;

	if (!old->base_gen || old->base_gen != svc->base_gen ||
	    !pool_base_index_valid(svc))
		return slot_diff_compute(old->slots, svc->slots,
					 (uint32_t)pool_slots_len(svc), diff);
	n = pool_slots_concerned(svc, old->slots, NULL);
	list = malloc((n ? n : 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	pool_slots_concerned(svc, old->slots, list);
	ret = slot_diff_compute_list(old->slots, svc->slots, list, n, diff);
	free(list);
	return ret;
}

/* The direct shape: each slot that moves is its own element change. */
static int add_direct_changes(struct nfnl_batch *batch,
			      const struct knlb_model *pool,
			      const struct knlb_service *svc,
			      const struct sync_old *old, struct sync_result *res)
{
	struct slot_diff diff;
	int ret = diff_slots(svc, old, &diff);
	size_t elements;

	if (ret < 0)
		return ret;
	ret = ruleset_add_slot_changes(batch, pool, svc, &diff, old->shared_base,
				       &elements);
	res->elements += elements;
	res->moved += (uint32_t)diff.n_changes;
	slot_diff_release(&diff);
	return ret;
}

/*
 * Slots the delta moves.  A partial desired state's untouched slots keep
 * their owner in the kernel and in svc: only the touched can differ.
 */
static uint32_t moved_count(const uint32_t *old_slots,
			    const struct knlb_service *svc,
			    const struct fallback_state *want)
{
	uint32_t moved = 0;

	if (!want->partial)
		return (uint32_t)slot_diff_count(old_slots, svc->slots,
						 (uint32_t)pool_slots_len(svc));
	for (size_t j = 0; j < want->n_touched; j++)
		moved += old_slots[want->touched[j]] != svc->slots[want->touched[j]];
	return moved;
}

static int add_service_delta(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc,
			     const struct sync_old *old, struct fallback_state *want,
			     struct sync_result *res, bool *purging,
			     char *err, size_t errlen)
{
	unsigned empty = pool_empty_families(svc);
	size_t fb_elements = 0;
	int ret;

	*purging = persist_enabled(svc) && persist_lost_backend(svc, old->slots);
	if (*purging) {
		size_t n;

		ret = add_persist_purge(batch, pool, svc, &n, err, errlen);
		if (ret < 0)
			return ret;
		res->persist_purged += n;
	}

	if (!old->fb) {
		ret = add_direct_changes(batch, pool, svc, old, res);
	} else {
		/*
		 * The fallback shape's elements come from its state: the slots
		 * that move are only counted (recording a quarter of M changes
		 * for nothing was a fifth of a failover at M = 65537).
		 */
		if (old->fb_drop_maps) {
			ret = ruleset_add_fallback_remake(batch, pool, svc,
							  old->fb_drop_maps);
			if (ret == 0)
				ret = sync_fallback_full(svc, want);
		} else if (!fallback_desired_delta(svc, old->fb, want)) {
			fallback_desired(svc, old->fb, NULL, want);
			ret = 0;
		} else {
			ret = 0;
		}
		res->moved += moved_count(old->slots, svc, want);
		if (ret == 0)
			ret = ruleset_add_fallback_changes(batch, pool, svc, old->fb,
							   want, old->shared_base,
							   &fb_elements);
		res->elements += fb_elements;
	}
	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		unsigned bit = 1u << svc->families[k].family;

		if ((empty ^ old->empty) & bit)
			ret = ruleset_add_empty_change(batch, pool, svc,
						       svc->families[k].family,
						       empty & bit);
		/* a shared base maps every slot: dispatch only what is not empty */
		if (ret == 0 && old->shared_base && ((empty ^ old->empty) & bit))
			ret = ruleset_add_dispatch_change(batch, pool, svc,
							  svc->families[k].family,
							  !(empty & bit));
	}
	return ret;
}

/*
 * Right after a purge: clients learned for a leaving backend between the
 * dump and the commit (its slots still mapped it) are destroyed too.  No
 * new ones can appear now.  A failure here leaves them to their timeout.
 */
static void sweep_persistence(struct nfnl_sock *sock,
			      const struct knlb_model *pool,
			      const bool *purging, struct sync_result *res)
{
	struct nfnl_batch *batch = nfnl_batch_new(sock);
	size_t total = 0;
	char err[256];

	for (size_t i = 0; batch && i < pool->n_services; i++) {
		size_t n = 0;

		if (purging[i] && add_persist_purge(batch, pool, &pool->services[i],
						    &n, err, sizeof(err)) == 0)
			total += n;
	}
	if (batch && total && nfnl_batch_commit(sock, batch, err, sizeof(err)) == 0)
		res->persist_purged += total;
	nfnl_batch_free(batch);
}

/*
 * The kernel's fallback state must be known for a service in the shape:
 * without it no delta can be computed (a replace can).
 */
static int check_fallback_known(const struct knlb_model *pool,
				const struct sync_old *old, char *err,
				size_t errlen)
{
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];

		if (old[i].slots && !old[i].fb && pool_has_fallback_maps(svc)) {
			snprintf(err, errlen,
				 "service %s: the kernel's fallback maps are not known: replace the table",
				 svc->cfg->name);
			return -EINVAL;
		}
	}
	return 0;
}

static void fallback_wants_free(struct fallback_state *want,
				const struct knlb_model *pool,
				const struct sync_old *old)
{
	for (size_t i = 0; want && i < pool->n_services; i++)
		if (old[i].fb_scratch)
			want[i] = (struct fallback_state){ 0 };	/* the caller's */
	sync_fallback_states_free(want, pool->n_services);
}

/*
 * want[i] for services whose old state has fallback maps: the caller's
 * scratch (its arrays, borrowed) or one allocated here.
 */
static struct fallback_state *fallback_wants_new(const struct knlb_model *pool,
						 const struct sync_old *old)
{
	struct fallback_state *want = calloc(pool->n_services ? pool->n_services : 1,
					     sizeof(*want));

	for (size_t i = 0; want && i < pool->n_services; i++) {
		if (!old[i].slots || !old[i].fb)
			continue;
		if (old[i].fb_scratch) {
			want[i] = *old[i].fb_scratch;
		} else if (fallback_state_init(&want[i], &pool->services[i]) < 0) {
			fallback_wants_free(want, pool, old);
			return NULL;
		}
	}
	return want;
}

int sync_pool_slots(struct nfnl_sock *sock, const struct knlb_model *pool,
		    const struct sync_old *old, struct sync_result *res,
		    char *err, size_t errlen)
{
	double start = now_ms();
	struct nfnl_batch *batch = NULL;
	bool *purging = NULL;
	struct fallback_state *want = NULL;
	int ret;

	*res = (struct sync_result){ 0 };
	err[0] = '\0';
	ret = check_fallback_known(pool, old, err, errlen);
	if (ret < 0)
		return ret;
	batch = nfnl_batch_new(sock);
	purging = calloc(pool->n_services ? pool->n_services : 1, sizeof(*purging));
	want = fallback_wants_new(pool, old);
	ret = batch && purging && want ? 0 : -ENOMEM;
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		if (old[i].slots)
			ret = add_service_delta(batch, pool, &pool->services[i],
						&old[i], &want[i], res,
						&purging[i], err, errlen);
	if (ret < 0) {
		if (!err[0])
			snprintf(err, errlen, "building the transaction: %s",
				 strerror(-ret));
		goto out;
	}
	if (nfnl_batch_count(batch) == 0) {
		res->elapsed_ms = now_ms() - start;
		goto out;	/* nothing changed: no transaction at all */
	}
	ret = send_transaction(sock, batch, start, res, err, errlen);
	batch = NULL;
	if (ret == 0)
		sweep_persistence(sock, pool, purging, res);
	/* the kernel holds want now */
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		if (old[i].slots && old[i].fb)
			fallback_state_copy(old[i].fb, &want[i]);
out:
	nfnl_batch_free(batch);
	free(purging);
	fallback_wants_free(want, pool, old);
	return ret;
}

int sync_fallback_refresh(struct nfnl_sock *sock, const struct knlb_model *pool,
			  const struct knlb_service *svc,
			  struct fallback_state *have, const uint32_t *shared_base,
			  struct sync_result *res, char *err, size_t errlen)
{
	double start = now_ms();
	struct nfnl_batch *batch = nfnl_batch_new(sock);
	struct fallback_state want;
	int ret;

	*res = (struct sync_result){ 0 };
	if (!batch || fallback_state_init(&want, svc) < 0) {
		nfnl_batch_free(batch);
		snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	ret = sync_fallback_full(svc, &want);
	if (ret == 0)
		ret = ruleset_add_fallback_changes(batch, pool, svc, have, &want,
						   shared_base, &res->elements);
	if (ret < 0) {
		snprintf(err, errlen, "building the transaction: %s", strerror(-ret));
	} else if (nfnl_batch_count(batch) == 0) {
		res->elapsed_ms = now_ms() - start;
	} else {
		ret = send_transaction(sock, batch, start, res, err, errlen);
		batch = NULL;
		if (ret == 0)
			fallback_state_copy(have, &want);
	}
	nfnl_batch_free(batch);
	fallback_state_free(&want);
	return ret;
}

int sync_service_slots(struct nfnl_sock *sock, const struct knlb_model *pool,
		       const struct knlb_service *svc, const struct sync_old *o,
		       struct sync_result *res, char *err, size_t errlen)
{
	struct sync_old *old = calloc(pool->n_services, sizeof(*old));
	int ret;

	if (!old) {
		snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	old[svc - pool->services] = *o;
	ret = sync_pool_slots(sock, pool, old, res, err, errlen);
	free(old);
	return ret;
}
