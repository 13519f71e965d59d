/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pool's slots after health and maxconn transitions (maglev): the
 * effective table of the serving set, whatever order the transitions came
 * in, computed against a base table that health does not move.
 */
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/lib/addr.h"
#include "knlb/nft/diff.h"
#include "knlb/pool/base_index.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

#define FOUR "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n" \
	"backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080 weight=2\n" \
	"backend = 10.0.0.13:8080\nbackend = 10.0.0.14:8080\n"

static struct knlb_model *pool_of(struct result *r, const char *text)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	return pool;
}

static uint32_t *copy_slots(const struct knlb_service *svc, const uint32_t *t)
{
	size_t size = svc->cfg->table_size * sizeof(uint32_t);
	uint32_t *c = malloc(size);

	cr_assert_not_null(c);
	memcpy(c, t, size);
	return c;
}

static void set_down(struct knlb_service *svc, unsigned down)
{
	for (size_t b = 0; b < svc->n_backends; b++)
		pool_set_health(svc, b, !(down & (1u << b)), 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
}

/* The table of a serving set from a fresh pool, no history. */
static uint32_t *fresh_table(unsigned down)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	uint32_t *t;

	set_down(&pool->services[0], down);
	t = copy_slots(&pool->services[0], pool->services[0].slots);
	pool_free(pool);
	result_free(&r);
	return t;
}

Test(pool_failover, any_order_gives_the_table_of_the_serving_set)
{
	static const unsigned path[][6] = {
		{ 1, 3, 7, 6, 4, 0 },	/* 0 down, 1 down, 2 down; 0 up, 1 up, 2 up */
		{ 4, 6, 7, 3, 1, 0 },
		{ 2, 6, 14, 12, 4, 0 },
		{ 8, 9, 11, 10, 2, 0 },
	};
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	size_t size = svc->cfg->table_size * sizeof(uint32_t);
	uint32_t *base = copy_slots(svc, svc->families[0].base);

	for (size_t p = 0; p < sizeof(path) / sizeof(path[0]); p++) {
		for (size_t i = 0; i < 6; i++) {
			uint32_t *want = fresh_table(path[p][i]);

			set_down(svc, path[p][i]);
			cr_assert_eq(memcmp(svc->slots, want, size), 0,
				     "path %zu step %zu: not the table of the serving set", p, i);
			cr_assert_eq(memcmp(svc->families[0].base, base, size), 0,
				     "health moved the base table");
			for (uint32_t s = 0; s < svc->cfg->table_size; s++)
				cr_assert(!(path[p][i] & (1u << svc->slots[s])),
					  "slot %u maps a backend that is down", s);
			free(want);
		}
	}
	free(base);
	pool_free(pool);
	result_free(&r);
}

Test(pool_failover, one_down_moves_only_its_slots)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	uint32_t *before = copy_slots(svc, svc->slots);

	set_down(svc, 1u << 2);
	for (uint32_t s = 0; s < svc->cfg->table_size; s++)
		if (before[s] != 2)
			cr_assert_eq(svc->slots[s], before[s], "slot %u moved", s);
	free(before);
	pool_free(pool);
	result_free(&r);
}

/* maxconn full stops a backend like health does: base stays. */
Test(pool_failover, maxconn_full_falls_back)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r,
		"[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n"
		"backend = 10.0.0.11:8080 maxconn=10\nbackend = 10.0.0.12:8080\n"
		"backend = 10.0.0.13:8080\n");
	struct knlb_service *svc = &pool->services[0];
	uint32_t *base = copy_slots(svc, svc->families[0].base);

	cr_assert(pool_apply_maxconn(svc, 0, 10, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(pool_slots_of(svc, 0), 0);
	cr_expect_eq(memcmp(svc->families[0].base, base, 1021 * sizeof(uint32_t)), 0);
	free(base);
	pool_free(pool);
	result_free(&r);
}

/* With every primary down the backups serve: their own table, base = it. */
Test(pool_failover, backups_take_a_table_of_their_own)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r,
		"[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n"
		"backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080\n"
		"backend = 10.0.0.13:8080 backup\n");
	struct knlb_service *svc = &pool->services[0];

	set_down(svc, 3);
	cr_expect_eq(pool_slots_of(svc, 2), 1021);
	cr_expect_eq(memcmp(svc->families[0].base, svc->slots, 1021 * sizeof(uint32_t)), 0);
	set_down(svc, 1);
	cr_expect_eq(pool_slots_of(svc, 2), 0);
	cr_expect_eq(pool_slots_of(svc, 1), 1021);
	pool_free(pool);
	result_free(&r);
}

/*
 * After the first computation the pool rewrites only the slots of the
 * backends that do not serve or did not (answer_touched()): after any
 * sequence of transitions, weight changes (a new base) and maxconn, each
 * family's table is still what the walk from scratch gives for its
 * serving set.  Dual stack, so that the second family's offset counts.
 */
