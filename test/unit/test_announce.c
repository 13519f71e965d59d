/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * announce = route: the keys (defaults, [global] inherited, errors with
 * FILE:LINE) and the pure plan of which VIPs a gateway should attract.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/pool/announce_plan.h"
#include "knlb/pool/pool.h"

#define SVC2(name, vip, port) "[service " name "]\nvip = " vip "\nport = " port "\n"

Test(config_announce, default_is_no)
{
	struct result r = load_ok(SVC BE);

	cr_expect_eq(r.cfg->global.announce, KNLB_ANNOUNCE_NO);
	cr_expect_eq(r.cfg->services[0].announce, KNLB_ANNOUNCE_NO);
	cr_expect_eq(r.cfg->global.announce_table, 4242);
	result_free(&r);
}

Test(config_announce, global_is_the_services_default)
{
	/* [global] after the service: the default still follows it. */
	struct result r = load_ok(SVC BE SVC2("dns", "192.0.2.11", "53")
				  "announce = no\n" BE
				  "[global]\nannounce = route\nannounce_table = 100\n");

	cr_expect_eq(r.cfg->services[0].announce, KNLB_ANNOUNCE_ROUTE);
	cr_expect_eq(r.cfg->services[1].announce, KNLB_ANNOUNCE_NO,
		     "a service's own wins");
	cr_expect_eq(r.cfg->global.announce_table, 100);
	result_free(&r);

	r = load_ok(SVC "announce = route\n" BE);
	cr_expect_eq(r.cfg->services[0].announce, KNLB_ANNOUNCE_ROUTE);
	result_free(&r);
}

Test(config_announce, errors_name_the_line)
{
	expect_only_error(SVC "announce = bgp\n" BE, "test.conf:4: ",
			  "unknown announce \"bgp\"");
	expect_only_error("[global]\nannounce = yes\n" SVC BE, "test.conf:2: ",
			  "unknown announce \"yes\"");
	expect_only_error("[global]\nannounce_table = 254\n" SVC BE, "test.conf:2: ",
			  "announce_table 254 is the kernel's main table");
	expect_only_error("[global]\nannounce_table = 255\n" SVC BE, "test.conf:2: ",
			  "local table");
	expect_only_error("[global]\nannounce_table = 0\n" SVC BE, "test.conf:2: ",
			  "announce_table 0 is out of range");
	expect_only_error(SVC "announce_table = 100\n" BE, "test.conf:4: ",
			  "announce_table");
}

/* ---- the plan ---------------------------------------------------------- */

static struct knlb_model *model(struct result *r, const char *text)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	return pool;
}

static void set_down(struct knlb_model *pool, size_t s)
{
	struct knlb_service *svc = &pool->services[s];

	for (size_t b = 0; b < svc->n_backends; b++)
		pool_set_health(svc, b, false, 0);
	pool_compute_slots(svc);
}

static bool is_vip(const struct announce_want *w, const char *vip)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, vip, &a), 1);
	return w->vip.family == AF_INET && w->vip.in.s_addr == a.s_addr;
}

#define THREE_SERVICES \
	"[global]\nannounce = route\n" \
	SVC2("web", "192.0.2.10", "80") BE \
	SVC2("tls", "192.0.2.10", "443") BE \
	SVC2("dns", "192.0.2.11", "53") "proto = udp\n" BE \
	SVC2("quiet", "192.0.2.12", "80") "announce = no\n" BE

Test(announce_plan, one_row_per_vip_of_announcing_services)
{
	struct result r;
	struct knlb_model *pool = model(&r, THREE_SERVICES);
	struct announce_want *w;
	size_t n;

	cr_assert_eq(announce_plan_build(pool, &w, &n), 0);
	cr_assert_eq(n, 2, "192.0.2.12 has announce = no");
	cr_expect(is_vip(&w[0], "192.0.2.10"));
	cr_expect(is_vip(&w[1], "192.0.2.11"));
	cr_expect(w[0].wanted && w[1].wanted);
	free(w);
	pool_free(pool);
	result_free(&r);
}

Test(announce_plan, one_empty_service_withdraws_its_vip)
{
	struct result r;
	struct knlb_model *pool = model(&r, THREE_SERVICES);
	struct announce_want *w;
	size_t n;

	set_down(pool, 1);	/* tls, on the same VIP as web */
	cr_assert(pool->services[1].empty);
	cr_assert_eq(announce_plan_build(pool, &w, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect(!w[0].wanted, "web is fine but tls, same address, is not");
	cr_expect_str_eq(w[0].blocked_by, "tls");
	cr_expect(w[1].wanted, "dns is on another address");
	free(w);

	/* An empty service with announce = no withdraws nothing. */
	set_down(pool, 3);
	cr_assert_eq(announce_plan_build(pool, &w, &n), 0);
	cr_expect_eq(n, 2);
	cr_expect(w[1].wanted);
	free(w);
	pool_free(pool);
	result_free(&r);
}

Test(announce_plan, nothing_announced)
{
	struct result r;
	struct knlb_model *pool = model(&r, SVC BE);
	struct announce_want *w = (void *)1;
	size_t n = 1;

	cr_assert_eq(announce_plan_build(pool, &w, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_null(w);
	pool_free(pool);
	result_free(&r);
}

Test(announce_plan, dual_stack_vips_follow_their_own_family)
{
	struct result r;
	struct knlb_model *pool = model(&r, "[global]\nannounce = route\n"
		"[service web]\nvip = 192.0.2.10\nvip = 2001:db8:100::10\nport = 80\n"
		"backend = 10.0.0.11:8080\nbackend = [2001:db8:1::11]:8080\n");
	struct knlb_service *svc = &pool->services[0];
	struct announce_want *w;
	size_t n;

	cr_assert_eq(svc->n_families, 2);
	cr_assert_eq(announce_plan_build(pool, &w, &n), 0);
	cr_assert_eq(n, 2, "one route per VIP");
	cr_expect_eq(w[0].vip.family, AF_INET);
	cr_expect_eq(w[1].vip.family, AF_INET6);
	cr_expect(w[0].wanted && w[1].wanted);
	free(w);

	pool_set_health(svc, 1, false, 0);	/* the only IPv6 backend */
	pool_compute_slots(svc);
	cr_assert(!svc->empty && svc->families[1].empty);
	cr_assert_eq(announce_plan_build(pool, &w, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect(w[0].wanted, "IPv4 still has its backend");
	cr_expect(!w[1].wanted, "IPv6 has none");
	cr_expect_str_eq(w[1].blocked_by, "web");
	free(w);
	pool_free(pool);
	result_free(&r);
}
