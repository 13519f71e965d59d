/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_H
#define KNLB_POOL_H

#include "knlb/config/config-t.h"
#include "knlb/pool/pool-t.h"

/*
 * Build the runtime pool for a validated config and compute every
 * service's slot table.  The pool borrows config: free the pool first.
 * Returns 0, -ENOMEM, or the scheduler's error.
 */
int pool_create(const struct knlb_config *config, struct knlb_model **out);
void pool_free(struct knlb_model *pool);

/* Length of svc->slots: one table of cfg->table_size per family served. */
static inline size_t pool_slots_len(const struct knlb_service *svc)
{
	return svc->n_families * (size_t)svc->cfg->table_size;
}

/* Bit (1u << family) set for each family of svc with no usable backend. */
unsigned pool_empty_families(const struct knlb_service *svc);

/* Whether some service of pool has a VIP of family f. */
bool pool_serves_family(const struct knlb_model *pool, enum knlb_family f);

/* svc's state for family f, or NULL when svc does not serve f. */
struct knlb_service_family *pool_service_family(const struct knlb_service *svc,
						enum knlb_family f);

/*
 * Recompute a service's slot tables (one per family, each from that
 * family's backends only, as an one-family service with those backends
 * would get) from effective weights; clears dirty.
 */
int pool_compute_slots(struct knlb_service *svc);

/*
 * Whether be serves in its family f's maglev table: of that family, with
 * an effective weight (healthy, enabled, under maxconn, not a backup
 * standing by).  What the effective table and the fallbacks count.
 */
bool pool_backend_serves_family(const struct knlb_backend *be,
				enum knlb_family f);

/*
 * pool_compute_slots() for a maglev service, helped by answers known
 * already: next[s], laid out as svc->slots, the first backend after
 * slot s's base owner that served in some earlier serving set (the
 * kernel's fallback maps, pool/fallback.h), computed on the base named
 * base_gen, dead[b] set for each backend that did not serve then.  Used
 * only when it is still right (the same base, no backend of dead[]
 * serving again): a failure then walks only the slots the hint cannot
 * answer, not every slot of every dead backend.  The result is
 * pool_compute_slots()'s, hint or not.  Returns the number of families
 * the hint answered (0: none needed it, or it was not right), or -errno.
 */
struct pool_fallback_hint {
	const uint32_t *next;
	const bool *dead;
	uint64_t base_gen;	/* svc->base_gen when next was computed */
};
int pool_compute_slots_hinted(struct knlb_service *svc,
			      const struct pool_fallback_hint *hint);

/*
 * Effective weights from weight, health, backups and slow
 * start at time now_ns.  Marks the service dirty (and returns true) when
 * any effective weight changed; on_backups and empty follow.
 */
bool pool_refresh_weights(struct knlb_service *svc, uint64_t now_ns);

/* A health verdict; starts slow start on down -> up.  Refreshes weights. */
bool pool_set_health(struct knlb_service *svc, size_t b, bool up,
		     uint64_t now_ns);

/* A backend still ramping up at now_ns (slow start timer needed). */
bool pool_service_ramping(const struct knlb_service *svc, uint64_t now_ns);

/*
 * knlbctl drain/enable/disable and weight: runtime changes on top of the
 * config.  Both refresh weights; true when an effective weight changed.
 */
bool pool_set_admin(struct knlb_service *svc, size_t b, enum knlb_admin admin,
		    uint64_t now_ns);
bool pool_set_weight(struct knlb_service *svc, size_t b, uint32_t weight,
		     uint64_t now_ns);
const char *pool_admin_name(enum knlb_admin admin);

/*
 * maxconn=N: with active flows, backend b becomes full at N (out of the
 * slot table: new flows go to the others) and takes new flows again at
 * pool_maxconn_low_water(N) = N - max(1, N/10), so a steady load at the
 * limit does not rewrite the map on every flow.  Marks svc dirty and
 * returns true when that changed.
 */
bool pool_apply_maxconn(struct knlb_service *svc, size_t b, uint64_t active,
			uint64_t now_ns);
uint32_t pool_maxconn_low_water(uint32_t maxconn);
/* Up, enabled and weighted: takes new flows unless maxconn holds it full. */
bool pool_backend_serving(const struct knlb_backend *be);

/*
 * scheduler = wlc: re-weight from active[b], the active flows of each
 * backend, with the hysteresis of wlc_weights(); marks the service dirty
 * only when the weights moved enough.  0 or -ENOMEM.
 */
int pool_apply_wlc(struct knlb_service *svc, const uint64_t *active,
		   uint64_t now_ns);

/*
 * latency_weights = yes: one passed probe's latency into backend b's
 * smoothed latency; then pool_apply_lrt() re-weights the service from
 * them with the hysteresis of lrt_weights().  0 or -ENOMEM.
 */
void pool_note_latency(struct knlb_service *svc, size_t b, double latency_ms);
int pool_apply_lrt(struct knlb_service *svc, uint64_t now_ns);

/* By name; NULL when there is none. */
struct knlb_service *pool_find_service(const struct knlb_model *pool,
				       const char *name);
/* By id, else by ADDR:PORT; the index, or -1. */
long pool_find_backend(const struct knlb_service *svc, const char *name);

/*
 * The lowest ct mark under mask (non-zero) that no service of pool holds
 * (services not marked yet hold 0): for a service a reload adds, or one
 * the running table had no mark for.  0 or -ENOSPC.
 */
int pool_free_mark(const struct knlb_model *pool, uint32_t mask, uint32_t *out);

/* counts[b] = slots pointing at backend b, in one pass (n_backends long). */
void pool_count_slots(const struct knlb_service *svc, uint32_t *counts);

/* effective_weight in the config's units (undoes weight_scale). */
double pool_effective_weight(const struct knlb_service *svc, size_t b);


/* Slots that point at backend index b (for reports and tests). */
uint32_t pool_slots_of(const struct knlb_service *svc, size_t b);

#endif
