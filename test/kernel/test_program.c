/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Programming the kernel: each test unshares a fresh network namespace,
 * programs a config through the real netlink path and reads it back with
 * the nft binary, the way an operator would look at it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"
#include "knlb/nft/nfnl.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"
#include "knlb/nft/ruleset.h"
#include "knlb/sched/sched.h"
#include "knlb/nft/sync.h"
#include "kt.h"

TestSuite(program, .init = kt_enter_netns, .timeout = 60);

static struct nfnl_sock *open_sock(void)
{
	struct nfnl_sock *sock;

	cr_assert_eq(nfnl_sock_open(&sock), 0);
	return sock;
}

static void replace(struct nfnl_sock *sock, const struct knlb_model *pool)
{
	struct sync_result res;
	char err[512];
	int ret = sync_replace(sock, pool, &res, err, sizeof(err));

	cr_assert_eq(ret, 0, "sync_replace: %d %s", ret, err);
}

/*
 * What the daemon's refresh does after a replace: fill the serving
 * backends' fallback maps, which the replace leaves empty (nft/sync.h).
 */
static void fill_fallbacks(struct nfnl_sock *sock, const struct knlb_model *pool)
{
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		struct fallback_state have;
		struct sync_result res;
		char err[512];

		if (!pool_has_fallback_maps(svc))
			continue;
		cr_assert_eq(fallback_state_init(&have, svc), 0);
		cr_assert_eq(sync_fallback_now(svc, &have), 0);
		cr_assert_eq(sync_fallback_refresh(sock, pool, svc, &have, NULL,
						   &res, err, sizeof(err)), 0, "%s", err);
		fallback_state_free(&have);
	}
}

/* The kernel listing and the offline render both equal the golden file. */
static void check_golden(const char *name)
{
	char conf[128], golden_rel[128], golden_path[512];
	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *sock = open_sock();
	char *golden, *listed, *rendered;

	snprintf(conf, sizeof(conf), "conf/%s.conf", name);
	snprintf(golden_rel, sizeof(golden_rel), "rules/%s.nft", name);
	kt_load(conf, &config, &pool);
	golden = kt_read_file(kt_src_path(golden_rel, golden_path, sizeof(golden_path)));
	cr_assert_not_null(golden, "missing golden file %s (make golden)", golden_path);

	replace(sock, pool);
	fill_fallbacks(sock, pool);
	listed = kt_normalize_free(kt_nft_list(config->global.table));
	rendered = kt_normalize_free(kt_render(pool));
	golden = kt_normalize_free(golden);
	cr_expect_str_eq(rendered, golden, "knlbd --render differs from %s", golden_rel);
	cr_expect_str_eq(listed, golden, "nft list table differs from %s", golden_rel);

	free(golden);
	free(listed);
	free(rendered);
	nfnl_sock_close(sock);
	pool_free(pool);
	config_free(config);
}

Test(program, golden_knlb_conf) { check_golden("knlb"); }
Test(program, golden_minimal_conf) { check_golden("minimal"); }
Test(program, golden_src_ip_conf) { check_golden("src-ip"); }
Test(program, golden_demo_conf) { check_golden("demo"); }
Test(program, golden_mark_mask_conf) { check_golden("mark-mask"); }
Test(program, golden_mark_mask_mid_conf) { check_golden("mark-mask-mid"); }
Test(program, golden_dual_stack_conf) { check_golden("dual-stack"); }
Test(program, golden_persistence_conf) { check_golden("persistence"); }
Test(program, golden_no_traffic_counters_conf) { check_golden("no-traffic-counters"); }
Test(program, golden_traffic_rules_conf) { check_golden("traffic-rules"); }

Test(program, restart_with_same_config_is_identical)
{
	struct knlb_config *c1, *c2;
	struct knlb_model *p1, *p2;
	struct nfnl_sock *sock = open_sock();
	char *first, *second;
	uint32_t gen;

	kt_load("conf/knlb.conf", &c1, &p1);
	replace(sock, p1);
	first = kt_nft_list("knlb");

	/* A second daemon start: fresh config, fresh pool, whole-table replace. */
	kt_load("conf/knlb.conf", &c2, &p2);
	gen = kt_nft_genid();
	replace(sock, p2);
	cr_expect_eq(kt_nft_genid(), gen + 1, "replace must be one transaction");
	second = kt_nft_list("knlb");
	cr_expect_str_eq(second, first, "restart changed the programmed table");

	free(first);
	free(second);
	nfnl_sock_close(sock);
	pool_free(p1);
	pool_free(p2);
	config_free(c1);
	config_free(c2);
}

