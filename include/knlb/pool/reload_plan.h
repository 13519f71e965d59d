/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_RELOAD_H
#define KNLB_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Reload, the pure half: a pool freshly built from the new configuration
 * takes over the running pool's runtime state, and the plan says what the
 * kernel must be told.  No I/O; src/nft/commit.c applies the plan in one
 * transaction, the daemon swaps the objects.
 *
 * Identity.  A service is the same service when its name is; a backend is
 * the same backend when its id is (id= when given, else ADDR:PORT).
 *
 * What carries over (docs/operations.md says which wins):
 * - the ct mark of every kept service, so its flows stay counted and
 *   SNATed; a new service takes the lowest free mark;
 * - health (up/down, slow start) of every kept backend, unless its
 *   service now has check = none (then it is up);
 * - admin state (drain, disable) of every kept backend;
 * - a runtime weight (knlbctl weight) of a kept backend whose weight in
 *   the file did not change; when the file changed it, the file wins.
 */

struct knlb_config;
struct knlb_pool;

enum reload_kind {
	RELOAD_SLOTS,		/* same services, same rules: slot deltas only */
	RELOAD_STRUCTURE,	/* services or their rules changed: new table */
};

/* Names per kind of structural change in why before "and N more". */
#define RELOAD_WHY_NAMES	5

struct reload_plan {
	enum reload_kind kind;
	/*
	 * Every structural change for the log and knlbctl reload, by kind:
	 * "service web: vip changed", "services a, b and 4 more removed;
	 * service c added".
	 */
	char why[1024];
	size_t n_services;	/* of the new pool */
	long *svc_from;		/* per new service: old index, or -1 (added) */
	long **backend_from;	/* per new service, per backend: old index or -1 */
	/* what changed, for the log and knlbctl reload */
	size_t services_added, services_removed, services_changed;
	size_t backends_added, backends_removed, weights_changed;
	size_t runtime_weights_kept, runtime_weights_dropped;
};

/*
 * What a reload cannot change in a running daemon: the table name and
 * ct_mark_mask (flows already marked would be lost).  0, or -EINVAL with
 * err saying which key and that a restart applies it.
 */
int reload_check(const struct knlb_config *old, const struct knlb_config *new,
		 char *err, size_t errlen);

/*
 * Carry old's state into new (built by pool_create from the new config),
 * recompute new's slot tables at now_ns and fill plan.  Returns 0,
 * -ENOSPC (no free ct mark under the mask: err says so) or -ENOMEM.
 * Free the plan with reload_plan_free() whatever the result.
 */
int reload_plan_build(const struct knlb_pool *old, struct knlb_pool *new,
		      uint64_t now_ns, struct reload_plan *plan, char *err,
		      size_t errlen);
void reload_plan_free(struct reload_plan *plan);

/* Index of new backend nb of new service ns in the old pool, or -1. */
static inline long reload_backend_from(const struct reload_plan *plan,
				       size_t ns, size_t nb)
{
	return plan->svc_from[ns] < 0 ? -1 : plan->backend_from[ns][nb];
}

#endif
