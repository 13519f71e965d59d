/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness: syn_answer_parse() (src/health/syn_segment.c), which reads
 * what a raw TCP socket receives for half-open probes: anyone can send a
 * segment to the probe's port.  The first input byte picks the family
 * (even: IPv4, the IP header and what follows; odd: IPv6, the TCP header
 * alone with a fixed sender); the rest is the datagram.  Besides the
 * sanitizers, a parsed answer must be one of the two kinds and carry the
 * family asked for.  Seeds: a SYN-ACK and a reset of each family.  See
 * docs/fuzzing.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "knlb/health/syn_segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct in6_addr from6 = { .s6_addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x13 } };
	struct syn_answer a;
	int family;

	if (size < 1)
		return 0;
	family = data[0] & 1 ? AF_INET6 : AF_INET;
	if (syn_answer_parse(family, data + 1, size - 1, &from6, &a) == 0) {
		if (a.kind != SYN_ANSWER_ACCEPT && a.kind != SYN_ANSWER_RESET)
			__builtin_trap();
		if (a.from.family != family)
			__builtin_trap();
	}
	return 0;
}
