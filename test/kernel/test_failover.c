/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A health transition, end to end in the kernel: the verdict goes through
 * health_result(), the committer sends the delta, nft lists the result.
 * Also the map-update latency figures (decision -> kernel ACK) quoted in
 * docs/health-checks.md: `make bench-failover` prints them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <criterion/criterion.h>

#include "knlb/nft/commit.h"
#include "knlb/config/config.h"
#include "knlb/health/health.h"
#include "knlb/lib/loop.h"
#include "knlb/nft/nfnl.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "knlb/nft/sync.h"
#include "kt.h"
#include "kt_rig.h"

TestSuite(failover, .init = kt_enter_netns, .timeout = 120);

static void rig_up(struct kt_rig *g, uint32_t m, size_t n)
{
	size_t len = 4096 + n * 64;
	char *text = malloc(len);
	size_t off;

	cr_assert_not_null(text);
	off = (size_t)snprintf(text, len, "[service web]\nvip = 192.0.2.10\nport = 80\n"
			       "table_size = %u\ncheck = tcp\nrise = 1\nfall = 1\n", m);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, len - off,
					"backend = 10.%zu.%zu.%zu:8080\n",
					1 + i / 62500, (i / 250) % 250, 1 + i % 250);
	kt_rig_up(g, text, "failover.conf");
	free(text);
}

static void verdict(struct kt_rig *g, size_t b, bool up)
{
	kt_rig_verdict(g, 0, b, up);
}

/*
 * What the kernel forwards each slot of web to (backend index: the
 * backends are 10.1.0.(1 + i)), computed as the packet path does: the
 * slot map, and where chain fb_web jumps to the chain of the slot's owner,
 * that owner's fallback map when it has the slot (the lookup misses otherwise
 * and the slot rule applies).  Either shape.
 */
static void kernel_slots(uint32_t m, uint32_t *out)
{
	char *listing = kt_run_ok("nft list map inet knlb web_slots");

	for (uint32_t s = 0; s < m; s++)
		out[s] = SCHED_SLOT_EMPTY;
	kt_parse_slot_map(listing, m, out);
	free(listing);
	kt_overlay_fallback_maps("web", m, out);
}

/* The kernel's listing is the render of the pool (after the refresh). */
static void expect_listing_is_render(struct kt_rig *g, const char *when)
{
	char *listed, *rendered;

	committer_refresh_fallbacks(g->committer, NULL);
	listed = kt_normalize_free(kt_nft_list("knlb"));
	rendered = kt_normalize_free(kt_render(g->pool));
	cr_expect_str_eq(listed, rendered, "%s: kernel differs from the desired state", when);
	free(listed);
	free(rendered);
}

/*
 * One backend of 10 dies at M=16381 (the fallback shape): the kernel
 * forwards its slots to their next preference, nothing else moves, and
 * the transaction holds the rule, not the slots.
 */
Test(failover, down_moves_only_the_dead_backends_slots_in_one_transaction)
{
	struct kt_rig g;
	struct commit_stats st;
	uint32_t m = 16381, *before, *got, owned = 0, other = 0;
	uint32_t gen;
	uint64_t t0, t1;

	rig_up(&g, m, 10);
	committer_refresh_fallbacks(g.committer, NULL);	/* fill after the replace */
	before = malloc(m * sizeof(*before));
	got = malloc(m * sizeof(*got));
	memcpy(before, g.pool->services[0].slots, m * sizeof(*before));

	gen = kt_nft_genid();
	t0 = loop_now_ns();
	verdict(&g, 3, false);
	committer_run(g.committer);
	t1 = loop_now_ns();
	committer_get_stats(g.committer, &st);
	cr_expect_eq(kt_nft_genid(), gen + 1, "one transaction, not %u", kt_nft_genid() - gen);
	/* decision -> ack: inside this window, and no shorter than the
	 * transaction it ends with (the same clock) */
	cr_expect_gt(st.last_decision_ms, 0);
	cr_expect_leq(st.last_decision_ms, (double)(t1 - t0) / 1e6);
	cr_expect_geq(st.last_decision_ms + 1e-6, st.last_ack_ms, "decision %.4f ms, transaction %.4f ms",
		      st.last_decision_ms, st.last_ack_ms);
	for (uint32_t i = 0; i < m; i++) {
		owned += before[i] == 3;
		other += before[i] != 3 && before[i] != g.pool->services[0].slots[i];
		cr_assert_neq(g.pool->services[0].slots[i], 3);
	}
	cr_expect_eq(other, 0, "%u slots of live backends moved", other);
	cr_expect_eq(st.last_moved, owned);
	cr_expect_eq(st.last_elements, 0,
		     "the first failure writes no element (its fallbacks are precomputed): %zu",
		     st.last_elements);
	cr_expect_leq(st.last_messages, 2, "flush fb_web + one jump: %zu messages",
		      st.last_messages);
	kernel_slots(m, got);
	cr_expect_arr_eq(got, g.pool->services[0].slots, m * sizeof(*got),
			 "the kernel does not forward as the pool says");
	expect_listing_is_render(&g, "one down");
	cr_log_info("1 of 10 down at M=%u: %u slots moved, %zu elements, %zu messages, %.2f ms decision->ack",
		    m, owned, st.last_elements, st.last_messages, st.last_decision_ms);

	/* Back up: the kernel holds exactly the original table again. */
	verdict(&g, 3, true);
	committer_run(g.committer);
	committer_get_stats(g.committer, &st);
	cr_expect_eq(st.last_moved, owned, "back up: %u slots moved back, it owns %u",
		     st.last_moved, owned);
	cr_expect_arr_eq(g.pool->services[0].slots, before, m * sizeof(*before));
	kernel_slots(m, got);
	cr_expect_arr_eq(got, before, m * sizeof(*got), "back up: not the first table");
	expect_listing_is_render(&g, "back up");
	free(before);
	free(got);
	kt_rig_down(&g);
}

