/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Half-open probe segments: the SYN as the wire wants it, answers read safely. */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <criterion/criterion.h>

#include "knlb/health/syn_segment.h"

static struct knlb_addr v4(const char *s)
{
	struct knlb_addr a = { .family = AF_INET };

	cr_assert_eq(inet_pton(AF_INET, s, &a.in), 1);
	return a;
}

static struct knlb_addr v6(const char *s)
{
	struct knlb_addr a = { .family = AF_INET6 };

	cr_assert_eq(inet_pton(AF_INET6, s, &a.in6), 1);
	return a;
}

/* RFC 1071: the one's complement sum of pseudo-header and segment,
 * checksum included, is all ones when the checksum is right. */
static uint16_t verify(const struct knlb_addr *src, const struct knlb_addr *dst,
		       const uint8_t *seg, size_t len)
{
	const uint8_t *a = src->family == AF_INET6 ? (const uint8_t *)&src->in6 : (const uint8_t *)&src->in;
	const uint8_t *b = dst->family == AF_INET6 ? (const uint8_t *)&dst->in6 : (const uint8_t *)&dst->in;
	size_t alen = src->family == AF_INET6 ? 16 : 4;
	uint32_t sum = IPPROTO_TCP + (uint32_t)len;

	for (size_t i = 0; i < alen; i += 2)
		sum += (uint32_t)(a[i] << 8 | a[i + 1]) + (uint32_t)(b[i] << 8 | b[i + 1]);
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)(seg[i] << 8 | seg[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

Test(syn_segment, the_syn_carries_ports_sequence_and_only_syn)
{
	struct knlb_addr s = v4("10.0.0.1"), d = v4("10.0.0.2");
	uint8_t seg[SYN_SEGMENT_LEN];

	syn_segment_build(&s, 40000, &d, 8080, 0xdeadbeef, seg);
	cr_expect_eq(seg[0] << 8 | seg[1], 40000);
	cr_expect_eq(seg[2] << 8 | seg[3], 8080);
	cr_expect_eq((uint32_t)seg[4] << 24 | (uint32_t)seg[5] << 16 | (uint32_t)seg[6] << 8 | seg[7],
		     0xdeadbeefu);
	cr_expect_eq(seg[12] >> 4, 5, "data offset: 20 bytes, no options");
	cr_expect_eq(seg[13], 0x02, "SYN alone");
	cr_expect_eq(seg[8] | seg[9] | seg[10] | seg[11], 0, "no acknowledgement number");
}

Test(syn_segment, the_checksum_is_right_for_both_families)
{
	struct knlb_addr s4 = v4("192.0.2.1"), d4 = v4("198.51.100.250");
	struct knlb_addr s6 = v6("2001:db8::1"), d6 = v6("2001:db8:ffff::fffe");
	uint8_t seg[SYN_SEGMENT_LEN];

	for (uint32_t seq = 0; seq < 2000; seq += 7) {
		syn_segment_build(&s4, (uint16_t)(1024 + seq), &d4, 80, seq * 2654435761u, seg);
		cr_assert_eq(verify(&s4, &d4, seg, sizeof(seg)), 0xffff, "IPv4, seq %u", seq);
		syn_segment_build(&s6, (uint16_t)(1024 + seq), &d6, 443, seq * 2654435761u, seg);
		cr_assert_eq(verify(&s6, &d6, seg, sizeof(seg)), 0xffff, "IPv6, seq %u", seq);
	}
}

/* An IPv4 packet from 10.0.0.2:8080 to our port 40000 acking ack, with
 * flags, an IP header of ihl bytes; returns its length. */
static size_t answer4(uint8_t *buf, size_t ihl, uint8_t flags, uint32_t ack)
{
	size_t total = ihl + 20;
	uint8_t *t = buf + ihl;

	memset(buf, 0, total);
	buf[0] = (uint8_t)(0x40 | ihl / 4);
	buf[2] = (uint8_t)(total >> 8);
	buf[3] = (uint8_t)total;
	buf[8] = 64;
	buf[9] = IPPROTO_TCP;
	buf[12] = 10, buf[13] = 0, buf[14] = 0, buf[15] = 2;
	buf[16] = 10, buf[17] = 0, buf[18] = 0, buf[19] = 1;
	t[0] = 8080 >> 8, t[1] = 8080 & 0xff;
	t[2] = 40000 >> 8, t[3] = 40000 & 0xff;
	t[8] = (uint8_t)(ack >> 24), t[9] = (uint8_t)(ack >> 16);
	t[10] = (uint8_t)(ack >> 8), t[11] = (uint8_t)ack;
	t[12] = 5 << 4;
	t[13] = flags;
	return total;
}

Test(syn_segment, a_syn_ack_is_an_accept_from_the_backend)
{
	uint8_t buf[64];
	size_t len = answer4(buf, 20, 0x12, 0xdeadbef0);
	struct syn_answer a;
	struct knlb_addr want = v4("10.0.0.2");

	cr_assert_eq(syn_answer_parse(AF_INET, buf, len, NULL, &a), 0);
	cr_expect_eq(a.kind, SYN_ANSWER_ACCEPT);
	cr_expect_eq(a.from.family, AF_INET);
	cr_expect_eq(a.from.in.s_addr, want.in.s_addr);
	cr_expect_eq(a.from_port, 8080);
	cr_expect_eq(a.to_port, 40000);
	cr_expect_eq(a.ack, 0xdeadbef0);	/* the SYN's sequence number + 1 */
}

Test(syn_segment, a_reset_is_a_refusal_and_ip_options_are_skipped)
{
	uint8_t buf[96];
	size_t len = answer4(buf, 24, 0x14, 7);
	struct syn_answer a;

	cr_assert_eq(syn_answer_parse(AF_INET, buf, len, NULL, &a), 0);
	cr_expect_eq(a.kind, SYN_ANSWER_RESET);
	cr_expect_eq(a.from_port, 8080);
	cr_expect_eq(a.ack, 7);
}

Test(syn_segment, segments_that_answer_no_syn_are_not_answers)
{
	static const uint8_t not_answers[] = {
		0x10,	/* ACK alone */
		0x02,	/* SYN alone: another host's probe */
		0x04,	/* RST without ACK */
		0x11,	/* FIN, ACK */
		0x13,	/* SYN, ACK, FIN */
	};
	uint8_t buf[64];
	struct syn_answer a;

	for (size_t i = 0; i < sizeof(not_answers); i++) {
		size_t len = answer4(buf, 20, not_answers[i], 1);

		cr_expect_eq(syn_answer_parse(AF_INET, buf, len, NULL, &a), -ENOMSG,
			     "flags 0x%02x", not_answers[i]);
	}
	answer4(buf, 20, 0x12, 1);
	buf[9] = IPPROTO_UDP;
	cr_expect_eq(syn_answer_parse(AF_INET, buf, 40, NULL, &a), -ENOMSG, "UDP");
	answer4(buf, 20, 0x12, 1);
	buf[7] = 1;		/* fragment offset 8: no TCP header here */
	cr_expect_eq(syn_answer_parse(AF_INET, buf, 40, NULL, &a), -ENOMSG, "a later fragment");
}

Test(syn_segment, every_short_or_inconsistent_packet_is_refused)
{
	uint8_t buf[64];
	struct syn_answer a;

	answer4(buf, 20, 0x12, 1);
	for (size_t len = 0; len < 40; len++)
		cr_expect_eq(syn_answer_parse(AF_INET, buf, len, NULL, &a), -EPROTO,
			     "%zu bytes", len);
	buf[0] = 0x45 + 10;	/* IHL 60 > 40 bytes read */
	cr_expect_eq(syn_answer_parse(AF_INET, buf, 40, NULL, &a), -EPROTO, "IHL past the data");
	answer4(buf, 20, 0x12, 1);
	buf[0] = 0x44;		/* IHL 16 */
	cr_expect_eq(syn_answer_parse(AF_INET, buf, 40, NULL, &a), -EPROTO, "IHL under 20");
	answer4(buf, 20, 0x12, 1);
	buf[0] = 0x65;		/* version 6 on an IPv4 socket */
	cr_expect_eq(syn_answer_parse(AF_INET, buf, 40, NULL, &a), -EPROTO, "version");
	answer4(buf, 20, 0x12, 1);
	buf[3] = 30;		/* total length cuts the TCP header */
	cr_expect_eq(syn_answer_parse(AF_INET, buf, 40, NULL, &a), -EPROTO, "total length");
	answer4(buf, 20, 0x12, 1);
	buf[32] = 4 << 4;	/* TCP data offset 16 */
	cr_expect_eq(syn_answer_parse(AF_INET, buf, 40, NULL, &a), -EPROTO, "data offset");
	cr_expect_eq(syn_answer_parse(AF_UNIX, buf, 40, NULL, &a), -EPROTO, "family");
}

Test(syn_segment, an_ipv6_answer_is_the_tcp_header_and_the_senders_address)
{
	uint8_t buf[64];
	struct knlb_addr from = v6("2001:db8:1::13");
	struct syn_answer a;

	answer4(buf, 20, 0x12, 99);
	cr_assert_eq(syn_answer_parse(AF_INET6, buf + 20, 20, &from.in6, &a), 0);
	cr_expect_eq(a.kind, SYN_ANSWER_ACCEPT);
	cr_expect_eq(a.from.family, AF_INET6);
	cr_expect_eq(memcmp(&a.from.in6, &from.in6, sizeof(from.in6)), 0);
	cr_expect_eq(a.from_port, 8080);
	cr_expect_eq(a.ack, 99);
	cr_expect_eq(syn_answer_parse(AF_INET6, buf + 20, 19, &from.in6, &a), -EPROTO);
	cr_expect_eq(syn_answer_parse(AF_INET6, buf + 20, 20, NULL, &a), -EPROTO);
}
