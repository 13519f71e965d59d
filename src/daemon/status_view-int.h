/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one gather step behind `knlbctl status` (ctl_status.c) and the
 * Prometheus exposition (metrics.c): per service and per backend, the
 * slots, flow counts and last check, collected once per request in one
 * pass over each slot table.
 */
#ifndef KNLB_DAEMON_STATUS_VIEW_INT_H
#define KNLB_DAEMON_STATUS_VIEW_INT_H

#include <stddef.h>
#include <stdint.h>

#include "knlb/ct/flowtab.h"
#include "knlb/daemon/metrics.h"

struct knlb_backend;
struct knlb_service;
struct health_backend_info;

struct backend_row {
	const struct knlb_backend *be;
	char *labels;			/* metrics' label set; NULL elsewhere */
	uint32_t slots;
	struct flow_counts flows;	/* zeroes without src->flows */
	const struct health_backend_info *health;	/* NULL: not checked */
};

struct service_row {
	const struct knlb_service *svc;
	char *labels;			/* metrics' label set; NULL elsewhere */
	struct flow_counts flows;
	size_t usable;			/* backends with an effective weight */
	uint64_t slot_digest;		/* of the table the kernel acknowledged */
	/* the service whose base slot map this one shares, or NULL */
	const struct knlb_service *shared_with;
	struct backend_row *backends;	/* svc->n_backends of them */
};

struct status_view {
	const struct metrics_sources *src;
	struct service_row *services;	/* one per service of src->pool */
	size_t n_services;
	struct backend_row *backends;	/* all services' rows, one array */
	size_t n_backends;
};

/*
 * Fills v (zeroed by the caller) from src, whose pool must be set.  0 or
 * -ENOMEM; either way status_view_free(v) releases what it holds.
 */
int status_view_gather(struct status_view *v, const struct metrics_sources *src);
/* Frees the rows and any labels set on them. */
void status_view_free(struct status_view *v);

#endif
