/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Slot-table diff: pure, no kernel, unit-tested in test/unit/test_diff.c. */
#include <errno.h>
#include <stdlib.h>

#include "knlb/nft/diff.h"
#include "knlb/sched/sched.h"

size_t slot_diff_count(const uint32_t *old_slots, const uint32_t *new_slots,
		       uint32_t m)
{
	size_t n = 0;

	for (uint32_t i = 0; i < m; i++)
		n += old_slots[i] != new_slots[i];
	return n;
}

/* Over list[0..n) (list NULL: slots 0..n-1). */
static int diff_some(const uint32_t *old_slots, const uint32_t *new_slots,
		     const uint32_t *list, size_t n, struct slot_diff *out)
{
	size_t changed = 0;

	*out = (struct slot_diff){ 0 };
	for (size_t j = 0; j < n; j++) {
		uint32_t i = list ? list[j] : (uint32_t)j;

		changed += old_slots[i] != new_slots[i];
	}
	if (changed == 0)
		return 0;
	out->changes = malloc(changed * sizeof(*out->changes));
	if (!out->changes)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++) {
		uint32_t i = list ? list[j] : (uint32_t)j;

		if (old_slots[i] == new_slots[i])
			continue;
		out->changes[out->n_changes++] = (struct slot_change){
			.slot = i, .from = old_slots[i], .to = new_slots[i],
		};
		out->n_deletes += old_slots[i] != SCHED_SLOT_EMPTY;
		out->n_adds += new_slots[i] != SCHED_SLOT_EMPTY;
	}
	return 0;
}

int slot_diff_compute(const uint32_t *old_slots, const uint32_t *new_slots,
		      uint32_t m, struct slot_diff *out)
{
	return diff_some(old_slots, new_slots, NULL, m, out);
}

int slot_diff_compute_list(const uint32_t *old_slots, const uint32_t *new_slots,
			   const uint32_t *list, size_t n_list,
			   struct slot_diff *out)
{
	if (!list && n_list)
		return -EINVAL;
	return diff_some(old_slots, new_slots, list, n_list, out);
}

void slot_diff_release(struct slot_diff *diff)
{
	free(diff->changes);
	*diff = (struct slot_diff){ 0 };
}
