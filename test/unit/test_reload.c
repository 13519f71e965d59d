/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reload planning: which state a new pool takes over from the running one
 * (marks, health, admin state, runtime weights), and whether the kernel
 * needs slot deltas or a new table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/reload_plan.h"
#include "knlb/sched/sched.h"

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\n"
#define DNS "[service dns]\nvip = 192.0.2.53\nport = 53\nproto = udp\ncheck = none\n"
#define B1 "backend = 10.0.0.11:8080 id=b1\n"
#define B2 "backend = 10.0.0.12:8080 id=b2\n"
#define B3 "backend = 10.0.0.13:8080 id=b3\n"
#define D1 "backend = 10.0.0.21:53\n"

struct world {
	struct result r;
	struct knlb_model *pool;
};

static struct world make(const char *text)
{
	struct world w = { .r = load_ok(text) };

	cr_assert_eq(pool_create(w.r.cfg, &w.pool), 0);
	return w;
}

static void unmake(struct world *w)
{
	pool_free(w->pool);
	result_free(&w->r);
}

static struct reload_plan plan_of(struct world *old, struct world *new)
{
	struct reload_plan plan;
	char err[256] = "";

	cr_assert_eq(reload_plan_build(old->pool, new->pool, 0, &plan, err,
				       sizeof(err)), 0, "%s", err);
	return plan;
}

