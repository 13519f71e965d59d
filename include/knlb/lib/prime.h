/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_PRIME_H
#define KNLB_PRIME_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The one primality test: the config checks a Maglev table_size with it
 * and the scheduler guards its table length with it (sched_is_prime).
 */
bool is_prime(uint32_t n);

/* Greatest common divisor (gcd64(0, b) = b): wrr and the table_size default. */
uint64_t gcd64(uint64_t a, uint64_t b);

#endif
