/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DIFF_H
#define KNLB_DIFF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Old vs new slot table -> the element operations that turn one into the
 * other.  The kernel cannot change an element's value in place and aborts
 * a transaction that deletes an absent key, so the diff must be exact:
 *   EMPTY -> b : add
 *   a -> EMPTY : delete
 *   a -> b     : delete then add (same transaction)
 * Both tables index the same backend array (SCHED_SLOT_EMPTY = no element).
 */

struct slot_change {
	uint32_t slot;
	uint32_t from;		/* backend index or SCHED_SLOT_EMPTY */
	uint32_t to;		/* backend index or SCHED_SLOT_EMPTY */
};

struct slot_diff {
	struct slot_change *changes;	/* by slot, or in the list's order */
	size_t n_changes;
	size_t n_deletes;		/* element deletions needed */
	size_t n_adds;			/* element additions needed */
};

/* Returns 0 or -ENOMEM; free with slot_diff_release(). */
int slot_diff_compute(const uint32_t *old_slots, const uint32_t *new_slots,
		      uint32_t m, struct slot_diff *out);
/*
 * The same over the slots of list only, the caller knowing that no other
 * slot differs (pool_slots_concerned()): a transition's diff at the cost
 * of the slots it concerns, not of the table.
 */
int slot_diff_compute_list(const uint32_t *old_slots, const uint32_t *new_slots,
			   const uint32_t *list, size_t n_list,
			   struct slot_diff *out);
void slot_diff_release(struct slot_diff *diff);

/*
 * How many slots differ, and nothing else: what a fallback-shape
 * transition needs to report the slots it moved (its elements come from
 * the fallback state), without recording every change on the failover's
 * path.
 */
size_t slot_diff_count(const uint32_t *old_slots, const uint32_t *new_slots,
		       uint32_t m);

#endif
