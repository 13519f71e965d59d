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
#include <time.h>

#include "knlb/nft/diff.h"
#include "knlb/nft/nfnl.h"
#include "knlb/pool/pool-t.h"
#include "knlb/config/config-t.h"
#include "knlb/nft/ruleset.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "knlb/nft/sync.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int send_transaction(struct nfnl_sock *sock, struct nfnl_batch *batch,
			    double start, struct sync_result *res, char *err, size_t errlen)
{
	int ret;

	res->messages = nfnl_batch_count(batch);
	res->bytes = nfnl_batch_size(batch);
	ret = nfnl_batch_commit(sock, batch, err, errlen);
	res->elapsed_ms = now_ms() - start;
	nfnl_batch_free(batch);
	return ret;
}

int sync_replace(struct nfnl_sock *sock, const struct knlb_model *pool,
		 struct sync_result *res, char *err, size_t errlen)
{
	double start = now_ms();
	struct nfnl_batch *batch = nfnl_batch_new();
	int ret;

	*res = (struct sync_result){ 0 };
	if (!batch)
		goto out_nomem;
	ret = ruleset_add_replace(batch, pool);
	if (ret < 0) {
		nfnl_batch_free(batch);
		goto out_nomem;
	}
	for (size_t i = 0; i < pool->n_services; i++)
		for (size_t s = 0; s < pool_slots_len(&pool->services[i]); s++)
			res->elements += pool->services[i].slots[s] != SCHED_SLOT_EMPTY;
	return send_transaction(sock, batch, start, res, err, errlen);

out_nomem:
	snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
	return -ENOMEM;
}

/*
 * Add one service's delta to batch: the element deletes and adds between
 * old_slots and svc->slots, and its on_empty set entry when that changed.
 * Counts into res.  0, or -ENOMEM.
 */
static int add_service_delta(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc,
			     const uint32_t *old_slots, unsigned old_empty,
			     struct sync_result *res)
{
	unsigned empty = pool_empty_families(svc);
	struct slot_diff diff;
	int ret;

	ret = slot_diff_compute(old_slots, svc->slots, pool_slots_len(svc), &diff);
	if (ret < 0)
		return ret;
	ret = ruleset_add_slot_changes(batch, pool, svc, &diff);
	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		unsigned bit = 1u << svc->families[k].family;

		if ((empty ^ old_empty) & bit)
			ret = ruleset_add_empty_change(batch, pool, svc,
						       svc->families[k].family,
						       empty & bit);
	}
	res->elements += diff.n_deletes + diff.n_adds;
	res->moved += (uint32_t)diff.n_changes;
	slot_diff_release(&diff);
	return ret;
}

int sync_pool_slots(struct nfnl_sock *sock, const struct knlb_model *pool,
		    const struct sync_old *old, struct sync_result *res,
		    char *err, size_t errlen)
{
	double start = now_ms();
	struct nfnl_batch *batch = nfnl_batch_new();
	int ret = batch ? 0 : -ENOMEM;

	*res = (struct sync_result){ 0 };
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++)
		if (old[i].slots)
			ret = add_service_delta(batch, pool, &pool->services[i],
						old[i].slots, old[i].empty, res);
	if (ret < 0) {
		nfnl_batch_free(batch);
		snprintf(err, errlen, "building the transaction: %s", strerror(-ret));
		return ret;
	}
	if (nfnl_batch_count(batch) == 0) {
		res->elapsed_ms = now_ms() - start;
		nfnl_batch_free(batch);
		return 0;	/* nothing changed: no transaction at all */
	}
	return send_transaction(sock, batch, start, res, err, errlen);
}

int sync_service_slots(struct nfnl_sock *sock, const struct knlb_model *pool,
		       const struct knlb_service *svc, const uint32_t *old_slots,
		       unsigned old_empty, struct sync_result *res, char *err,
		       size_t errlen)
{
	struct sync_old *old = calloc(pool->n_services, sizeof(*old));
	int ret;

	if (!old) {
		snprintf(err, errlen, "building the transaction: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	old[svc - pool->services] = (struct sync_old){ old_slots, old_empty };
	ret = sync_pool_slots(sock, pool, old, res, err, errlen);
	free(old);
	return ret;
}
