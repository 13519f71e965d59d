/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_LOOP_H
#define KNLB_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/loop-t.h"

/*
 * The one event loop: epoll over file descriptors (signalfd, netlink,
 * probes, control clients).  A before-sleep hook runs once per iteration,
 * after every ready event was handled: that is where the pool's dirty
 * services become one nftables batch.  Knows nothing about services.
 *
 * Timers live in a min-heap behind one timerfd, so ten thousand probe
 * timers cost one file descriptor and O(log n) per arm.  A timer is
 * embedded in its owner (no allocation per arm) and must be cancelled
 * before its owner is freed.
 */

struct loop;
typedef void (*loop_fd_fn)(struct loop *loop, int fd, uint32_t events,
			   void *arg);
typedef void (*loop_hook_fn)(struct loop *loop, void *arg);

int loop_new(struct loop **out);
void loop_free(struct loop *loop);

/* Watch fd for epoll events; fn is called with the events seen. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
		void *arg);
int loop_del_fd(struct loop *loop, int fd);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t loop_now_ns(void);

void loop_timer_init(struct loop_timer *timer, loop_timer_fn fn, void *arg);
/* (Re)arm to fire once, delay_ns from now; 0 or -ENOMEM. */
int loop_timer_arm(struct loop *loop, struct loop_timer *timer,
		   uint64_t delay_ns);
/* Arm at an absolute CLOCK_MONOTONIC deadline. */
int loop_timer_arm_at(struct loop *loop, struct loop_timer *timer,
		      uint64_t deadline_ns);
void loop_timer_cancel(struct loop *loop, struct loop_timer *timer);
static inline bool loop_timer_armed(const struct loop_timer *timer)
{
	return timer->heap_index != 0;
}
/* Armed timers (for tests and statistics). */
size_t loop_timer_count(const struct loop *loop);

void loop_set_before_sleep(struct loop *loop, loop_hook_fn fn, void *arg);

/* Run until loop_stop(); returns 0, or -errno if epoll itself failed. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
