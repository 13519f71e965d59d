/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The loop's embeddable types: a timer or a deferred call lives inside its owner. */
#ifndef KNLB_LOOP_T_H
#define KNLB_LOOP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_timer;
typedef void (*loop_timer_fn)(struct loop *loop, struct loop_timer *timer,
			      void *arg);

struct loop_timer {
	uint64_t deadline_ns;	/* CLOCK_MONOTONIC */
	size_t heap_index;	/* position + 1 in the heap; 0 = not armed */
	loop_timer_fn fn;
	void *arg;
};

typedef void (*loop_hook_fn)(struct loop *loop, void *arg);

/* A call queued for the end of the loop's current pass (loop_defer()). */
struct loop_defer {
	loop_hook_fn fn;
	void *arg;
	struct loop_defer *next;	/* in the loop's queue */
	uint64_t pass;			/* the pass it was queued in */
	bool queued;
};

#endif
