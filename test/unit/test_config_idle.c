/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Issue 11: a configuration with no service is valid and knlbd runs idle
 * (a standby gateway).  It programs its table with nothing in it rather
 * than no table: a restart of a gateway that served before must remove
 * the old services (desired state, DESIGN 3.3), and a later reload that
 * adds services is then an ordinary delta.
 *
 * Kernel test for the lead (test/kernel/test_daemon.c): start knlbd with
 * "[global]\ntable = T\n" in a netns; expect the log line "running idle",
 * `nft list table inet T` showing an empty svc_dispatch map, `knlbctl
 * status` exiting 0; then write a service into the file, SIGHUP, and
 * expect its chain.  And the reverse: a running table with services,
 * restart with no service: the table is empty afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/nft/render.h"
#include "knlb/pool/pool.h"

#include "config-test.h"

Test(config_idle, no_service_renders_an_empty_table)
{
	struct result r = load_ok("[global]\ntable = standby\n");
	struct knlb_model *pool = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(r.cfg->n_services, 0);
	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	f = open_memstream(&out, &len);
	cr_assert_not_null(f);
	cr_expect_eq(render_ruleset(f, pool), 0);
	fclose(f);
	cr_expect(strstr(out, "table inet standby {"), "%s", out);
	cr_expect(strstr(out, "map svc_dispatch {"), "%s", out);
	/* No element and no service chain: nothing is forwarded. */
	cr_expect_null(strstr(out, "elements"), "%s", out);
	cr_expect_null(strstr(out, "chain svc_"), "%s", out);
	free(out);
	pool_free(pool);
	result_free(&r);
}

/* Still refused: a section that is not a service, even in an idle file. */
Test(config_idle, misspelt_service_header_is_still_an_error)
{
	expect_only_error("[servce web]\nvip = 192.0.2.1\n", "test.conf:1: ",
			  "unknown section [servce web]");
}
