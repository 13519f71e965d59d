/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_LOOP_H
#define KNLB_LOOP_H

#include <stdint.h>

/*
 * The one event loop: epoll over file descriptors (signalfd, netlink,
 * probes, control clients).  A before-sleep hook runs once per iteration,
 * after every ready event was handled: that is where the pool's dirty
 * services become one nftables batch.  Knows nothing about services.
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

void loop_set_before_sleep(struct loop *loop, loop_hook_fn fn, void *arg);

/* Run until loop_stop(); returns 0, or -errno if epoll itself failed. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
