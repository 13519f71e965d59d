/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_METRICS_LINK_H
#define KNLB_METRICS_LINK_H

#include <stdint.h>

/*
 * /metrics served by an unprivileged worker (libmicrohttpd parses the
 * scrapers' bytes there), knlbd rendering the text it asks for.  See
 * docs/security.md.
 */

struct loop;
struct metrics_link;
struct metrics_sources;
struct privsep_spawner;

/* The worker's main, for the spawner's table. */
int metrics_worker_main(int fd);

/*
 * Start the worker as spawner's `role`, serving listen_fd (taken: closed
 * by metrics_link_free()) bound to port; src is read at each scrape and
 * must outlive the link.  0 or -errno.
 */
int metrics_link_new(struct loop *loop, struct privsep_spawner *spawner,
		     unsigned int role, int listen_fd, uint16_t port,
		     const struct metrics_sources *src, struct metrics_link **out);
void metrics_link_free(struct metrics_link *l);

#endif
