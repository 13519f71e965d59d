/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The loop's one embeddable type: a timer lives inside its owner. */
#ifndef KNLB_LOOP_T_H
#define KNLB_LOOP_T_H

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

#endif
