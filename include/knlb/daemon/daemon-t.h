/* SPDX-License-Identifier: GPL-2.0-or-later */
/* struct knlbd and what it embeds; the functions are in daemon.h. */
#ifndef KNLB_DAEMON_T_H
#define KNLB_DAEMON_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/host_watch-t.h"
#include "knlb/daemon/metrics-t.h"
#include "knlb/lib/addr-t.h"
#include "knlb/lib/loop-t.h"

/*
 * knlbd's objects and how they are wired: the one place that knows every
 * module.  main.c parses options and drives the lifecycle; reload is in
 * reload.c, the control commands in ctl_*.c.
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
	bool acct_turned_on;	/* nf_conntrack_acct 0 -> 1 at start (traffic.h) */

	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *nfnl;
	struct loop *loop;
	struct committer *committer;
	struct privsep_spawner *spawner;	/* forks the unprivileged workers */
	struct checker *checker;	/* remote: probes run in the prober */
	struct health *health;
	struct flowtab *flows;
	struct ct *ct;			/* NULL when conntrack is unavailable */
	struct observe *observe;	/* observe = yes: passive health; NULL without ct */
	struct ctl *ctl;		/* NULL until listening */
	struct metrics_link *metrics;	/* NULL without metrics_listen */
	struct announcer *announcer;	/* NULL when rtnetlink failed */
	/* metrics_listen bound (before the kernel), until the worker takes it */
	bool metrics_bound;
	int metrics_fd;
	uint16_t metrics_port;
	struct metrics_sources metrics_src;
	struct daemon_counters counters;

	struct pending_flush *flushes;
	size_t n_flushes, flushes_cap;
	struct loop_timer wlc_timer;	/* scheduler = wlc re-weighting */
	struct loop_timer lrt_timer;	/* latency_weights = yes re-weighting */
	struct loop_timer audit_timer;	/* flow counts against a dump */
	struct host_watch host;		/* forwarding, snat addresses, conntrack */
	bool wlc_no_ct_logged;
	bool probes_quiet;		/* "<table>.probes" added (daemon/probe_events.c) */
};

#endif
