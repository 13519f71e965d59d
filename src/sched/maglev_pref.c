/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Maglev's preference order, for failover without a rebuild.
 *
 * The fill stops when the table is full.  Carry it on: backends keep
 * taking turns on the same schedule (same rounds, credits and weights),
 * and each turn now simply steps one position along the backend's
 * permutation, landing on a slot whoever owns it.  The preference order of
 * slot s is the order in which backends other than its owner first land
 * on s.  Every backend's permutation visits every slot, so each backend
 * appears in it once.
 *
 * The effective table for a set of serving backends keeps each slot whose
 * owner serves and gives a slot whose owner does not to the first serving
 * backend of its preference order.  It depends only on the backends, the
 * weights, the seed, M and the serving set, never on the order in which
 * backends failed or came back; a single failure moves only the failed
 * backend's slots (and spreads them over the others by weight, since
 * turns come in proportion to weight).
 *
 * The walk is lazy: it runs until every slot that needs an answer has
 * one, about as many steps as the fill itself when a quarter of the slots
 * need one, far fewer for one of many backends.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/sched/sched.h"
#include "maglev-int.h"

/* An answer still owed; no backend index reaches it (n < UINT32_MAX - 1). */
#define PREF_PENDING SCHED_SLOT_PENDING

/* One backend's walk past the end of the fill. */
struct pref_walker {
	uint32_t pos;		/* where its next turn lands */
	uint32_t skip;
	uint32_t index;		/* in the caller's array */
	/* turns * wmax = acc_q * weight + acc_r: the round, without dividing */
	uint64_t acc_q, acc_r;
	uint64_t q, r, weight;	/* wmax = q * weight + r */
	uint64_t round;		/* of its next turn: ceil(turns * wmax / weight) */
};

static void walker_init(struct pref_walker *w, const struct maglev_perm *p,
			uint64_t wmax)
{
	uint64_t acc = (uint64_t)p->claimed * wmax;	/* < 2^64: both < 2^32 */

	*w = (struct pref_walker){
		.pos = p->next, .skip = p->skip, .index = p->index,
		.acc_q = acc / p->weight, .acc_r = acc % p->weight,
		.q = wmax / p->weight, .r = wmax % p->weight,
		.weight = p->weight,
	};
	w->round = w->acc_q + (w->acc_r != 0);
}

static void walker_advance(struct pref_walker *w, uint32_t m)
{
	w->pos = w->pos >= m - w->skip ? w->pos - (m - w->skip) : w->pos + w->skip;
	w->acc_q += w->q;
	w->acc_r += w->r;
	if (w->acc_r >= w->weight) {
		w->acc_r -= w->weight;
		w->acc_q++;
	}
	w->round = w->acc_q + (w->acc_r != 0);
}

/*
 * Walk the schedule on from the end of the fill: out[s] == PREF_PENDING
 * gets the first walker (other than base[s]) to land on s.  left: how
 * many are pending.  Rounds are visited in order, turns of a round in
 * turn order, empty rounds skipped.  Each walker covers every slot within
 * M of its turns, so this ends once a walker can answer each pending slot
 * (the callers make sure one can).
 */
static void pref_walk(struct pref_walker *wk, uint32_t k, const uint32_t *base,
		      uint32_t *out, uint32_t left, uint32_t m)
{
	uint64_t cur = UINT64_MAX;

	for (uint32_t i = 0; i < k; i++)
		if (wk[i].round < cur)
			cur = wk[i].round;
	while (left) {
		uint64_t next = UINT64_MAX;

		for (uint32_t i = 0; i < k && left; i++) {
			struct pref_walker *w = &wk[i];

			if (w->round == cur) {
				uint32_t s = w->pos;

				if (out[s] == PREF_PENDING && base[s] != w->index) {
					out[s] = w->index;
					left--;
				}
				walker_advance(w, m);
			}
			if (w->round < next)
				next = w->round;
		}
		cur = next;
	}
}

/*
 * The same answers as pref_walk(), slot by slot: walker w lands on s at
 * its j-th turn past the fill, j = (s - pos) / skip mod M, which is turn
 * claimed + j of its schedule, in round ceil((claimed + j) * wmax /
 * weight); the earliest (round, turn order) wins.  Costs pending * k
 * modular products instead of about M * ln(pending) steps: the cheaper
 * when few slots are pending (one backend of many stopped).
 */
