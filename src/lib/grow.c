/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Overflow-checked array growth; see include/knlb/lib/grow.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/grow.h"

int grow(void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
	void **p = arr;
	size_t n = *cap ? *cap : (first ? first : 1);
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	if (size && n > SIZE_MAX / size)
		return -ENOMEM;
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}
