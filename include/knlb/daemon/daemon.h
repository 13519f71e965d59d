/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_H
#define KNLB_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "knlb/daemon/daemon-t.h"

struct health;
struct knlb_model;
struct knlb_service;

/* Each returns 0 or -errno and has logged why. */
/* Control socket and metrics_listen, before the kernel is touched. */
int daemon_open_listeners(struct knlbd *d);
/*
 * Subscribe to conntrack's events and read its table, before the kernel
 * table forwards: with net.netfilter.nf_conntrack_events = 2 (the
 * default) an entry created while no event listener exists never gets
 * the event extension, so it sends no event ever, its DESTROY included,
 * even with `ct event set` in the rule.  Only -ENOMEM fails; without
 * conntrack knlbd runs, logged, with its flow counts off.
 */
int daemon_start_conntrack(struct knlbd *d);
/*
 * Tell conntrack whether knlbd sums its accounting (traffic_counters =
 * conntrack), once traffic_accounting_on() resolved auto.
 */
void daemon_count_traffic(struct knlbd *d);
int daemon_program_kernel(struct knlbd *d);
/*
 * Fork the privilege separation spawner (it drops every privilege at
 * once): before privs_drop(), before daemon_start_services().
 */
int daemon_start_spawner(struct knlbd *d);
int daemon_start_services(struct knlbd *d);
void daemon_flush_table(struct knlbd *d);
/*
 * The raw tcp probes' conntrack entries without events (nft/probe_events.h,
 * src/daemon/probe_events.c): the table after the raw sockets are open,
 * and gone when knlbd exits.  Failures are logged; probes run either way.
 */
void daemon_quiet_probes(struct knlbd *d);
void daemon_unquiet_probes(struct knlbd *d);
/* A health object for pool that reports transitions to the daemon. */
int daemon_start_health(struct knlbd *d, struct knlb_model *pool,
			struct health **out);
/* (Re)arm or cancel the wlc pass to fit d->pool. */
void daemon_arm_wlc(struct knlbd *d);
/*
 * How conntrack follows the pool's flows (src/daemon/ct_counting.c):
 * subscribe to events only while a service has track = events, listen to
 * TCP closing updates or not, as ct_closing says (always, or while an
 * events-tracked backend drains, has a maxconn or a wlc service runs),
 * and count the track = periodic services from dumps every
 * track_interval, or every 5 s and when read while nothing acts on their
 * counts.  After start, reload and every admin state change.
 */
void daemon_follow_flows(struct knlbd *d);

/*
 * Before a reader (knlbctl status, stats, an admin change, a scrape)
 * shows or acts on the flow counts: counts by dumps older than
 * track_interval are refreshed by a dump now, where no pass keeps them so
 * (nothing drains, no wlc or maxconn: see ct_set_counts_acted_on()).
 * with_traffic: the reader shows the bytes next, and that dump reads them
 * too (ct_refresh_counts()).
 */
void daemon_refresh_counts(struct knlbd *d, bool with_traffic);
/* Whether a service of config has track = events. */
bool daemon_events_needed(const struct knlb_config *config);
/* (Re)arm the flow-count audit at the config's ct_resync_interval. */
void daemon_arm_audit(struct knlbd *d);
/* Point metrics at the current objects (after start and every reload). */
void daemon_update_sources(struct knlbd *d);
void daemon_release(struct knlbd *d);

/*
 * A backend of svc went out of the map (down, disabled, removed): with
 * flush = yes its flows are deleted once the kernel has the new slots.
 */
void daemon_queue_flush(struct knlbd *d, const struct knlb_service *svc,
			size_t b);

/* The operator set admin state: drain notices, flush on disable. */
void daemon_admin_changed(struct knlbd *d, struct knlb_service *svc, size_t b);
/* maxconn=N: take full backends out of the slot table, put them back (maxconn.c). */
void daemon_check_maxconn(struct knlbd *d);

/* Active flows of one backend (0 without conntrack). */
uint64_t daemon_backend_active(const struct knlbd *d,
			       const struct knlb_service *svc, size_t b);

/*
 * Re-read the configuration and apply the difference in one transaction
 * (daemon-reload.c).  A summary (or the FILE:LINE errors) goes to report
 * when not NULL, and to the log.  0, or -errno with nothing changed.
 */
int daemon_reload(struct knlbd *d, FILE *report);

#endif
