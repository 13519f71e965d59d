/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_POOL_T_H
#define KNLB_POOL_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct knlb_config;
struct knlb_service_config;
struct knlb_backend_config;

/*
 * Runtime state, the desired state of the data plane.  Each object points
 * at its (read-only) configuration and adds what changes while running.
 */

struct knlb_backend {
	const struct knlb_backend_config *cfg;
	uint32_t effective_weight;	/* what the scheduler uses */
};

struct knlb_service {
	const struct knlb_service_config *cfg;
	uint32_t ct_mark;		/* tags this service's flows */
	struct knlb_backend *backends;
	size_t n_backends;
	/* slots[i]: index into backends, or SCHED_SLOT_EMPTY; cfg->table_size long */
	uint32_t *slots;
	bool dirty;			/* slots must be recomputed */
};

struct knlb_pool {
	const struct knlb_config *config;
	struct knlb_service *services;
	size_t n_services;
};

#endif
