/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_ANNOUNCE_H
#define KNLB_DAEMON_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/addr-t.h"

/*
 * announce = route, the daemon's half (docs/scale-out.md): after each
 * commit the kernel acknowledged, the VIPs announce_plan.h wants get
 * their route (src/route/) and the others lose it.  At start the routes
 * already in announce_table are adopted, not re-created: a restart with
 * the same config changes nothing a BGP peer sees.  knlbd stopping leaves
 * them (kill -9 too: the kernel keeps forwarding, so the gateway should
 * keep attracting traffic); --flush-on-exit withdraws them before the
 * table goes.
 */

struct knlbd;
struct announcer;

/* One VIP as status shows it. */
struct announce_state {
	struct knlb_addr vip;
	bool configured;	/* a service on it has announce = route */
	bool wanted;		/* every such service has a usable backend */
	bool installed;		/* knlb's route is in the kernel */
	char why[160];		/* !installed, or a failed withdraw: why */
};

/* Lists what the kernel holds; NULL d->announcer (logged) if rtnetlink fails. */
int announcer_start(struct knlbd *d);
/* The loop's before-sleep hook, after the commit: act on changes only. */
void announcer_sync(struct knlbd *d);
/* A reload changed announce_table: withdraw from the old one, adopt the new. */
void announcer_reload(struct knlbd *d, uint32_t old_table);
/* --flush-on-exit: withdraw every route of knlb's in announce_table. */
void announcer_withdraw_all(struct knlbd *d);
void announcer_free(struct announcer *a);

/* The VIPs known, configured or still installed; valid until the next sync. */
const struct announce_state *announcer_states(const struct announcer *a,
					      size_t *n);
uint32_t announcer_table(const struct announcer *a);

#endif
