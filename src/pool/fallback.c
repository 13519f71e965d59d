/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fallback shape's desired state (see pool/fallback.h): what the
 * kernel should hold so that it forwards every slot exactly as the pool's
 * effective table says, and one rule per backend that stops serving is
 * all a health transition needs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/table_size.h"
#include "knlb/pool/base_index.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

bool pool_has_fallback_maps(const struct knlb_service *svc)
{
	return config_table_has_fallback_maps(svc->cfg);
}

int fallback_state_init(struct fallback_state *st, const struct knlb_service *svc)
{
	size_t len = pool_slots_len(svc), n = svc->n_backends;

	*st = (struct fallback_state){ .n_slots = len, .n_backends = n };
	st->base = malloc((len ? len : 1) * sizeof(*st->base));
	st->fb = malloc((len ? len : 1) * sizeof(*st->fb));
	st->dead = calloc(n ? n : 1, sizeof(*st->dead));
	st->touched = malloc((len ? len : 1) * sizeof(*st->touched));
	if (!st->base || !st->fb || !st->dead || !st->touched) {
		fallback_state_free(st);
		return -ENOMEM;
	}
	/* every page written now: none is faulted in on a failover's path */
	for (size_t s = 0; s < len; s++) {
		st->base[s] = st->fb[s] = SCHED_SLOT_EMPTY;
		st->touched[s] = 0;
	}
	return 0;
}

void fallback_state_free(struct fallback_state *st)
{
	free(st->base);
	free(st->fb);
	free(st->dead);
	free(st->touched);
	*st = (struct fallback_state){ 0 };
}

void fallback_state_copy(struct fallback_state *dst, const struct fallback_state *src)
{
	if (src->partial) {
		for (size_t j = 0; j < src->n_touched; j++) {
			uint32_t s = src->touched[j];

			dst->base[s] = src->base[s];
			dst->fb[s] = src->fb[s];
		}
	} else {
		memcpy(dst->base, src->base, src->n_slots * sizeof(*src->base));
		memcpy(dst->fb, src->fb, src->n_slots * sizeof(*src->fb));
	}
	memcpy(dst->dead, src->dead, src->n_backends * sizeof(*src->dead));
	dst->base_gen = src->base_gen;
}

int pool_fallback_next(const struct knlb_service *svc, uint32_t *next)
{
	uint32_t m = svc->cfg->table_size;
	bool *serving = calloc(svc->n_backends ? svc->n_backends : 1,
			       sizeof(*serving));
	int ret = serving ? 0 : -ENOMEM;

	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		const struct knlb_service_family *fam = &svc->families[k];

		if (!fam->prefs) {	/* a table of backups: no preference kept */
			for (uint32_t s = 0; s < m; s++)
				next[k * m + s] = SCHED_SLOT_EMPTY;
			continue;
		}
		for (size_t b = 0; b < svc->n_backends; b++)
			serving[b] = pool_backend_serves_family(&svc->backends[b],
								fam->family);
		ret = maglev_prefs_next(fam->prefs, fam->base, serving, next + k * m);
	}
	free(serving);
	return ret;
}

/*
 * fallback_desired() for a transition (no new preferences, the kernel's
 * state known), with no branch per slot: after one failure a quarter of
 * the slots (N = 4) are the dead backend's, in no order, and the branches
 * on it mispredicted.  With the dead-backend pass, this was half of a
 * failover's transaction build at M = 65537 (0.25 of 0.5 ms).  Every load
 * is unconditional so that the choice compiles to cmov.
 */
static void fb_after_transition(const uint32_t *base, const uint32_t *slots,
				const struct fallback_state *have,
				struct fallback_state *want)
{
	const uint32_t *have_base = have->base, *have_fb = have->fb;
	const bool *dead = want->dead;
	uint32_t n = (uint32_t)want->n_backends, *fb = want->fb;

