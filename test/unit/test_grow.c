// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <criterion/criterion.h>

#include "knlb/lib/grow.h"

Test(grow, doubles_from_first_and_keeps_contents)
{
	int *v = NULL;
	size_t cap = 0;

	cr_assert_eq(grow(&v, &cap, 1, sizeof(*v), 4), 0);
	cr_assert_eq(cap, 4);
	for (int i = 0; i < 4; i++)
		v[i] = i;
	cr_assert_eq(grow(&v, &cap, 4, sizeof(*v), 4), 0, "no growth when it fits");
	cr_assert_eq(cap, 4);
	cr_assert_eq(grow(&v, &cap, 5, sizeof(*v), 4), 0);
	cr_assert_eq(cap, 8);
	cr_assert_eq(grow(&v, &cap, 33, sizeof(*v), 4), 0, "several doublings at once");
	cr_assert_eq(cap, 64);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(v[i], i);
	free(v);
}

Test(grow, overflow_is_enomem_and_leaves_the_array)
{
	char *v = malloc(8);
	size_t cap = 8;

	cr_assert_not_null(v);
	cr_assert_eq(grow(&v, &cap, SIZE_MAX / 2 + 2, 1, 8), -ENOMEM);
	cr_assert_eq(grow(&v, &cap, SIZE_MAX / 16, 64, 8), -ENOMEM,
		     "count x size overflows");
	cr_assert_eq(cap, 8);
	cr_assert_not_null(v);
	free(v);
}
