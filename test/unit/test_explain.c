/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl explain's pure half: the slot and backend the kernel would pick
 * for a client, and why a backend takes new flows or not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/pool/explain.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/jhash.h"
#include "knlb/sched/sched.h"

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\n"
#define TWO "backend = 10.0.0.11:8080 id=b1\nbackend = 10.0.0.12:8080 id=b2\n"

static struct knlb_model *pool_of(struct result *r, const char *text)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	return pool;
}

static struct knlb_addr v4(const char *text)
{
	struct knlb_addr a = { .family = AF_INET };

	cr_assert_eq(inet_pton(AF_INET, text, &a.in), 1);
	return a;
}

Test(explain, maglev_gives_the_slot_of_the_kernels_jhash)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, WEB "hash_key = src-ip-port\nhash_seed = 0x5eed\n"
					  "table_size = 16381\n" TWO);
	struct knlb_service *svc = &pool->services[0];
	struct knlb_addr c = v4("198.51.100.1");
	struct pool_explanation e;

	cr_assert_eq(pool_explain(svc, &c, 40001, &e), 0);
	cr_expect(!e.per_flow);
	/* the kernel's slot for this flow at M = 16381 (test_jhash.c) */
	cr_expect_eq(e.slot, 6246);
	cr_expect_eq(e.backend, svc->slots[6246]);
	cr_expect_neq(e.backend, SCHED_SLOT_EMPTY);
	cr_expect(!e.pending);
	pool_free(pool);
	result_free(&r);
}

Test(explain, port_needed_only_when_the_key_has_it)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, WEB "hash_key = src-ip-port\n" TWO
					  "[service ssh]\nvip = 192.0.2.10\nport = 22\n"
					  "hash_key = src-ip\n" TWO);
	struct knlb_addr c = v4("198.51.100.1");
	struct pool_explanation e;

	cr_expect_eq(pool_explain(&pool->services[0], &c, 0, &e), -EINVAL);
	cr_expect_eq(pool_explain(&pool->services[1], &c, 0, &e), 0);
	/* src-ip: the port changes nothing */
	{
		uint32_t slot = e.slot;

		cr_assert_eq(pool_explain(&pool->services[1], &c, 5555, &e), 0);
		cr_expect_eq(e.slot, slot);
	}
	pool_free(pool);
	result_free(&r);
}

Test(explain, a_family_the_service_does_not_serve_is_refused)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, WEB TWO);
	struct knlb_addr c = { .family = AF_INET6 };
	struct pool_explanation e;

	cr_assert_eq(inet_pton(AF_INET6, "2001:db8::1", &c.in6), 1);
	cr_expect_eq(pool_explain(&pool->services[0], &c, 1000, &e), -EAFNOSUPPORT);
	pool_free(pool);
	result_free(&r);
}

Test(explain, ipv6_client_uses_the_ipv6_table_and_vip)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, "[service web]\nvip = 192.0.2.10\nvip = 2001:db8:2::3\n"
					  "port = 80\nhash_key = 5-tuple\nhash_seed = 0x1234\n"
					  "table_size = 16381\n" TWO
					  "backend = [2001:db8::11]:8080 id=v6a\n"
					  "backend = [2001:db8::12]:8080 id=v6b\n");
	struct knlb_service *svc = &pool->services[0];
	struct knlb_addr c = { .family = AF_INET6 };
	struct pool_explanation e;

	cr_assert_eq(inet_pton(AF_INET6, "2001:db8:1::1", &c.in6), 1);
	cr_assert_eq(pool_explain(svc, &c, 40001, &e), 0);
	cr_expect_eq(e.family, KNLB_FAMILY_IPV6);
	/* the kernel's slot for this flow to 2001:db8:2::3 port 80 (test_jhash.c) */
	cr_expect_eq(e.slot, 1461);
	cr_assert_neq(e.backend, SCHED_SLOT_EMPTY);
	cr_expect_eq(svc->backends[e.backend].cfg->addr.family, AF_INET6,
		     "an IPv6 client lands on an IPv6 backend");
	pool_free(pool);
	result_free(&r);
}

Test(explain, numgen_schedulers_choose_per_flow)
{
	static const char *sched[] = { "wrr", "random", "wlc" };

	for (size_t i = 0; i < 3; i++) {
		char text[256];
		struct result r;
		struct knlb_model *pool;
		struct knlb_addr c = v4("198.51.100.1");
		struct pool_explanation e;

		snprintf(text, sizeof(text), WEB "scheduler = %s\n" TWO, sched[i]);
		pool = pool_of(&r, text);
		cr_assert_eq(pool_explain(&pool->services[0], &c, 0, &e), 0);
		cr_expect(e.per_flow, "%s", sched[i]);
		cr_expect_eq(e.backend, SCHED_SLOT_EMPTY);
		pool_free(pool);
		result_free(&r);
	}
}

Test(explain, drained_backend_loses_the_client_and_says_why)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, WEB "hash_key = src-ip\n" TWO
					  "backend = 10.0.0.99:8080 id=spare backup\n");
	struct knlb_service *svc = &pool->services[0];
	struct knlb_addr c = v4("198.51.100.7");
	struct pool_explanation e;
	uint32_t first;

	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	first = e.backend;
	cr_assert_lt(first, 2);
	cr_expect_str_eq(pool_backend_why(svc, first), "up");
	cr_expect_str_eq(pool_backend_why(svc, 2), "backup on standby: primaries serve");

	pool_set_admin(svc, first, KNLB_ADMIN_DRAIN, 0);
	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	cr_expect(e.pending, "drained but not recomputed: the kernel has the old table");
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	cr_expect_eq(e.backend, 1 - first);
	cr_expect_str_eq(pool_backend_why(svc, first), "draining");

	/* both primaries down: the backup serves */
	pool_set_health(svc, 1 - first, false, 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	cr_expect_eq(e.backend, 2);
	cr_expect_str_eq(pool_backend_why(svc, 2), "backup serving: no primary usable");
	cr_expect_str_eq(pool_backend_why(svc, 1 - first), "down (health)");

	/* and nobody: the slot is empty, on_empty applies */
	pool_set_admin(svc, 2, KNLB_ADMIN_DISABLED, 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	cr_expect_eq(e.backend, SCHED_SLOT_EMPTY);
	cr_expect_str_eq(pool_backend_why(svc, 2), "disabled");
	pool_free(pool);
	result_free(&r);
}

/* A backend down for health keeps its base slots: the client falls back. */
Test(explain, a_down_owner_is_named_as_fallen_back_from)
{
	struct result r;
	struct knlb_model *pool = pool_of(&r, WEB "hash_key = src-ip\n" TWO
					  "backend = 10.0.0.13:8080 id=b3\n");
	struct knlb_service *svc = &pool->services[0];
	struct knlb_addr c = v4("198.51.100.7");
	struct pool_explanation e;
	uint32_t owner;

	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	cr_expect_eq(e.fallback_from, SCHED_SLOT_EMPTY, "its own backend serves");
	owner = e.backend;
	pool_set_health(svc, owner, false, 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	cr_expect_eq(e.fallback_from, owner);
	cr_expect_neq(e.backend, owner);
	cr_expect_lt(e.backend, 3);
	/* drained instead: the base table is rebuilt without it, no fallback */
	pool_set_health(svc, owner, true, 0);
	pool_set_admin(svc, owner, KNLB_ADMIN_DRAIN, 0);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_assert_eq(pool_explain(svc, &c, 0, &e), 0);
	cr_expect_eq(e.fallback_from, SCHED_SLOT_EMPTY);
	pool_free(pool);
	result_free(&r);
}
