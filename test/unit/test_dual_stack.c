/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IPv6 and dual-stack services (issue 14): what the operator writes, what
 * the config accepts or refuses (with FILE:LINE), and the rule that each
 * family of a dual-stack service is balanced over its own backends with a
 * slot table of its own, identical to the table of a one-family service
 * with the same backends and seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/lib/addr.h"
#include "knlb/nft/render.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "config-test.h"

#define DUAL \
	"[service web]\n"			/* 1 */	\
	"vip = 192.0.2.10\n"			/* 2 */	\
	"vip = 2001:db8:100::10\n"		/* 3 */	\
	"port = 80\n"				/* 4 */	\
	"backend = 10.0.0.11:8080 weight=2\n"	/* 5 */	\
	"backend = [2001:db8:1::11]:8080 weight=2\n" /* 6 */ \
	"backend = 10.0.0.12:8080\n"		/* 7 */	\
	"backend = [2001:db8:1::12]:8080 id=b6\n" /* 8 */

Test(dual_stack, one_service_two_vips_and_both_families_of_backends)
{
	struct result r = load_ok(DUAL "snat = 10.0.0.1 2001:db8:1::1\n");
	const struct knlb_service_config *s = &r.cfg->services[0];
	char buf[CONFIG_VIPS_STRLEN];

	cr_expect(config_service_has_family(s, KNLB_FAMILY_IPV4));
	cr_expect(config_service_has_family(s, KNLB_FAMILY_IPV6));
	cr_expect_eq(s->vip_line[KNLB_FAMILY_IPV4], 2);
	cr_expect_eq(s->vip_line[KNLB_FAMILY_IPV6], 3);
	cr_expect_str_eq(config_service_vips(s, buf, sizeof(buf)),
			 "192.0.2.10:80,[2001:db8:100::10]:80");
	cr_expect_eq(s->snat, KNLB_SNAT_ADDRESS);
	cr_expect_str_eq(addr_format(&s->snat_addr[KNLB_FAMILY_IPV6], buf, sizeof(buf)),
			 "2001:db8:1::1");
	/* An IPv6 backend without id= is named by its bracketed endpoint. */
	cr_expect_str_eq(s->backends[1].id, "[2001:db8:1::11]:8080");
	result_free(&r);
}

Test(dual_stack, snat_addresses_on_two_lines)
{
	struct result r = load_ok(DUAL "snat = 2001:db8:1::1\nsnat = 10.0.0.1\n");
	char buf[KNLB_ADDRSTRLEN];

	cr_expect_str_eq(addr_format(&r.cfg->services[0].snat_addr[KNLB_FAMILY_IPV4],
				     buf, sizeof(buf)), "10.0.0.1");
	result_free(&r);
}

Test(dual_stack, ipv6_only_service)
{
	struct result r = load_ok("[service dns]\nvip = 2001:db8::53\nport = 53\n"
				  "proto = udp\nsnat = masquerade\n"
				  "backend = [2001:db8:1::21]:53\n");

	cr_expect(!config_service_has_family(&r.cfg->services[0], KNLB_FAMILY_IPV4));
	cr_expect(config_service_has_family(&r.cfg->services[0], KNLB_FAMILY_IPV6));
	result_free(&r);
}

