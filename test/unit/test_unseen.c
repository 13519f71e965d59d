/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exact opened counts for periodic services: the flows the kernel counted
 * per backend (backend_new) that no dump saw are added as opened and
 * closed, never more than the kernel counted, never twice, through counter
 * restarts and unknown backends (include/knlb/ct/unseen.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/ct/flowtab.h"
#include "knlb/ct/unseen.h"
#include "knlb/nft/stats.h"

#define SVC1 0x01000000u
#define SVC2 0x02000000u

static struct knlb_addr v4(const char *text)
{
	struct knlb_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, text, &a.in), 1);
	return a;
}

/* One kernel counter: new flows of backend 10.0.0.1x:8080 of mark. */
static struct stats_counter kc(uint32_t mark, const char *be, uint64_t n)
{
	return (struct stats_counter){ .mark = mark, .addr = v4(be),
				       .proto = IPPROTO_TCP, .port = 8080,
				       .new_flows = n };
}

/* A flow of backend be seen by a dump (resync_seen), alive. */
static void seen(struct flowtab *ft, uint32_t id, uint32_t mark, const char *be)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.id = id;
	f.key.proto = IPPROTO_TCP;
	f.key.src_port = (uint16_t)(1000 + id);
	f.key.src = v4("198.51.100.7");
	f.mark = mark;
	f.backend = v4(be);
	f.backend_port = 8080;
	cr_assert_geq(flowtab_resync_seen(ft, &f), 0);
}

static struct flow_counts counts(struct flowtab *ft, uint32_t mark, const char *be)
{
	struct knlb_addr a = v4(be);
	struct flow_counts c;

	flowtab_backend_counts(ft, mark, &a, 8080, IPPROTO_TCP, &c);
	return c;
}

static const uint32_t periodic[] = { SVC1 };

Test(unseen, add_unseen_counts_opened_and_closed_not_active)
{
	struct flowtab *ft = flowtab_new();
	struct knlb_addr a = v4("10.0.0.11");
	struct flow_counts c;

	cr_assert_not_null(ft);
	cr_expect_eq(flowtab_add_unseen(ft, 0, &a, 8080, IPPROTO_TCP, 1), -EINVAL);
	cr_assert_eq(flowtab_add_unseen(ft, SVC1, &a, 8080, IPPROTO_TCP, 5), 0);
	c = counts(ft, SVC1, "10.0.0.11");
	cr_expect_eq(c.opened, 5);
	cr_expect_eq(c.closed, 5);
	cr_expect_eq(c.active, 0);
	flowtab_service_counts(ft, SVC1, &c);
	cr_expect_eq(c.opened, 5, "the service total too");
	cr_expect_eq(c.closed, 5);
	flowtab_free(ft);
}

/*
 * 10 flows after the baseline, 3 of them alive at the next dump: opened
 * 10 (3 seen + 7 unseen), closed 7, active 3; the same counters again add
 * nothing.
 */
Test(unseen, flows_between_dumps_are_added_once)
{
	struct flowtab *ft = flowtab_new();
	struct stats_counter c0[] = { kc(SVC1, "10.0.0.11", 4) };
	struct stats_counter c1[] = { kc(SVC1, "10.0.0.11", 14) };
	struct stats_table k0 = { .c = c0, .n = 1 }, k1 = { .c = c1, .n = 1 };
	struct unseen u = { 0 };
	struct flow_counts c;
	uint64_t added;

	cr_assert_not_null(ft);
	cr_expect_eq(unseen_apply(&u, ft, &k1, periodic, 1, &added), -EAGAIN,
		     "no baseline yet");
	flowtab_resync_begin(ft);
	seen(ft, 1, SVC1, "10.0.0.11");	/* alive at the baseline: not new */
	flowtab_resync_end(ft, NULL);
	cr_assert_eq(unseen_baseline(&u, ft, &k0, periodic, 1), 0);

	flowtab_resync_begin(ft);
	seen(ft, 1, SVC1, "10.0.0.11");
	for (uint32_t id = 2; id <= 4; id++)
		seen(ft, id, SVC1, "10.0.0.11");
	flowtab_resync_end(ft, NULL);
	cr_assert_eq(unseen_apply(&u, ft, &k1, periodic, 1, &added), 0);
	cr_expect_eq(added, 7);
	c = counts(ft, SVC1, "10.0.0.11");
	cr_expect_eq(c.opened, 1 + 10, "1 from before + 10 since: %llu",
		     (unsigned long long)c.opened);
	cr_expect_eq(c.active, 4);
	cr_expect_eq(c.closed, 7);

	cr_assert_eq(unseen_apply(&u, ft, &k1, periodic, 1, &added), 0);
	cr_expect_eq(added, 0, "the same counters add nothing");
	cr_expect_eq(u.added, 7);
	unseen_free(&u);
	flowtab_free(ft);
}

