/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_METRICS_WORKER_INT_H
#define KNLB_DAEMON_METRICS_WORKER_INT_H

/*
 * What knlbd and its metrics worker say to each other (metrics_link.c,
 * metrics_worker.c): one fixed-size message each way, over a
 * SOCK_SEQPACKET socketpair.  knlbd -> worker: LISTEN with the listening
 * socket, once per start; SNAPSHOT with a sealed memfd holding the
 * rendered exposition, per ASK.  worker -> knlbd: ASK, and nothing else:
 * knlbd kills a worker that sends anything else.
 */

#include <stdint.h>

#define METRICS_MSG_VERSION	1
#define METRICS_MSG_LISTEN	1
#define METRICS_MSG_ASK		2
#define METRICS_MSG_SNAPSHOT	3

/* A snapshot larger than this is refused (knlbd renders ~0.7 MB for 1000 backends). */
#define METRICS_SNAPSHOT_MAX	(64ULL << 20)

struct metrics_msg {
	uint32_t version, type;
	uint64_t seq;		/* ASK's, echoed by its SNAPSHOT */
	int32_t err;		/* SNAPSHOT: 0, or -errno and no fd */
	uint32_t port;		/* LISTEN: the port it is bound to */
	uint64_t len;		/* SNAPSHOT: bytes in the memfd */
};


#endif
