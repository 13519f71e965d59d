/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ADOPT_TABLE_H
#define KNLB_ADOPT_TABLE_H

#include <stdint.h>

#include "knlb/lib/addr-t.h"
#include "knlb/pool/adopt-t.h"

/* Free a table from adopt_read(); NULL is fine. */
void adopt_table_free(struct adopt_table *t);

/* The entry for a service name, or NULL when the table has none. */
const struct adopt_service *adopt_find(const struct adopt_table *t,
				       const char *name);

/* Is addr:port one of the values svc's map holds?  Its slot count, or 0. */
uint32_t adopt_slots_of(const struct adopt_service *svc,
			const struct knlb_addr *addr, uint16_t port);

#endif
