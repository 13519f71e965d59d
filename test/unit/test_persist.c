/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * persistence = DURATION: the key, what a reload makes of a change to it,
 * and the pure decisions behind the kernel's persistence maps (which
 * entries go when a backend leaves, how entries are counted).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/lib/addr.h"
#include "knlb/nft/persist.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/reload_plan.h"
#include "knlb/sched/sched.h"

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\nscheduler = wrr\ntable_size = 7\n"
#define BES "backend = 10.0.0.11:8080 id=b0\nbackend = 10.0.0.12:8080 id=b1\n"
#define BE6 "backend = [2001:db8::1]:8080 id=b6\n"

Test(persist, key_defaults_off_and_takes_whole_seconds_up_to_an_hour)
{
	struct result r = load_ok(WEB BES);

	cr_expect_eq(r.cfg->services[0].persistence_ns, 0, "off by default");
	result_free(&r);
	r = load_ok(WEB "persistence = 10m\n" BES);
	cr_expect_eq(r.cfg->services[0].persistence_ns, 600 * 1000000000ULL);
	result_free(&r);
	r = load_ok(WEB "persistence = 1h\n" BES);
	cr_expect_eq(r.cfg->services[0].persistence_ns, 3600 * 1000000000ULL);
	result_free(&r);
	r = load_ok(WEB "persistence = 0s\n" BES);
	cr_expect_eq(r.cfg->services[0].persistence_ns, 0);
	result_free(&r);
	expect_error(WEB "persistence = 1500ms\n" BES, "test.conf:6:",
		     "expected whole seconds up to 1h");
	expect_error(WEB "persistence = 2h\n" BES, "test.conf:6:", "longer than 1h");
	expect_error(WEB "persistence = yes\n" BES, "test.conf:6:", "not a duration");
}

static struct knlb_model *model(const char *text, struct result *r)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	for (size_t s = 0; s < pool->n_services; s++)
		cr_assert_eq(pool_compute_slots(&pool->services[s]), 0);
	return pool;
}

