/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CT_UNSEEN_H
#define KNLB_CT_UNSEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/ct/flowtab.h"
#include "knlb/lib/addr-t.h"
#include "knlb/nft/stats.h"

/*
 * Exact opened counts for services counted by periodic dumps (track =
 * periodic).  A dump sees the flows alive at its instant: one that opens
 * and ends between two dumps is never seen.  The kernel counts every new
 * flow per backend in the table's backend_new set (nft/stats.h), so after
 * each pass
 *
 *   unseen = (kernel's new flows since the baseline)
 *          - (flows the flowtab saw appear since the baseline)
 *
 * flows opened and ended unseen: they are added to the flowtab as opened
 * and closed (flowtab_add_unseen), active does not move.
 *
 * Never more than the truth.  The counters are read just before each
 * pass's dump, the baseline just after one: a flow opened in between is
 * in the dump but not yet in the counter, so it can only make the estimate
 * smaller (by the flows of those few milliseconds; the next pass has them,
 * except those of the baseline's own window).  What has been added is
 * never taken back.  A counter that went down (a whole-table replace, an
 * element idle for an hour) restarted from zero: the flows counted
 * between the read before and the restart are lost, never double counted.
 * Entries created without a packet (conntrack -I, knlb-ctgen) are not in
 * the kernel's counters: they are counted from dumps only, as before.
 *
 * Pure: the caller reads the counters (stats_read_new()) and passes them
 * in; unit-tested in test/unit/test_unseen.c.
 */

struct unseen_backend {
	uint32_t mark;			/* service mark (masked) */
	struct knlb_addr addr;
	uint16_t port;
	uint8_t proto;
	uint64_t kernel_last;		/* the counter at the last read */
	uint64_t kernel_since;		/* its increments since the baseline */
	uint64_t seen_base;		/* flowtab opened at the baseline */
	uint64_t added;			/* unseen flows added so far */
	bool in_read;			/* its element was in the last read */
};

struct unseen {
	struct unseen_backend *b;	/* sorted by mark, proto, port, address */
	size_t n, cap;
	bool based;			/* a baseline was taken */
	uint64_t added;			/* in all, since start */
};

/*
 * Right after a pass: the baseline, from counters k read after its dump,
 * for the backends of the n marks (flowtab pairs and kernel elements
 * alike).  Forgets any earlier baseline.  0 or -ENOMEM (no baseline).
 */
int unseen_baseline(struct unseen *u, const struct flowtab *ft,
		    const struct stats_table *k, const uint32_t *marks,
		    size_t n);

/*
 * After a pass whose counters k were read just before its dump: add to ft
 * the flows of the n marks' backends that no dump saw since the baseline.
 * *added (may be NULL) gets how many this call added.  0, -EAGAIN without
 * a baseline, or -ENOMEM (what was added stays).
 */
int unseen_apply(struct unseen *u, struct flowtab *ft,
		 const struct stats_table *k, const uint32_t *marks, size_t n,
		 uint64_t *added);

/* Forget the baseline (the marks changed); the next pass takes one. */
void unseen_reset(struct unseen *u);
void unseen_free(struct unseen *u);

#endif
