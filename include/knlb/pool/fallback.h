/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_FALLBACK_H
#define KNLB_POOL_FALLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct knlb_service;

/*
 * The fallback shape of a maglev service (docs/architecture.md, "Failover
 * in O(1)"): what the kernel holds so that a backend that stops serving
 * costs one rule, whatever the table size.
 *
 *   NAME_slots[6]   the base table (base weights: health and maxconn
 *                   ignored), which a health transition never touches;
 *   NAME_fb<b>      per backend b, b's base slots, each mapped to where
 *                   it goes once b stops: the first backend in the slot's
 *                   Maglev preference order that serves;
 *   chain fb_NAME   one rule per backend that does not serve, reading
 *                   its map before the slot rule (a slot not in the map
 *                   misses and the slot rule applies).
 *
 * Pure: this file says what the kernel should hold; nft/fallback.c
 * writes it and nft/sync.c sends it.
 */

/* What the kernel holds (or should) for one service in that shape. */
struct fallback_state {
	uint32_t *base;		/* pool_slots_len(svc): NAME_slots[6] */
	/*
	 * Per slot s: its element in map NAME_fb<base[s]>, a backend index,
	 * or SCHED_SLOT_EMPTY when that map has no element for s.
	 */
	uint32_t *fb;
	bool *dead;		/* per backend: its rule is in chain fb_NAME */
	size_t n_slots, n_backends;
	uint64_t base_gen;	/* svc->base_gen that base is a copy of; 0: unknown */
	/*
	 * A desired state built by fallback_desired_delta(): only the slots
	 * of touched[0..n_touched) (and dead, base_gen) are set, the others
	 * are what the state it was computed from holds.
	 */
	bool partial;
	uint32_t *touched;	/* n_slots long */
	size_t n_touched;
};

/* svc's shape: config_table_has_fallback_maps() of its config. */
bool pool_has_fallback_maps(const struct knlb_service *svc);

/* Sized for svc, empty (no element, no rule).  0 or -ENOMEM. */
int fallback_state_init(struct fallback_state *st, const struct knlb_service *svc);
void fallback_state_free(struct fallback_state *st);
/*
 * dst becomes src; for a partial src, dst must be the state src was
 * computed from (only the touched slots are copied).
 */
void fallback_state_copy(struct fallback_state *dst, const struct fallback_state *src);

/*
 * next[s] = where slot s goes once its base owner stops, given the
 * backends that serve now (maglev_prefs_next() per family), or
 * SCHED_SLOT_EMPTY where no other backend serves or svc keeps no
 * preference fill (its base is a table of backups).  The full walk: about
 * one Maglev build.  0 or -ENOMEM.
 */
int pool_fallback_next(const struct knlb_service *svc, uint32_t *next);

/*
 * The state the kernel should hold for svc (its slots, its base):
 * want->base = the base table; want->dead[b] = b owns a base slot and the
 * effective table gives it to another backend; want->fb[s] = the
 * effective backend for a slot whose owner is dead (so what the kernel
 * uses is exactly svc->slots), and for the others next[s], or, next NULL,
 * what have holds for s when s kept its owner (the precomputed fallbacks
 * of serving owners are refreshed later, off the failover's path).
 */
void fallback_desired(const struct knlb_service *svc,
		      const struct fallback_state *have, const uint32_t *next,
		      struct fallback_state *want);

/*
 * fallback_desired(svc, have, NULL, want) for a health or maxconn
 * transition, computed only over the base slots of the backends dead in
 * have or in svc (M/N each) when have was computed on svc's base as it
 * is (base_gen) and svc's base index is current: want is then partial
 * (its touched slots set, the rest taken as have's) and this returns
 * true.  false: not applicable, want untouched; use fallback_desired().
 */
bool fallback_desired_delta(const struct knlb_service *svc,
			    const struct fallback_state *have,
			    struct fallback_state *want);
/*
 * What the kernel forwards slot s to under st: fb[s] when base[s] is dead
 * and the map has s, else base[s].  The tests' oracle of the shape.
 */
uint32_t fallback_effective(const struct fallback_state *st, size_t s);

/*
 * Whether a backend st has as dead (st->dead) serves again in svc.  Until
 * the serving backends' precomputed fallbacks are refreshed they may skip
 * it, so they are no hint for pool_compute_slots_hinted() then.
 */
bool pool_fallback_revived(const struct knlb_service *svc,
			   const struct fallback_state *st);

/* Whether the dead sets differ (the rules must be rewritten). */
bool fallback_rules_differ(const struct fallback_state *a,
			   const struct fallback_state *b);

#endif
