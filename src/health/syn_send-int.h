/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HEALTH_SYN_SEND_INT_H
#define KNLB_HEALTH_SYN_SEND_INT_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "knlb/health/syn_segment.h"

/*
 * The SYNs of one loop pass, queued by check_syn.c as its probes start and
 * sent at the end of the pass with one sendmmsg() per raw socket, instead
 * of one sendmsg() each: on the grid of health.c, 10,000 backends every
 * 2 s start 25 probes a pass.  Each SYN still fails alone: a message the
 * kernel refuses is reported with its own errno, and the rest are sent.
 */

struct syn_send {
	void *owner;		/* the probe; NULL: dropped before its send */
	uint32_t *slot;		/* the owner's: index + 1 while queued, then 0 */
	union {
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} dst;			/* port 0: a raw socket's is the protocol */
	struct in_addr src;	/* IPv4: the source the checksum covers */
	uint8_t seg[SYN_SEGMENT_LEN];
};

struct syn_queue {
	struct syn_send *sends;
	size_t n, cap;
};

/* sendmmsg()'s signature: the tests send with one of their own. */
typedef int (*syn_sendmmsg_fn)(int fd, struct mmsghdr *msgs, unsigned int n,
			       int flags);
/* A queued SYN was not sent: err is the errno of its own message. */
typedef void (*syn_send_failed_fn)(void *owner, int err, void *arg);

/*
 * A new entry for owner, whose *slot now names it: the caller fills in
 * dst, src and seg.  NULL when out of memory.
 */
struct syn_send *syn_queue_add(struct syn_queue *q, void *owner, uint32_t *slot);
/* The owner stopped before its SYN was sent: it will not be (*slot: 0). */
void syn_queue_drop(struct syn_queue *q, uint32_t *slot);
/*
 * Send every queued SYN from fd with send; each one the kernel refuses
 * goes to failed with its errno, the rest are sent.  failed may add to
 * the queue (sent in this flush) or drop from it.  Empty on return; the
 * number of send calls made.
 */
size_t syn_queue_flush(struct syn_queue *q, int fd, syn_sendmmsg_fn send,
		       syn_send_failed_fn failed, void *arg);
void syn_queue_free(struct syn_queue *q);

#endif
