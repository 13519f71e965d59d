/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IPv6 and dual-stack services in the kernel, each test in a throwaway
 * netns: conf/dual-stack.conf programmed and read back (adopt), a delta
 * when an IPv6 backend goes down that leaves the IPv4 table alone, on_empty
 * per family (flush of one IPv6 backend's flows: test_flush.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/loop.h"
#include "knlb/nft/commit.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/readback.h"
#include "knlb/nft/sync.h"
#include "knlb/pool/adopt_plan.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "kt.h"

TestSuite(ipv6, .init = kt_enter_netns, .timeout = 90);

/* The dual-stack example: web (4 + 6, maglev), dns6 (6 only, wrr). */
#define WEB 0
#define WEB_V4_B1 0	/* 10.0.0.11:8080 */
#define WEB_V6_B1 2	/* [2001:db8:1::11]:8080 */
#define WEB_V6_B2 3	/* [2001:db8:1::12]:8080 */

static char *sh(const char *cmd)
{
	int status;
	char *out = kt_run(cmd, &status);

	cr_assert_eq(status, 0, "%s failed:\n%s", cmd, out);
	return out;
}

/* conf/dual-stack.conf's web with health checks: adoption trusts the map then. */
#define CHECKED_DUAL \
	"[service web]\nvip = 192.0.2.10\nvip = 2001:db8:100::10\nport = 80\n" \
	"hash_key = 5-tuple\ntable_size = 13\ncheck = tcp\n" \
	"backend = 10.0.0.11:8080 weight=2\nbackend = 10.0.0.12:8080\n" \
	"backend = [2001:db8:1::11]:8080 weight=2\n" \
	"backend = [2001:db8:1::12]:8080 id=web6-b\n" \
	"[service dns6]\nvip = 2001:db8:100::53\nport = 53\nproto = udp\n" \
	"scheduler = wrr\ntable_size = 7\nbackend = [2001:db8:1::21]:53\n"

static void load_checked(struct knlb_config **config, struct knlb_model **pool)
{
	FILE *f = fmemopen((void *)CHECKED_DUAL, strlen(CHECKED_DUAL), "r");

	cr_assert_not_null(f);
	cr_assert_eq(config_load_stream(f, "dual.conf", config, stderr), 0);
	fclose(f);
	cr_assert_eq(pool_create(*config, pool), 0);
}

/* Programmed, read back and adopted by a fresh pool: the same tables. */
Test(ipv6, dual_stack_table_is_read_back_and_adopted)
{
	struct knlb_config *config, *config2;
	struct knlb_model *pool, *fresh;
	struct pool_adopt_result res;
	const struct adopt_service *as;
	struct adopt_table *t;
	char err[512];

	load_checked(&config, &pool);
	pool_set_health(&pool->services[WEB], WEB_V6_B1, false, 0);
	cr_assert_eq(pool_compute_slots(&pool->services[WEB]), 0);
	kt_replace(pool);

	cr_assert_eq(adopt_read("knlb", &t, err, sizeof(err)), 0, "%s", err);
	as = adopt_find(t, "web");
	cr_assert_not_null(as);
	cr_expect_eq(as->maps, 1u << KNLB_FAMILY_IPV4 | 1u << KNLB_FAMILY_IPV6);
	cr_expect_eq(as->n_elements, 2 * pool->services[WEB].cfg->table_size,
		     "both families' slots read back");
	cr_expect_eq(adopt_slots_of(as, &pool->services[WEB].backends[WEB_V6_B1].cfg->addr,
				    8080), 0, "the down IPv6 backend is mapped");
	cr_expect_eq(adopt_slots_of(as, &pool->services[WEB].backends[WEB_V6_B2].cfg->addr,
				    8080), pool->services[WEB].cfg->table_size,
		     "the other IPv6 backend holds every IPv6 slot");
	cr_expect_eq(adopt_find(t, "dns6")->maps, 1u << KNLB_FAMILY_IPV6);

	load_checked(&config2, &fresh);
	cr_assert_eq(pool_adopt(fresh, t, &res), 0);
	cr_expect(!fresh->services[WEB].backends[WEB_V6_B1].up,
		  "adopted as down from the running map");
	for (size_t s = 0; s < pool->n_services; s++) {
		cr_expect_eq(fresh->services[s].ct_mark, pool->services[s].ct_mark);
		cr_expect_arr_eq(fresh->services[s].slots, pool->services[s].slots,
				 pool_slots_len(&pool->services[s]) * sizeof(uint32_t),
				 "service %s", pool->services[s].cfg->name);
	}
	adopt_table_free(t);
	pool_free(fresh);
	config_free(config2);
	pool_free(pool);
	config_free(config);
}

struct rig {
	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *sock;
	struct loop *loop;
	struct committer *committer;
};

static void rig_up(struct rig *g)
{
	struct sync_result res;
	char err[512];

	kt_load("conf/dual-stack.conf", &g->config, &g->pool);
	cr_assert_eq(nfnl_sock_open(&g->sock), 0);
	cr_assert_eq(sync_replace(g->sock, g->pool, &res, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(loop_new(&g->loop), 0);
	cr_assert_eq(committer_new(g->loop, g->pool, g->sock, &g->committer), 0);
}

static void rig_down(struct rig *g)
{
	committer_free(g->committer);
	loop_free(g->loop);
	nfnl_sock_close(g->sock);
	pool_free(g->pool);
	config_free(g->config);
}

/* A health verdict on web's backend b, as the health layer applies it. */
static void verdict(struct rig *g, size_t b, bool up)
{
	cr_assert(pool_set_health(&g->pool->services[WEB], b, up, 0),
		  "backend %zu: no weight changed", b);
}

static void expect_kernel_is_the_model(struct rig *g)
{
	char *listed = kt_normalize_free(kt_nft_list("knlb"));
	char *rendered = kt_normalize_free(kt_render(g->pool));

	cr_expect_str_eq(listed, rendered, "kernel differs from the desired state");
	free(listed);
	free(rendered);
}

/* An IPv6 backend dies: IPv6 slots move in one transaction, IPv4's do not. */
Test(ipv6, a_dead_ipv6_backend_moves_only_ipv6_slots)
{
	struct rig g;
	struct commit_stats st;
	const struct knlb_service *svc;
	uint32_t m, *before, gen;

	rig_up(&g);
	svc = &g.pool->services[WEB];
	m = svc->cfg->table_size;
	before = malloc(pool_slots_len(svc) * sizeof(*before));
	memcpy(before, svc->slots, pool_slots_len(svc) * sizeof(*before));

	gen = kt_nft_genid();
	verdict(&g, WEB_V6_B1, false);
	committer_run(g.committer);
	committer_get_stats(g.committer, &st);
	cr_expect_eq(kt_nft_genid(), gen + 1, "one transaction");
	cr_expect_arr_eq(svc->slots, before, m * sizeof(*before),
			 "the IPv4 table moved");
	for (uint32_t i = 0; i < m; i++)
		cr_expect_eq(svc->slots[m + i], WEB_V6_B2, "IPv6 slot %u", i);
	cr_expect_gt(st.last_moved, 0);
	expect_kernel_is_the_model(&g);

	/* The last IPv6 backend dies: only the IPv6 VIP goes on_empty. */
	verdict(&g, WEB_V6_B2, false);
	committer_run(g.committer);
	{
		char *v6 = sh("nft list set inet knlb empty_reject6");
		char *v4 = sh("nft list set inet knlb empty_reject");

		cr_expect(strstr(v6, "2001:db8:100::10 . tcp . 80"), "%s", v6);
		cr_expect(!strstr(v4, "192.0.2.10"), "the IPv4 VIP still serves:\n%s", v4);
		free(v6);
		free(v4);
	}
	expect_kernel_is_the_model(&g);
	verdict(&g, WEB_V6_B1, true);
	committer_run(g.committer);
	{
		char *v6 = sh("nft list set inet knlb empty_reject6");

		cr_expect(!strstr(v6, "2001:db8:100::10"), "still rejected:\n%s", v6);
		free(v6);
	}
	expect_kernel_is_the_model(&g);
	free(before);
	rig_down(&g);
}
