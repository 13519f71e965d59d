/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Half-open probe segments (include/knlb/health/syn_segment.h): the SYN we
 * send, the SYN-ACK or reset we read.  Offsets are RFC 791, 8200 and 9293's;
 * nothing here trusts a length it has not compared with the buffer.
 *
 * The answer's checksum is not verified: a raw socket sees segments before
 * TCP checks them, and a segment from a local namespace (veth) still has
 * a partial checksum then, so verifying would refuse good answers.  What
 * makes an answer ours is its acknowledgement number (the probe's random
 * sequence number + 1), compared by the caller, as TCP itself does.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "knlb/health/syn_segment.h"

#define TCP_FIN		0x01
#define TCP_SYN		0x02
#define TCP_RST		0x04
#define TCP_ACK		0x10
#define TCP_HDR_MIN	20
#define IPV4_HDR_MIN	20

static uint32_t sum16(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void syn_segment_build(const struct knlb_addr *src, uint16_t sport,
		       const struct knlb_addr *dst, uint16_t dport,
		       uint32_t seq, uint8_t out[SYN_SEGMENT_LEN])
{
	uint32_t sum = 0;

	memset(out, 0, SYN_SEGMENT_LEN);
	put16(out, sport);
	put16(out + 2, dport);
	put32(out + 4, seq);
	out[12] = (SYN_SEGMENT_LEN / 4) << 4;	/* data offset */
	out[13] = TCP_SYN;
	put16(out + 14, 65535);			/* window */
	/* The pseudo-header: addresses, protocol, TCP length. */
	if (src->family == AF_INET6) {
		sum = sum16(sum, &src->in6, sizeof(src->in6));
		sum = sum16(sum, &dst->in6, sizeof(dst->in6));
	} else {
		sum = sum16(sum, &src->in, sizeof(src->in));
		sum = sum16(sum, &dst->in, sizeof(dst->in));
	}
	sum += IPPROTO_TCP + SYN_SEGMENT_LEN;
	sum = sum16(sum, out, SYN_SEGMENT_LEN);
	put16(out + 16, fold(sum));
}

/* The TCP header at tcp (len bytes available) into *out. */
static int parse_tcp(const uint8_t *tcp, size_t len, struct syn_answer *out)
{
	uint8_t flags;

	if (len < TCP_HDR_MIN || (tcp[12] >> 4) < TCP_HDR_MIN / 4)
		return -EPROTO;
	flags = tcp[13];
	out->from_port = get16(tcp);
	out->to_port = get16(tcp + 2);
	out->ack = get32(tcp + 8);
	/* Both answers to a SYN acknowledge it; anything else is not one. */
	if (!(flags & TCP_ACK) || (flags & TCP_FIN))
		return -ENOMSG;
	if (flags & TCP_RST)
		out->kind = SYN_ANSWER_RESET;
	else if (flags & TCP_SYN)
		out->kind = SYN_ANSWER_ACCEPT;
	else
		return -ENOMSG;
	return 0;
}

int syn_answer_parse(int family, const void *buf, size_t len,
		     const struct in6_addr *from6, struct syn_answer *out)
{
	const uint8_t *p = buf;
	size_t ihl, total;

	memset(out, 0, sizeof(*out));
	if (family == AF_INET6) {
		if (!from6)
			return -EPROTO;
		out->from.family = AF_INET6;
		out->from.in6 = *from6;
		return parse_tcp(p, len, out);
	}
	if (family != AF_INET || len < IPV4_HDR_MIN || (p[0] >> 4) != 4)
		return -EPROTO;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	total = get16(p + 2);
	if (ihl < IPV4_HDR_MIN || ihl > len || total < ihl)
		return -EPROTO;
	if (p[9] != IPPROTO_TCP || (get16(p + 6) & 0x1fff))
		return -ENOMSG;		/* another protocol, a later fragment */
	if (total < len)
		len = total;		/* padding after the packet */
	out->from.family = AF_INET;
	memcpy(&out->from.in, p + 12, sizeof(out->from.in));
	return parse_tcp(p + ihl, len - ihl, out);
}
