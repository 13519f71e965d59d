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
 * services become one nftables batch.  Deferred calls (loop_defer()) run
 * just before it.  Knows nothing about services.
 *
 * Timers live in a min-heap behind one timerfd, so ten thousand probe
 * timers cost one file descriptor and O(log n) per arm.  A timer is
 * embedded in its owner (no allocation per arm) and must be cancelled
 * before its owner is freed.
 */

struct loop;
typedef void (*loop_fd_fn)(struct loop *loop, int fd, uint32_t events,
			   void *arg);

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

/*
 * Deferred calls: work gathered during a pass of the loop and done once
 * at its end, after every ready event and expired timer was handled and
 * before the before-sleep hook (the SYNs of a pass's health probes, sent
 * with one sendmmsg()).  loop_defer() queues d once (queuing it again
 * before it runs is a no-op); d runs once, in the order queued; one
 * queued while the queue runs waits for the next pass, which then does
 * not sleep.  Like a timer, d lives in its owner and must be cancelled
 * before its owner is freed.
 */
void loop_defer_init(struct loop_defer *d, loop_hook_fn fn, void *arg);
void loop_defer(struct loop *loop, struct loop_defer *d);
void loop_defer_cancel(struct loop *loop, struct loop_defer *d);

/* Run until loop_stop(); returns 0, or -errno if epoll itself failed. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
