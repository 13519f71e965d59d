/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A table size that fits the service (see table_size.h): derived from the
 * backends when the file gives none, and kept across a reload or a
 * restart while it is still adequate, because resizing a slot map moves
 * every flow's slot.  Pure: two configs in, sizes out.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <string.h>

#include "knlb/lib/prime.h"
#include "knlb/config/config.h"
#include "knlb/config/table_size.h"

/* Sum of the positive weights divided by their gcd; 0 when none is positive. */
static uint64_t reduced_weight_sum(const struct knlb_service_config *svc)
{
	uint64_t g = 0, sum = 0;

	for (size_t i = 0; i < svc->n_backends; i++)
		g = gcd64(g, svc->backends[i].weight);
	if (!g)
		return 0;
	for (size_t i = 0; i < svc->n_backends; i++)
		sum += svc->backends[i].weight / g;
	return sum;
}

static uint64_t round_floor(size_t n)
{
	uint64_t per = (uint64_t)KNLB_ROUND_SLOTS_PER_BACKEND * n;

	return per > KNLB_ROUND_MIN_SLOTS ? per : KNLB_ROUND_MIN_SLOTS;
}

static uint64_t maglev_floor(size_t n)
{
	uint64_t per = (uint64_t)KNLB_MAGLEV_SLOTS_PER_BACKEND * n;

	return per > KNLB_MAGLEV_MIN_SLOTS ? per : KNLB_MAGLEV_MIN_SLOTS;
}

/* wrr, random, wlc before the cap: the smallest multiple of S >= the floor. */
static uint64_t round_uncapped(const struct knlb_service_config *svc)
{
	uint64_t floor = round_floor(svc->n_backends);
	uint64_t s = reduced_weight_sum(svc);

	if (!s)
		s = 1;
	return (floor + s - 1) / s * s;
}

uint32_t config_table_size_derive(const struct knlb_service_config *svc)
{
	uint64_t floor, s, m;

	if (svc->scheduler == KNLB_SCHED_MAGLEV) {
		floor = maglev_floor(svc->n_backends);
		if (floor >= KNLB_MAX_SLOTS)
			return KNLB_MAX_SLOTS;
		/* KNLB_MAX_SLOTS is prime: the search ends there at the latest. */
		for (m = floor; !is_prime((uint32_t)m); m++)
			;
		return (uint32_t)m;
	}
	s = reduced_weight_sum(svc);
	if (!s)
		s = 1;
	m = round_uncapped(svc);
	if (m > KNLB_MAX_SLOTS)
		m = s <= KNLB_MAX_SLOTS ? KNLB_MAX_SLOTS / s * s : KNLB_MAX_SLOTS;
	return (uint32_t)m;
}

bool config_table_size_adequate(const struct knlb_service_config *svc,
				uint32_t m)
{
	if (m < svc->n_backends || m > KNLB_MAX_SLOTS || m < 2)
		return false;
	if (svc->scheduler == KNLB_SCHED_MAGLEV)
		return is_prime(m) &&
		       (uint64_t)m * 2 >= KNLB_MAGLEV_SLOTS_PER_BACKEND * (uint64_t)svc->n_backends;
	return m >= KNLB_ROUND_MIN_SLOTS &&
	       (uint64_t)m * 2 >= KNLB_ROUND_SLOTS_PER_BACKEND * (uint64_t)svc->n_backends;
}

bool config_table_has_fallback_maps(const struct knlb_service_config *svc)
{
	size_t per_family[2] = { 0, 0 }, most;

	if (svc->scheduler != KNLB_SCHED_MAGLEV || !svc->n_backends)
		return false;
	for (size_t i = 0; i < svc->n_backends; i++)
		per_family[svc->backends[i].addr.family == AF_INET6]++;
	most = per_family[0] > per_family[1] ? per_family[0] : per_family[1];
	return (uint64_t)svc->table_size >=
	       (uint64_t)KNLB_FALLBACK_SLOTS_PER_BACKEND * most;
}

bool config_keep_table_size(struct knlb_service_config *svc, uint32_t m)
{
	if (svc->table_size_source == KNLB_TABLE_SIZE_SET || !m ||
	    m == svc->table_size || !config_table_size_adequate(svc, m))
		return false;
	svc->table_size = m;
	svc->table_size_source = KNLB_TABLE_SIZE_KEPT;
	return true;
}

void config_keep_table_sizes(const struct knlb_config *running,
			     struct knlb_config *next)
{
	for (size_t i = 0; i < next->n_services; i++) {
		struct knlb_service_config *svc = &next->services[i];

		for (size_t j = 0; j < running->n_services; j++) {
			const struct knlb_service_config *old = &running->services[j];

			if (strcmp(old->name, svc->name) == 0 &&
			    old->scheduler == svc->scheduler) {
				config_keep_table_size(svc, old->table_size);
				break;
			}
		}
	}
}

const char *config_table_size_source_name(enum knlb_table_size_source src)
{
	switch (src) {
	case KNLB_TABLE_SIZE_SET:
		return "set";
	case KNLB_TABLE_SIZE_DERIVED:
		return "derived";
	case KNLB_TABLE_SIZE_KEPT:
		return "kept";
	}
	return "?";
}

void config_table_size_explain(const struct knlb_service_config *svc,
			       char *buf, size_t len)
{
	const char *sched = config_scheduler_name(svc->scheduler);
	size_t n = svc->n_backends;
	const char *s = n == 1 ? "" : "s";

	switch (svc->table_size_source) {
	case KNLB_TABLE_SIZE_SET:
		snprintf(buf, len, "table_size %u, set", svc->table_size);
		return;
	case KNLB_TABLE_SIZE_KEPT:
		snprintf(buf, len,
			 "table_size %u, kept from the running table (derived would be %u; still adequate for %s with %zu backend%s)",
			 svc->table_size, config_table_size_derive(svc), sched,
			 n, s);
		return;
	case KNLB_TABLE_SIZE_DERIVED:
		break;
	}
	if (svc->scheduler == KNLB_SCHED_MAGLEV)
		snprintf(buf, len,
			 "table_size %u, derived: %s, %zu backend%s, smallest prime >= max(%u, %u x %zu)%s",
			 svc->table_size, sched, n, s, KNLB_MAGLEV_MIN_SLOTS,
			 KNLB_MAGLEV_SLOTS_PER_BACKEND, n,
			 maglev_floor(n) >= KNLB_MAX_SLOTS ? ", capped" : "");
	else
		snprintf(buf, len,
			 "table_size %u, derived: %s, %zu backend%s, weights summing to %llu (reduced), smallest multiple of it >= max(%u, %u x %zu)%s",
			 svc->table_size, sched, n, s,
			 (unsigned long long)reduced_weight_sum(svc),
			 KNLB_ROUND_MIN_SLOTS, KNLB_ROUND_SLOTS_PER_BACKEND, n,
			 round_uncapped(svc) > KNLB_MAX_SLOTS ? ", capped" : "");
}
