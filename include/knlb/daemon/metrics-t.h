/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The types metrics reads, embedded in struct knlbd (daemon-t.h). */
#ifndef KNLB_METRICS_T_H
#define KNLB_METRICS_T_H

#include <stdbool.h>
#include <stdint.h>

struct knlb_model;
struct health;
struct flowtab;
struct ct;
struct committer;
struct ctl;
struct host_problems;
struct announcer;

/* What the daemon itself counts. */
struct daemon_counters {
	uint64_t start_time_unix;	/* seconds */
	uint64_t reloads;		/* applied */
	uint64_t reload_failures;	/* refused (bad file) or kernel error */
	double last_reload_ms;		/* request to kernel ack */
};

/*
 * Where to read from.  The daemon owns this struct and keeps its pointers
 * current across reloads (a reload replaces pool and health); any pointer
 * but pool may be NULL (that part is then left out).
 */
struct metrics_sources {
	const struct knlb_model *pool;
	const struct health *health;
	const struct flowtab *flows;
	const struct ct *ct;
	const struct committer *committer;
	const struct ctl *ctl;
	const struct daemon_counters *daemon;
	const struct host_problems *host;	/* host_checks.h */
	const struct announcer *announcer;	/* announce.h; NULL: rtnetlink failed */
	/* nf_conntrack_count and _max are read under it at each scrape */
	const char *proc_root;
	bool kernel_counters;		/* read nft/stats.h's sets at each scrape */
	/*
	 * The same ct, writable: each scrape refreshes counts by dumps older
	 * than track_interval (ct_refresh_counts()) and, with
	 * traffic_counters = conntrack, sums its accounting (one dump for
	 * both when the counts were stale)
	 */
	struct ct *read_ct;
};

#endif
