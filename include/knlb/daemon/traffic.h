/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_TRAFFIC_H
#define KNLB_DAEMON_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>

#include "knlb/config/config-t.h"
#include "knlb/nft/stats.h"

/*
 * Each backend's new flows, packets and bytes as readers show them
 * (knlbctl stats, /metrics), from where [global] traffic_counters says
 * they are counted: the table's sets (yes; new flows only with no), or
 * the sets' new flows and conntrack's accounting summed by knlbd
 * (conntrack: ct.h's ct_traffic_*).  src/daemon/traffic.c.
 */

struct ct;
struct knlbd;
struct knlb_service;

/*
 * traffic_counters = conntrack: turn conntrack's accounting on in knlbd's
 * network namespace (net.netfilter.nf_conntrack_acct, before the table
 * forwards, so that its flows carry counters), logged.  auto (the
 * default): the same, and g says conntrack from then on; when knlbd cannot
 * (a read-only /proc/sys, no conntrack), a warning names why and g says
 * yes: the rules count.  Either way g->traffic_auto remembers it was auto.
 * Nothing for the other settings.  0, or -errno (conntrack only) logged
 * as a sentence that names the setting.  *turned_on: knlbd switched the
 * sysctl from 0 to 1 (it was not on already).
 */
int traffic_accounting_on(struct knlb_global_config *g, const char *proc_root,
			  bool *turned_on);
/*
 * knlbd --flush-on-exit, its table deleted (or a start that could not
 * program its table): leave the host's accounting as knlbd found it.
 * turned_on (traffic_accounting_on's): back to 0; else it was on already
 * (the operator's, or an earlier knlbd's that left its table) and stays
 * on.  Logged either way, as is a failure.
 */
void traffic_accounting_restore(const char *proc_root, bool turned_on);
/* auto, and knlbd runs without conntrack: the rules count, said in the log. */
void traffic_without_conntrack(struct knlb_global_config *g);
/*
 * knlbd --render, which changes nothing on the host: auto as what a start
 * programs wherever it can turn the accounting on (conntrack).
 */
void traffic_render_as(struct knlb_global_config *g);
/*
 * A reload's config: auto keeps what the start resolved (changing the
 * source needs a restart, pool/reload_plan.c).
 */
void traffic_keep_running(const struct knlb_global_config *running,
			  struct knlb_global_config *g);

struct traffic_view {
	struct stats_table t;
	struct ct *ct;		/* summing conntrack's accounting, or NULL */
	bool counted;		/* packets and bytes are known */
};

/*
 * Read the figures now: the table's sets, and under traffic_counters =
 * conntrack the live flows' counters too (one dump).  ct is NULL when
 * knlbd runs without conntrack: packets and bytes are then unknown.
 * 0, or -errno with err filled.  Free with traffic_view_free().
 */
int traffic_view_read(struct traffic_view *v, const struct knlb_global_config *g,
		      struct ct *ct, char *err, size_t errlen);
/* One backend's figures (zeroes when nothing was counted). */
struct stats_counter traffic_view_backend(const struct traffic_view *v,
					  const struct knlb_service *svc,
					  size_t b);
void traffic_view_free(struct traffic_view *v);

/*
 * Whether packets and bytes are known (rules, or conntrack with ct
 * open), and who counts them: "rules", "conntrack", or NULL.
 */
bool traffic_known(const struct knlb_global_config *g, const struct ct *ct);
const char *traffic_source(const struct knlb_global_config *g,
			   const struct ct *ct);
/* The line `knlbctl status` prints about them, or NULL for an explicit yes. */
const char *traffic_status_line(const struct knlb_global_config *g,
				const struct ct *ct);


#endif
