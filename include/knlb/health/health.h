/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HEALTH_H
#define KNLB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "knlb/config/check-t.h"

/*
 * Health: when to probe each backend, and what a result means.  Every
 * probe result goes through health_result(); only a transition (up->down,
 * down->up) does work: one log line, and the verdict handed to the pool,
 * which marks the service dirty for the loop's before-sleep commit.
 * Health never touches the kernel.
 */

struct loop;
struct checker;
struct knlb_model;
struct knlb_health_config;
struct knlb_service_config;
struct knlb_backend_config;

/* Consecutive results since the last transition. */
struct health_counter {
	bool up;
	uint32_t successes;	/* while down: toward rise */
	uint32_t failures;	/* while up: toward fall */
};

enum health_transition {
	HEALTH_NO_CHANGE,
	HEALTH_WENT_DOWN,
	HEALTH_WENT_UP,
};

/*
 * The rise/fall state machine.  A local error (our fds, our memory) is
 * no evidence either way: it changes no counter.
 */
enum health_transition health_counter_apply(struct health_counter *c,
					     const struct knlb_health_config *cfg,
					     enum check_status status);

/* interval when settled up, downinter when settled down, fastinter between. */
uint64_t health_counter_next_ns(const struct health_counter *c,
				const struct knlb_health_config *cfg);

/*
 * When a probe due at t starts: t moved to the nearest point of a grid of
 * HEALTH_PROBE_GRID_NS (interval / 8 when shorter), so that many backends'
 * probes start in one wakeup; never before now.
 */
#define HEALTH_PROBE_GRID_NS 5000000ULL
uint64_t health_probe_on_grid(uint64_t t, uint64_t interval, uint64_t now);

/* The port to probe: backend check_port=, else service check_port, else its port. */
uint16_t health_probe_port(const struct knlb_service_config *svc,
			   const struct knlb_backend_config *be);

/* Per backend, for status reports. */
struct health_backend_info {
	struct health_counter counter;
	struct check_result last;	/* status CHECK_LOCAL_ERROR + "" = none yet */
	bool probed;			/* at least one result */
	uint64_t probes, transitions, local_errors;
	uint64_t last_change_ns;
};

struct health;

/* Called after each transition, once the pool has the new verdict. */
typedef void (*health_transition_fn)(struct knlb_model *pool, size_t svc,
				     size_t backend, bool up, void *arg);

/*
 * Probing state for every backend of pool whose service has a check.
 * checker may be NULL (tests that feed health_result() by hand).
 */
int health_new(struct loop *loop, struct knlb_model *pool,
	       struct checker *checker, struct health **out);
void health_free(struct health *health);
void health_set_transition_fn(struct health *health, health_transition_fn fn,
			      void *arg);

/* Arm the first probes, spread evenly over each service's interval. */
int health_start(struct health *health);

/* The one function every probe result goes through. */
enum health_transition health_result(struct health *health, size_t svc,
				     size_t backend,
				     const struct check_result *res);

/*
 * A reload: backend b of service svc is one the previous health object
 * watched; take over its counters and history so it neither flaps nor
 * starts from scratch.  Before health_start().
 */
void health_adopt(struct health *health, size_t svc, size_t backend,
		  const struct health_backend_info *from);

/*
 * Passive health's verdict (observe = yes): an up backend goes down now,
 * as if its fall-th probe had failed, with evidence as the reason (the
 * log line "web/b2 DOWN: <evidence> (observed)").  Probes go on and bring
 * it back after rise successes.  HEALTH_NO_CHANGE when it was down.
 */
enum health_transition health_observed_down(struct health *health, size_t svc,
					     size_t backend, const char *evidence);

const struct health_backend_info *health_backend(const struct health *health,
						 size_t svc, size_t backend);

#endif