	for (size_t s = 0; s < want->n_slots; s++) {
		uint32_t b = base[s], now = slots[s], hb = have_base[s], hf = have_fb[s];
		bool is_dead = (b < n) & dead[b < n ? b : 0];
		uint32_t keep = hb == b ? hf : SCHED_SLOT_EMPTY;
		uint32_t v = is_dead ? now : keep;

		fb[s] = b == SCHED_SLOT_EMPTY ? SCHED_SLOT_EMPTY : v;
	}
}

void fallback_desired(const struct knlb_service *svc,
		      const struct fallback_state *have, const uint32_t *next,
		      struct fallback_state *want)
{
	/* the shape is maglev's, whose base has memory of its own (pool.c) */
	const uint32_t *base = svc->base_slots, *slots = svc->slots;
	uint32_t n = (uint32_t)want->n_backends;
	size_t len = want->n_slots;
	bool *dead = want->dead;

	want->partial = false;
	want->base_gen = svc->base_gen;
	memcpy(want->base, base, len * sizeof(*base));
	memset(dead, 0, n * sizeof(*dead));
	/* dead: a slot of its base went elsewhere (branch-free, as below) */
	for (size_t s = 0; s < len; s++) {
		uint32_t b = base[s], now = slots[s];

		dead[b < n ? b : 0] |= (b < n) & (now != b);
	}
	if (have && !next) {
		fb_after_transition(base, slots, have, want);
		return;
	}
	for (size_t s = 0; s < len; s++) {
		uint32_t b = base[s];

		if (b == SCHED_SLOT_EMPTY)
			want->fb[s] = SCHED_SLOT_EMPTY;
		else if (dead[b])
			want->fb[s] = slots[s];
		else
			want->fb[s] = next ? next[s] : SCHED_SLOT_EMPTY;
	}
}

bool fallback_desired_delta(const struct knlb_service *svc,
			    const struct fallback_state *have,
			    struct fallback_state *want)
{
	const uint32_t *slots = svc->slots;

	if (!have->base_gen || have->base_gen != svc->base_gen ||
	    !pool_base_index_valid(svc) || want->n_slots != have->n_slots ||
	    want->n_backends != svc->n_backends)
		return false;
	want->n_touched = 0;
	for (size_t b = 0; b < want->n_backends; b++) {
		size_t n_own;
		const uint32_t *own = pool_base_slots_of(svc, b, &n_own);
		/*
		 * All of a backend's base slots keep it or none does (an owner
		 * that serves keeps its slot, pool.c): its first says which.
		 */
		bool dead = n_own && slots[own[0]] != b;

		want->dead[b] = dead;
		/*
		 * Neither dead now nor in have: its slots and entries stay.
		 * One that comes back keeps its entries too, but its slots
		 * move back to it: touched, so the caller's count sees them.
		 */
		if (!dead && !have->dead[b])
			continue;
		for (size_t j = 0; j < n_own; j++) {
			uint32_t s = own[j];

			want->base[s] = (uint32_t)b;
			/* as fb_after_transition(), on an unchanged base */
			want->fb[s] = dead ? slots[s] : have->fb[s];
			want->touched[want->n_touched++] = s;
		}
	}
	want->base_gen = svc->base_gen;
	want->partial = true;
	return true;
}

uint32_t fallback_effective(const struct fallback_state *st, size_t s)
{
	uint32_t b = st->base[s];

	if (b != SCHED_SLOT_EMPTY && b < st->n_backends && st->dead[b] &&
	    st->fb[s] != SCHED_SLOT_EMPTY)
		return st->fb[s];
	return b;
}

bool pool_fallback_revived(const struct knlb_service *svc,
			   const struct fallback_state *st)
{
	for (size_t b = 0; b < st->n_backends; b++)	/* sized for svc */
		if (st->dead[b] && svc->backends[b].effective_weight > 0)
			return true;
	return false;
}

bool fallback_rules_differ(const struct fallback_state *a,
			   const struct fallback_state *b)
{
	return memcmp(a->dead, b->dead, a->n_backends * sizeof(*a->dead)) != 0;
}
