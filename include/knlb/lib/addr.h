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

bool addr_equal(const struct knlb_addr *a, const struct knlb_addr *b);

/* Format into buf (at least KNLB_ADDRSTRLEN); returns buf. */
const char *addr_format(const struct knlb_addr *a, char *buf, size_t len);
const char *addr_port_format(const struct knlb_addr *a, uint16_t port,
			     char *buf, size_t len);

#endif