static void pref_direct(struct maglev_perm *perms, uint32_t k,
			uint64_t wmax, const bool *serving, const uint32_t *base,
			uint32_t *out, uint32_t m, const uint32_t *list,
			uint32_t n_list)
{
	uint64_t barrett = maglev_barrett(m);

	/*
	 * Each skip's inverse once per kept fill (the fill's tail may have
	 * set some; p->inv is 0 until then): later failovers reuse them.
	 * Before, each answer ran k Euclids and two 64-bit divisions per
	 * slot and backend: one of 1000 backends down at M = 65537 took
	 * 0.38 ms, now 0.17 (`make bench-sched`, "1-down").
	 */
	for (uint32_t i = 0; i < k; i++)
		if (!perms[i].inv)
			perms[i].inv = maglev_invmod(perms[i].skip, m);
	/* list: the only entries that may be pending (else every slot) */
	for (uint32_t j = 0; j < (list ? n_list : m); j++) {
		uint32_t s = list ? list[j] : j;
		uint64_t best_round = UINT64_MAX;

		if (out[s] != PREF_PENDING)
			continue;
		for (uint32_t i = 0; i < k; i++) {
			const struct maglev_perm *p = &perms[i];
			uint32_t d = s >= p->next ? s - p->next : s + (m - p->next);
			uint64_t t, round;

			if ((serving && !serving[p->index]) || p->index == base[s])
				continue;
			t = (uint64_t)p->claimed + maglev_mulmod(d, p->inv, m, barrett);
			/* equal weights (the usual case): turn t is in round t */
			round = p->weight == wmax ? t :
				(t * wmax + p->weight - 1) / p->weight;
			/* perms are in turn order: a tie goes to the first. */
			if (round < best_round) {
				best_round = round;
				out[s] = p->index;
			}
		}
	}
}

/* Whether pref_direct() beats pref_walk() for this many pending slots. */
static bool pref_direct_pays(uint32_t pending, uint32_t k, uint32_t m)
{
	uint32_t log2p = 32 - (uint32_t)__builtin_clz(pending | 1);

	/* one candidate (a modular product) costs a few steps of the walk */
	return (uint64_t)pending * k * 4 < (uint64_t)m * (log2p + 1);
}

/*
 * A base table's fill, kept: what every later answer walks on from.
 * Callers hold it const; its perms' inv (each skip's inverse) is a cache
 * pref_direct() fills on first use, which changes no answer.
 */
struct maglev_prefs {
	struct maglev_end end;
	uint32_t m;
};

int maglev_prefs_new(const struct sched_backend *backends, size_t n,
		     uint32_t seed, uint32_t *base, uint32_t m,
		     struct maglev_prefs **out)
{
	struct maglev_prefs *p;
	int err;

	*out = NULL;
	if (n >= PREF_PENDING)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	err = maglev_build_end(backends, n, seed, base, m, &p->end);
	if (err) {
		free(p);
		return err;
	}
	p->m = m;
	*out = p;
	return 0;
}

int maglev_prefs_copy(const struct maglev_prefs *src, struct maglev_prefs **out)
{
	struct maglev_prefs *p = malloc(sizeof(*p));
	size_t size = (src->end.k ? src->end.k : 1) * sizeof(*src->end.perms);

	*out = NULL;
	if (!p)
		return -ENOMEM;
	*p = *src;
	if (src->end.perms) {
		p->end.perms = malloc(size);
		if (!p->end.perms) {
			free(p);
			return -ENOMEM;
		}
		memcpy(p->end.perms, src->end.perms, src->end.k * sizeof(*src->end.perms));
	}
	*out = p;
	return 0;
}

void maglev_prefs_free(struct maglev_prefs *p)
{
	if (!p)
		return;
	free(p->end.perms);
	free(p);
}

/*
 * Answer from a kept fill: the walks of the serving backends (every
 * backend's when serving is NULL) go on until no slot of out[] is
 * pending.  A slot is pending when it needs an answer and some serving
 * backend other than its owner can give one: with owners_too, every slot
 * (its answer is the first serving backend after its owner); without,
 * only the slots whose owner does not serve (the others keep the owner).
 */
static int pref_fill(const struct maglev_prefs *p, const uint32_t *base,
		     const bool *serving, uint32_t k, uint32_t left, uint32_t *out,
		     const uint32_t *list, uint32_t n_list);

static int prefs_answer(const struct maglev_prefs *p, const uint32_t *base,
			const bool *serving, bool owners_too, uint32_t *out)
{
	const struct maglev_end *end = &p->end;
	uint32_t left = 0, k = 0, m = p->m;

	if (!base || !out)
		return -EINVAL;
	for (uint32_t i = 0; i < end->k; i++)
		k += !serving || serving[end->perms[i].index];
	for (uint32_t s = 0; s < m; s++) {
		uint32_t owner = base[s];
		bool owner_serves = owner != SCHED_SLOT_EMPTY &&
				    (!serving || serving[owner]);

		if (owner == SCHED_SLOT_EMPTY)
			out[s] = SCHED_SLOT_EMPTY;
		else if (owner_serves && !owners_too)
			out[s] = owner;
		else if (k > (owner_serves ? 1u : 0u))
			out[s] = PREF_PENDING;
		else
			out[s] = SCHED_SLOT_EMPTY;
		left += out[s] == PREF_PENDING;
	}
	return pref_fill(p, base, serving, k, left, out, NULL, 0);
}

