/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fallback shape's desired state (pool/fallback.h): what the kernel
 * forwards under it is the pool's effective table, a transition touches
 * only what it must, and each serving backend's precomputed fallbacks are
 * what the table would be were that backend to stop next.
 */
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/config/table_size.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

/* 4099 slots, 4 backends: 1024 per backend, the fallback shape. */
#define FOUR "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 4099\n" \
	"backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080 weight=2\n" \
	"backend = 10.0.0.13:8080\nbackend = 10.0.0.14:8080\n"

static struct knlb_model *pool_of(struct result *r, const char *text)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	return pool;
}

static void set_down(struct knlb_service *svc, unsigned down)
{
	for (size_t b = 0; b < svc->n_backends; b++)
		pool_set_health(svc, b, !(down & (1u << b)), 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
}

/* The full state (a replace, or a refresh) for svc as it is. */
static void full_state(const struct knlb_service *svc, struct fallback_state *st)
{
	uint32_t *next = malloc(pool_slots_len(svc) * sizeof(*next));

	cr_assert_not_null(next);
	cr_assert_eq(pool_fallback_next(svc, next), 0);
	fallback_desired(svc, NULL, next, st);
	free(next);
}

static void expect_forwards_as_pool(const struct knlb_service *svc,
				    const struct fallback_state *st, const char *when)
{
	for (size_t s = 0; s < st->n_slots; s++)
		cr_assert_eq(fallback_effective(st, s), svc->slots[s],
			     "%s: slot %zu forwarded to %u, the pool says %u",
			     when, s, fallback_effective(st, s), svc->slots[s]);
}

Test(fallback, the_shape_is_for_large_maglev_tables_per_backend)
{
	struct result r = load_ok(FOUR);

	cr_expect(config_table_has_fallback_maps(&r.cfg->services[0]));
	r.cfg->services[0].table_size = 1021;		/* 255 per backend */
	cr_expect_not(config_table_has_fallback_maps(&r.cfg->services[0]));
	r.cfg->services[0].table_size = 4099;
	r.cfg->services[0].scheduler = KNLB_SCHED_WRR;
	cr_expect_not(config_table_has_fallback_maps(&r.cfg->services[0]),
		      "numgen schedulers cannot index a per-slot fallback");
	result_free(&r);
	/* dual stack: the larger family counts */
	r = load_ok("[service web]\nvip = 192.0.2.10\nvip = 2001:db8::10\nport = 80\n"
		    "table_size = 1031\nbackend = 10.0.0.11:8080\n"
		    "backend = [2001:db8::11]:8080\nbackend = [2001:db8::12]:8080\n"
		    "backend = [2001:db8::13]:8080\nbackend = [2001:db8::14]:8080\n");
	cr_expect(config_table_has_fallback_maps(&r.cfg->services[0]),
		  "1031 slots for 4 IPv6 backends: 257 each");
	r.cfg->services[0].table_size = 1021;
	cr_expect_not(config_table_has_fallback_maps(&r.cfg->services[0]),
		      "1021 slots for 4 IPv6 backends: 255 each, though IPv4's one has all");
	result_free(&r);
}

/* Every backend serving: no rule, base = slots, each slot's next preference. */
Test(fallback, all_serving_has_no_rule_and_every_fallback)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	struct fallback_state st;

	cr_assert_eq(fallback_state_init(&st, svc), 0);
	full_state(svc, &st);
	for (size_t b = 0; b < svc->n_backends; b++)
		cr_expect_not(st.dead[b]);
	for (size_t s = 0; s < st.n_slots; s++) {
		cr_assert_eq(st.base[s], svc->slots[s]);
		cr_assert_neq(st.fb[s], SCHED_SLOT_EMPTY, "slot %zu has no fallback", s);
		cr_assert_neq(st.fb[s], st.base[s], "slot %zu falls back to its owner", s);
	}
	expect_forwards_as_pool(svc, &st, "all up");
	fallback_state_free(&st);
	pool_free(pool);
	result_free(&r);
}

/*
 * A serving backend's precomputed fallbacks are exactly where its slots
 * go when it stops: the first failure needs no element written.
 */
