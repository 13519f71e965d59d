/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_ADOPT_H
#define KNLB_POOL_ADOPT_H

#include <stdbool.h>
#include <stddef.h>

#include "knlb/pool/adopt-t.h"
#include "knlb/pool/pool-t.h"

/*
 * Start from what the running table says instead of guessing (docs/restart.md).
 * Pure: no kernel, no log; the daemon reads (adopt.h) and logs.
 */

struct pool_adopt_result {
	bool table;		/* there was a table to adopt */
	/*
	 * The running marks could not be kept (outside ct_mark_mask, another
	 * mask, two services on one mark): every service has its config-order
	 * mark and why says what was wrong.
	 */
	bool marks_reset;
	char why[256];
};

/*
 * Adopt t (from adopt_read(); NULL or !t->exists: nothing to adopt, every
 * backend up) into a pool fresh from pool_create():
 * - health: in a service whose map exists, a backend the map does not
 *   hold starts down, when its absence says so (pool_adopt_starts_down());
 *   the others start up;
 * - marks: each service keeps the mark its running chain sets when all of
 *   them fit ct_mark_mask and are distinct; a service with none takes the
 *   lowest free mark (as reload does);
 * then weights and slots are recomputed.  0, or -ENOMEM with the pool
 * unusable (free it).
 */
int pool_adopt(struct knlb_model *pool, const struct adopt_table *t,
	       struct pool_adopt_result *res);

/*
 * Backend b of svc is not in the running map as of as: does that mean it
 * was down?  Not when it has no check (nothing would bring it back), nor
 * when the table would not map it even if everything were up (weight 0,
 * a backup standing by, too few slots), unless it is a backup and the
 * map holds no primary (the service was on its backups, or empty).
 * all_up_slots[b]: its slots with every backend up.
 */
bool pool_adopt_starts_down(const struct knlb_service *svc, size_t b,
			    const struct adopt_service *as,
			    const uint32_t *all_up_slots);

/*
 * One line for the log about service s after pool_adopt():
 * "service web: adopted from the running table: mark 0x00000002, 3 of 4
 * backends mapped; b4 starts down until its probes pass".  Truncated to
 * len (always terminated).
 */
void pool_adopt_describe(const struct knlb_model *pool, size_t s,
			 const struct adopt_table *t,
			 const struct pool_adopt_result *res, char *buf,
			 size_t len);

#endif
