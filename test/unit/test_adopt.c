/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Adoption of a running table, the pure half: synthetic read-backs (what
 * adopt_read() would return) turned into starting health and marks, the
 * line the operator reads, and what health then does with the verdicts.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/nft/readback.h"
#include "knlb/health/health.h"
#include "knlb/lib/loop.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/adopt_plan.h"
#include "knlb/sched/sched.h"

/* A read-back being built by a test: up to 4 services of 8 values. */
struct fake {
	struct adopt_table t;
	struct adopt_service svc[4];
	struct adopt_backend be[4][8];
};

static struct adopt_service *fake_service(struct fake *f, const char *name)
{
	struct adopt_service *s = &f->svc[f->t.n_services];

	cr_assert_lt(f->t.n_services, 4);
	f->t.exists = true;
	f->t.services = f->svc;
	memset(s, 0, sizeof(*s));
	strcpy(s->name, name);
	s->mapped = f->be[f->t.n_services];
	f->t.n_services++;
	return s;
}

/* The map of s holds addr:port on n slots. */
static void fake_map(struct adopt_service *s, const char *addr, uint16_t port,
		     uint32_t n)
{
	struct adopt_backend *b = &s->mapped[s->n_mapped++];

	s->has_map = true;
	b->addr.family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, addr, &b->addr.in), 1);
	b->port = port;
	b->slots = n;
	s->n_elements += n;
}

static void fake_mark(struct adopt_service *s, uint32_t mark, uint32_t mask)
{
	s->has_chain = true;
	s->has_mark = true;
	s->mark = mark;
	s->mark_mask = mask;
}

/* What the kernel holds after programming svc: its map, counted. */
static void fake_from_pool(struct fake *f, const struct knlb_service *svc)
{
	struct adopt_service *s = fake_service(f, svc->cfg->name);
	uint32_t counts[8];

	cr_assert_leq(svc->n_backends, 8);
	pool_count_slots(svc, counts);
	s->has_map = true;
	for (size_t b = 0; b < svc->n_backends; b++) {
		struct adopt_backend *be;

		if (!counts[b])
			continue;
		be = &s->mapped[s->n_mapped++];
		be->addr = svc->backends[b].cfg->addr;
		be->port = svc->backends[b].cfg->port;
		be->slots = counts[b];
		s->n_elements += counts[b];
	}
	fake_mark(s, svc->ct_mark, svc->ct_mark_mask);
}

struct rig {
	struct result r;
	struct knlb_model *pool;
	struct pool_adopt_result res;
	char line[1024];
};

static void rig_up(struct rig *g, const char *conf)
{
	g->r = load_ok(conf);
	cr_assert_eq(pool_create(g->r.cfg, &g->pool), 0);
}

static void rig_adopt(struct rig *g, const struct fake *f)
{
	cr_assert_eq(pool_adopt(g->pool, f ? &f->t : NULL, &g->res), 0);
}

static const char *rig_line(struct rig *g, const struct fake *f, size_t s)
{
	pool_adopt_describe(g->pool, s, &f->t, &g->res, g->line, sizeof(g->line));
	return g->line;
}

static void rig_down(struct rig *g)
{
	pool_free(g->pool);
	result_free(&g->r);
}

#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n" \
	"check = tcp\nrise = 2\nfall = 3\n"
#define B1 "backend = 10.0.0.11:8080 id=b1\n"
#define B2 "backend = 10.0.0.12:8080 id=b2\n"
#define B3 "backend = 10.0.0.13:8080 id=b3\n"
#define B4 "backend = 10.0.0.14:8080 id=b4\n"
#define API "[service api]\nvip = 192.0.2.10\nport = 443\ntable_size = 61\n" \
	"backend = 10.0.0.21:8443\n"
#define DNS "[service dns]\nvip = 192.0.2.53\nport = 53\nproto = udp\n" \
	"table_size = 31\nbackend = 10.0.0.31:53\n"

Test(adopt, no_table_keeps_everything_up_in_config_order)
{
	struct fake f = { 0 };	/* exists = false: ENOENT at read */
	struct rig g;

	rig_up(&g, WEB B1 B2 API);
	rig_adopt(&g, &f);
	cr_expect(!g.res.table);
	cr_expect(g.pool->services[0].backends[0].up);
	cr_expect(g.pool->services[0].backends[1].up);
	cr_expect_eq(g.pool->services[0].ct_mark, 1);
	cr_expect_eq(g.pool->services[1].ct_mark, 2);
	rig_adopt(&g, NULL);
	cr_expect(!g.res.table);
	rig_down(&g);
}

