/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_ADOPT_H
#define KNLB_DAEMON_ADOPT_H

struct knlbd;

/*
 * At start, before the table is replaced: read the running table and
 * adopt its health and marks into d->pool (docs/restart.md), logging one line per
 * service.  A table that cannot be read is a warning (backends start up,
 * marks in config order, as without a table).  0, or -ENOMEM.
 */
int daemon_adopt_table(struct knlbd *d);

#endif