Test(pool_failover, rewriting_only_the_slots_concerned_gives_the_walk_from_scratch)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r,
		"[service web]\nvip = 192.0.2.10\nvip = 2001:db8::10\nport = 80\n"
		"table_size = 1021\nbackend = 10.0.0.11:8080\n"
		"backend = [2001:db8::11]:8080 weight=3\nbackend = 10.0.0.12:8080 weight=2\n"
		"backend = [2001:db8::12]:8080\nbackend = 10.0.0.13:8080\n"
		"backend = [2001:db8::13]:8080\nbackend = 10.0.0.14:8080\n"
		"backend = [2001:db8::14]:8080 weight=2\n");
	struct knlb_service *svc = &pool->services[0];
	uint32_t m = svc->cfg->table_size, x = 12345;
	size_t n = svc->n_backends;
	struct sched_backend *in = calloc(n, sizeof(*in));
	bool *serving = calloc(n, sizeof(*serving));
	uint32_t *base = malloc(m * sizeof(*base)), *eff = malloc(m * sizeof(*eff));

	cr_assert(in && serving && base && eff);
	for (unsigned step = 0; step < 400; step++) {
		x = x * 1103515245u + 12345u;
		if (step % 37 == 36)	/* a new base now and then */
			pool_set_weight(svc, (x >> 8) % n, 1 + (x >> 16) % 3, 0);
		else if (step % 11 == 10)	/* drain moves the base too */
			pool_set_admin(svc, (x >> 8) % n, (x >> 20) & 1 ?
				       KNLB_ADMIN_ENABLED : KNLB_ADMIN_DRAIN, 0);
		else
			pool_set_health(svc, (x >> 8) % n, (x >> 20) & 1, 0);
		cr_assert_geq(pool_compute_slots(svc), 0);
		for (size_t k = 0; k < svc->n_families; k++) {
			enum knlb_family f = svc->families[k].family;

			for (size_t b = 0; b < n; b++) {
				const struct knlb_backend *be = &svc->backends[b];
				bool ours = addr_family_index(&be->cfg->addr) == f;

				in[b].id = be->cfg->id;
				in[b].weight = ours ? be->base_weight : 0;
				serving[b] = pool_backend_serves_family(be, f);
			}
			if (!svc->families[k].prefs)	/* backups: not this test's */
				continue;
			cr_assert_eq(maglev_effective(in, n, svc->cfg->hash_seed, serving,
						      base, eff, m), 0);
			cr_assert_eq(memcmp(svc->families[k].slots, eff, m * sizeof(*eff)), 0,
				     "step %u, family %zu: not the table of the serving set",
				     step, k);
		}
	}
	free(in);
	free(serving);
	free(base);
	free(eff);
	pool_free(pool);
	result_free(&r);
}

/*
 * The committer's delta after a transition diffs only the slots of the
 * backends concerned (pool_slots_concerned()): the same changes as the
 * diff of the whole table, after any transition from any earlier state
 * on the same base, and far fewer slots looked at for one backend.
 */
Test(pool_failover, the_slots_concerned_hold_every_change)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, FOUR);
	struct knlb_service *svc = &pool->services[0];
	uint32_t m = svc->cfg->table_size;
	uint32_t *old = malloc(m * sizeof(*old)), *list = malloc(m * sizeof(*list));
	bool *seen = calloc(m, sizeof(*seen));

	cr_assert(old && list && seen);
	for (unsigned from = 0; from < 15; from++) {
		for (unsigned to = 0; to < 15; to++) {
			struct slot_diff whole, part;
			size_t n;

			set_down(svc, from);
			memcpy(old, svc->slots, m * sizeof(*old));
			set_down(svc, to);
			n = pool_slots_concerned(svc, old, list);
			cr_assert_eq(n, pool_slots_concerned(svc, old, NULL));
			cr_assert_eq(slot_diff_compute(old, svc->slots, m, &whole), 0);
			cr_assert_eq(slot_diff_compute_list(old, svc->slots, list, n, &part), 0);
			cr_assert_eq(part.n_changes, whole.n_changes,
				     "0x%x -> 0x%x: %zu changes of %zu", from, to,
				     part.n_changes, whole.n_changes);
			cr_assert_eq(part.n_adds, whole.n_adds);
			cr_assert_eq(part.n_deletes, whole.n_deletes);
			memset(seen, 0, m * sizeof(*seen));
			for (size_t i = 0; i < part.n_changes; i++) {
				const struct slot_change *c = &part.changes[i];

				cr_assert_not(seen[c->slot], "slot %u twice", c->slot);
				seen[c->slot] = true;
				cr_assert_eq(c->from, old[c->slot]);
				cr_assert_eq(c->to, svc->slots[c->slot]);
			}
			if (from == 0 && to == 4)	/* backend 2 of 4 (weights 1 2 1 1) */
				cr_expect_lt(n, m / 3, "%zu of %u slots looked at", n, m);
			slot_diff_release(&whole);
			slot_diff_release(&part);
		}
	}
	free(old);
	free(list);
	free(seen);
	pool_free(pool);
	result_free(&r);
}
