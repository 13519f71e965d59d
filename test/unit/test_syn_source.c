/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The half-open probe's source table: every address found, and found fast. */
#include <arpa/inet.h>
#include <criterion/criterion.h>

#include "../../src/health/syn_source-int.h"

static struct in_addr nth(uint32_t base, uint32_t i)
{
	return (struct in_addr){ htonl(base + i) };
}

static void fill(struct syn_sources *t, uint32_t base, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct syn_source *s = syn_sources_slot(t, nth(base, i));

		cr_assert_not_null(s);
		cr_assert_not(s->used, "address %u given a used slot", i);
		s->dst = nth(base, i);
		s->src = nth(0xc0a80001, i);	/* 192.168.0.1 + i */
		syn_sources_used(t, s);
	}
}

/* 10,000 backends of one /16, as the bench has them: each is found with
 * its own source, and no lookup walks far from where it starts. */
Test(syn_source, a_subnet_spreads_over_the_table)
{
	struct syn_sources t = { 0 };
	size_t worst = 0, sum = 0;

	fill(&t, 0x0a000000, 10000);	/* 10.0.0.0 */
	cr_assert_eq(t.used, 10000);
	cr_assert_geq(t.n, 20000, "more than half full: %zu of %zu", t.used, t.n);
	for (uint32_t i = 0; i < 10000; i++) {
		struct syn_source *s = syn_sources_slot(&t, nth(0x0a000000, i));
		size_t reads = syn_sources_reads(&t, nth(0x0a000000, i));

		cr_assert(s->used && s->dst.s_addr == nth(0x0a000000, i).s_addr);
		cr_assert_eq(s->src.s_addr, nth(0xc0a80001, i).s_addr);
		sum += reads;
		worst = reads > worst ? reads : worst;
	}
	/* A hash that ignored the last octets put all of them in one run:
	 * 5,000 reads on average.  Half full, linear probing averages 1.5. */
	cr_assert_leq(sum, 3 * 10000, "%zu reads for 10000 lookups", sum);
	cr_assert_leq(worst, 64, "a lookup read %zu slots", worst);
	syn_sources_free(&t);
}

/* Addresses that differ only in their first octets spread as well. */
Test(syn_source, first_octets_spread_too)
{
	struct syn_sources t = { 0 };
	size_t sum = 0;

	for (uint32_t i = 0; i < 4096; i++) {
		struct in_addr a = { htonl(i << 20 | 7) };
		struct syn_source *s = syn_sources_slot(&t, a);

		cr_assert_not_null(s);
		s->dst = a;
		syn_sources_used(&t, s);
	}
	for (uint32_t i = 0; i < 4096; i++)
		sum += syn_sources_reads(&t, (struct in_addr){ htonl(i << 20 | 7) });
	cr_assert_leq(sum, 3 * 4096, "%zu reads for 4096 lookups", sum);
	syn_sources_free(&t);
}

Test(syn_source, an_unknown_address_is_not_found)
{
	struct syn_sources t = { 0 };
	struct syn_source *s;

	cr_assert_eq(syn_sources_reads(&t, nth(0x0a000000, 1)), 0);
	fill(&t, 0x0a000000, 100);
	s = syn_sources_slot(&t, nth(0x0b000000, 1));
	cr_assert_not_null(s);
	cr_assert_not(s->used);
	cr_assert_eq(t.used, 100);
	syn_sources_free(&t);
	cr_assert_eq(t.n, 0);
}
