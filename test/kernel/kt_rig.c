/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"
#include "knlb/health/health.h"
#include "knlb/lib/loop.h"
#include "knlb/nft/commit.h"
#include "knlb/nft/nfnl.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "kt.h"
#include "kt_rig.h"

void kt_rig_up(struct kt_rig *g, const char *text, const char *name)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	char err[512];

	cr_assert_not_null(f);
	cr_assert_eq(config_load_stream(f, name, &g->config, stderr), 0);
	fclose(f);
	cr_assert_eq(pool_create(g->config, &g->pool), 0);
	cr_assert_eq(nfnl_sock_open(&g->sock), 0);
	cr_assert_eq(sync_replace(g->sock, g->pool, &g->programmed, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(loop_new(&g->loop), 0);
	cr_assert_eq(health_new(g->loop, g->pool, NULL, &g->health), 0);
	cr_assert_eq(committer_new(g->loop, g->pool, g->sock, &g->committer), 0);
}

void kt_rig_down(struct kt_rig *g)
{
	committer_free(g->committer);
	health_free(g->health);
	loop_free(g->loop);
	nfnl_sock_close(g->sock);
	pool_free(g->pool);
	config_free(g->config);
}

void kt_rig_verdict(struct kt_rig *g, size_t s, size_t b, bool up)
{
	struct check_result res = { .status = up ? CHECK_OK : CHECK_FAILED };

	snprintf(res.reason, sizeof(res.reason), up ? "ok" : "connect refused");
	cr_assert_neq(health_result(g->health, s, b, &res), HEALTH_NO_CHANGE);
}

void kt_overlay_fallback_maps(const char *service, uint32_t m, uint32_t *out)
{
	uint32_t *fb = malloc(m * sizeof(*fb));
	char cmd[128], jump[64], *chain;
	int status;

	cr_assert_not_null(fb);
	snprintf(cmd, sizeof(cmd), "nft list chain inet knlb fb_%s 2>/dev/null", service);
	chain = kt_run(cmd, &status);
	for (const char *p = status == 0 ? chain : ""; (p = strstr(p, "jump fb")); ) {
		unsigned b;
		char *map;

		/* jump fb<b>_<service>, whose rule reads map <service>_fb<b> */
		cr_assert_eq(sscanf(p, "jump fb%u_%63s", &b, jump), 2);
		cr_assert_str_eq(jump, service);
		p += strlen("jump fb");
		snprintf(cmd, sizeof(cmd), "nft list map inet knlb %s_fb%u", service, b);
		map = kt_run_ok(cmd);
		for (uint32_t s = 0; s < m; s++)
			fb[s] = SCHED_SLOT_EMPTY;
		kt_parse_slot_map(map, m, fb);
		for (uint32_t s = 0; s < m; s++)
			if (out[s] == b && fb[s] != SCHED_SLOT_EMPTY)
				out[s] = fb[s];
		free(map);
	}
	free(chain);
	free(fb);
}

size_t kt_parse_slot_map(const char *listing, uint32_t m, uint32_t *out)
{
	const char *p = strstr(listing, "elements = {");
	size_t n = 0;

	for (p = p ? p + strlen("elements = {") : NULL; p && *p; ) {
		unsigned slot, a, b, c, d, port;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ',')
			p++;
		if (sscanf(p, "%u : %u.%u.%u.%u . %u", &slot, &a, &b, &c, &d, &port) != 6)
			break;
		cr_assert_lt(slot, m);
		out[slot] = d - 1;
		n++;
		p = strchr(p, ',');
	}
	return n;
}
