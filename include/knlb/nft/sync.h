/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_SYNC_H
#define KNLB_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nfnl_sock;
struct knlb_model;
struct knlb_service;
struct fallback_state;

/*
 * Sync: bringing the kernel to the pool's desired state, one transaction
 * each call: the whole table (a table replace) at start, only changed slot
 * elements afterwards.  When to call which is the committer's decision
 * (commit.h).
 */

struct sync_result {
	size_t messages;	/* netlink messages in the transaction */
	size_t bytes;		/* size of the transaction */
	size_t elements;	/* slot elements added + deleted */
	uint32_t moved;		/* slots whose backend changed (deltas only) */
	double elapsed_ms;	/* build + send + every ACK read */
	uint64_t acked_ns;	/* CLOCK_MONOTONIC when the last ACK was read
				   (0: no transaction was sent) */
	/* persistence: entries purged with their backend (deltas, the sweep after included) */
	size_t persist_purged;
	/* entries carried over a table replace, and those that could not be read */
	size_t persist_kept;
	bool persist_unread;
	/* a replace: services sharing a base slot map (pool/slot_share.h) */
	size_t shared;
	/* a replace kept the running table's objects (replace_in_place.h) */
	bool in_place;
};

/*
 * Replace the owned table with the pool (start-up, after a failed delta).
 * A running table is replaced in place (its rules and sets' elements
 * flushed and written again, objects no longer wanted deleted), or whole
 * when the kernel refuses that (a set's or a base chain's definition
 * changed: logged).
 * The persistence entries the old table held for backends the pool maps
 * are read first and added back in the same transaction, with the time
 * they had left; a map that cannot be read starts empty (persist_unread).
 */
int sync_replace(struct nfnl_sock *sock, const struct knlb_model *pool,
		 struct sync_result *res, char *err, size_t errlen);



/* What the kernel holds for one service, the base of a delta. */
struct sync_old {
	const uint32_t *slots;	/* NULL: leave this service alone */
	/*
	 * The base slots was computed on (svc->base_gen then), 0 when not
	 * known: when it is svc's now, only the slots of the backends whose
	 * state changed are diffed (pool_slots_concerned()).
	 */
	uint64_t base_gen;
	unsigned empty;		/* bit 1 << family: that VIP is in its on_empty set */
	/*
	 * A service in the fallback shape (pool/fallback.h): what its maps
	 * and chain fb_NAME hold, updated to what the kernel holds after a
	 * successful sync.  Required for those services (-EINVAL without:
	 * only a replace can then bring the kernel to the pool); the delta
	 * is the failover's: the base map, the rules of the dead backends
	 * and their maps' elements, not the serving backends' precomputed
	 * fallbacks (sync_fallback_refresh()).
	 */
	struct fallback_state *fb;
	/*
	 * Sized as fb, or NULL: where the desired state is built (all of it,
	 * or the touched slots of a partial one: fallback_desired_delta()).  The committer keeps one per service, its pages
	 * faulted in when its view was made, so that a failover writes no
	 * fresh page (a fresh 2 x M state was 128 page faults at M = 65537,
	 * 1-2 ms on this VM).  NULL: one is allocated for the transaction.
	 */
	struct fallback_state *fb_scratch;
	/*
	 * A reload that changed the backend list of a service in the shape:
	 * its maps NAME_fb0 .. NAME_fb<fb_drop_maps - 1> are deleted and the
	 * new list's made and filled in the same transaction (the maps are
	 * named by backend index); fb then holds only the kernel's base,
	 * translated to the new indexes.  0: the list is the same.
	 */
	size_t fb_drop_maps;
	/*
	 * A service sharing a base slot map (pool/slot_share.h): the table
	 * that map holds, in svc's backend indexes.  Its own map then holds
	 * only the slots of old->slots that differ from it.  NULL: the
	 * service has a slot map of its own.
	 */
	const uint32_t *shared_base;
};

/*
 * The kernel holds o for svc (struct sync_old above) and svc is what it
 * should hold: send exactly the element deletes and adds between them,
 * in one transaction, or nothing when equal.  When a backend leaves the
 * table of a persistent service, the entries pointing at a backend
 * without slots are destroyed in the same transaction, and once more
 * right after it (clients learned between the dump and the commit).
 */
int sync_service_slots(struct nfnl_sock *sock, const struct knlb_model *pool,
		       const struct knlb_service *svc, const struct sync_old *o,
		       struct sync_result *res, char *err, size_t errlen);

/*
 * The same for every service of pool at once (a reload), in one
 * transaction: old[i] is what the kernel holds for pool->services[i],
 * with slot values translated to indexes of pool's backends (any value
 * that is no backend of pool, other than SCHED_SLOT_EMPTY, forces the
 * slot to be rewritten).  Nothing sent when nothing differs.
 */
int sync_pool_slots(struct nfnl_sock *sock, const struct knlb_model *pool,
		    const struct sync_old *old, struct sync_result *res,
		    char *err, size_t errlen);

/*
 * The full fallback state of svc (st sized with fallback_state_init()):
 * what a replace writes, every backend's map precomputed.  0 or -ENOMEM.
 */
int sync_fallback_full(const struct knlb_service *svc, struct fallback_state *st);
/*
 * What a table replace writes in the fallback shape (st sized with
 * fallback_state_init()): the base, and the maps of the backends that do
 * not serve, which the kernel reads now.  The serving backends' maps start
 * empty: filling them is 2 x M elements the table's first packet need not
 * wait for, so sync_fallback_refresh() does it once the table is in.
 * Until then a failure writes its backend's share, as the direct shape
 * does.  0 or -ENOMEM.
 */
int sync_fallback_now(const struct knlb_service *svc, struct fallback_state *st);
/*
 * Per service of pool, the state of sync_fallback_full() (full) or of
 * sync_fallback_now() (base NULL for a service not in the shape), or NULL
 * on ENOMEM; freed with sync_fallback_states_free().  A replace writes the
 * second; the render shows the first, what the kernel holds once the
 * refresh is done.
 */
struct fallback_state *sync_fallback_states_new(const struct knlb_model *pool,
					       bool full);
void sync_fallback_states_free(struct fallback_state *st, size_t n);

/*
 * Off the failover's path: bring svc's fallback maps from have to the
 * full state (each serving backend's slots mapped to their next serving
 * preference), one transaction, none when equal; have updated on success.
 * shared_base: as sync_old's (svc shares its group's base map).
 */
int sync_fallback_refresh(struct nfnl_sock *sock, const struct knlb_model *pool,
			  const struct knlb_service *svc,
			  struct fallback_state *have, const uint32_t *shared_base,
			  struct sync_result *res, char *err, size_t errlen);

#endif
