/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_H
#define KNLB_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "knlb/lib/addr-t.h"
#include "knlb/config/config-t.h"
#include "knlb/lib/loop.h"
#include "knlb/daemon/metrics.h"
#include "knlb/daemon/host_watch.h"

struct health;
struct knlb_pool;
struct knlb_service;

/*
 * knlbd's objects and how they are wired: the one place that knows every
 * module.  main.c parses options and drives the lifecycle; reload is in
 * daemon-reload.c, the control commands in ctl-commands.c.
 */

/* A backend whose flows go once the kernel no longer maps it. */
struct pending_flush {
	uint32_t mark;			/* its service's ct mark */
	struct knlb_addr addr;
	uint16_t port;
	uint8_t proto;
	char what[2 * KNLB_NAME_MAX + 2];	/* "web/b1", for the log */
};

struct knlbd {
	const char *config_path;
	const char *control_socket;	/* -s: overrides the config's */
	bool flush_on_exit;

	struct knlb_config *config;
	struct knlb_pool *pool;
	struct nfnl_sock *nfnl;
	struct loop *loop;
	struct committer *committer;
	struct checker *checker;
	struct health *health;
	struct flowtab *flows;
	struct ct *ct;			/* NULL when conntrack is unavailable */
	struct ctl *ctl;		/* NULL until listening */
	struct metrics *metrics;	/* NULL without metrics_listen */
	struct metrics_sources metrics_src;
	struct daemon_counters counters;

	struct pending_flush *flushes;
	size_t n_flushes, flushes_cap;
	struct loop_timer wlc_timer;	/* scheduler = wlc re-weighting */
	struct loop_timer audit_timer;	/* flow counts against a dump */
	struct host_watch host;		/* forwarding, snat addresses, conntrack */
	bool wlc_no_ct_logged;
};

/* Each returns 0 or -errno and has logged why. */
/* Control socket and metrics_listen, before the kernel is touched. */
int daemon_open_listeners(struct knlbd *d);
int daemon_program_kernel(struct knlbd *d);
int daemon_start_services(struct knlbd *d);
void daemon_flush_table(struct knlbd *d);
/* A health object for pool that reports transitions to the daemon. */
int daemon_start_health(struct knlbd *d, struct knlb_pool *pool,
			struct health **out);
/* (Re)arm or cancel the wlc pass to fit d->pool. */
void daemon_arm_wlc(struct knlbd *d);
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