/*
 * The pending entries of out (left of them), k backends serving; list:
 * where they are, when the caller knows (NULL: anywhere in out).
 */
static int pref_fill(const struct maglev_prefs *p, const uint32_t *base,
		     const bool *serving, uint32_t k, uint32_t left, uint32_t *out,
		     const uint32_t *list, uint32_t n_list)
{
	const struct maglev_end *end = &p->end;
	uint32_t m = p->m;
	struct pref_walker *wk;

	if (!left)
		return 0;
	if (pref_direct_pays(left, k, m)) {
		pref_direct(end->perms, end->k, end->wmax, serving, base, out, m,
			    list, n_list);
		return 0;
	}
	wk = malloc(k * sizeof(*wk));
	if (!wk)
		return -ENOMEM;
	k = 0;
	for (uint32_t i = 0; i < end->k; i++)
		if (!serving || serving[end->perms[i].index])
			walker_init(&wk[k++], &end->perms[i], end->wmax);
	pref_walk(wk, k, base, out, left, m);
	free(wk);
	return 0;
}

/* maglev_prefs_fill() over out[list[0..n_list)], or all of out (list NULL). */
static int prefs_fill_some(const struct maglev_prefs *p, const uint32_t *base,
			   const bool *serving, uint32_t *out,
			   const uint32_t *list, size_t n_list)
{
	uint32_t left = 0, k = 0, servers = 0;
	size_t n = list ? n_list : p->m;

	if (!base || !out || !serving || n > p->m)
		return -EINVAL;
	for (uint32_t i = 0; i < p->end.k; i++)
		k += serving[p->end.perms[i].index];
	for (size_t j = 0; j < n; j++) {
		uint32_t s = list ? list[j] : (uint32_t)j;

		if (out[s] != PREF_PENDING)
			continue;
		/* as prefs_answer(): answerable only by a server other than the owner */
		servers = k - (base[s] != SCHED_SLOT_EMPTY && serving[base[s]]);
		if (base[s] == SCHED_SLOT_EMPTY || !servers)
			out[s] = SCHED_SLOT_EMPTY;
		else
			left++;
	}
	return pref_fill(p, base, serving, k, left, out, list, (uint32_t)n_list);
}

int maglev_prefs_fill(const struct maglev_prefs *p, const uint32_t *base,
		      const bool *serving, uint32_t *out)
{
	return prefs_fill_some(p, base, serving, out, NULL, 0);
}

int maglev_prefs_fill_list(const struct maglev_prefs *p, const uint32_t *base,
			   const bool *serving, uint32_t *out,
			   const uint32_t *list, size_t n_list)
{
	if (!n_list)	/* nothing pending: as prefs_fill_some() would find */
		return base && out && serving ? 0 : -EINVAL;
	if (!list)
		return -EINVAL;
	return prefs_fill_some(p, base, serving, out, list, n_list);
}

int maglev_prefs_answer(const struct maglev_prefs *p, const uint32_t *base,
			const bool *serving, uint32_t *out)
{
	return prefs_answer(p, base, serving, !serving, out);
}

int maglev_prefs_next(const struct maglev_prefs *p, const uint32_t *base,
		      const bool *serving, uint32_t *out)
{
	return prefs_answer(p, base, serving, true, out);
}

static int pref_run(const struct sched_backend *backends, size_t n,
		    uint32_t seed, const bool *serving, uint32_t *base,
		    uint32_t *out, uint32_t m)
{
	struct maglev_prefs *p;
	int err;

	if (!out)
		return -EINVAL;
	err = maglev_prefs_new(backends, n, seed, base, m, &p);
	if (err == 0)
		err = maglev_prefs_answer(p, base, serving, out);
	maglev_prefs_free(p);
	return err;
}

int maglev_effective(const struct sched_backend *backends, size_t n,
		     uint32_t seed, const bool *serving, uint32_t *base,
		     uint32_t *eff, uint32_t m)
{
	if (!serving)
		return -EINVAL;
	return pref_run(backends, n, seed, serving, base, eff, m);
}

int maglev_fallback(const struct sched_backend *backends, size_t n,
		    uint32_t seed, uint32_t *base, uint32_t *next, uint32_t m)
{
	return pref_run(backends, n, seed, NULL, base, next, m);
}