/*
 * The failover's cost does not grow with M: one, then a second backend
 * down at M = 16381 and 65537 (N = 10): a constant number of messages,
 * and the second writes only the first dead backend's slots that pointed
 * at it (about M/N^2), never a whole backend's share.
 */
Test(failover, a_failure_costs_messages_independent_of_the_table_size)
{
	static const uint32_t sizes[] = { 16381, 65537 };

	for (size_t i = 0; i < 2; i++) {
		uint32_t m = sizes[i], share = m / 10;
		struct commit_stats one, two;
		struct kt_rig g;

		rig_up(&g, m, 10);
		committer_refresh_fallbacks(g.committer, NULL);
		verdict(&g, 2, false);
		committer_run(g.committer);
		committer_get_stats(g.committer, &one);
		committer_refresh_fallbacks(g.committer, NULL);
		verdict(&g, 7, false);
		committer_run(g.committer);
		committer_get_stats(g.committer, &two);
		cr_expect_eq(one.last_elements, 0, "M=%u: first down wrote %zu elements",
			     m, one.last_elements);
		cr_expect_leq(one.last_messages, 2, "M=%u: %zu messages", m, one.last_messages);
		cr_expect_leq(two.last_elements, 2 * share / 5,
			      "M=%u: second down wrote %zu elements (a share is %u slots)",
			      m, two.last_elements, share);
		cr_expect_leq(two.last_messages, 5, "M=%u: %zu messages", m, two.last_messages);
		cr_log_info("M=%u N=10: first down %zu messages %zu elements %.2f ms; second %zu messages %zu elements %.2f ms",
			    m, one.last_messages, one.last_elements, one.last_decision_ms,
			    two.last_messages, two.last_elements, two.last_decision_ms);
		expect_listing_is_render(&g, "two down");
		kt_rig_down(&g);
	}
}