Test(adopt, unmapped_backend_starts_down_and_gets_no_slot)
{
	struct fake f = { 0 };
	struct adopt_service *s;
	struct rig g;

	rig_up(&g, WEB B1 B2 B3 B4);
	s = fake_service(&f, "web");
	fake_map(s, "10.0.0.11", 8080, 340);
	fake_map(s, "10.0.0.12", 8080, 340);
	fake_map(s, "10.0.0.13", 8080, 341);
	fake_mark(s, 1, UINT32_MAX);
	rig_adopt(&g, &f);
	cr_expect(g.res.table);
	cr_expect(!g.res.marks_reset);
	for (size_t b = 0; b < 3; b++)
		cr_expect(g.pool->services[0].backends[b].up, "b%zu", b + 1);
	cr_expect(!g.pool->services[0].backends[3].up, "b4 is not mapped: down");
	cr_expect_eq(pool_slots_of(&g.pool->services[0], 3), 0);
	cr_expect_eq(pool_slots_of(&g.pool->services[0], 0) +
		     pool_slots_of(&g.pool->services[0], 1) +
		     pool_slots_of(&g.pool->services[0], 2), 1021);
	cr_expect(!g.pool->services[0].dirty, "slots are computed");
	cr_expect_str_eq(rig_line(&g, &f, 0),
			 "service web: adopted from the running table: mark 0x00000001, 3 of 4 backends mapped; b4 starts down until its probes pass");
	rig_down(&g);
}

/* The replace then writes what the kernel has: a restart moves no slot. */
Test(adopt, restart_recomputes_the_running_slots_exactly)
{
	struct knlb_model *before;
	struct fake f = { 0 };
	struct rig g;

	rig_up(&g, WEB B1 B2 B3 B4);
	cr_assert_eq(pool_create(g.r.cfg, &before), 0);
	pool_set_health(&before->services[0], 1, false, 0);
	cr_assert_eq(pool_compute_slots(&before->services[0]), 0);
	fake_from_pool(&f, &before->services[0]);
	rig_adopt(&g, &f);
	cr_expect(!g.pool->services[0].backends[1].up);
	cr_expect_arr_eq(g.pool->services[0].slots, before->services[0].slots,
			 1021 * sizeof(uint32_t), "a slot moved at restart");
	pool_free(before);
	rig_down(&g);
}

Test(adopt, service_without_a_map_keeps_all_up)
{
	struct fake f = { 0 };
	struct adopt_service *s;
	struct rig g;

	rig_up(&g, WEB B1 B2 API);
	s = fake_service(&f, "api");	/* the table knows api only */
	fake_map(s, "10.0.0.99", 8443, 61);
	fake_mark(s, 1, UINT32_MAX);
	rig_adopt(&g, &f);
	cr_expect(g.pool->services[0].backends[0].up);
	cr_expect(g.pool->services[0].backends[1].up);
	cr_expect_eq(g.pool->services[1].ct_mark, 1, "api keeps its running mark");
	cr_expect_eq(g.pool->services[0].ct_mark, 2, "web takes the lowest free");
	cr_expect_str_eq(rig_line(&g, &f, 0),
			 "service web: not in the running table: mark 0x00000002 (new: lowest free), backends start up");
	/* api has no check: its unmapped backend cannot be brought back by probes */
	cr_expect(g.pool->services[1].backends[0].up);
	cr_expect_str_eq(rig_line(&g, &f, 1),
			 "service api: adopted from the running table: mark 0x00000001, 0 of 1 backends mapped (and 1 mapped addresses no longer in the config); 10.0.0.21:8443 not mapped but starts up (no check, or no slots even with every backend up)");
	rig_down(&g);
}

