/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_SLOT_SHARE_H
#define KNLB_POOL_SLOT_SHARE_H

#include <stdbool.h>
#include <stddef.h>

#include "knlb/pool/pool-t.h"

/*
 * Services that share one base slot map (docs/architecture.md, "Shared
 * base maps"): maglev services, in either shape (the fallback shape
 * keeps its fallback maps per service), with tables of at least
 * SLOT_SHARE_MIN_SLOTS slots, whose base tables are the same slot
 * for slot, over the same backends (address and port, in order), for the
 * same protocol and families.  Such services list the same backends on
 * other VIPs or ports; each of them would write the same M elements.
 *
 * Pure: this file says who shares; nft/ruleset.c and nft/sync.c write
 * the shape.
 */

/*
 * From this size on a table is shared: below it a service's map costs
 * well under a millisecond to write, and sharing would only add a lookup
 * to each new flow.  The derived size reaches it at 100 backends.
 */
#define SLOT_SHARE_MIN_SLOTS 10000U

/* leader[i] when services[i] shares with no other */
#define SLOT_SHARE_NONE ((size_t)-1)

/* Whether svc can share its base map at all (shape and size). */
bool pool_slot_share_eligible(const struct knlb_service *svc);

/*
 * Per service of pool: leader[i] is the index of the first service (in
 * config order) of i's group, i itself for that one, or SLOT_SHARE_NONE.
 * Returns how many services share (0: none), or -ENOMEM.
 */
long pool_slot_share_groups(const struct knlb_model *pool, size_t *leader);

#endif
