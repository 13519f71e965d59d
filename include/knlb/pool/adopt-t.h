/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ADOPT_T_H
#define KNLB_ADOPT_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/addr-t.h"
#include "knlb/config/config-t.h"

/*
 * What a running table `inet <table>` holds, read back at start so that
 * knlbd adopts it instead of guessing (docs/restart.md).  Facts only: which
 * policy follows from them is pool-adopt.c's business.
 */

/* Bits of adopt_service.fallback_rules: nft/fallback.c's backends per service. */
#define ADOPT_FALLBACK_WORDS 32

/* One distinct value of a slot map: a backend the kernel maps. */
struct adopt_backend {
	struct knlb_addr addr;		/* AF_INET or AF_INET6 */
	uint16_t port;			/* host order */
	uint32_t slots;			/* slot elements that map to it */
};

/* What the table holds for one service name. */
struct adopt_service {
	char name[KNLB_NAME_MAX];
	/*
	 * map <name>_slots (IPv4) or <name>_slots6 (IPv6) exists, even when
	 * it holds no element; maps: bit 1 << family for each one found.
	 */
	bool has_map;
	unsigned maps;
	/* both families' maps together, sorted by address (IPv4 first), port */
	struct adopt_backend *mapped;
	size_t n_mapped;
	uint32_t n_elements;		/* slot elements in the map */
	/* chain svc_<name> has a rule */
	bool has_chain;
	/*
	 * The `ct mark set` of that rule was recognised: mark is the value
	 * it writes under mark_mask (0xffffffff for `ct mark set MARK`,
	 * MASK for `ct mark set ct mark & ~MASK | MARK`).
	 */
	bool has_mark;
	uint32_t mark;
	uint32_t mark_mask;
	/*
	 * The fallback shape (pool/fallback.h): chain fb_<name> jumps to
	 * chain fb<i>_<name>, which reads map <name>_fb<i>, for each bit i set here (a backend index
	 * of the config that wrote it).  Those backends' slots are counted
	 * in mapped[] where their map sends them, as the kernel forwards.
	 */
	uint32_t fallback_rules[ADOPT_FALLBACK_WORDS];
	/*
	 * The shared base shape (nft/slot_share.c): bit 1 << family for each
	 * map <name>_ovr[6] found; share_lead[family], the service whose map
	 * <lead>_base[6] the chain's second slot rule reads; dispatched, bit
	 * 1 << family for each dispatch element that jumps to the chain (a
	 * family with no usable backend has none).  The family's slots are
	 * the base map overlaid with the override map, when dispatched.
	 */
	unsigned shared_maps, dispatched;
	char share_lead[KNLB_FAMILIES][KNLB_NAME_MAX];
};

struct adopt_table {
	bool exists;			/* false: nothing to adopt */
	uint32_t genid;			/* nftables generation it was read at */
	unsigned int reads;		/* > 1: the table moved while being read */
	struct adopt_service *services;	/* in the order the kernel listed them */
	size_t n_services;
};

#endif