Test(reload, same_file_is_slots_only_and_moves_nothing)
{
	struct world a = make(WEB B1 B2 DNS D1), b = make(WEB B1 B2 DNS D1);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.kind, RELOAD_SLOTS);
	cr_expect_eq(plan.backends_added + plan.backends_removed + plan.services_added +
		     plan.services_removed + plan.weights_changed, 0);
	for (size_t s = 0; s < 2; s++) {
		cr_expect_eq(b.pool->services[s].ct_mark, a.pool->services[s].ct_mark);
		cr_expect_eq(memcmp(a.pool->services[s].slots, b.pool->services[s].slots,
				    a.pool->services[s].cfg->table_size * 4), 0);
	}
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, health_admin_and_runtime_weight_carry_over)
{
	struct world a = make(WEB B1 B2 B3), b = make(WEB B1 B2 B3);
	struct knlb_service *sa = &a.pool->services[0], *sb = &b.pool->services[0];
	struct reload_plan plan;

	pool_set_health(sa, 0, false, 0);
	pool_set_admin(sa, 1, KNLB_ADMIN_DRAIN, 0);
	pool_set_weight(sa, 2, 7, 0);
	cr_assert_eq(pool_compute_slots(sa), 0);
	plan = plan_of(&a, &b);
	cr_expect_eq(plan.kind, RELOAD_SLOTS);
	cr_expect(!sb->backends[0].up, "a down backend must not come back up on reload");
	cr_expect_eq(sb->backends[1].admin, KNLB_ADMIN_DRAIN);
	cr_expect_eq(sb->backends[2].weight, 7);
	cr_expect(sb->backends[2].weight_set);
	cr_expect_eq(plan.runtime_weights_kept, 1);
	/* and the slots are what the running pool wanted */
	cr_expect_eq(memcmp(sa->slots, sb->slots, sa->cfg->table_size * 4), 0);
	cr_expect_eq(pool_slots_of(sb, 0), 0);
	cr_expect_eq(pool_slots_of(sb, 1), 0);
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, a_weight_changed_in_the_file_wins_over_the_runtime_one)
{
	struct world a = make(WEB B1 "backend = 10.0.0.12:8080 id=b2 weight=1\n"),
		     b = make(WEB B1 "backend = 10.0.0.12:8080 id=b2 weight=4\n");
	struct reload_plan plan;

	pool_set_weight(&a.pool->services[0], 1, 9, 0);
	plan = plan_of(&a, &b);
	cr_expect_eq(b.pool->services[0].backends[1].weight, 4);
	cr_expect(!b.pool->services[0].backends[1].weight_set);
	cr_expect_eq(plan.weights_changed, 1);
	cr_expect_eq(plan.runtime_weights_dropped, 1);
	cr_expect_eq(plan.kind, RELOAD_SLOTS);
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, adding_and_removing_backends_maps_indexes_by_id)
{
	struct world a = make(WEB B1 B2 B3), b = make(WEB B3 "backend = 10.0.0.14:8080 id=b4\n" B1);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.kind, RELOAD_SLOTS);
	cr_expect_eq(plan.backends_added, 1);
	cr_expect_eq(plan.backends_removed, 1);
	cr_expect_eq(reload_backend_from(&plan, 0, 0), 2);	/* b3 */
	cr_expect_eq(reload_backend_from(&plan, 0, 1), -1);	/* b4 is new */
	cr_expect_eq(reload_backend_from(&plan, 0, 2), 0);	/* b1 */
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, marks_stay_with_service_names_and_new_services_take_a_free_one)
{
	/* dns removed from the middle, mail added: web keeps 1, ntp keeps 3 */
	struct world a = make(WEB B1 DNS D1 "[service ntp]\nvip = 192.0.2.123\nport = 123\nproto = udp\n" D1);
	struct world b = make("[service mail]\nvip = 192.0.2.25\nport = 25\n" B1
			      "[service ntp]\nvip = 192.0.2.123\nport = 123\nproto = udp\n" D1 WEB B1);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.kind, RELOAD_STRUCTURE);
	cr_expect_eq(plan.services_added, 1);
	cr_expect_eq(plan.services_removed, 1);
	cr_expect_eq(pool_find_service(b.pool, "web")->ct_mark, 1);
	cr_expect_eq(pool_find_service(b.pool, "ntp")->ct_mark, 3);
	cr_expect_eq(pool_find_service(b.pool, "mail")->ct_mark, 2, "the mark dns left");
	cr_expect(strstr(plan.why, "mail") || strstr(plan.why, "dns"), "%s", plan.why);
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, a_rule_change_is_structural_and_named)
{
	struct world a = make(WEB B1 B2), b = make("[service web]\nvip = 192.0.2.11\nport = 80\ncheck = tcp\n" B1 B2);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.kind, RELOAD_STRUCTURE);
	cr_expect_eq(plan.services_changed, 1);
	cr_expect_str_eq(plan.why, "service web: vip changed");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, check_none_brings_a_down_backend_up)
{
	struct world a = make(WEB B1 B2), b = make("[service web]\nvip = 192.0.2.10\nport = 80\n" B1 B2);
	struct reload_plan plan;

	pool_set_health(&a.pool->services[0], 0, false, 0);
	plan = plan_of(&a, &b);
	cr_expect(b.pool->services[0].backends[0].up);
	cr_expect_gt(pool_slots_of(&b.pool->services[0], 0), 0);
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

/* Issue 15: track = off changes the service chain's event mask. */
Test(reload, track_change_is_structural)
{
	struct world a = make(WEB B1 B2), b = make(WEB "track = off\n" B1 B2);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.kind, RELOAD_STRUCTURE);
	cr_expect_str_eq(plan.why, "service web: track changed");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, table_and_mark_mask_changes_are_refused)
{
	struct world a = make(WEB B1), b = make("[global]\ntable = other\n" WEB B1),
		     c = make("[global]\nct_mark_mask = 0xff000000\n" WEB B1);
	char err[256];

	cr_expect_eq(reload_check(a.r.cfg, b.r.cfg, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "table changed from knlb to other") &&
		  strstr(err, "restart"), "%s", err);
	cr_expect_eq(reload_check(a.r.cfg, c.r.cfg, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "ct_mark_mask"), "%s", err);
	cr_expect_eq(reload_check(a.r.cfg, a.r.cfg, err, sizeof(err)), 0);
	unmake(&a);
	unmake(&b);
	unmake(&c);
}

/*
 * The counting chains come and go only with the table's replace at a
 * start: a reload says so and keeps running as it was.
 */
Test(reload, traffic_counters_change_is_refused)
{
	struct world a = make(WEB B1), b = make("[global]\ntraffic_counters = no\n" WEB B1);
	char err[256];

	cr_expect(a.r.cfg->global.traffic_counters, "the default counts traffic");
	cr_expect_not(b.r.cfg->global.traffic_counters);
	cr_expect_eq(reload_check(a.r.cfg, b.r.cfg, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "traffic_counters changed") && strstr(err, "restart"),
		  "%s", err);
	cr_expect_eq(reload_check(b.r.cfg, a.r.cfg, err, sizeof(err)), -EINVAL);
	cr_expect_eq(reload_check(b.r.cfg, b.r.cfg, err, sizeof(err)), 0);
	unmake(&a);
	unmake(&b);
}

