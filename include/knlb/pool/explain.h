/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_EXPLAIN_H
#define KNLB_POOL_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "knlb/lib/addr-t.h"
#include "knlb/pool/pool-t.h"

/*
 * Where a new flow from a client would go (`knlbctl explain`): pure, from
 * the pool's slot table, which is what knlbd last gave the kernel.
 */
struct pool_explanation {
	enum knlb_family family;	/* the client's: which slot table */
	bool per_flow;		/* numgen picks per flow: no slot for a client */
	uint32_t slot;		/* maglev: the slot jhash picks */
	uint32_t backend;	/* index in svc->backends, or SCHED_SLOT_EMPTY */
	/*
	 * maglev: the slot's owner in the base table when it does not serve
	 * and the slot falls back to its next serving preference (backend),
	 * else SCHED_SLOT_EMPTY.
	 */
	uint32_t fallback_from;
	bool pending;		/* a change not in the kernel yet (dirty) */
};

/*
 * For a new flow from client:port (port 0: not given) to svc's VIP of the
 * client's family.  Returns 0, -EINVAL when the hash key covers the
 * client's port and none was given, -EAFNOSUPPORT when svc has no VIP of
 * the client's family.
 */
int pool_explain(const struct knlb_service *svc, const struct knlb_addr *client,
		 uint16_t port, struct pool_explanation *out);

/*
 * Why backend b takes new flows or does not, in a few words: "up",
 * "backup serving: no primary usable", "down (health)", "draining",
 * "disabled", "weight 0", "backup on standby".
 */
const char *pool_backend_why(const struct knlb_service *svc, size_t b);

#endif
