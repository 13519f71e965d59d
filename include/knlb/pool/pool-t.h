/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_T_H
#define KNLB_POOL_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "knlb/lib/addr-t.h"
#include "knlb/config/config-t.h"

struct knlb_config;
struct knlb_service_config;
struct knlb_backend_config;

/*
 * Runtime state, the desired state of the data plane.  Each object points
 * at its (read-only) configuration and adds what changes while running.
 */

/* What the operator said with knlbctl (kept across reloads). */
enum knlb_admin {
	KNLB_ADMIN_ENABLED,		/* takes new flows while healthy */
	KNLB_ADMIN_DRAIN,		/* no new flows; established ones go on */
	KNLB_ADMIN_DISABLED,		/* no new flows; flushed when flush = yes */
};

struct knlb_backend {
	const struct knlb_backend_config *cfg;
	enum knlb_admin admin;
	/* cfg->weight, or what `knlbctl weight` set (weight_set) */
	uint32_t weight;
	bool weight_set;
	bool up;			/* health verdict (always true without checks) */
	/*
	 * scheduler = wlc: weight / (1 + active flows), normalised by
	 * src/sched/wlc.c; what stands in for weight while set.
	 */
	uint32_t wlc_weight;
	bool wlc_set;
	/*
	 * latency_weights = yes: the checks' smoothed latency (known once a
	 * probe passed; probes_seen: the health probe count last read) and
	 * the weight src/sched/lrt.c derived from it.
	 */
	double latency_ms;
	bool latency_known;
	uint64_t probes_seen;
	uint32_t lrt_weight;
	bool lrt_set;
	uint64_t up_since_ns;		/* slow start: when it came back; 0 = no ramp */
	/*
	 * maxconn=N: its active flows reached N; out of the slot table until
	 * they fall to pool_maxconn_low_water() (pool_apply_maxconn()).
	 */
	bool full;
	/*
	 * What the scheduler uses: cfg->weight * svc->weight_scale, scaled
	 * down during slow start, 0 when unusable or a standby backup.
	 */
	uint32_t effective_weight;
	/*
	 * The weight the service's base Maglev table gives it: as
	 * effective_weight, but whatever its health and maxconn say (admin,
	 * weight, slow start and backup standby still count).  A backend
	 * that stops serving keeps its base slots; they fall back to their
	 * next serving preference (sched/maglev_pref.c).
	 */
	uint32_t base_weight;
};

/*
 * One address family a service serves (one VIP): its own slot table, built
 * from that family's backends only, and its own backup and on_empty state.
 */
struct knlb_service_family {
	enum knlb_family family;
	uint32_t *slots;		/* cfg->table_size entries, inside svc->slots */
	uint32_t *base;			/* idem (maglev): in svc->base_slots */
	/*
	 * maglev: base's fill kept for health transitions, which answer from
	 * it without a rebuild, and the base weight of each of the family's
	 * backends (config order) it was built with; NULL until built.
	 */
	struct maglev_prefs *prefs;
	uint32_t *prefs_weights;
	bool on_backups;		/* no primary of this family usable */
	bool empty;			/* none of this family usable: on_empty */
	/*
	 * maglev: slots is base where the owner serves and its preference
	 * elsewhere for the serving set svc->eff_dead says, so that the next
	 * computation rewrites only the slots of backends whose state
	 * changed or that do not serve (pool.c, answer_touched()).
	 */
	bool eff_known;
};

struct knlb_service {
	const struct knlb_service_config *cfg;
	uint32_t ct_mark;		/* tags this service's flows */
	uint32_t ct_mark_mask;		/* the bits of ct mark knlb owns */
	enum knlb_ct_events ct_events;	/* [global] ct_events: the chain's event mask */
	struct knlb_backend *backends;
	size_t n_backends;
	/*
	 * slots[i]: index into backends, or SCHED_SLOT_EMPTY.  One table of
	 * cfg->table_size per family, IPv4's first: n_families * table_size
	 * long (pool_slots_len()), so diffs and digests see one array.
	 */
	uint32_t *slots;
	/*
	 * maglev: the base table (over base_weight), laid out as slots.
	 * slots is the effective table: base where the owner serves, the
	 * slot's first serving preference elsewhere.  When no backend of the
	 * base serves (backups, on_empty) base is a copy of slots.  Its own
	 * memory from pool creation on (pool.c, service_init()); NULL for
	 * the other schedulers (their tables have no fallback, and their
	 * families' base is NULL).
	 */
	uint32_t *base_slots;
	/*
	 * maglev: base_slots' indexes grouped by owner (pool/base_index.c):
	 * base_order[base_start[b] .. base_start[b + 1]) are b's slots, in
	 * order, so that a health transition looks at the slots of the
	 * backends it concerns, M/N each, not at all M.  base_gen names what
	 * base_slots holds: unique in the process, new at each rebuild, never
	 * 0; base_index_gen is the one the index was built from.  eff_dead[b]:
	 * b's base slots hold other backends in slots (b does not serve).
	 */
	uint32_t *base_start, *base_order;
	uint64_t base_gen, base_index_gen;
	bool *eff_dead;
	struct knlb_service_family families[KNLB_FAMILIES];
	size_t n_families;
	/*
	 * 1, or KNLB_RAMP_SCALE while a backend ramps up so that fractions of
	 * a weight exist.  Both schedulers give the same table for weights
	 * scaled by a common factor, so the scale itself moves no slot.
	 */
	uint32_t weight_scale;
	/* backends with a maxconn: the loop's check skips services with none */
	size_t n_maxconn;
	bool on_backups;		/* some family's backups serve */
	bool empty;			/* no family has a usable backend */
	bool dirty;			/* slots must be recomputed */
	/*
	 * pool_create() only: an earlier service of the pool with the same
	 * backends (ids, in order), seed, size and families, whose Maglev
	 * fill this one copies instead of building it again when the base
	 * weights match too (services listing the same backends on other
	 * VIPs or ports).  NULL once the pool is made.
	 */
	const struct knlb_service *build_twin;
	uint64_t dirty_since_ns;	/* first change not yet in the kernel */
};

#define KNLB_RAMP_SCALE 100U

/*
 * Every service with its backends' runtime state: the model the pool/
 * layer keeps (not one backend pool, as the word means in a load
 * balancer; variables holding it are still called `pool` for short).
 */
struct knlb_model {
	const struct knlb_config *config;
	struct knlb_service *services;
	size_t n_services;
};

#endif