/* Issue 13: the summary named only the first of two removed services. */
Test(reload, every_removed_service_is_named)
{
	struct world a = make(WEB B1 DNS D1 "[service ntp]\nvip = 192.0.2.123\nport = 123\nproto = udp\n" D1);
	struct world b = make(WEB B1);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.kind, RELOAD_STRUCTURE);
	cr_expect_eq(plan.services_removed, 2);
	cr_expect_str_eq(plan.why, "services dns, ntp removed");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

static char *services(const char *prefix, int from, int to)
{
	static char text[8192];
	size_t off = 0;

	text[0] = '\0';
	for (int i = from; i < to; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"[service %s%d]\nvip = 192.0.2.%d\nport = 80\ncheck = none\n" D1,
					prefix, i, i + 1);
	return text;
}

Test(reload, many_removed_services_are_named_up_to_a_cap)
{
	char old[8192];
	struct world a, b;
	struct reload_plan plan;

	snprintf(old, sizeof(old), "%s", services("s", 0, 9));
	a = make(old);
	b = make(services("s", 8, 9));
	plan = plan_of(&a, &b);
	cr_expect_eq(plan.services_removed, 8);
	cr_expect_str_eq(plan.why, "services s0, s1, s2, s3, s4 and 3 more removed");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, removed_added_and_changed_are_all_named)
{
	struct world a = make(WEB B1 DNS D1 "[service ntp]\nvip = 192.0.2.123\nport = 123\nproto = udp\n" D1);
	struct world b = make("[service web]\nvip = 192.0.2.10\nport = 81\ncheck = tcp\n" B1
			      "[service mail]\nvip = 192.0.2.25\nport = 25\n" B1);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_str_eq(plan.why,
			 "services dns, ntp removed; service mail added; service web: port changed");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, two_changed_services_name_what_changed)
{
	struct world a = make(WEB B1 DNS D1);
	struct world b = make("[service web]\nvip = 192.0.2.11\nport = 80\ncheck = tcp\n" B1
			      "[service dns]\nvip = 192.0.2.53\nport = 5353\nproto = udp\ncheck = none\n" D1);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.services_changed, 2);
	cr_expect_str_eq(plan.why, "services web (vip), dns (port) changed");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

/* IPv6 (issue 14): a VIP of a new family is structural, a backend is not. */
#define WEB6 "vip = 2001:db8:100::10\n"
#define B61 "backend = [2001:db8:1::11]:8080 id=b61\n"
#define B62 "backend = [2001:db8:1::12]:8080 id=b62\n"

Test(reload, adding_an_ipv6_vip_is_structural_and_named)
{
	struct world a = make(WEB B1 B2), b = make(WEB WEB6 B1 B2 B61);
	struct reload_plan plan = plan_of(&a, &b);

	cr_expect_eq(plan.kind, RELOAD_STRUCTURE);
	cr_expect_str_eq(plan.why, "service web: vip changed");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}

Test(reload, an_ipv6_backend_added_is_a_delta_in_the_ipv6_table_only)
{
	struct world a = make(WEB WEB6 B1 B2 B61), b = make(WEB WEB6 B1 B2 B61 B62);
	struct reload_plan plan = plan_of(&a, &b);
	const struct knlb_service *o = &a.pool->services[0], *n = &b.pool->services[0];
	uint32_t m = o->cfg->table_size;

	cr_expect_eq(plan.kind, RELOAD_SLOTS);
	cr_expect_eq(plan.backends_added, 1);
	cr_expect_eq(memcmp(o->slots, n->slots, m * 4), 0, "the IPv4 table moved");
	cr_expect_neq(memcmp(o->slots + m, n->slots + m, m * 4), 0,
		      "the new IPv6 backend got no slot");
	reload_plan_free(&plan);
	unmake(&a);
	unmake(&b);
}
