/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hashing and primality helpers for the slot-table builders.
 *
 * sched_hash() is SipHash-2-4 (Aumasson and Bernstein, 2012), written here
 * from the paper.  It is slower per byte than murmur or xxhash, but the
 * inputs are backend ids of a few dozen bytes hashed twice per table build,
 * so speed does not matter and a keyed PRF does: backend ids come from
 * configuration, and SipHash leaves no structure for a chosen set of ids to
 * line up into correlated Maglev permutations.  Its output is part of the
 * on-wire behaviour (which backend a flow lands on), so it must never change.
 */
#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "knlb/sched/sched.h"

/*
 * SipHash takes a 128-bit key; the API gives 64 bits.  k1 is derived from
 * the seed by a fixed XOR.  Any fixed derivation would do; this one maps
 * seed 0x0706050403020100 onto the reference key 00 01 .. 0f, so the
 * published test vectors check this implementation (see test_hash.c).
 */
#define SIPHASH_K1_XOR 0x0808080808080808ULL

static inline uint64_t rotl64(uint64_t x, unsigned int b)
{
	return (x << b) | (x >> (64 - b));
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl64(s->v2, 32);
}

/* Two compression rounds per message word: the "2" in SipHash-2-4. */
static inline void sip_compress(struct sip_state *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t sched_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	const uint64_t k0 = seed;
	const uint64_t k1 = seed ^ SIPHASH_K1_XOR;
	struct sip_state s = {
		.v0 = k0 ^ 0x736f6d6570736575ULL,
		.v1 = k1 ^ 0x646f72616e646f6dULL,
		.v2 = k0 ^ 0x6c7967656e657261ULL,
		.v3 = k1 ^ 0x7465646279746573ULL,
	};
	/* The last word carries the length (mod 256) in its top byte. */
	uint64_t last = (uint64_t)len << 56;
	size_t tail = len & 7;
	uint64_t m;

	/* memcpy: data may be unaligned; le64toh: same hash on any host. */
	for (const unsigned char *end = p + (len - tail); p < end; p += 8) {
		memcpy(&m, p, sizeof(m));
		sip_compress(&s, le64toh(m));
	}
	for (size_t i = 0; i < tail; i++)
		last |= (uint64_t)p[i] << (8 * i);
	sip_compress(&s, last);

	/* Four finalization rounds: the "4". */
	s.v2 ^= 0xff;
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