Test(adopt, empty_map_starts_everything_down)
{
	struct fake f = { 0 };
	struct adopt_service *s;
	struct rig g;

	rig_up(&g, WEB B1 B2 "backend = 10.0.0.19:8080 id=spare backup\n");
	s = fake_service(&f, "web");
	s->has_map = true;
	fake_mark(s, 1, UINT32_MAX);
	rig_adopt(&g, &f);
	for (size_t b = 0; b < 3; b++)
		cr_expect(!g.pool->services[0].backends[b].up, "backend %zu", b);
	cr_expect(g.pool->services[0].empty, "no usable backend: on_empty");
	cr_expect_str_eq(rig_line(&g, &f, 0),
			 "service web: adopted from the running table: mark 0x00000001, 0 of 3 backends mapped; b1, b2, spare start down until their probes pass");
	rig_down(&g);
}

Test(adopt, backup_standing_by_is_no_evidence)
{
	struct fake f = { 0 };
	struct adopt_service *s;
	struct rig g;

	rig_up(&g, WEB B1 B2 "backend = 10.0.0.19:8080 id=spare backup\n"
	       "backend = 10.0.0.18:8080 id=zero weight=0\n");
	s = fake_service(&f, "web");
	fake_map(s, "10.0.0.11", 8080, 510);
	fake_map(s, "10.0.0.12", 8080, 511);
	rig_adopt(&g, &f);
	cr_expect(g.pool->services[0].backends[2].up, "a backup on standby is unmapped, not dead");
	cr_expect(g.pool->services[0].backends[3].up, "weight=0 never gets a slot");
	cr_expect(!g.pool->services[0].on_backups);
	rig_down(&g);
}

Test(adopt, service_on_backups_adopts_the_backups_health)
{
	struct fake f = { 0 };
	struct adopt_service *s;
	struct rig g;

	rig_up(&g, WEB B1 "backend = 10.0.0.19:8080 id=s1 backup\n"
	       "backend = 10.0.0.18:8080 id=s2 backup\n");
	s = fake_service(&f, "web");
	fake_map(s, "10.0.0.19", 8080, 1021);	/* b1 down, s1 serving, s2 down */
	rig_adopt(&g, &f);
	cr_expect(!g.pool->services[0].backends[0].up);
	cr_expect(g.pool->services[0].backends[1].up);
	cr_expect(!g.pool->services[0].backends[2].up, "no primary was mapped: s2 was down");
	cr_expect(g.pool->services[0].on_backups);
	cr_expect_eq(pool_slots_of(&g.pool->services[0], 1), 1021);
	rig_down(&g);
}

Test(adopt, check_none_keeps_an_unmapped_backend_up)
{
	struct fake f = { 0 };
	struct adopt_service *s;
	struct rig g;

	rig_up(&g, "[service web]\nvip = 192.0.2.10\nport = 80\n" B1 B2);
	s = fake_service(&f, "web");
	fake_map(s, "10.0.0.11", 8080, 16381);
	rig_adopt(&g, &f);
	cr_expect(g.pool->services[0].backends[1].up,
		  "without a check nothing would ever bring it back");
	rig_down(&g);
}

Test(adopt, marks_out_of_config_order_are_kept)
{
	struct fake f = { 0 };
	struct rig g;

	/* web, api, dns in the file; the kernel had dns=1, web=3 (after reloads) */
	rig_up(&g, WEB B1 API DNS);
	fake_mark(fake_service(&f, "dns"), 1, UINT32_MAX);
	fake_mark(fake_service(&f, "web"), 3, UINT32_MAX);
	f.svc[0].has_map = f.svc[1].has_map = true;
	rig_adopt(&g, &f);
	cr_expect(!g.res.marks_reset);
	cr_expect_eq(g.pool->services[0].ct_mark, 3);
	cr_expect_eq(g.pool->services[1].ct_mark, 2, "api: lowest free");
	cr_expect_eq(g.pool->services[2].ct_mark, 1);
	rig_down(&g);
}

Test(adopt, marks_under_a_mask_are_kept)
{
	struct fake f = { 0 };
	struct rig g;

	rig_up(&g, "[global]\nct_mark_mask = 0x0000ff00\n" WEB B1 API);
	fake_mark(fake_service(&f, "api"), 0x100, 0xff00);
	fake_mark(fake_service(&f, "web"), 0x500, 0xff00);
	rig_adopt(&g, &f);
	cr_expect(!g.res.marks_reset, "%s", g.res.why);
	cr_expect_eq(g.pool->services[0].ct_mark, 0x500);
	cr_expect_eq(g.pool->services[1].ct_mark, 0x100);
	rig_down(&g);
}

