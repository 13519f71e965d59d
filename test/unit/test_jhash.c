/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched_jhash() must give the slot the kernel's `jhash ... mod M seed S`
 * gives, or `knlbctl explain` lies.  Two sets of vectors: Bob Jenkins'
 * own for lookup3's hashlittle() (the kernel's jhash on a little-endian
 * CPU), and slots the kernel itself computed (nft 1.0.6, kernel 6.x):
 * `ct mark set jhash <key> mod M seed S` in an output chain, one SYN per
 * flow, the mark read back with `conntrack -L`; for IPv6 too.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/sched/jhash.h"

Test(jhash, lookup3_reference_vectors)
{
	static const char score[] = "Four score and seven years ago";

	cr_expect_eq(sched_jhash("", 0, 0), 0xdeadbeefU);
	cr_expect_eq(sched_jhash("", 0, 0xdeadbeefU), 0xbd5b7ddeU);
#if __BYTE_ORDER == __LITTLE_ENDIAN
	/* Whole blocks are read in CPU order, as the kernel does. */
	cr_expect_eq(sched_jhash(score, 30, 0), 0x17770551U);
	cr_expect_eq(sched_jhash(score, 30, 1), 0xcd628161U);
#endif
}

Test(jhash, reciprocal_scale_is_not_modulo)
{
	cr_expect_eq(sched_jhash_scale(0, 16381), 0);
	cr_expect_eq(sched_jhash_scale(UINT32_MAX, 16381), 16380);
	cr_expect_eq(sched_jhash_scale(0x80000000U, 10), 5);
	cr_expect_eq(sched_jhash_scale(7, 10), 0);	/* 7 % 10 would be 7 */
}

static struct sched_flow flow4(const char *src, uint16_t sport,
			       const char *dst, uint16_t dport)
{
	struct sched_flow f = { .sport = sport, .dport = dport };

	f.saddr.family = f.daddr.family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, src, &f.saddr.in), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, &f.daddr.in), 1);
	return f;
}

Test(jhash, key_layout_pads_ports_to_registers)
{
	struct sched_flow f = flow4("198.51.100.1", 40001, "192.0.2.3", 80);
	static const uint8_t want[16] = {
		198, 51, 100, 1, 0x9c, 0x41, 0, 0,
		192, 0, 2, 3, 0, 80, 0, 0,
	};
	uint8_t key[SCHED_JHASH_KEY_MAX];

	cr_expect_eq(sched_jhash_key(KNLB_HASH_SRC_IP, &f, key), 4);
	cr_expect_eq(sched_jhash_key(KNLB_HASH_SRC_IP_PORT, &f, key), 8);
	cr_expect_eq(sched_jhash_key(KNLB_HASH_5TUPLE, &f, key), 16);
	cr_expect_arr_eq(key, want, 16);
	f.saddr.family = f.daddr.family = AF_INET6;
	cr_expect_eq(sched_jhash_key(KNLB_HASH_5TUPLE, &f, key), 40);
}

