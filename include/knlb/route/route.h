/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ROUTE_H
#define KNLB_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/addr-t.h"

/*
 * VIP routes for a routing daemon to export (announce = route,
 * docs/scale-out.md), programmed with rtnetlink.  A VIP's route is a
 * host route (/32, /128) of type blackhole in knlbd's own table
 * (announce_table) with protocol KNLB_RTPROT: no rule points at that
 * table, so the route moves no packet on this host; BIRD's `protocol
 * kernel { kernel table N; learn; }` (or FRR's `table-direct`) imports it
 * and BGP exports it with this gateway as next hop.  Only routes that
 * carry both the table and the protocol are ever listed or removed: what
 * the kernel holds of knlb's is recognisable, so a restart adopts it.
 *
 * Calls are synchronous (one request, its ACK): a VIP changes state only
 * when its services do.  Functions return 0 or -errno.
 */

/* rtm_protocol of knlb's routes; `ip route show table 4242 proto 245`. */
#define KNLB_RTPROT	245

struct route_sock;

int route_sock_open(struct route_sock **out);
void route_sock_close(struct route_sock *rs);

/*
 * The VIP's route in table, created or made knlb's (NLM_F_CREATE |
 * NLM_F_REPLACE: idempotent, never a moment without it).
 */
int route_announce(struct route_sock *rs, uint32_t table,
		   const struct knlb_addr *vip);

/* Removes knlb's route to vip from table; absent is success. */
int route_withdraw(struct route_sock *rs, uint32_t table,
		   const struct knlb_addr *vip);

/*
 * knlb's routes in table, both families: *out (malloc'd, the caller
 * frees) holds *n addresses.
 */
int route_list(struct route_sock *rs, uint32_t table, struct knlb_addr **out,
	       size_t *n);

#endif
