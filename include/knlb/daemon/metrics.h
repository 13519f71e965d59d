/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_METRICS_H
#define KNLB_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Prometheus text exposition of what the other modules already count
 * (pool, health, conntrack, commits, control socket, reloads): metrics
 * computes nothing new.  Served over HTTP (libmicrohttpd, driven by the
 * one event loop: no thread) at /metrics on [global] metrics_listen.
 */

struct loop;
struct knlb_pool;
struct health;
struct flowtab;
struct ct;
struct committer;
struct ctl;

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
	const struct knlb_pool *pool;
	const struct health *health;
	const struct flowtab *flows;
	const struct ct *ct;
	const struct committer *committer;
	const struct ctl *ctl;
	const struct daemon_counters *daemon;
	bool kernel_counters;		/* read nft/stats.h's sets at each scrape */
};

/* The exposition, text format 0.0.4.  0 or -errno. */
int metrics_render(FILE *out, const struct metrics_sources *src);
/* The kernel's per-backend counters, read now (metrics_kernel.c). */
void metrics_render_kernel(FILE *out, const struct knlb_pool *pool);

struct metrics;

/*
 * Serve /metrics on listen ("ADDR:PORT", IPv4 or [IPv6]; port 0 lets the
 * kernel pick, for tests).  src is borrowed and read at every scrape: it
 * must outlive the server.  0, or -errno with err filled (e.g.
 * "metrics_listen 127.0.0.1:9410: Address already in use").
 */
int metrics_open(struct loop *loop, const char *listen,
		 const struct metrics_sources *src, struct metrics **out,
		 char *err, size_t errlen);
void metrics_close(struct metrics *m);

/* The port it listens on: the one the kernel picked when listen says :0. */
uint16_t metrics_port(const struct metrics *m);

#endif