Test(dual_stack, errors_name_the_line)
{
	expect_only_error(DUAL "vip = 2001:db8:100::11\n", "test.conf:9: ",
			  "vip 2001:db8:100::11: service web already has an IPv6 vip (line 3); one vip per family");
	expect_only_error(DUAL "snat = 10.0.0.1\n", "test.conf:9: ",
			  "snat of service web has no IPv6 address for its IPv6 vip 2001:db8:100::10 (give one per family, or snat = masquerade)");
	expect_only_error(DUAL "snat = 10.0.0.1 10.0.0.2\n", "test.conf:9: ",
			  "snat 10.0.0.2: service web already has an IPv4 snat address; one per family");
	expect_only_error(DUAL "snat = masquerade\nsnat = 10.0.0.1\n", "test.conf:10: ",
			  "snat repeated in [service web] (first set on line 9); only addresses of the other family may follow");
	expect_only_error(DUAL "snat = 10.0.0.1 2001:db8:1::1 10.0.0.2\n", "test.conf:9: ",
			  "snat has more than 2 addresses: at most one per family");
	/* A VIP family no backend serves. */
	expect_only_error("[service web]\nvip = 192.0.2.10\nvip = 2001:db8::10\nport = 80\n"
			  "backend = 10.0.0.11:8080\n", "test.conf:3: ",
			  "vip 2001:db8::10 of service web has no IPv6 backend: add one, or remove the vip");
	/* The same IPv6 VIP, port and proto in two services. */
	expect_only_error(DUAL "[service other]\nvip = 2001:db8:100::10\nport = 80\n"
			  "backend = [2001:db8:1::31]:80\n", "test.conf:10: ",
			  "[2001:db8:100::10]:80/tcp is already used by service web (line 1)");
	/* The same IPv6 backend twice, however it is spelled. */
	expect_only_error(DUAL "backend = [2001:db8:1:0::11]:8080\n", "test.conf:9: ",
			  "backend [2001:db8:1::11]:8080 is already listed on line 6");
}

/* The pool of a config text, loaded and built; freed by the caller. */
static struct knlb_model *pool_of(const char *text, struct result *r)
{
	struct knlb_model *pool;

	*r = load_ok(text);
	cr_assert_eq(pool_create(r->cfg, &pool), 0);
	return pool;
}

/* The family table of svc as endpoints, so two pools can be compared. */
static void family_endpoints(const struct knlb_service *svc, enum knlb_family f,
			     char (*out)[KNLB_ADDRSTRLEN])
{
	const struct knlb_service_family *fam = pool_service_family(svc, f);

	cr_assert_not_null(fam);
	for (uint32_t i = 0; i < svc->cfg->table_size; i++) {
		const struct knlb_backend_config *b;

		cr_assert_neq(fam->slots[i], SCHED_SLOT_EMPTY);
		b = svc->backends[fam->slots[i]].cfg;
		cr_assert_eq(addr_family_index(&b->addr), f,
			     "slot %u of the %s table maps to %s", i,
			     addr_family_name(f), b->id);
		addr_port_format(&b->addr, b->port, out[i], KNLB_ADDRSTRLEN);
	}
}

static void expect_same_family_table(const char *sched)
{
	char dual_text[1024], one_text[512];
	char (*a)[KNLB_ADDRSTRLEN] = calloc(1021, KNLB_ADDRSTRLEN);
	char (*b)[KNLB_ADDRSTRLEN] = calloc(1021, KNLB_ADDRSTRLEN);
	struct knlb_model *dual, *one;
	struct result rd, ro;

	snprintf(dual_text, sizeof(dual_text),
		 DUAL "scheduler = %s\ntable_size = 1021\nhash_seed = 0x77\n", sched);
	snprintf(one_text, sizeof(one_text),
		 "[service web]\nvip = 2001:db8:100::10\nport = 80\n"
		 "backend = [2001:db8:1::11]:8080 weight=2\n"
		 "backend = [2001:db8:1::12]:8080 id=b6\n"
		 "scheduler = %s\ntable_size = 1021\nhash_seed = 0x77\n", sched);
	dual = pool_of(dual_text, &rd);
	one = pool_of(one_text, &ro);
	cr_assert_eq(dual->services[0].n_families, 2);
	cr_assert_eq(pool_slots_len(&dual->services[0]), 2 * 1021);
	family_endpoints(&dual->services[0], KNLB_FAMILY_IPV6, a);
	family_endpoints(&one->services[0], KNLB_FAMILY_IPV6, b);
	for (int i = 0; i < 1021; i++)
		cr_expect_str_eq(a[i], b[i], "%s: slot %d differs", sched, i);
	/* And the IPv4 table only holds IPv4 backends. */
	family_endpoints(&dual->services[0], KNLB_FAMILY_IPV4, a);
	pool_free(dual);
	pool_free(one);
	result_free(&rd);
	result_free(&ro);
	free(a);
	free(b);
}

Test(dual_stack, ipv6_table_equals_the_ipv6_only_service_maglev)
{
	expect_same_family_table("maglev");
}

Test(dual_stack, ipv6_table_equals_the_ipv6_only_service_wrr)
{
	expect_same_family_table("wrr");
}