/* What the kernel put in ct mark; the clients bound to port 40000 + n. */
Test(jhash, slots_the_kernel_computed)
{
	static const struct {
		int host;		/* client 198.51.100.host, port 40000 + host */
		enum knlb_hash_key key;
		uint32_t seed, m, want;
	} vec[] = {
		{ 1, KNLB_HASH_SRC_IP, 0x5eed, UINT32_MAX, 3377798023U },
		{ 77, KNLB_HASH_SRC_IP, 0x5eed, UINT32_MAX, 3382082479U },
		{ 200, KNLB_HASH_SRC_IP, 0x5eed, UINT32_MAX, 1224084743U },
		{ 1, KNLB_HASH_SRC_IP_PORT, 0x5eed, UINT32_MAX, 1637879853U },
		{ 77, KNLB_HASH_SRC_IP_PORT, 0x5eed, UINT32_MAX, 3950208779U },
		{ 200, KNLB_HASH_SRC_IP_PORT, 0x5eed, UINT32_MAX, 1578339183U },
		/* ip saddr . tcp sport . ip daddr . tcp dport to 192.0.2.3:80 */
		{ 1, KNLB_HASH_5TUPLE, 0x1234, UINT32_MAX, 4244956200U },
		{ 77, KNLB_HASH_5TUPLE, 0x1234, UINT32_MAX, 2142862225U },
		{ 200, KNLB_HASH_5TUPLE, 0x1234, UINT32_MAX, 1264468255U },
		{ 1, KNLB_HASH_SRC_IP_PORT, 0x5eed, 16381, 6246 },
		{ 77, KNLB_HASH_SRC_IP_PORT, 0x5eed, 16381, 15066 },
		{ 200, KNLB_HASH_SRC_IP_PORT, 0x5eed, 16381, 6019 },
	};

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char src[32];
		struct sched_flow f;

		snprintf(src, sizeof(src), "198.51.100.%d", vec[i].host);
		f = flow4(src, (uint16_t)(40000 + vec[i].host), "192.0.2.3", 80);
		cr_expect_eq(sched_jhash_slot(vec[i].key, &f, vec[i].seed, vec[i].m),
			     vec[i].want, "vector %zu: %u, kernel %u", i,
			     sched_jhash_slot(vec[i].key, &f, vec[i].seed, vec[i].m),
			     vec[i].want);
	}
}

static struct sched_flow flow6(const char *src, uint16_t sport,
			       const char *dst, uint16_t dport)
{
	struct sched_flow f = { .sport = sport, .dport = dport };

	f.saddr.family = f.daddr.family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, src, &f.saddr.in6), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, &f.daddr.in6), 1);
	return f;
}

/* The same for IPv6 (ip6 saddr: 16 bytes), clients 2001:db8:1::N. */
Test(jhash, ipv6_slots_the_kernel_computed)
{
	static const struct {
		const char *src, *dst;
		uint16_t sport;
		enum knlb_hash_key key;
		uint32_t seed, m, want;
	} vec[] = {
		{ "2001:db8:1::1", "2001:db8:2::1", 40001, KNLB_HASH_SRC_IP, 0x5eed, UINT32_MAX, 522297534U },
		{ "2001:db8:1::4d", "2001:db8:2::1", 40077, KNLB_HASH_SRC_IP, 0x5eed, UINT32_MAX, 3499712024U },
		{ "2001:db8:1::c8", "2001:db8:2::1", 40200, KNLB_HASH_SRC_IP, 0x5eed, UINT32_MAX, 3392152308U },
		{ "2001:db8:1::1", "2001:db8:2::2", 40001, KNLB_HASH_SRC_IP_PORT, 0x5eed, UINT32_MAX, 301033400U },
		{ "2001:db8:1::4d", "2001:db8:2::2", 40077, KNLB_HASH_SRC_IP_PORT, 0x5eed, UINT32_MAX, 180594142U },
		{ "2001:db8:1::c8", "2001:db8:2::2", 40200, KNLB_HASH_SRC_IP_PORT, 0x5eed, UINT32_MAX, 2450846738U },
		{ "2001:db8:1::1", "2001:db8:2::3", 40001, KNLB_HASH_5TUPLE, 0x1234, 16381, 1461 },
		{ "2001:db8:1::4d", "2001:db8:2::3", 40077, KNLB_HASH_5TUPLE, 0x1234, 16381, 13155 },
		{ "2001:db8:1::c8", "2001:db8:2::3", 40200, KNLB_HASH_5TUPLE, 0x1234, 16381, 8136 },
	};

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		struct sched_flow f = flow6(vec[i].src, vec[i].sport, vec[i].dst, 80);
		uint32_t got = sched_jhash_slot(vec[i].key, &f, vec[i].seed, vec[i].m);

		cr_expect_eq(got, vec[i].want, "vector %zu: %u, kernel %u", i, got, vec[i].want);
	}
}
