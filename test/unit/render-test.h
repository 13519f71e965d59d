/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What knlbd --render prints for a config given as a string, for the
 * tests that assert on the table's shape.  Include after config-test.h.
 */
#ifndef KNLB_TEST_RENDER_TEST_H
#define KNLB_TEST_RENDER_TEST_H

#include <stdio.h>
#include <criterion/criterion.h>

#include "knlb/nft/render.h"
#include "knlb/pool/pool.h"

/* The rendered table; the caller frees it. */
static inline char *render_of(const char *text)
{
	struct result r = load_ok(text);
	struct knlb_model *pool;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	cr_assert_eq(render_ruleset(f, pool), 0);
	fclose(f);
	pool_free(pool);
	result_free(&r);
	return out;
}

#endif