/* A dump that saw more than the counter (flows born after the read): 0. */
Test(unseen, never_more_than_the_kernel_counted)
{
	struct flowtab *ft = flowtab_new();
	struct stats_counter c1[] = { kc(SVC1, "10.0.0.11", 2) };
	struct stats_table none = { 0 }, k1 = { .c = c1, .n = 1 };
	struct unseen u = { 0 };
	uint64_t added;

	cr_assert_not_null(ft);
	cr_assert_eq(unseen_baseline(&u, ft, &none, periodic, 1), 0);
	flowtab_resync_begin(ft);
	for (uint32_t id = 1; id <= 5; id++)
		seen(ft, id, SVC1, "10.0.0.11");
	flowtab_resync_end(ft, NULL);
	cr_assert_eq(unseen_apply(&u, ft, &k1, periodic, 1, &added), 0);
	cr_expect_eq(added, 0);
	cr_expect_eq(counts(ft, SVC1, "10.0.0.11").opened, 5);
	unseen_free(&u);
	flowtab_free(ft);
}

/*
 * The counter restarts (table replaced): 20 before, then 6 after the
 * restart; the element disappears and comes back at 3.  Only the
 * increments count: 20 + 6 + 3 flows, none seen.
 */
Test(unseen, a_counter_that_restarts_counts_from_zero)
{
	struct flowtab *ft = flowtab_new();
	struct stats_counter a[] = { kc(SVC1, "10.0.0.11", 20) };
	struct stats_counter b[] = { kc(SVC1, "10.0.0.11", 6) };
	struct stats_counter d[] = { kc(SVC1, "10.0.0.11", 3) };
	struct stats_table none = { 0 }, ka = { .c = a, .n = 1 },
			   kb = { .c = b, .n = 1 }, kd = { .c = d, .n = 1 };
	struct unseen u = { 0 };

	cr_assert_not_null(ft);
	cr_assert_eq(unseen_baseline(&u, ft, &none, periodic, 1), 0);
	cr_assert_eq(unseen_apply(&u, ft, &ka, periodic, 1, NULL), 0);
	cr_assert_eq(unseen_apply(&u, ft, &kb, periodic, 1, NULL), 0);
	cr_expect_eq(counts(ft, SVC1, "10.0.0.11").opened, 26);
	cr_assert_eq(unseen_apply(&u, ft, &none, periodic, 1, NULL), 0);
	cr_assert_eq(unseen_apply(&u, ft, &kd, periodic, 1, NULL), 0);
	cr_expect_eq(counts(ft, SVC1, "10.0.0.11").opened, 29);
	cr_expect_eq(counts(ft, SVC1, "10.0.0.11").active, 0);
	unseen_free(&u);
	flowtab_free(ft);
}

/* Only the periodic marks; a backend met after the baseline counts in full. */
Test(unseen, other_services_untouched_new_backends_counted)
{
	struct flowtab *ft = flowtab_new();
	struct stats_counter c1[] = { kc(SVC2, "10.0.0.11", 50),
				      kc(SVC1, "10.0.0.12", 8) };
	struct stats_table none = { 0 }, k1 = { .c = c1, .n = 2 };
	struct unseen u = { 0 };

	cr_assert_not_null(ft);
	cr_assert_eq(unseen_baseline(&u, ft, &none, periodic, 1), 0);
	cr_assert_eq(unseen_apply(&u, ft, &k1, periodic, 1, NULL), 0);
	cr_expect_eq(counts(ft, SVC2, "10.0.0.11").opened, 0, "not periodic");
	cr_expect_eq(counts(ft, SVC1, "10.0.0.12").opened, 8);
	unseen_free(&u);
	flowtab_free(ft);
}
