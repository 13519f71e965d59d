/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ADDR_T_H
#define KNLB_ADDR_T_H

#include <netinet/in.h>
#include <stdint.h>

/*
 * A network address of either family.  Only AF_INET is accepted by the
 * config parser today, but nothing exported assumes IPv4 so IPv6 can land
 * without changing every signature.
 */
struct knlb_addr {
	sa_family_t family;		/* AF_INET or AF_INET6 */
	union {
		struct in_addr in;	/* network byte order */
		struct in6_addr in6;
	};
};

/* "a.b.c.d:port" or "[v6]:port" plus NUL */
#define KNLB_ADDRSTRLEN (INET6_ADDRSTRLEN + 8)

#endif