Test(adopt, shared_mark_falls_back_to_config_order)
{
	struct fake f = { 0 };
	struct rig g;

	rig_up(&g, WEB B1 API DNS);
	fake_mark(fake_service(&f, "dns"), 2, UINT32_MAX);
	fake_mark(fake_service(&f, "api"), 2, UINT32_MAX);
	rig_adopt(&g, &f);
	cr_expect(g.res.marks_reset);
	cr_expect_str_eq(g.res.why, "services api and dns both set ct mark 0x00000002");
	for (size_t s = 0; s < 3; s++)
		cr_expect_eq(g.pool->services[s].ct_mark, s + 1);
	cr_expect(strstr(rig_line(&g, &f, 0), "mark 0x00000001 (config order: the running marks cannot be kept)"),
		  "%s", g.line);
	rig_down(&g);
}

Test(adopt, mark_outside_the_mask_falls_back_to_config_order)
{
	struct fake f = { 0 };
	struct rig g;

	rig_up(&g, "[global]\nct_mark_mask = 0x0000ff00\n" WEB B1 API);
	fake_mark(fake_service(&f, "api"), 0x10000, 0xff00);
	rig_adopt(&g, &f);
	cr_expect(g.res.marks_reset);
	cr_expect_str_eq(g.res.why,
			 "service api: running ct mark 0x00010000 does not fit ct_mark_mask 0x0000ff00");
	cr_expect_eq(g.pool->services[0].ct_mark, 0x100);
	cr_expect_eq(g.pool->services[1].ct_mark, 0x200);
	rig_down(&g);
}

Test(adopt, another_mask_falls_back_to_config_order)
{
	struct fake f = { 0 };
	struct rig g;

	/* the table was written with the whole mark; the file now masks */
	rig_up(&g, "[global]\nct_mark_mask = 0x0000ff00\n" WEB B1 API);
	fake_mark(fake_service(&f, "web"), 0x200, UINT32_MAX);
	rig_adopt(&g, &f);
	cr_expect(g.res.marks_reset);
	cr_expect_str_eq(g.res.why,
			 "service web: the running rule sets ct mark under mask 0xffffffff, ct_mark_mask is 0x0000ff00");
	rig_down(&g);
}

Test(adopt, unrecognised_mark_takes_the_lowest_free)
{
	struct fake f = { 0 };
	struct adopt_service *s;
	struct rig g;

	rig_up(&g, WEB B1 API);
	fake_mark(fake_service(&f, "api"), 1, UINT32_MAX);
	s = fake_service(&f, "web");
	s->has_chain = true;		/* a rule we did not write */
	rig_adopt(&g, &f);
	cr_expect(!g.res.marks_reset);
	cr_expect_eq(g.pool->services[0].ct_mark, 2);
	cr_expect(strstr(rig_line(&g, &f, 0), "(the running rule's mark was not recognised: lowest free)"),
		  "%s", g.line);
	rig_down(&g);
}

/* Health starts from the adopted verdicts (health_new reads backends[].up). */
Test(adopt, adopted_down_needs_rise_adopted_up_falls_at_first_failure)
{
	struct check_result ok = { .status = CHECK_OK }, bad = { .status = CHECK_FAILED };
	struct fake f = { 0 };
	struct adopt_service *s;
	struct health *h;
	struct loop *loop;
	struct rig g;

	rig_up(&g, WEB B1 B2);
	s = fake_service(&f, "web");
	fake_map(s, "10.0.0.11", 8080, 1021);
	rig_adopt(&g, &f);
	cr_assert_eq(loop_new(&loop), 0);
	cr_assert_eq(health_new(loop, g.pool, NULL, &h), 0);
	strcpy(ok.reason, "ok");
	strcpy(bad.reason, "connect refused");
	cr_expect(!health_backend(h, 0, 1)->counter.up);
	cr_expect_eq(health_result(h, 0, 1, &ok), HEALTH_NO_CHANGE, "rise = 2: one is not enough");
	cr_expect(!g.pool->services[0].backends[1].up);
	cr_expect_eq(health_result(h, 0, 1, &ok), HEALTH_WENT_UP);
	cr_expect(g.pool->services[0].backends[1].up);
	cr_expect_eq(health_result(h, 0, 0, &bad), HEALTH_WENT_DOWN,
		     "adopted up, no verdict yet: down at its first failure");
	health_free(h);
	loop_free(loop);
	rig_down(&g);
}
