/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_FLOWTAB_H
#define KNLB_FLOWTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/addr-t.h"

/*
 * Live-flow bookkeeping for the conntrack module: which knlb flows exist,
 * and per (service mark, backend address, port, protocol) how many are
 * active now and how many were opened and closed since start.  Pure: no
 * I/O, no clock, no netlink, so every rule below is unit-tested with
 * synthetic events (test/unit/test_flowtab.c).  src/ct/ct.c feeds it from
 * conntrack NEW/DESTROY events, TCP closing updates and dumps.
 *
 * "Active" means "not yet seen ending".  A flow ends when its conntrack
 * entry is destroyed (every protocol) or, for TCP, when the entry reaches
 * TIME_WAIT or CLOSE: the connection is over although the entry lingers
 * (120 s in TIME_WAIT by default) until its DESTROY.  Half-closed states
 * (FIN_WAIT, CLOSE_WAIT, LAST_ACK) are still active: data may still flow
 * one way.  UDP has no close: a UDP flow is active until its DESTROY.
 * An ended entry stays in the table, not active, so that its DESTROY or a
 * repeated closing counts nothing twice.  Per group, always:
 * active == opened - closed.
 *
 * A flow belongs to service S when (ct mark & mask) == S's mark; the caller
 * applies the mask, flowtab only sees the masked value.  A flow belongs to
 * backend B when its reply tuple's source is B's address:port (the DNAT
 * target).  That attribution is fixed when the flow is first seen.
 *
 * Flows are keyed by conntrack id plus the original source address, port
 * and protocol, so a recycled id (ids are a hash of the entry's address)
 * does not alias a different flow.
 *
 * Events can be lost (the kernel drops them when the listener's buffer is
 * full) and can arrive late or twice (a NEW event for a flow that a dump
 * already reported).  So every update is idempotent, and a resync pass
 * (begin, seen for every flow of a full dump, end) makes the table equal
 * to the dump: known flows not seen are closed, seen flows not known are
 * opened, flows the dump shows ending are closed, ended flows the dump
 * shows open again are reopened.  Corrections are counted, never hidden.
 *
 * Lookups allocate nothing.  The flow table is open addressing with linear
 * probing and backward-shift deletion (no tombstones, so churn does not
 * degrade it); it doubles at 70% load and halves below 1/8.  Memory is
 * about 32 bytes per slot, 1M flows fit in 2^21 slots (64 MiB).
 *
 * Not thread-safe; one owner (the event loop).
 */

struct flowtab;

/* What identifies one conntrack entry for its whole life. */
struct flow_key {
	uint32_t id;			/* conntrack id (CTA_ID) */
	uint8_t proto;			/* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint16_t src_port;		/* original source port, host order */
	struct knlb_addr src;		/* original source: the client */
};

/* A flow as an event or a dump reports it: identity plus attribution. */
struct flow {
	struct flow_key key;
	uint32_t mark;			/* service mark, already masked; != 0 */
	struct knlb_addr backend;	/* reply source: the DNAT target */
	uint16_t backend_port;		/* host order */
	bool ending;			/* TCP in TIME_WAIT or CLOSE: not active */
};

struct flow_counts {
	uint64_t active;		/* flows not yet seen ending */
	uint64_t opened;		/* seen appearing (or reopening) since start */
	uint64_t closed;		/* seen ending since start */
};

/* Packets and bytes of flows each way, from conntrack's accounting. */
struct flow_traffic {
	uint64_t pkts_in, bytes_in;	/* client -> backend (original) */
	uint64_t pkts_out, bytes_out;	/* backend -> client (reply) */
};

/* What one resync pass corrected. */
struct flowtab_resync {
	uint64_t opened;		/* in the dump, unknown before (NEW lost) */
	uint64_t closed;		/* known, not in the dump (DESTROY lost) */
	uint64_t moved;			/* known with another service/backend */
	uint64_t ended;			/* active, the dump shows it ending
					   (closing update lost) */
	uint64_t reopened;		/* ended, the dump shows it open again */
};

