/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "knlb/lib/prime.h"

/*
 * Trial division by 2, 3 and then 6k +- 1.  At most ~21845 divisions for the
 * largest 32-bit primes, which is nothing next to building a table, and
 * simple enough to be obviously right (no Miller-Rabin witness sets).
 */
bool is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	if (n < 4)
		return true;
	if (n % 2 == 0 || n % 3 == 0)
		return false;
	/* i <= n / i rather than i * i <= n: i * i overflows near 2^32. */
	for (uint32_t i = 5; i <= n / i; i += 6)
		if (n % i == 0 || n % (i + 2) == 0)
			return false;
	return true;
}

uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}
