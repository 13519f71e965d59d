/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Slot-table diff: the exact element operations between two tables. */
#include <stdlib.h>
#include <criterion/criterion.h>

#include "knlb/nft/diff.h"
#include "knlb/sched/sched.h"

#define E SCHED_SLOT_EMPTY

Test(diff, identical_tables_need_nothing)
{
	uint32_t a[] = { 0, 1, 2, E, 1 };
	struct slot_diff d;

	cr_assert_eq(slot_diff_compute(a, a, 5, &d), 0);
	cr_expect_eq(d.n_changes, 0);
	cr_expect_eq(d.n_adds + d.n_deletes, 0);
	cr_expect_null(d.changes);
	slot_diff_release(&d);
}

Test(diff, each_kind_of_change)
{
	/*          add  del  move same move-to-empty */
	uint32_t o[] = { E,   2,   0,   1,   3 };
	uint32_t n[] = { 1,   E,   2,   1,   E };
	struct slot_diff d;

	cr_assert_eq(slot_diff_compute(o, n, 5, &d), 0);
	cr_assert_eq(d.n_changes, 4);
	cr_expect_eq(d.n_deletes, 3, "deletes: slot 1, 2 (move), 4");
	cr_expect_eq(d.n_adds, 2, "adds: slot 0, 2 (move)");
	cr_expect_eq(d.changes[0].slot, 0);
	cr_expect_eq(d.changes[0].from, E);
	cr_expect_eq(d.changes[0].to, 1);
	cr_expect_eq(d.changes[1].slot, 1);
	cr_expect_eq(d.changes[2].slot, 2);
	cr_expect_eq(d.changes[2].from, 0);
	cr_expect_eq(d.changes[2].to, 2);
	cr_expect_eq(d.changes[3].slot, 4);
	slot_diff_release(&d);
	cr_expect_null(d.changes);
}

/*
 * Two random tables of m slots over 5 backends and empty slots: n keeps
 * o's slot one time in keep, else takes another.
 */
static void random_tables(uint32_t *o, uint32_t *n, uint32_t m, unsigned seed,
			  int keep)
{
	srand(seed);
	for (uint32_t i = 0; i < m; i++) {
		o[i] = rand() % 7 == 0 ? E : (uint32_t)(rand() % 5);
		n[i] = rand() % keep == 0 ? o[i] : (rand() % 9 == 0 ? E : (uint32_t)(rand() % 5));
	}
}

/* Applying the diff to the old table must give the new one exactly. */
Test(diff, applying_the_diff_reproduces_the_new_table)
{
	enum { M = 4099 };
	uint32_t *o = malloc(M * sizeof(*o)), *n = malloc(M * sizeof(*n));
	struct slot_diff d;

	random_tables(o, n, M, 42, 3);
	cr_assert_eq(slot_diff_compute(o, n, M, &d), 0);
	for (size_t i = 0; i < d.n_changes; i++) {
		cr_assert_eq(o[d.changes[i].slot], d.changes[i].from);
		if (i)
			cr_assert_gt(d.changes[i].slot, d.changes[i - 1].slot);
		o[d.changes[i].slot] = d.changes[i].to;
	}
	for (uint32_t i = 0; i < M; i++)
		cr_assert_eq(o[i], n[i], "slot %u", i);
	slot_diff_release(&d);
	free(o);
	free(n);
}

/* The count the fallback shape reports is the number of changes a full diff records. */
Test(diff, count_equals_the_recorded_changes)
{
	enum { M = 4099 };
	uint32_t *o = malloc(M * sizeof(*o)), *n = malloc(M * sizeof(*n));
	struct slot_diff d;

	random_tables(o, n, M, 7, 2);
	cr_assert_eq(slot_diff_compute(o, n, M, &d), 0);
	cr_expect_gt(d.n_changes, 0);
	cr_expect_eq(slot_diff_count(o, n, M), d.n_changes);
	cr_expect_eq(slot_diff_count(o, o, M), 0);
	slot_diff_release(&d);
	free(o);
	free(n);
}
