/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ADDR_T_H
#define KNLB_ADDR_T_H

#include <netinet/in.h>
#include <stdint.h>

/*
 * A network address of either family.  family 0 (AF_UNSPEC) marks "none"
 * where a slot may be empty (a service's VIP of a family it does not serve).
 */
struct knlb_addr {
	sa_family_t family;		/* AF_INET or AF_INET6 */
	union {
		struct in_addr in;	/* network byte order */
		struct in6_addr in6;
	};
};

/*
 * Per-family arrays (a dual-stack service's VIPs, SNAT addresses, slot
 * tables) are indexed by addr_family_index(): IPv4 first, then IPv6.
 */
enum knlb_family {
	KNLB_FAMILY_IPV4,
	KNLB_FAMILY_IPV6,
	KNLB_FAMILIES
};

/* "a.b.c.d:port" or "[v6]:port" plus NUL */
#define KNLB_ADDRSTRLEN (INET6_ADDRSTRLEN + 8)

#endif
