/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HEALTH_SYN_SEGMENT_H
#define KNLB_HEALTH_SYN_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/addr-t.h"

/*
 * The segments of a half-open TCP probe, built and read without a TCP
 * socket: the SYN we send from a raw socket, and the answer a raw socket
 * reads back (a SYN-ACK: the backend's kernel accepts connections; a
 * reset: nothing listens).  The kernel itself resets each SYN-ACK, since
 * no socket of ours is connected to it.  Pure functions: no socket here.
 *
 * What a raw socket reads is untrusted (anyone can send a segment to the
 * probe's port): syn_answer_parse() checks every length it reads and has a
 * fuzz harness.
 */

/* A SYN without options: the TCP header alone. */
#define SYN_SEGMENT_LEN	20

/*
 * The SYN from src:sport to dst:dport (ports host order, addresses of one
 * family) with sequence number seq, checksum included, into out.
 */
void syn_segment_build(const struct knlb_addr *src, uint16_t sport,
		       const struct knlb_addr *dst, uint16_t dport,
		       uint32_t seq, uint8_t out[SYN_SEGMENT_LEN]);

enum syn_answer_kind {
	SYN_ANSWER_ACCEPT,	/* SYN and ACK set: the port accepts connections */
	SYN_ANSWER_RESET,	/* RST set: refused */
};

struct syn_answer {
	enum syn_answer_kind kind;
	struct knlb_addr from;		/* the backend */
	uint16_t from_port;		/* its port, host order */
	uint16_t to_port;		/* our probe port, host order */
	uint32_t ack;			/* the sequence number it acknowledges */
};

/*
 * One datagram as a raw TCP socket of family reads it: for AF_INET the IP
 * header and what follows (buf, len); for AF_INET6 the TCP header alone,
 * with the sender's address given as from6 (the kernel passes it in
 * msg_name, not in the data).  0 and *out for a SYN-ACK or a reset;
 * -EPROTO for anything too short or inconsistent; -ENOMSG for a segment
 * that is neither (not an answer to a probe).
 */
int syn_answer_parse(int family, const void *buf, size_t len,
		     const struct in6_addr *from6, struct syn_answer *out);

#endif
