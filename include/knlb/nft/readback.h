/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_ADOPT_H
#define KNLB_ADOPT_H

#include <stddef.h>

#include "knlb/pool/adopt_table.h"

/*
 * Read back the running table `inet <table>` with dumps on a netlink
 * socket of its own: per service, its slot map's values and the ct mark
 * its chain sets.  Reading only; nothing is changed.  Every receive is
 * bounded (ADOPT_TIMEOUT_MS), and the whole read is retried when the
 * table changed while it was being read, so the result is one
 * generation's state.
 *
 * On success *out is a new table the caller frees with
 * adopt_table_free() (pool/adopt_table.h); a table that does not exist gives one with
 * exists = false (nothing to adopt), not an error.  Otherwise returns
 * -errno, *out is NULL and err says what could not be read.
 */
#define ADOPT_TIMEOUT_MS 2000
int adopt_read(const char *table, struct adopt_table **out, char *err,
	       size_t errlen);

#endif