Test(persist, a_change_of_persistence_replaces_the_table_on_reload)
{
	struct result ra, rb;
	struct knlb_model *a = model(WEB BES, &ra), *b = model(WEB "persistence = 5m\n" BES, &rb);
	struct reload_plan plan;
	char err[256] = "";

	cr_assert_eq(reload_plan_build(a, b, 0, &plan, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(plan.kind, RELOAD_STRUCTURE);
	cr_expect(strstr(plan.why, "persistence"), "%s", plan.why);
	reload_plan_free(&plan);
	pool_free(a);
	pool_free(b);
	result_free(&ra);
	result_free(&rb);
}

static struct persist_entry entry(const char *client, const char *backend,
				  uint16_t port)
{
	struct persist_entry e = { .port = port, .expires_ms = 1000 };

	cr_assert_eq(addr_parse(client, &e.client), 0);
	cr_assert_eq(addr_parse(backend, &e.backend), 0);
	e.family = e.client.family == AF_INET6 ? KNLB_FAMILY_IPV6 : KNLB_FAMILY_IPV4;
	return e;
}

Test(persist, entries_are_matched_and_counted_by_backend_address_and_port)
{
	struct result r;
	struct knlb_model *pool = model(WEB "vip = 2001:db8:100::10\npersistence = 1m\n" BES BE6, &r);
	struct knlb_service *svc = &pool->services[0];
	struct persist_entry e[] = {
		entry("198.51.100.1", "10.0.0.11", 8080),
		entry("198.51.100.2", "10.0.0.11", 8080),
		entry("198.51.100.3", "10.0.0.12", 8080),
		entry("198.51.100.4", "10.0.0.12", 9999),	/* no backend of web */
		entry("2001:db8:5::1", "2001:db8::1", 8080),
	};
	struct persist_table t = { .e = e, .n = 5 };
	uint64_t counts[3] = { 0 };

	cr_expect_eq(persist_entry_backend(svc, &e[0]), 0);
	cr_expect_eq(persist_entry_backend(svc, &e[2]), 1);
	cr_expect_eq(persist_entry_backend(svc, &e[3]), -1);
	cr_expect_eq(persist_entry_backend(svc, &e[4]), 2);
	persist_count(svc, &t, counts);
	cr_expect_eq(counts[0], 2);
	cr_expect_eq(counts[1], 1);
	cr_expect_eq(counts[2], 1);
	pool_free(pool);
	result_free(&r);
}

Test(persist, only_a_backend_leaving_the_table_calls_for_a_purge)
{
	struct result r;
	struct knlb_model *pool = model(WEB "persistence = 1m\n" BES, &r);
	struct knlb_service *svc = &pool->services[0];
	size_t len = pool_slots_len(svc);
	uint32_t *old = malloc(len * sizeof(*old));

	memcpy(old, svc->slots, len * sizeof(*old));
	cr_expect(!persist_lost_backend(svc, old), "same table: nothing lost");

	/* a weight change: slots move, every backend keeps some */
	cr_assert(pool_set_weight(svc, 0, 5, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect(!persist_lost_backend(svc, old), "a weight change loses no backend");

	/* b1 disabled: its slots go to b0 */
	memcpy(old, svc->slots, len * sizeof(*old));
	cr_assert(pool_set_admin(svc, 1, KNLB_ADMIN_DISABLED, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect(persist_lost_backend(svc, old), "b1 left the table");

	/* a slot value that is no backend any more (removed by a reload) */
	memcpy(old, svc->slots, len * sizeof(*old));
	old[0] = (uint32_t)svc->n_backends + 7;
	cr_expect(persist_lost_backend(svc, old), "a removed backend is lost");
	free(old);
	pool_free(pool);
	result_free(&r);
}

/* ---- maxconn=N (kept here: the other per-client/per-backend limit) ---- */

Test(maxconn, option_loads_and_full_backends_leave_the_table_with_hysteresis)
{
	struct result r;
	struct knlb_model *pool = model(WEB "backend = 10.0.0.11:8080 id=b0 maxconn=20\n"
				       "backend = 10.0.0.12:8080 id=b1 maxconn=3\n", &r);
	struct knlb_service *svc = &pool->services[0];

	cr_expect_eq(svc->backends[0].cfg->maxconn, 20);
	cr_expect_eq(pool_maxconn_low_water(20), 18, "N - N/10");
	cr_expect_eq(pool_maxconn_low_water(3), 2, "at least one below N");

	cr_expect(!pool_apply_maxconn(svc, 0, 19, 0), "below the limit: nothing");
	cr_expect(pool_apply_maxconn(svc, 0, 20, 0), "at the limit: full");
	cr_expect(svc->backends[0].full && svc->dirty);
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(pool_slots_of(svc, 0), 0, "a full backend has no slot");
	cr_expect(!svc->empty, "b1 still takes flows");
	cr_expect(!pool_apply_maxconn(svc, 0, 19, 0), "19 > low water 18: still full");
	cr_expect(pool_apply_maxconn(svc, 0, 18, 0), "at low water: back");
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_gt(pool_slots_of(svc, 0), 0);

	/* both full: no usable backend, on_empty applies */
	cr_expect(pool_apply_maxconn(svc, 0, 25, 0));
	cr_expect(pool_apply_maxconn(svc, 1, 3, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect(svc->empty, "every backend full: the service is empty");
	pool_free(pool);
	result_free(&r);
}

Test(maxconn, a_full_backend_keeps_its_persistent_clients)
{
	struct result r;
	struct knlb_model *pool = model(WEB "persistence = 1m\n"
				       "backend = 10.0.0.11:8080 id=b0 maxconn=2\n"
				       "backend = 10.0.0.12:8080 id=b1\n", &r);
	struct knlb_service *svc = &pool->services[0];
	size_t len = pool_slots_len(svc);
	uint32_t *old = malloc(len * sizeof(*old));

	memcpy(old, svc->slots, len * sizeof(*old));
	cr_assert(pool_apply_maxconn(svc, 0, 2, 0));
	cr_assert_eq(pool_compute_slots(svc), 0);
	cr_expect_eq(pool_slots_of(svc, 0), 0);
	cr_expect(!persist_lost_backend(svc, old), "full is not gone: no purge");
	free(old);
	pool_free(pool);
	result_free(&r);
}
