/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ANNOUNCE_PLAN_H
#define KNLB_ANNOUNCE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "knlb/config/config-t.h"
#include "knlb/lib/addr-t.h"

/*
 * announce = route, the pure half: which VIPs this gateway should attract
 * now (docs/scale-out.md).  A dual-stack service has a VIP per family, and
 * each follows that family's state (its own backends, its own on_empty).  A route is per address, services are per
 * address, protocol and port: a VIP is wanted while EVERY service on it
 * with announce = route has a usable backend, so a gateway that cannot
 * serve one of the VIP's ports steps back and leaves all of them to the
 * gateways that can.  Services with announce = no on the same address do
 * not count.  No I/O: src/daemon/announce.c programs the result.
 */

struct knlb_model;

struct announce_want {
	struct knlb_addr vip;
	bool wanted;
	/* !wanted: the first service on the VIP with no usable backend */
	char blocked_by[KNLB_NAME_MAX];
};

/*
 * One row per distinct VIP of the services with announce = route, in
 * the order they first appear.  *out is malloc'd (NULL when *n is 0),
 * the caller frees it.  0 or -ENOMEM.
 */
int announce_plan_build(const struct knlb_model *pool,
			struct announce_want **out, size_t *n);

#endif
