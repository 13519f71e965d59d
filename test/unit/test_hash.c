/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched_hash() decides which backend a flow lands on, so its output must
 * never change between releases; sched_is_prime() guards the Maglev size.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/sched/sched.h"

/*
 * SipHash-2-4 reference vectors (Aumasson and Bernstein, vectors.h of the
 * reference implementation): key 00 01 .. 0f, message 00 01 .. (len - 1).
 * The reference lists output bytes; these are the same bytes read as a
 * little-endian uint64 (15 bytes gives 0xa129ca6149be45e5, as in the
 * paper's appendix).  Seed 0x0706050403020100 is the reference key under
 * sched_hash()'s key derivation (k1 = seed ^ 0x0808080808080808).
 */
Test(hash, siphash_reference_vectors)
{
	static const struct {
		size_t len;
		uint64_t want;
	} vec[] = {
		{ 0, 0x726fdb47dd0e0e31ULL },
		{ 1, 0x74f839c593dc67fdULL },
		{ 7, 0xab0200f58b01d137ULL },
		{ 8, 0x93f5f5799a932462ULL },
		{ 15, 0xa129ca6149be45e5ULL },
		{ 16, 0x3f2acc7f57c29bdbULL },
		{ 63, 0x958a324ceb064572ULL },
	};
	unsigned char msg[64];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		uint64_t got = sched_hash(msg, vec[i].len,
					  0x0706050403020100ULL);

		cr_expect_eq(got, vec[i].want,
			     "len %zu: got 0x%016" PRIx64 ", want 0x%016" PRIx64,
			     vec[i].len, got, vec[i].want);
	}
}

/*
 * Regression vectors: computed once with this implementation (after it
 * matched the reference vectors above) and hard-coded, so that any change
 * to the hash or to the seed handling, which would reshuffle every Maglev
 * table in the field, fails here first.
 */
Test(hash, regression_vectors)
{
	static const struct {
		const char *data;
		uint64_t seed;
		uint64_t want;
	} vec[] = {
		{ "10.0.0.1:80", 0, 0x49384a0342bf7615ULL },
		{ "backend-a", 42, 0xe11182642a3151feULL },
		{ "", 0, 0xcf77c0868eb143f0ULL },
		{ "[2001:db8::1]:443", 16381, 0xe1ec2fa1d85b3be3ULL },
	};

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		uint64_t got = sched_hash(vec[i].data, strlen(vec[i].data),
					  vec[i].seed);

		cr_expect_eq(got, vec[i].want,
			     "\"%s\" seed %" PRIu64 ": got 0x%016" PRIx64
			     ", want 0x%016" PRIx64, vec[i].data, vec[i].seed,
			     got, vec[i].want);
	}
}

Test(hash, seed_changes_output)
{
	static const char *const ids[] = {
		"10.0.0.1:80", "10.0.0.2:80", "web-1", "", "x",
	};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		size_t len = strlen(ids[i]);
		uint64_t h0 = sched_hash(ids[i], len, 0);

		for (uint64_t seed = 1; seed < 64; seed++) {
			uint64_t h = sched_hash(ids[i], len, seed);

			cr_expect_neq(h, h0, "\"%s\": seed 0 and %" PRIu64
				      " both give 0x%016" PRIx64, ids[i],
				      seed, h);
		}
	}
}

/* Same bytes, same hash, wherever they sit in memory. */
Test(hash, unaligned_input)
{
	static const char id[] = "[2001:db8::42]:8443 and some more bytes";
	size_t len = sizeof(id) - 1;
	uint64_t want = sched_hash(id, len, 7);
	char buf[sizeof(id) + 8];

	for (size_t off = 1; off < 8; off++) {
		memcpy(buf + off, id, len);
		cr_expect_eq(sched_hash(buf + off, len, 7), want,
			     "offset %zu", off);
	}
}

/* The length is hashed too: a trailing NUL is a different id. */
Test(hash, length_matters)
{
	cr_expect_neq(sched_hash("a", 1, 0), sched_hash("a\0", 2, 0));
	cr_expect_neq(sched_hash("", 0, 0), sched_hash("\0", 1, 0));
	cr_expect_neq(sched_hash("abcdefgh", 8, 0),
		      sched_hash("abcdefgh\0", 9, 0));
}

/*
 * Flipping one input bit should flip about half of the output bits: Maglev
 * ids that differ by one character ("10.0.0.1" and "10.0.0.3") must not
 * get related permutations.  Mean over 64 * 8 flips of 64 inputs.
 */
Test(hash, avalanche)
{
	uint64_t flips = 0, trials = 0;
	unsigned char buf[16];

	for (unsigned int i = 0; i < 64; i++) {
		uint64_t h0;

		for (size_t j = 0; j < sizeof(buf); j++)
			buf[j] = (unsigned char)(i * 31 + j * 7);
		h0 = sched_hash(buf, sizeof(buf), 1);
		for (unsigned int bit = 0; bit < 8 * sizeof(buf); bit++) {
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			flips += (uint64_t)__builtin_popcountll(
				h0 ^ sched_hash(buf, sizeof(buf), 1));
			trials++;
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
	}
	cr_log_info("hash avalanche: %.3f of 64 output bits flip per input bit",
		    (double)flips / (double)trials);
	cr_expect(flips >= trials * 31 && flips <= trials * 33,
		  "mean flipped bits %.3f, want 31..33",
		  (double)flips / (double)trials);
}

Test(prime, known_primes)
{
	static const uint32_t primes[] = {
		2, 3, 5, 7, 13, 16381, 65521, 65537, 131071, 2147483647,
		4294967291u,	/* the largest 32-bit prime */
	};

	for (size_t i = 0; i < sizeof(primes) / sizeof(primes[0]); i++)
		cr_expect(sched_is_prime(primes[i]), "%" PRIu32 " is prime",
			  primes[i]);
}

Test(prime, known_composites)
{
	static const uint32_t composites[] = {
		0, 1, 4, 9, 25, 49, 16383, 65535,
		4294967295u,	/* 3 * 5 * 17 * 257 * 65537 */
		4293001441u,	/* 65521^2: needs the divisor loop to reach sqrt */
		4294049777u,	/* 65521 * 65537 */
		4294836225u,	/* 65535^2 */
	};

	for (size_t i = 0; i < sizeof(composites) / sizeof(composites[0]); i++)
		cr_expect(!sched_is_prime(composites[i]),
			  "%" PRIu32 " is not prime", composites[i]);
}

/* Every m below 2^17 against a sieve of Eratosthenes. */
Test(prime, matches_sieve)
{
	const uint32_t limit = 1u << 17;
	bool *composite = calloc(limit, sizeof(*composite));
	uint32_t wrong = 0, first_wrong = 0;

	cr_assert_not_null(composite);
	composite[0] = composite[1] = true;
	for (uint32_t i = 2; i * i < limit; i++)
		if (!composite[i])
			for (uint32_t j = i * i; j < limit; j += i)
				composite[j] = true;
	for (uint32_t m = 0; m < limit; m++) {
		if (sched_is_prime(m) == composite[m]) {
			if (!wrong++)
				first_wrong = m;
		}
	}
	free(composite);
	cr_expect_eq(wrong, 0, "%" PRIu32 " wrong answers, first for %" PRIu32,
		     wrong, first_wrong);
}