Test(fallback, precomputed_fallbacks_are_the_table_after_that_failure)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	struct fallback_state before, after;

	cr_assert_eq(fallback_state_init(&before, svc), 0);
	cr_assert_eq(fallback_state_init(&after, svc), 0);
	set_down(svc, 1u << 0);		/* one dead already */
	full_state(svc, &before);
	for (size_t b = 1; b < svc->n_backends; b++) {
		set_down(svc, 1u << 0 | 1u << b);
		/* the failover's delta: no refresh of the serving maps */
		fallback_desired(svc, &before, NULL, &after);
		expect_forwards_as_pool(svc, &after, "second down");
		cr_expect(after.dead[0] && after.dead[b]);
		for (size_t s = 0; s < after.n_slots; s++) {
			cr_assert_eq(after.base[s], before.base[s], "the base moved");
			/* b's own map: already right, nothing to write */
			if (before.base[s] == b)
				cr_assert_eq(after.fb[s], before.fb[s],
					     "backend %zu: slot %zu needs a write", b, s);
			/* another dead backend's map: only entries that pointed at b */
			if (before.base[s] == 0 && after.fb[s] != before.fb[s])
				cr_assert_eq(before.fb[s], b, "slot %zu rewritten needlessly", s);
		}
		set_down(svc, 1u << 0);
	}
	fallback_state_free(&before);
	fallback_state_free(&after);
	pool_free(pool);
	result_free(&r);
}

/* Any set down, from any earlier state: the kernel forwards as the pool. */
Test(fallback, every_serving_set_forwards_as_the_pool)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	struct fallback_state have, want;

	cr_assert_eq(fallback_state_init(&have, svc), 0);
	cr_assert_eq(fallback_state_init(&want, svc), 0);
	full_state(svc, &have);
	for (unsigned down = 0; down < 16; down++) {
		char when[32];

		set_down(svc, down);
		fallback_desired(svc, &have, NULL, &want);
		snprintf(when, sizeof(when), "down set 0x%x", down);
		expect_forwards_as_pool(svc, &want, when);
		for (size_t b = 0; b < svc->n_backends && down != 15; b++)
			cr_expect_eq(want.dead[b], (down >> b) & 1, "%s: backend %zu", when, b);
		fallback_state_copy(&have, &want);
		if (down % 3 == 0)
			full_state(svc, &have);		/* sometimes refreshed */
	}
	fallback_state_free(&have);
	fallback_state_free(&want);
	pool_free(pool);
	result_free(&r);
}

/*
 * The kernel's fallbacks between refreshes: refreshed at down set a,
 * then a failover's delta to b (dead backends' maps rewritten, the
 * serving ones' kept), then a failure to c.  While backends only stop
 * (a within b within c), the stale state still answers c exactly as the
 * table computed without it: the committer uses it as the hint then.
 * pool_fallback_revived() says when a backend of the state serves again.
 */
Test(fallback, stale_fallbacks_answer_exactly_while_backends_only_stop)
{
	struct result r1, r2;
	struct knlb_model *hinted = pool_of(&r1, FOUR), *plain = pool_of(&r2, FOUR);
	struct knlb_service *h = &hinted->services[0], *p = &plain->services[0];
	struct fallback_state refreshed, stale;
	unsigned chains = 0;

	cr_assert_eq(fallback_state_init(&refreshed, h), 0);
	cr_assert_eq(fallback_state_init(&stale, h), 0);
	for (unsigned a = 0; a < 15; a++) {
		for (unsigned b = a; b < 15; b = (b + 1) | a) {
			for (unsigned c = b; c < 15; c = (c + 1) | b) {
				set_down(h, a);
				full_state(h, &refreshed);	/* the refresh at a */
				set_down(h, b);
				fallback_desired(h, &refreshed, NULL, &stale);	/* b's delta */
				cr_expect_not(pool_fallback_revived(h, &stale));
				for (size_t k = 0; k < h->n_backends; k++)
					pool_set_health(h, k, !(c & (1u << k)), 0);
				cr_expect_not(pool_fallback_revived(h, &stale),
					      "%x -> %x -> %x: nothing came back", a, b, c);
				cr_assert_eq(pool_compute_slots_hinted(h, &(struct pool_fallback_hint){
						stale.fb, stale.dead, stale.base_gen }), c != 0,
					     "%x -> %x -> %x: the stale state was not used", a, b, c);
				set_down(p, c);
				cr_assert_arr_eq(h->slots, p->slots,
						 pool_slots_len(h) * sizeof(uint32_t),
						 "refreshed at 0x%x, delta to 0x%x, then 0x%x", a, b, c);
				chains++;
			}
		}
	}
	cr_expect_gt(chains, 50);
	/* a backend of the delta's dead set back: said, so no hint is offered */
	set_down(h, 0);
	full_state(h, &refreshed);
	set_down(h, 1u << 2);
	fallback_desired(h, &refreshed, NULL, &stale);
	set_down(h, 0);
	cr_expect(pool_fallback_revived(h, &stale));
	fallback_state_free(&refreshed);
	fallback_state_free(&stale);
	pool_free(hinted);
	pool_free(plain);
	result_free(&r1);
	result_free(&r2);
}

