/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_PROBE_MSG_H
#define KNLB_PROBE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "knlb/lib/addr-t.h"
#include "knlb/config/check-t.h"

/*
 * What the daemon and its unprivileged prober say to each other over a
 * SOCK_SEQPACKET socketpair: one fixed-size message per probe each way,
 * sent and read PROBE_MSG_BATCH at a time.
 * The daemon trusts nothing the prober sends (it parsed bytes from the
 * network and may be anyone's by now): every reply is checked by
 * probe_reply_parse() before its slot, generation, status or reason is
 * used.  Both ends are the same binary (fork, no exec), so the request
 * carries the spec as the daemon holds it.
 */

#define PROBE_MSG_VERSION	1
#define PROBE_MSG_REQUEST	1	/* daemon -> prober */
#define PROBE_MSG_REPLY		2	/* prober -> daemon */
/* Messages per sendmmsg()/recvmmsg() on either side. */
#define PROBE_MSG_BATCH		64

/* A probe in flight is (slot, gen): a reused slot gets a new generation. */
struct probe_request {
	uint32_t version, type;
	uint32_t slot, gen;
	struct knlb_addr addr;
	uint16_t port;
	/*
	 * CLOCK_MONOTONIC (one clock for every process of the host): by when
	 * the probe must have started (sent + spec.timeout_ns).  A request
	 * read after it is answered at once without running: a prober that
	 * fell behind catches up instead of running probes the daemon has
	 * given up on.  One read before it runs with its whole timeout.
	 */
	uint64_t deadline_ns;
	struct check_spec spec;
};

struct probe_reply {
	uint32_t version, type;
	uint32_t slot, gen;
	uint32_t status;		/* enum check_status */
	char reason[CHECK_REASON_MAX];	/* NUL-terminated */
};

/*
 * Check a reply of len bytes from the prober against the daemon's n_slots
 * slots, and copy it out with its reason made printable (no control
 * characters reach the log).  0, or -EPROTO (size, version, type, status,
 * unterminated reason) or -ERANGE (slot out of range).  The generation is
 * the caller's to compare: only it knows the slot's.
 */
int probe_reply_parse(const void *buf, size_t len, uint32_t n_slots,
		      struct probe_reply *out);

/*
 * The timeout req runs with when the prober reads it at now: 0 and its
 * whole spec.timeout_ns in *timeout_ns, counted from now; or -ETIME when
 * it waited past its deadline.  The wait in the queue is the prober's, not
 * the backend's: a request that waited 900 ms of a 1 s timeout and ran
 * with the 100 ms left failed backends that answered in 200 ms whenever
 * the prober fell behind (bench: knlbd at rest, http under load).
 */
int probe_request_timeout(const struct probe_request *req, uint64_t now,
			  uint64_t *timeout_ns);

/*
 * msgs[i] and iov[i] for n messages of size bytes each, back to back from
 * base: what one sendmmsg() or recvmmsg() of the link carries.
 */
void probe_msg_batch(struct mmsghdr *msgs, struct iovec *iov, void *base,
		     size_t size, size_t n);

#endif