struct flowtab_stats {
	size_t flows;			/* entries tracked, ended ones included */
	size_t ending;			/* of those, ended: awaiting DESTROY */
	size_t slots;			/* flow hash table capacity */
	size_t groups;			/* (service, backend) counters kept */
	uint64_t duplicate_news;	/* flow_new for a flow already known */
	uint64_t unknown_destroys;	/* flow_destroy for a flow not known */
	uint64_t closings;		/* flows flow_closing counted closed */
	uint64_t duplicate_closings;	/* flow_closing for a flow ended already */
	uint64_t unknown_closings;	/* flow_closing for a flow not known */
	uint64_t resyncs;		/* completed resync passes */
	struct flowtab_resync last_resync;
};

/*
 * Called when a (service, backend) active count drops to 0, whether by a
 * closing, a destroy or a resync closing flows.  It runs after the table is
 * consistent again, so it may query and update the flowtab, but must not
 * free it.  addr points to flowtab memory valid only during the call.
 */
typedef void (*flowtab_drained_fn)(void *arg, uint32_t mark,
				   const struct knlb_addr *addr, uint16_t port,
				   uint8_t proto);

/* Per-backend counters, as flowtab_foreach_backend() reports them. */
typedef void (*flowtab_backend_fn)(void *arg, uint32_t mark,
				   const struct knlb_addr *addr, uint16_t port,
				   uint8_t proto, const struct flow_counts *c);

/* NULL on ENOMEM.  The caller owns the result; free with flowtab_free(). */
struct flowtab *flowtab_new(void);
void flowtab_free(struct flowtab *ft);

void flowtab_set_drained_fn(struct flowtab *ft, flowtab_drained_fn fn,
			    void *arg);

/*
 * A flow started (or a dump saw it: inside a resync use resync_seen).
 * Returns 1 when it was new, 0 when it was already known (counted as a
 * duplicate, nothing else changes, even if it had ended: only a dump
 * reopens a flow), -EINVAL for mark 0 or an address family other than
 * AF_INET/AF_INET6, -ENOMEM when the table could not grow (the flow is
 * then not counted: the caller should resync later).  A new flow with
 * ending set counts as opened and closed at once, never active.
 */
int flowtab_flow_new(struct flowtab *ft, const struct flow *flow);

/*
 * A TCP flow reached TIME_WAIT or CLOSE: it stops counting as active now
 * (active--, closed++, the drained callback if its backend reached 0) and
 * stays known, so that its DESTROY counts nothing more.  Idempotent.
 * Returns 1 when it was counted closed now, 0 when it had ended already
 * (counted in duplicate_closings), -ENOENT when the flow is not known
 * (counted in unknown_closings: its DESTROY came first, or its NEW was
 * lost or is not read yet; nothing changes).
 */
int flowtab_flow_closing(struct flowtab *ft, const struct flow_key *key);

/* The flow is in the table (active or ended).  Counts nothing. */
bool flowtab_flow_known(const struct flowtab *ft, const struct flow_key *key);

/*
 * A flow's entry is gone.  Returns 1 when it was known, 0 when it was not
 * (counted in unknown_destroys: its NEW was lost, or a resync already
 * closed it).  A known flow that had ended is forgotten without counting
 * it closed again.
 */
int flowtab_flow_destroy(struct flowtab *ft, const struct flow_key *key);

/*
 * Reconcile with a full dump: begin, then seen for every flow the dump
 * returns, with ending set for a TCP entry in TIME_WAIT or CLOSE, then end.
 * flow_new/flow_closing/flow_destroy may be interleaved (events read while
 * dumping); a flow_new inside the pass counts as seen.  seen closes an
 * active flow the dump shows ending and reopens (active++, opened++) an
 * ended one the dump shows open (the kernel reuses an entry in CLOSE when
 * the client reconnects from the same port after a backend's RST).  end
 * closes every active flow not seen, forgets ended ones not seen (their
 * DESTROY was lost; they were counted closed already), reports the
 * corrections in *out (may be NULL) and fires the drained callback for
 * backends that reached 0.  resync_seen returns like flowtab_flow_new
 * (1 = it was unknown).
 */
void flowtab_resync_begin(struct flowtab *ft);
int flowtab_resync_seen(struct flowtab *ft, const struct flow *flow);
void flowtab_resync_end(struct flowtab *ft, struct flowtab_resync *out);
/*
 * Limit the pass begun last to the flows of n service marks, for a dump
 * that asked the kernel for only those (periodic counting): end closes an
 * unseen flow only when its mark is one of them; the other services'
 * flows are left exactly as they are.  Call after begin; the scope ends
 * with the pass.  0, or -ENOMEM (the pass then stays unscoped: the caller
 * must abort it).
 */
