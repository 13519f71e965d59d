/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_SCHED_JHASH_H
#define KNLB_SCHED_JHASH_H

#include <stddef.h>
#include <stdint.h>
#include "knlb/config/config-t.h"

/*
 * The kernel's slot choice for scheduler = maglev, computed in userspace
 * for `knlbctl explain`: nft_hash's jhash (Bob Jenkins' lookup3, as
 * include/linux/jhash.h has it) over the registers the rule loaded, then
 * reciprocal_scale() into [0, modulus).  Pure.
 */

/* jhash(key, len, seed) exactly as the kernel computes it on this CPU. */
uint32_t sched_jhash(const void *key, uint32_t len, uint32_t seed);

/* The kernel's reciprocal_scale(): h * modulus / 2^32, not h % modulus. */
static inline uint32_t sched_jhash_scale(uint32_t h, uint32_t modulus)
{
	return (uint32_t)(((uint64_t)h * modulus) >> 32);
}

/* The longest key: an IPv6 5-tuple, each field padded to 4 bytes. */
#define SCHED_JHASH_KEY_MAX	40

/* What a new flow shows the hash: the client's side and the VIP's. */
struct sched_flow {
	struct knlb_addr saddr, daddr;	/* one family */
	uint16_t sport, dport;		/* host byte order */
};

/*
 * The bytes the service rule concatenates in its registers for hash_key
 * (src/nft/ruleset.c, put_slot_selector): the source address, then for
 * src-ip-port its port, for 5-tuple also the destination address and
 * port.  Registers are 4 bytes wide: a port is 2 bytes in network order
 * followed by 2 zero bytes.  Returns the length written to out.
 */
size_t sched_jhash_key(enum knlb_hash_key key, const struct sched_flow *flow,
		       uint8_t out[SCHED_JHASH_KEY_MAX]);

/* The slot the kernel picks for flow: scale(jhash(key), m). */
uint32_t sched_jhash_slot(enum knlb_hash_key key, const struct sched_flow *flow,
			  uint32_t seed, uint32_t m);

#endif