Test(program, foreign_table_survives_start_and_stop)
{
	const char *setup =
		"nft add table inet foreign && "
		"nft add chain inet foreign c '{ type filter hook input priority 0; }' && "
		"nft add rule inet foreign c tcp dport 22 counter accept && "
		"nft add table ip knlb_lookalike";
	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *sock = open_sock();
	struct nfnl_batch *batch;
	char *before, *after, *ours;
	char err[256];
	int status;

	free(kt_run(setup, &status));
	cr_assert_eq(status, 0);
	before = kt_run("nft list table inet foreign; nft list table ip knlb_lookalike", &status);

	kt_load("conf/knlb.conf", &config, &pool);
	replace(sock, pool);
	replace(sock, pool);
	batch = nfnl_batch_new(sock);
	cr_assert_eq(ruleset_add_delete_table(batch, "knlb"), 0);
	cr_assert_eq(nfnl_batch_commit(sock, batch, err, sizeof(err)), 0, "%s", err);
	nfnl_batch_free(batch);

	after = kt_run("nft list table inet foreign; nft list table ip knlb_lookalike", &status);
	cr_expect_str_eq(after, before, "a table knlb does not own was changed");
	ours = kt_run("nft list table inet knlb 2>&1", &status);
	cr_expect_neq(status, 0, "our table should be gone after delete:\n%s", ours);

	free(before);
	free(after);
	free(ours);
	nfnl_sock_close(sock);
	pool_free(pool);
	config_free(config);
}

/* Backend b leaves: only changed slots go to the kernel, in one transaction. */
Test(program, weight_change_sends_only_changed_slots)
{
	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *sock = open_sock();
	struct knlb_service *web;
	struct sync_result res;
	uint32_t *old, m, moved = 0, gen;
	char *listed, *rendered, err[512];
	int ret;

	/* minimal.conf: 125 slots per backend, the direct shape (fallback maps: test_failover.c) */
	kt_load("conf/minimal.conf", &config, &pool);
	web = &pool->services[0];
	m = web->cfg->table_size;
	replace(sock, pool);

	old = malloc(m * sizeof(*old));
	memcpy(old, web->slots, m * sizeof(*old));
	web->backends[1].effective_weight = 0;
	cr_assert_eq(pool_compute_slots(web), 0);
	for (uint32_t i = 0; i < m; i++)
		moved += old[i] != web->slots[i];
	cr_assert_gt(moved, 0);

	gen = kt_nft_genid();
	ret = sync_service_slots(sock, pool, web, &(struct sync_old){ .slots = old }, &res, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s", err);
	cr_expect_eq(kt_nft_genid(), gen + 1, "delta must be exactly one transaction");
	/* each moved slot is one delete and one add, nothing else */
	cr_expect_eq(res.elements, 2 * moved, "elements sent %zu, slots moved %u",
		     res.elements, moved);
	cr_log_info("backend b2 removed: %u of %u slots moved, %zu elements, %zu messages, %.2f ms",
		    moved, m, res.elements, res.messages, res.elapsed_ms);

	listed = kt_normalize_free(kt_nft_list("knlb"));
	rendered = kt_normalize_free(kt_render(pool));
	cr_expect_str_eq(listed, rendered, "kernel map differs from the new desired state");

	/* no change: no transaction at all */
	gen = kt_nft_genid();
	memcpy(old, web->slots, m * sizeof(*old));
	cr_assert_eq(sync_service_slots(sock, pool, web, &(struct sync_old){ .slots = old }, &res, err, sizeof(err)), 0);
	cr_expect_eq(kt_nft_genid(), gen, "an unchanged table must send nothing");

	free(listed);
	free(rendered);
	free(old);
	nfnl_sock_close(sock);
	pool_free(pool);
	config_free(config);
}

/* A transaction the kernel rejects changes nothing and names the object. */
Test(program, rejected_batch_keeps_previous_state)
{
	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *sock = open_sock();
	struct knlb_service *web;
	struct sync_result res;
	uint32_t *wrong, m, gen;
	char *before, *after, err[512];
	int ret;

	/* minimal.conf: 125 slots per backend, the direct shape (fallback maps: test_failover.c) */
	kt_load("conf/minimal.conf", &config, &pool);
	web = &pool->services[0];
	m = web->cfg->table_size;
	replace(sock, pool);
	before = kt_nft_list("knlb");

	/*
	 * Pretend slot 0 is empty in the kernel although it is mapped: the
	 * batch then adds an existing key, which the kernel refuses.  Slot 1
	 * is changed too, so a half-applied batch would be visible.
	 */
	wrong = malloc(m * sizeof(*wrong));
	memcpy(wrong, web->slots, m * sizeof(*wrong));
	wrong[0] = SCHED_SLOT_EMPTY;
	wrong[1] = web->slots[1] == 0 ? 1 : 0;
	gen = kt_nft_genid();
	ret = sync_service_slots(sock, pool, web, &(struct sync_old){ .slots = wrong }, &res, err, sizeof(err));
	cr_expect_lt(ret, 0, "the kernel should have refused the batch");
	cr_expect(strstr(err, "service web: map web_slots") != NULL,
		  "error does not name the object: '%s'", err);
	cr_expect(strstr(err, "File exists") != NULL, "error: '%s'", err);
	cr_log_info("rejected batch reported as: %s", err);
	cr_expect_eq(kt_nft_genid(), gen, "a rejected batch must not commit");
	after = kt_nft_list("knlb");
	cr_expect_str_eq(after, before, "a rejected batch changed the table");

	free(before);
	free(after);
	free(wrong);
	nfnl_sock_close(sock);
	pool_free(pool);
	config_free(config);
}