/* Health, backups and on_empty are per family. */
Test(dual_stack, a_family_empties_alone)
{
	struct result r;
	struct knlb_model *pool = pool_of(DUAL, &r);
	struct knlb_service *svc = &pool->services[0];

	pool_set_health(svc, 1, false, 0);
	pool_set_health(svc, 3, false, 0);
	cr_expect(pool_service_family(svc, KNLB_FAMILY_IPV6)->empty);
	cr_expect(!pool_service_family(svc, KNLB_FAMILY_IPV4)->empty);
	cr_expect(!svc->empty, "the IPv4 VIP still serves");
	cr_expect_eq(pool_empty_families(svc), 1u << KNLB_FAMILY_IPV6);
	cr_assert_eq(pool_compute_slots(svc), 0);
	for (uint32_t i = 0; i < svc->cfg->table_size; i++) {
		cr_expect_eq(pool_service_family(svc, KNLB_FAMILY_IPV6)->slots[i],
			     SCHED_SLOT_EMPTY);
		cr_expect_neq(pool_service_family(svc, KNLB_FAMILY_IPV4)->slots[i],
			      SCHED_SLOT_EMPTY);
	}
	pool_set_health(svc, 0, false, 0);
	pool_set_health(svc, 2, false, 0);
	cr_expect(svc->empty);
	pool_free(pool);
	result_free(&r);
}

Test(dual_stack, backups_stand_by_per_family)
{
	struct result r;
	struct knlb_model *pool = pool_of(
		"[service web]\nvip = 192.0.2.10\nvip = 2001:db8::10\nport = 80\n"
		"backend = 10.0.0.11:80\nbackend = [2001:db8:1::11]:80\n"
		"backend = [2001:db8:1::99]:80 backup\n", &r);
	struct knlb_service *svc = &pool->services[0];

	cr_expect_eq(svc->backends[2].effective_weight, 0);
	/* The IPv6 primary fails: the IPv6 backup serves, IPv4 unchanged. */
	pool_set_health(svc, 1, false, 0);
	cr_expect_gt(svc->backends[2].effective_weight, 0);
	cr_expect(pool_service_family(svc, KNLB_FAMILY_IPV6)->on_backups);
	cr_expect(!pool_service_family(svc, KNLB_FAMILY_IPV4)->on_backups);
	pool_free(pool);
	result_free(&r);
}

/* knlbd --render of a dual-stack service: both families' objects. */
Test(dual_stack, render_has_both_families)
{
	struct result r;
	struct knlb_model *pool = pool_of(DUAL "snat = 10.0.0.1 2001:db8:1::1\n", &r);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_eq(render_ruleset(f, pool), 0);
	fclose(f);
	cr_expect(strstr(text, "\t\tip6 daddr . meta l4proto . th dport vmap @svc_dispatch6\n"));
	cr_expect(strstr(text, "typeof numgen inc mod 1021 : ip6 daddr . tcp dport\n"));
	cr_expect(strstr(text, "meta nfproto ipv6 meta l4proto tcp ct mark set 0x00000001 ct event set new,destroy,protoinfo dnat ip6 to jhash ip6 saddr . tcp sport mod 1021 seed 0x5eed map @web_slots6\n"));
	cr_expect(strstr(text, "meta nfproto ipv4 ct mark 0x00000001 snat ip to 10.0.0.1\n"));
	cr_expect(strstr(text, "meta nfproto ipv6 ct mark 0x00000001 snat ip6 to 2001:db8:1::1\n"));
	cr_expect(strstr(text, "reject with icmpv6 port-unreachable\n"));
	free(text);
	pool_free(pool);
	result_free(&r);
}

/* An IPv4-only configuration gets no IPv6 object at all. */
Test(dual_stack, ipv4_only_render_has_no_ipv6_objects)
{
	struct result r;
	struct knlb_model *pool = pool_of(SVC BE, &r);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_eq(render_ruleset(f, pool), 0);
	fclose(f);
	cr_expect_null(strstr(text, "ip6"));
	cr_expect_null(strstr(text, "dispatch6"));
	free(text);
	pool_free(pool);
	result_free(&r);
}
