/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_NFT_REPLACE_IN_PLACE_H
#define KNLB_NFT_REPLACE_IN_PLACE_H

/*
 * A table replace that keeps the table's sets and chains (src/nft/
 * replace_in_place.c).  Deleting a set that the old rules look up is not
 * atomic for packets: one that entered the old rules just before the
 * commit looks the deleted set up after it and misses, so a new
 * connection goes un-NATed (refused by the gateway itself) once in about
 * a hundred whole-table replaces under load (docs/architecture.md,
 * "Start-up").  Flushing the rules and the sets' elements and adding them
 * again in one transaction has no such instant.
 */
#include <stdbool.h>
#include <stddef.h>

struct nfnl_batch;

/* The named sets and chains of one table, as the kernel has them. */
struct table_objects {
	bool exists;
	char **sets;
	char **set_defs;	/* each set's definition, for comparison */
	size_t n_sets;
	char **chains;
	size_t n_chains;
};

/* Read table's objects.  0 (exists false: no such table) or -errno, err says why. */
int table_objects_read(const char *table, struct table_objects *out,
		       char *err, size_t errlen);
void table_objects_free(struct table_objects *t);

/*
 * The first half of an in-place replace: every rule of table, every
 * element of its sets, deleted.  Objects the batch then adds again with
 * the same definition are kept (nfnl_batch_keep_existing()).  0 or -ENOMEM.
 */
int replace_in_place_flush(struct nfnl_batch *batch, const char *table,
			   const struct table_objects *t);
/*
 * The last part: delete t's sets and chains that the batch does not add
 * (a service gone, a counting chain turned off).  0, -ENOMEM, or -ESTALE
 * when a set the batch adds is defined otherwise than the running one
 * (the kernel would keep the old definition): replace the table whole.
 */
int replace_in_place_drop_rest(struct nfnl_batch *batch, const char *table,
			       const struct table_objects *t);

#endif