/*
 * A failure answered from the kernel's refreshed fallbacks gives the
 * table computed without them, whatever came before: every pair of
 * serving sets (from, to), the hint refreshed at "from".
 */
Test(fallback, answers_from_the_refreshed_fallbacks_are_the_computed_ones)
{
	struct result r1, r2;
	struct knlb_model *hinted = pool_of(&r1, FOUR), *plain = pool_of(&r2, FOUR);
	struct knlb_service *h = &hinted->services[0], *p = &plain->services[0];
	struct fallback_state st;
	unsigned used = 0;

	cr_assert_eq(fallback_state_init(&st, h), 0);
	for (unsigned from = 0; from < 15; from++) {
		for (unsigned to = 0; to < 15; to++) {
			struct pool_fallback_hint hint;

			set_down(h, from);
			full_state(h, &st);		/* the refresh at "from" */
			hint = (struct pool_fallback_hint){ st.fb, st.dead, st.base_gen };
			for (size_t b = 0; b < h->n_backends; b++)
				pool_set_health(h, b, !(to & (1u << b)), 0);
			cr_assert_geq(pool_compute_slots_hinted(h, &hint), 0);
			set_down(p, to);
			cr_assert_arr_eq(h->slots, p->slots, pool_slots_len(h) * sizeof(uint32_t),
					 "from down set 0x%x to 0x%x", from, to);
			used += (to & from) == from;	/* only failures: the hint applies */
		}
	}
	cr_expect_gt(used, 0);
	fallback_state_free(&st);
	pool_free(hinted);
	pool_free(plain);
	result_free(&r1);
	result_free(&r2);
}

/*
 * A transition's desired state computed over the dead backends' slots
 * only (fallback_desired_delta()) is, once copied onto the state it was
 * computed from, the full one, whatever came before: deltas, refreshes.
 * A new base (a weight change) is no delta's: it says so.
 */
Test(fallback, a_transitions_delta_is_the_full_desired_state)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	struct fallback_state have, full, delta;
	uint32_t x = 777, deltas = 0;
	size_t n = svc->n_backends, len = pool_slots_len(svc);

	cr_assert_eq(fallback_state_init(&have, svc), 0);
	cr_assert_eq(fallback_state_init(&full, svc), 0);
	cr_assert_eq(fallback_state_init(&delta, svc), 0);
	full_state(svc, &have);
	for (unsigned step = 0; step < 200; step++) {
		unsigned down;

		x = x * 1103515245u + 12345u;
		down = (x >> 16) & 15;
		set_down(svc, down);
		fallback_desired(svc, &have, NULL, &full);
		if (have.base_gen != svc->base_gen) {
			/* all down and back: the backups' table, then a rebuild */
			cr_assert_not(fallback_desired_delta(svc, &have, &delta));
			fallback_state_copy(&have, &full);
			continue;
		}
		cr_assert(fallback_desired_delta(svc, &have, &delta),
			  "step %u: the same base, yet no delta", step);
		deltas++;
		cr_assert(delta.partial);
		cr_assert_leq(delta.n_touched, len);
		fallback_state_copy(&have, &delta);
		cr_assert_eq(memcmp(have.base, full.base, len * sizeof(*full.base)), 0);
		cr_assert_eq(memcmp(have.fb, full.fb, len * sizeof(*full.fb)), 0,
			     "step %u (down 0x%x): the delta's entries are not the full state's",
			     step, down);
		cr_assert_eq(memcmp(have.dead, full.dead, n * sizeof(*full.dead)), 0);
		expect_forwards_as_pool(svc, &have, "after a delta");
		if (step % 7 == 6)
			full_state(svc, &have);		/* a refresh */
	}
	cr_expect_gt(deltas, 150, "%u of 200 transitions had a delta", deltas);
	/* one of 4 down from all up: its 1024 slots, not the table */
	set_down(svc, 0);
	full_state(svc, &have);
	set_down(svc, 4);
	cr_assert(fallback_desired_delta(svc, &have, &delta));
	cr_expect_lt(delta.n_touched, len / 3, "%zu of %zu slots looked at",
		     delta.n_touched, len);
	/* a weight change builds a new base: the delta does not apply */
	pool_set_weight(svc, 0, 5, 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_not(fallback_desired_delta(svc, &have, &delta));
	fallback_state_free(&have);
	fallback_state_free(&full);
	fallback_state_free(&delta);
	pool_free(pool);
	result_free(&r);
}