static long minor_faults(void)
{
	struct rusage ru;

	cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

/*
 * A service's first failure touches no fresh memory: every page it writes
 * (the maglev base table, the transaction's buffer) was faulted in when
 * the table was built.  Each fresh page costs a fault, 10-20 us on this
 * VM: a 256 KB base copy and a 256 KB batch buffer made the first
 * failover at M = 65537 take 3-4 ms against 0.7 for the next ones.  Both
 * shapes: N = 10 (fallback maps) and N = 1000 (direct, 132 elements).
 */
Test(failover, the_first_failure_faults_in_no_fresh_memory)
{
	static const size_t counts[] = { 10, 1000 };

	for (size_t i = 0; i < 2; i++) {
		struct commit_stats st;
		struct kt_rig g;
		long before, faults;

		rig_up(&g, 65537, counts[i]);
		committer_refresh_fallbacks(g.committer, NULL);
		before = minor_faults();
		verdict(&g, 1, false);
		committer_run(g.committer);
		faults = minor_faults() - before;
		committer_get_stats(g.committer, &st);
		cr_expect_eq(st.failures, 0);
		cr_expect_gt(st.last_moved, 0, "N=%zu: no slot moved", counts[i]);
		/*
		 * A 256 KB region is 64 pages; allow the odd small allocation.
		 * Not under AddressSanitizer: its allocator quarantines freed
		 * blocks and writes shadow pages for each new one, so every
		 * allocation is fresh memory there.
		 */
#ifndef __SANITIZE_ADDRESS__
		cr_expect_leq(faults, 16, "M=65537 N=%zu: the first failure faulted in %ld pages",
			      counts[i], faults);
#endif
		cr_log_info("first failure at M=65537 N=%zu: %ld page faults, %.2f ms decision->ack",
			    counts[i], faults, st.last_decision_ms);
		kt_rig_down(&g);
	}
}

/*
 * A replace writes the base table and the maps in use; the serving
 * backends' fallback maps (2 x M elements the first packet need not wait
 * for) are filled by the refresh after it.
 */
Test(failover, a_replace_leaves_the_serving_backends_maps_to_the_refresh)
{
	uint32_t m = 16381, *got = malloc(m * sizeof(*got));
	char *map;
	struct kt_rig g;

	rig_up(&g, m, 10);
	map = kt_run_ok("nft list map inet knlb web_fb0");
	cr_expect_null(strstr(map, "elements = {"), "web_fb0 filled by the replace:\n%s", map);
	free(map);
	kernel_slots(m, got);
	cr_expect_arr_eq(got, g.pool->services[0].slots, m * sizeof(*got),
			 "before the refresh: the kernel does not forward as the pool says");
	committer_refresh_fallbacks(g.committer, NULL);
	map = kt_run_ok("nft list map inet knlb web_fb0");
	cr_expect_not_null(strstr(map, "elements = {"), "web_fb0 still empty after the refresh");
	free(map);
	expect_listing_is_render(&g, "refreshed");
	free(got);
	kt_rig_down(&g);
}

/* Everything down: the VIP goes into empty_reject in the same transaction. */
Test(failover, all_down_sets_on_empty_and_back)
{
	struct kt_rig g;
	char *set;

	rig_up(&g, 251, 2);
	verdict(&g, 0, false);
	verdict(&g, 1, false);
	committer_run(g.committer);
	set = kt_run_ok("nft list set inet knlb empty_reject");
	cr_expect(strstr(set, "192.0.2.10 . tcp . 80"), "VIP not in empty_reject:\n%s", set);
	free(set);
	set = kt_run_ok("nft list map inet knlb web_slots");
	cr_expect(!strstr(set, "elements"), "an empty service keeps no slot:\n%s", set);
	free(set);
	verdict(&g, 1, true);
	committer_run(g.committer);
	set = kt_run_ok("nft list set inet knlb empty_reject");
	cr_expect(!strstr(set, "192.0.2.10"), "VIP still rejected:\n%s", set);
	free(set);
	kt_rig_down(&g);
}

/* The table of the serving set down == 0, from a pool with no history. */
static void fresh_slots(const struct knlb_config *config, unsigned down,
			uint32_t *out)
{
	struct knlb_model *pool;
	struct knlb_service *svc;

	cr_assert_eq(pool_create(config, &pool), 0);
	svc = &pool->services[0];
	for (size_t b = 0; b < svc->n_backends; b++)
		pool_set_health(svc, b, !(down & (1u << b)), 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	memcpy(out, svc->slots, svc->cfg->table_size * sizeof(*out));
	pool_free(pool);
}

/*
 * One down, two down, all down, back up in another order: after each
 * transition the kernel's map is, slot by slot, the table computed from
 * scratch for the backends that serve, and the one transaction moved only
 * the slots of the backend that changed.
 */
static void walk_transitions(uint32_t m)
{
	static const struct { size_t b; bool up; } steps[] = {
		{ 1, false }, { 3, false }, { 0, false }, { 2, false },
		{ 3, true }, { 0, true }, { 2, true }, { 1, true },
	};
	uint32_t *want = malloc(m * sizeof(*want)), *got = malloc(m * sizeof(*got));
	uint32_t *before = malloc(m * sizeof(*before));
	unsigned down = 0;
	struct kt_rig g;

	cr_assert(want && got && before);
	rig_up(&g, m, 4);
	kernel_slots(m, before);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t b = steps[i].b;
		uint32_t gen = kt_nft_genid(), moved = 0, other = 0;

		down = steps[i].up ? down & ~(1u << b) : down | 1u << b;
		verdict(&g, b, steps[i].up);
		committer_run(g.committer);
		cr_expect_eq(kt_nft_genid(), gen + 1, "step %zu: one transaction", i);
		kernel_slots(m, got);
		fresh_slots(g.config, down, want);
		for (uint32_t s = 0; s < m; s++) {
			cr_assert_eq(got[s], want[s], "step %zu (backend %zu %s): slot %u is %u in the kernel, %u from scratch",
				     i, b, steps[i].up ? "up" : "down", s, got[s], want[s]);
			if (got[s] == before[s])
				continue;
			moved++;
			other += steps[i].up ? got[s] != b : before[s] != b;
		}
		cr_expect_eq(other, 0, "step %zu: %u of %u moved slots not of backend %zu",
				     i, other, moved, b);
		if (i % 2)	/* half the steps with the serving maps refreshed */
			committer_refresh_fallbacks(g.committer, NULL);
		memcpy(before, got, m * sizeof(*got));
	}
	fresh_slots(g.config, 0, want);
	cr_expect_arr_eq(got, want, m * sizeof(*got), "all back: not the first table");
	free(want);
	free(got);
	free(before);
	kt_rig_down(&g);
}

/* 1021 slots for 4 backends: the direct shape (each moved slot rewritten) */
Test(failover, any_order_of_transitions_ends_in_the_table_of_the_serving_set)
{
	walk_transitions(1021);
}

/* 4099 slots for 4 backends: the fallback shape (maps and rules) */
Test(failover, any_order_of_transitions_with_fallback_maps)
{
	walk_transitions(4099);
}

/*
 * Failures closer together than the refresh delay: the second is answered
 * from the kernel's fallbacks as they stand (still right while backends
 * only stop) and costs what the first did; once a backend came back they
 * are no hint until the refresh.  The kernel forwards as the table
 * computed from scratch at every step.
 */
Test(failover, a_second_failure_before_the_refresh_is_answered_from_the_kernel)
{
	static const struct { size_t b; bool up; bool refresh_after; bool hinted; } steps[] = {
		{ 1, false, false, true },	/* first failure */
		{ 2, false, false, true },	/* the next, before the refresh */
		{ 5, false, false, true },
		{ 1, true, false, false },	/* back up: no hint */
		{ 3, false, true, false },	/* stale and revived: the walk */
		{ 4, false, false, true },	/* refreshed since */
	};
	uint32_t m = 4099, *want = malloc(m * sizeof(*want)), *got = malloc(m * sizeof(*got));
	unsigned down = 0;
	struct kt_rig g;

	cr_assert(want && got);
	rig_up(&g, m, 10);
	committer_refresh_fallbacks(g.committer, NULL);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct commit_stats st;

		down = steps[i].up ? down & ~(1u << steps[i].b) : down | 1u << steps[i].b;
		verdict(&g, steps[i].b, steps[i].up);
		committer_run(g.committer);
		committer_get_stats(g.committer, &st);
		cr_expect_eq(st.last_hinted, steps[i].hinted, "step %zu: answered %s the kernel's fallbacks",
			     i, st.last_hinted ? "from" : "without");
		cr_log_info("step %zu: backend %zu %s, %s the kernel's fallbacks, %.2f ms decision->ack",
			    i, steps[i].b, steps[i].up ? "up" : "down",
			    st.last_hinted ? "from" : "without", st.last_decision_ms);
		kernel_slots(m, got);
		fresh_slots(g.config, down, want);
		cr_assert_arr_eq(got, want, m * sizeof(*got),
				 "step %zu: the kernel does not forward as the table from scratch", i);
		if (steps[i].refresh_after)
			committer_refresh_fallbacks(g.committer, NULL);
	}
	free(want);
	free(got);
	kt_rig_down(&g);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Decision -> kernel ACK for one backend going down, then up, for M in
 * {16381, 65537} and N in {10, 100}: median and max of 11 rounds.
 */
Test(failover, map_update_latency)
{
	static const uint32_t sizes[] = { 16381, 65537 };
	static const size_t counts[] = { 10, 100 };

	for (size_t si = 0; si < 2; si++) {
		for (size_t ci = 0; ci < 2; ci++) {
			double down[11], up[11];
			size_t elements = 0;
			struct commit_stats st;
			struct kt_rig g;

			rig_up(&g, sizes[si], counts[ci]);
			for (int r = 0; r < 11; r++) {
				verdict(&g, (size_t)r % counts[ci], false);
				committer_run(g.committer);
				committer_get_stats(g.committer, &st);
				down[r] = st.last_decision_ms;
				elements = st.last_elements;
				verdict(&g, (size_t)r % counts[ci], true);
				committer_run(g.committer);
				committer_get_stats(g.committer, &st);
				up[r] = st.last_decision_ms;
			}
			committer_get_stats(g.committer, &st);
			cr_expect_eq(st.failures, 0);
			qsort(down, 11, sizeof(double), cmp_double);
			qsort(up, 11, sizeof(double), cmp_double);
			cr_log_info("map update M=%u N=%zu: down median %.2f ms (max %.2f), up median %.2f ms (max %.2f), ~%zu elements per transition",
				    sizes[si], counts[ci], down[5], down[10], up[5], up[10],
				    elements);
			/* Sanity, not the 5 ms target: a shared CI box is noisy. */
			cr_expect_lt(down[5], 250.0);
			kt_rig_down(&g);
		}
	}
}
