/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_GROW_H
#define KNLB_GROW_H

#include <stddef.h>

/*
 * Make room for `need` elements of `size` bytes in the array *arr of
 * capacity *cap (both updated), doubling from `first`; the one place where
 * knlb grows an array, so the multiplication is checked once (OpenBSD's
 * reallocarray).  Returns 0, or -ENOMEM (also on overflow) with *arr and
 * *cap unchanged, still valid and still the caller's to free.
 *
 *	if (grow(&v, &cap, n + 1, sizeof(*v), 16) < 0)
 *		return -ENOMEM;
 *	v[n++] = x;
 */
int grow(void *arr, size_t *cap, size_t need, size_t size, size_t first);

#endif
