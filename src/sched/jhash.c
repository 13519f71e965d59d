/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bob Jenkins' lookup3 hash (public domain, 2006) in the form the Linux
 * kernel's jhash() gives it, so knlbd can tell which slot the kernel's
 * `jhash ... mod M seed S` picks for a client (see jhash.h).  Whole
 * 12-byte blocks are read as CPU-order 32-bit words, as the kernel does,
 * so the result matches the kernel of the same machine; the tail is
 * assembled byte by byte, little end first, whatever the CPU.
 */
#include <string.h>
#include <arpa/inet.h>

#include "knlb/sched/jhash.h"

#define JHASH_INITVAL	0xdeadbeefU

static inline uint32_t rol32(uint32_t w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

/* Mixes three words reversibly: between whole blocks. */
static inline void mix(uint32_t *a, uint32_t *b, uint32_t *c)
{
	*a -= *c; *a ^= rol32(*c, 4);  *c += *b;
	*b -= *a; *b ^= rol32(*a, 6);  *a += *c;
	*c -= *b; *c ^= rol32(*b, 8);  *b += *a;
	*a -= *c; *a ^= rol32(*c, 16); *c += *b;
	*b -= *a; *b ^= rol32(*a, 19); *a += *c;
	*c -= *b; *c ^= rol32(*b, 4);  *b += *a;
}

/* Folds (a, b, c) into c: after the last block. */
static inline void final(uint32_t *a, uint32_t *b, uint32_t *c)
{
	*c ^= *b; *c -= rol32(*b, 14);
	*a ^= *c; *a -= rol32(*c, 11);
	*b ^= *a; *b -= rol32(*a, 25);
	*c ^= *b; *c -= rol32(*b, 16);
	*a ^= *c; *a -= rol32(*c, 4);
	*b ^= *a; *b -= rol32(*a, 14);
	*c ^= *b; *c -= rol32(*b, 24);
}

static inline uint32_t cpu_word(const uint8_t *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* Bytes 0..n-1 of p (n <= 4) as a little-endian number. */
static inline uint32_t tail_word(const uint8_t *p, uint32_t n)
{
	uint32_t w = 0;

	for (uint32_t i = 0; i < n && i < 4; i++)
		w |= (uint32_t)p[i] << (8 * i);
	return w;
}

uint32_t sched_jhash(const void *key, uint32_t len, uint32_t seed)
{
	const uint8_t *k = key;
	uint32_t a, b, c;

	a = b = c = JHASH_INITVAL + len + seed;
	while (len > 12) {
		a += cpu_word(k);
		b += cpu_word(k + 4);
		c += cpu_word(k + 8);
		mix(&a, &b, &c);
		len -= 12;
		k += 12;
	}
	/* Only an empty key gets here with 0: a last block of 12 stays a tail. */
	if (len == 0)
		return c;
	a += tail_word(k, len);
	if (len > 4)
		b += tail_word(k + 4, len - 4);
	if (len > 8)
		c += tail_word(k + 8, len - 8);
	final(&a, &b, &c);
	return c;
}

static size_t put_addr(uint8_t *out, const struct knlb_addr *a)
{
	if (a->family == AF_INET6) {
		memcpy(out, &a->in6, 16);
		return 16;
	}
	memcpy(out, &a->in, 4);
	return 4;
}

/* A port as a register holds it: network order, then two zero bytes. */
static size_t put_port(uint8_t *out, uint16_t port)
{
	uint16_t be = htons(port);

	memcpy(out, &be, 2);
	out[2] = out[3] = 0;
	return 4;
}

size_t sched_jhash_key(enum knlb_hash_key key, const struct sched_flow *flow,
		       uint8_t out[SCHED_JHASH_KEY_MAX])
{
	size_t n = put_addr(out, &flow->saddr);

	if (key == KNLB_HASH_SRC_IP)
		return n;
	n += put_port(out + n, flow->sport);
	if (key == KNLB_HASH_5TUPLE) {
		n += put_addr(out + n, &flow->daddr);
		n += put_port(out + n, flow->dport);
	}
	return n;
}

uint32_t sched_jhash_slot(enum knlb_hash_key key, const struct sched_flow *flow,
			  uint32_t seed, uint32_t m)
{
	uint8_t buf[SCHED_JHASH_KEY_MAX];
	size_t n = sched_jhash_key(key, flow, buf);

	return sched_jhash_scale(sched_jhash(buf, (uint32_t)n, seed), m);
}
