/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ADDR_H
#define KNLB_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include "knlb/lib/addr-t.h"

/* Parse a literal address (no names, no port).  Returns 0 or -EINVAL. */
int addr_parse(const char *text, struct knlb_addr *out);

/* Parse "ADDR:PORT" ("[V6]:PORT" for IPv6); port must be 1..65535. */
int addr_port_parse(const char *text, struct knlb_addr *out, uint16_t *port);

/* KNLB_FAMILY_IPV4 or KNLB_FAMILY_IPV6; a must be one of the two. */
static inline enum knlb_family addr_family_index(const struct knlb_addr *a)
{
	return a->family == AF_INET6 ? KNLB_FAMILY_IPV6 : KNLB_FAMILY_IPV4;
}

/* "IPv4" or "IPv6", for messages. */
const char *addr_family_name(enum knlb_family f);

/* memcmp-like order: IPv4 before IPv6, then by address bytes. */
int addr_compare(const struct knlb_addr *a, const struct knlb_addr *b);

bool addr_equal(const struct knlb_addr *a, const struct knlb_addr *b);

/* Format into buf (at least KNLB_ADDRSTRLEN); returns buf. */
const char *addr_format(const struct knlb_addr *a, char *buf, size_t len);
const char *addr_port_format(const struct knlb_addr *a, uint16_t port,
			     char *buf, size_t len);

#endif
