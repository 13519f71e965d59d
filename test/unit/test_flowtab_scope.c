/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scoped resync passes (track = periodic): a dump that asked the kernel
 * for some services' flows only must correct those services and leave
 * every other service's flows, counts and drain notices as they were.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/ct/flowtab.h"

#define SVC1 0x01000000u
#define SVC2 0x02000000u
#define SVC3 0x03000000u

static struct flow mkflow(uint32_t id, uint32_t mark, int backend)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.id = id;
	f.key.proto = IPPROTO_TCP;
	f.key.src_port = (uint16_t)(1000 + id);
	f.key.src.family = AF_INET;
	f.key.src.in.s_addr = htonl(0x0a010000u | id);
	f.mark = mark;
	f.backend.family = AF_INET;
	f.backend.in.s_addr = htonl(0x0a000000u | (uint32_t)backend);
	f.backend_port = 80;
	return f;
}

static uint64_t active(struct flowtab *ft, uint32_t mark)
{
	struct flow_counts c;

	flowtab_service_counts(ft, mark, &c);
	return c.active;
}

static int drains;
static uint32_t drained_mark;

static void on_drained(void *arg, uint32_t mark, const struct knlb_addr *addr,
		       uint16_t port, uint8_t proto)
{
	(void)arg;
	(void)addr;
	(void)port;
	(void)proto;
	drains++;
	drained_mark = mark;
}

Test(flowtab_scope, closes_only_unseen_flows_of_the_scoped_services)
{
	struct flowtab *ft = flowtab_new();
	uint32_t scope[] = { SVC2 };
	struct flowtab_resync res;
	struct flow f1 = mkflow(1, SVC1, 1), f2 = mkflow(2, SVC2, 2);
	struct flow f3 = mkflow(3, SVC2, 2), f4 = mkflow(4, SVC3, 3);

	drains = 0;
	flowtab_set_drained_fn(ft, on_drained, NULL);
	flowtab_flow_new(ft, &f1);
	flowtab_flow_new(ft, &f2);
	flowtab_flow_new(ft, &f3);
	flowtab_flow_new(ft, &f4);

	/* A dump of SVC2 alone: f3 is gone, f5 is new. */
	struct flow f5 = mkflow(5, SVC2, 2);

	flowtab_resync_begin(ft);
	cr_assert_eq(flowtab_resync_scope(ft, scope, 1), 0);
	flowtab_resync_seen(ft, &f2);
	flowtab_resync_seen(ft, &f5);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.opened, 1);
	cr_expect_eq(res.closed, 1, "only f3: f1 and f4 are not SVC2's");
	cr_expect_eq(active(ft, SVC1), 1);
	cr_expect_eq(active(ft, SVC2), 2);
	cr_expect_eq(active(ft, SVC3), 1);
	cr_expect_eq(drains, 0);

	/* The next unscoped pass still sees f1 and f4 as known, not new. */
	flowtab_resync_begin(ft);
	flowtab_resync_seen(ft, &f1);
	flowtab_resync_seen(ft, &f2);
	flowtab_resync_seen(ft, &f4);
	flowtab_resync_seen(ft, &f5);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.opened + res.closed + res.moved, 0,
		     "opened %llu closed %llu", (unsigned long long)res.opened,
		     (unsigned long long)res.closed);
	flowtab_free(ft);
}

Test(flowtab_scope, an_empty_dump_drains_the_scoped_service_only)
{
	struct flowtab *ft = flowtab_new();
	uint32_t scope[] = { SVC3, SVC1 };	/* any order */
	struct flowtab_resync res;
	struct flow f1 = mkflow(1, SVC1, 1), f2 = mkflow(2, SVC2, 2);

	drains = 0;
	flowtab_set_drained_fn(ft, on_drained, NULL);
	flowtab_flow_new(ft, &f1);
	flowtab_flow_new(ft, &f2);
	flowtab_resync_begin(ft);
	cr_assert_eq(flowtab_resync_scope(ft, scope, 2), 0);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.closed, 1);
	cr_expect_eq(active(ft, SVC1), 0);
	cr_expect_eq(active(ft, SVC2), 1);
	cr_expect_eq(drains, 1);
	cr_expect_eq(drained_mark, SVC1);
	flowtab_free(ft);
}

Test(flowtab_scope, the_scope_ends_with_the_pass)
{
	struct flowtab *ft = flowtab_new();
	uint32_t scope[] = { SVC1 };
	struct flowtab_resync res;
	struct flow f2 = mkflow(2, SVC2, 2);

	cr_expect_eq(flowtab_resync_scope(ft, scope, 1), -EINVAL,
		     "no pass begun");
	flowtab_flow_new(ft, &f2);
	flowtab_resync_begin(ft);
	cr_assert_eq(flowtab_resync_scope(ft, scope, 1), 0);
	flowtab_resync_abort(ft);
	/* Unscoped now: an empty dump closes SVC2's flow too. */
	flowtab_resync_begin(ft);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.closed, 1);
	cr_expect_eq(active(ft, SVC2), 0);
	flowtab_free(ft);
}

/* A TCP flow the dump shows in TIME_WAIT stops counting: periodic drain. */
Test(flowtab_scope, a_flow_seen_ending_stops_counting)
{
	struct flowtab *ft = flowtab_new();
	uint32_t scope[] = { SVC1 };
	struct flowtab_resync res;
	struct flow f1 = mkflow(1, SVC1, 1);

	flowtab_resync_begin(ft);
	flowtab_resync_scope(ft, scope, 1);
	flowtab_resync_seen(ft, &f1);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(active(ft, SVC1), 1);
	f1.ending = true;
	flowtab_resync_begin(ft);
	flowtab_resync_scope(ft, scope, 1);
	flowtab_resync_seen(ft, &f1);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.ended, 1);
	cr_expect_eq(active(ft, SVC1), 0);
	flowtab_free(ft);
}