int flowtab_resync_scope(struct flowtab *ft, const uint32_t *marks, size_t n);
/* mark is in the scope of the pass under way (any mark when unscoped). */
bool flowtab_resync_in_scope(const struct flowtab *ft, uint32_t mark);
/*
 * The dump failed part way: close nothing (an unseen flow may just be in
 * the part not read).  Flows the pass opened stay; counts stay as stale
 * as before, and the caller should resync again.
 */
void flowtab_resync_abort(struct flowtab *ft);
bool flowtab_resyncing(const struct flowtab *ft);

/*
 * n flows of a backend that no dump or event ever showed (they opened and
 * ended between two periodic dumps; the kernel's per-backend counter says
 * they existed): opened and closed both grow by n, active does not move.
 * Creates the pair if it was never seen.  0, -EINVAL (mark 0, bad
 * address) or -ENOMEM.
 */
int flowtab_add_unseen(struct flowtab *ft, uint32_t mark,
		       const struct knlb_addr *addr, uint16_t port,
		       uint8_t proto, uint64_t n);

/*
 * Counters of one backend of one service, or of a whole service (all its
 * backends and protocols).  Zeroes and -ENOENT for a pair never seen.
 */
int flowtab_backend_counts(const struct flowtab *ft, uint32_t mark,
			   const struct knlb_addr *addr, uint16_t port,
			   uint8_t proto, struct flow_counts *out);
int flowtab_service_counts(const struct flowtab *ft, uint32_t mark,
			   struct flow_counts *out);

/* Every (service, backend) pair ever seen, in no particular order. */
void flowtab_foreach_backend(const struct flowtab *ft, flowtab_backend_fn fn,
			     void *arg);

void flowtab_get_stats(const struct flowtab *ft, struct flowtab_stats *out);

/*
 * Per-backend packets and bytes from conntrack's accounting ([global]
 * traffic_counters = conntrack, flowtab_traffic.c), after
 * flowtab_count_traffic() (32 bytes more per slot; 0 or -ENOMEM).
 *
 * Each known flow keeps its counters at their last reading:
 * flowtab_flow_traffic() from a dump or from its DESTROY (call it before
 * flowtab_flow_destroy(); -ENOENT for a flow not known).  When the flow
 * leaves the table (its DESTROY, or a pass that no longer sees it) its
 * last reading goes to its backend's ended total.  A flow's counters
 * only grow, and an entry lingers after its last packet (TCP 120 s in
 * TIME_WAIT, UDP 30 s): a flow read by any dump after its last packet is
 * counted exactly even when its DESTROY is never read (bounded mode,
 * periodic counting, lost events).
 *
 * Flows not known (the services that do not follow flows, track = off)
 * count from the reader's own dump: untracked_begin, then untracked for
 * each; they are then in no total once they end.  The DESTROY of a flow
 * not known goes to traffic_ended.  Both create the pair: 0, -EINVAL
 * (mark 0, bad address) or -ENOMEM.
 *
 * traffic_shown: a backend's ended + live + untracked, raised to at least
 * what the last call showed, counter by counter, so that a reader never
 * sees a counter go back (a flow between its last dump and the reading
 * of its DESTROY, an untracked flow that ended); zeroes and -ENOENT for a
 * pair never seen.  The figures are a lower bound of the traffic, exact
 * when every flow was read after its last packet.
 */
int flowtab_count_traffic(struct flowtab *ft);
int flowtab_flow_traffic(struct flowtab *ft, const struct flow_key *key,
			 const struct flow_traffic *t);
int flowtab_traffic_ended(struct flowtab *ft, uint32_t mark,
			  const struct knlb_addr *addr, uint16_t port,
			  uint8_t proto, const struct flow_traffic *t);
void flowtab_traffic_untracked_begin(struct flowtab *ft);
int flowtab_traffic_untracked(struct flowtab *ft, uint32_t mark,
			      const struct knlb_addr *addr, uint16_t port,
			      uint8_t proto, const struct flow_traffic *t);
int flowtab_traffic_shown(struct flowtab *ft, uint32_t mark,
			  const struct knlb_addr *addr, uint16_t port,
			  uint8_t proto, struct flow_traffic *out);

#endif
