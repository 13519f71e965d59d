/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_METRICS_H
#define KNLB_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "knlb/daemon/metrics-t.h"

/*
 * Prometheus text exposition of what the other modules already count
 * (pool, health, conntrack, commits, control socket, reloads): metrics
 * computes nothing new.  Served over HTTP (libmicrohttpd, driven by the
 * one event loop: no thread) at /metrics on [global] metrics_listen.
 */

struct loop;

/* The exposition, text format 0.0.4.  0 or -errno. */
int metrics_render(FILE *out, const struct metrics_sources *src);
/*
 * The kernel's per-backend counters, read now (metrics_kernel.c); ct is
 * conntrack under traffic_counters = conntrack (daemon/traffic.h), or NULL.
 */
void metrics_render_kernel(FILE *out, const struct knlb_model *pool,
			   struct ct *ct);

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

/*
 * The two halves of metrics_open(), for privilege separation: knlbd opens
 * the listening socket (its errors are the same sentences), an
 * unprivileged worker serves it (metrics_worker.c) with a snapshot
 * function that asks knlbd for the rendered text.  metrics_listen_open()
 * returns the non-blocking listening fd, or -errno with err filled.
 */
int metrics_listen_open(const char *listen, uint16_t *port, char *err,
			size_t errlen);

/*
 * A snapshot: a readable fd holding len bytes of exposition text, which
 * the server takes and closes; or -errno (the scrape gets a 503).
 */
typedef int (*metrics_snapshot_fn)(void *arg, int *fd, size_t *len);

/* Serve listen_fd (taken: closed by metrics_close()) with snapshot. */
int metrics_serve(struct loop *loop, int listen_fd, uint16_t port,
		  metrics_snapshot_fn snapshot, void *arg, struct metrics **out,
		  char *err, size_t errlen);

/* The port it listens on: the one the kernel picked when listen says :0. */
uint16_t metrics_port(const struct metrics *m);

#endif
