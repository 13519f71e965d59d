/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_COMMIT_H
#define KNLB_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The commit step: pool changes -> kernel, once per loop iteration (the
 * loop's before-sleep hook), each change sent by sync.h.  Remembers what the
 * kernel holds for each service (as last acknowledged) so every commit is
 * the exact delta; after a failed delta it replaces the whole table, and
 * retries that every second until the kernel takes it.
 */

struct loop;
struct nfnl_sock;
struct knlb_model;

struct commit_stats {
	uint64_t transactions;		/* deltas the kernel acknowledged */
	uint64_t failures;		/* deltas or replaces it rejected */
	uint64_t replaces;		/* table replaces after a failed delta */
	/* the last delta */
	size_t last_elements;
	size_t last_messages;		/* netlink messages of its transaction */
	uint32_t last_moved;		/* slots whose backend changed */
	double last_ack_ms;		/* build + send + ACKs */
	double last_decision_ms;	/* from the pool change to the ACK */
	/* its dead backends' slots were answered from the kernel's fallback
	 * maps (pool_compute_slots_hinted()), not by a walk */
	bool last_hinted;
};

struct committer;

/* The kernel holds pool as it is now (sync_replace just succeeded). */
int committer_new(struct loop *loop, struct knlb_model *pool,
		  struct nfnl_sock *nfnl, struct committer **out);
void committer_free(struct committer *c);

/* Send every dirty service's delta; the loop's before-sleep hook. */
void committer_run(struct committer *c);

/*
 * Services in the fallback shape (pool/fallback.h): bring the serving
 * backends' precomputed fallbacks up to date now, one transaction per
 * service whose maps a transition left stale or a table replace left
 * empty.  A timer does it FALLBACK_REFRESH_NS after the transition or the
 * replace, one service a tick; tests call this to do all at once.
 */
struct sync_result;
/* total (may be NULL): the transactions' messages, elements and time, summed. */
void committer_refresh_fallbacks(struct committer *c, struct sync_result *total);

/*
 * A reload: bring the kernel from what it holds for the running pool to
 * pool (the new one, state carried by reload_plan_build), in one
 * transaction: slot deltas of every service for RELOAD_SLOTS, a table
 * replace for RELOAD_STRUCTURE.  On success the committer follows pool
 * from now on; on failure nothing changed (kernel, committer) and err
 * says why.  0 or -errno.
 */
struct reload_plan;
struct sync_result;
int committer_reload(struct committer *c, struct knlb_model *pool,
		     const struct reload_plan *plan, struct sync_result *res,
		     char *err, size_t errlen);

/* Every service's slots are in the kernel (no failed delta pending). */
bool committer_synced(const struct committer *c);

/*
 * Service s's slot table as the kernel last acknowledged it (indices into
 * pool->services[s].backends, SCHED_SLOT_EMPTY for none): table_size long,
 * owned by the committer, valid until the next commit or reload.
 */
const uint32_t *committer_kernel_slots(const struct committer *c, size_t s);

/*
 * The service whose base slot map service s shares in the kernel (s
 * itself when it leads its group; docs/architecture.md, "Shared base
 * maps"), or -1 when its slot map is its own.
 */
long committer_shared_leader(const struct committer *c, size_t s);

void committer_get_stats(const struct committer *c, struct commit_stats *out);

#endif
