/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The shared base shape (docs/architecture.md, "Shared base maps"):
 * services that list the same backends share one base map, each keeps
 * only where its own table differs, and the kernel forwards every slot of
 * every service as the pool says, whatever health does to each of them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"
#include "knlb/health/health.h"
#include "knlb/lib/loop.h"
#include "knlb/nft/readback.h"
#include "knlb/nft/commit.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/sync.h"
#include "knlb/pool/adopt_plan.h"
#include "knlb/pool/adopt_table.h"
#include "knlb/pool/explain.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/reload_plan.h"
#include "knlb/sched/sched.h"
#include "kt.h"
#include "kt_rig.h"

TestSuite(slot_share, .init = kt_enter_netns, .timeout = 120);

#define M 10007		/* at least SLOT_SHARE_MIN_SLOTS */
#define N 50		/* under 256 slots per backend: the direct shape */
#define SHARED 3	/* web, api, img; solo lists other backends */

static const char *const names[] = { "web", "api", "img", "solo" };

/*
 * The tests' config: web, api and img over the same n backends and solo
 * over others, api listing only api_backends of them and web's backend 3
 * of weight web_weight.  dual: web and api only, each with an IPv6 VIP
 * too and, after each IPv4 backend, an IPv6 one (2b + 1 is IPv6).
 */
static char *config_text_n(size_t n, size_t api_backends, int web_weight,
			   bool dual)
{
	size_t len = 16384 + 4 * n * 80, off = 0;
	char *text = malloc(len);

	cr_assert_not_null(text);
	for (size_t s = 0; s < (dual ? 2 : 4); s++) {
		off += (size_t)snprintf(text + off, len - off,
					"[service %s]\nvip = 192.0.2.%zu\n", names[s], 10 + s);
		if (dual)
			off += (size_t)snprintf(text + off, len - off,
						"vip = 2001:db8:100::%zu\n", 10 + s);
		off += (size_t)snprintf(text + off, len - off,
					"port = 80\ntable_size = %u\ncheck = tcp\nrise = 1\nfall = 1\n", M);
		for (size_t b = 0; b < (s == 1 ? api_backends : n); b++) {
			off += (size_t)snprintf(text + off, len - off,
						"backend = 10.%d.0.%zu:8080 weight=%d\n",
						s < SHARED ? 1 : 2, 1 + b,
						s == 0 && b == 3 ? web_weight : 1);
			if (dual)
				off += (size_t)snprintf(text + off, len - off,
							"backend = [2001:db8:1::%zx]:8080\n", 1 + b);
		}
	}
	cr_assert_lt(off, len);
	return text;
}

/* The direct shape's: N backends. */
static char *config_text_of(size_t api_backends, int web_weight, bool dual)
{
	return config_text_n(N, api_backends, web_weight, dual);
}

static char *config_text(void)
{
	return config_text_of(N, 1, false);
}

static void load_text(const char *text, struct knlb_config **config,
		      struct knlb_model **pool)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	cr_assert_not_null(f);
	cr_assert_eq(config_load_stream(f, "share.conf", config, stderr), 0);
	fclose(f);
	cr_assert_eq(pool_create(*config, pool), 0);
}

static void rig_up(struct kt_rig *g)
{
	char *text = config_text();

	kt_rig_up(g, text, "share.conf");
	free(text);
}

static size_t list_map(const char *name, uint32_t *out)
{
	char cmd[128], *listing;
	size_t n;

	snprintf(cmd, sizeof(cmd), "nft list map inet knlb %s", name);
	listing = kt_run_ok(cmd);
	n = kt_parse_slot_map(listing, M, out);
	free(listing);
	return n;
}

/* The group's base map as the kernel holds it, slot by slot. */
static void read_base(uint32_t *out)
{
	for (uint32_t i = 0; i < M; i++)
		out[i] = SCHED_SLOT_EMPTY;
	list_map("web_base", out);
}

/*
 * Step i: backend b of services[s] up or down, committed in one
 * transaction that writes at most the direct shape's 2 x moved elements.
 */
static void step(struct kt_rig *g, size_t i, size_t s, size_t b, bool up)
{
	uint32_t gen = kt_nft_genid();
	struct commit_stats st;

	kt_rig_verdict(g, s, b, up);
	committer_run(g->committer);
	cr_expect_eq(kt_nft_genid(), gen + 1, "step %zu: one transaction", i);
	committer_get_stats(g->committer, &st);
	cr_expect_leq(st.last_elements, 2 * st.last_moved,
		      "step %zu: %zu elements for %u slots moved", i,
		      st.last_elements, st.last_moved);
}

/*
 * What the kernel forwards each slot of service s to, as the packet path
 * reads it: in the fallback shape a dead backend's fallback map first,
 * then its override map, else the group's base map (web_base).
 */
static void kernel_slots(size_t s, uint32_t *out, size_t *overrides)
{
	uint32_t *ovr = malloc(M * sizeof(*ovr));
	char name[64];

	cr_assert_not_null(ovr);
	for (uint32_t i = 0; i < M; i++)
		out[i] = ovr[i] = SCHED_SLOT_EMPTY;
	cr_assert_eq(list_map("web_base", out), M, "the base map holds every slot");
	snprintf(name, sizeof(name), "%s_ovr", names[s]);
	*overrides = list_map(name, ovr);
	for (uint32_t i = 0; i < M; i++)
		if (ovr[i] != SCHED_SLOT_EMPTY)
			out[i] = ovr[i];
	free(ovr);
	kt_overlay_fallback_maps(names[s], M, out);
}

/* The kernel's listing is the render of the pool. */
static void expect_listing_is_render(struct kt_rig *g, const char *when)
{
	char *listed = kt_normalize_free(kt_nft_list("knlb"));
	char *rendered = kt_normalize_free(kt_render(g->pool));

	cr_expect_str_eq(listed, rendered, "%s: kernel differs from the desired state", when);
	free(listed);
	free(rendered);
}

Test(slot_share, services_listing_the_same_backends_write_one_base_map)
{
	uint32_t *got = malloc(M * sizeof(*got));
	struct kt_rig g;
	size_t overrides;
	int status;
	char *out;

	cr_assert_not_null(got);
	rig_up(&g);
	cr_expect_eq(g.programmed.shared, SHARED);
	/* one base for the three, solo's own map: 2 x M, not 4 x M */
	cr_expect_eq(g.programmed.elements, 2 * M, "%zu elements written",
		     g.programmed.elements);
	for (size_t s = 0; s < SHARED; s++) {
		char cmd[96];

		kernel_slots(s, got, &overrides);
		cr_expect_eq(overrides, 0, "%s: %zu overrides with every backend up",
			     names[s], overrides);
		cr_expect_arr_eq(got, g.pool->services[s].slots, M * sizeof(*got),
				 "%s forwards another table", names[s]);
		snprintf(cmd, sizeof(cmd), "nft list map inet knlb %s_slots 2>&1", names[s]);
		free(kt_run(cmd, &status));
		cr_expect_neq(status, 0, "%s kept a slot map of its own", names[s]);
	}
	cr_expect_eq(list_map("solo_slots", got), M, "solo shares with nobody");
	out = kt_run_ok("nft list chain inet knlb svc_api");
	cr_expect(strstr(out, "map @api_ovr") && strstr(out, "map @web_base") &&
		  strstr(out, "map @api_ovr") < strstr(out, "map @web_base"),
		  "api's chain reads its overrides, then the base:\n%s", out);
	free(out);
	expect_listing_is_render(&g, "after the replace");
	free(got);
	kt_rig_down(&g);
}

/*
 * Health moves each service on its own: after every transition the
 * kernel forwards each service's every slot as its pool table says, the
 * base map is never written, and a service's overrides are the slots
 * its table has away from the base.
 */
Test(slot_share, each_service_fails_over_alone_and_the_base_map_stays)
{
	static const struct { size_t s, b; bool up; } steps[] = {
		{ 0, 3, false }, { 1, 3, false }, { 0, 7, false }, { 2, 0, false },
		{ 0, 3, true }, { 1, 9, false }, { 1, 3, true }, { 0, 7, true },
		{ 1, 9, true }, { 2, 0, true },
	};
	uint32_t *got = malloc(M * sizeof(*got)), *base = malloc(M * sizeof(*base));
	uint32_t *base_now = malloc(M * sizeof(*base_now));
	struct kt_rig g;

	cr_assert(got && base && base_now);
	rig_up(&g);
	read_base(base);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		step(&g, i, steps[i].s, steps[i].b, steps[i].up);
		for (size_t s = 0; s < SHARED; s++) {
			const uint32_t *want = g.pool->services[s].slots;
			size_t overrides, differ = 0;

			kernel_slots(s, got, &overrides);
			for (uint32_t k = 0; k < M; k++) {
				cr_assert_eq(got[k], want[k], "step %zu: %s slot %u is %u in the kernel, %u in the pool",
					     i, names[s], k, got[k], want[k]);
				differ += want[k] != base[k];
			}
			cr_expect_eq(overrides, differ, "step %zu: %s has %zu overrides for %zu slots off the base",
				     i, names[s], overrides, differ);
		}
		read_base(base_now);
		cr_expect_arr_eq(base_now, base, M * sizeof(*base), "step %zu wrote the base map", i);
	}
	expect_listing_is_render(&g, "after the transitions");
	free(got);
	free(base);
	free(base_now);
	kt_rig_down(&g);
}

/*
 * A shared service with no usable backend: the base would still map its
 * slots, so its VIP leaves the dispatch map (and goes to on_empty's set)
 * while the others keep theirs; back when a backend is.
 */
Test(slot_share, an_empty_service_leaves_the_dispatch_map)
{
	uint32_t *got = malloc(M * sizeof(*got));
	struct kt_rig g;
	size_t overrides;
	char *out;

	cr_assert_not_null(got);
	rig_up(&g);
	for (size_t b = 0; b < N; b++)
		kt_rig_verdict(&g, 1, b, false);
	committer_run(g.committer);
	out = kt_run_ok("nft list map inet knlb svc_dispatch");
	cr_expect(!strstr(out, "192.0.2.11 "), "api is still dispatched:\n%s", out);
	cr_expect(strstr(out, "192.0.2.10 ") && strstr(out, "192.0.2.12 "),
		  "web or img lost its dispatch:\n%s", out);
	free(out);
	out = kt_run_ok("nft list set inet knlb empty_reject");
	cr_expect(strstr(out, "192.0.2.11 . tcp . 80"), "api not in empty_reject:\n%s", out);
	free(out);
	kernel_slots(1, got, &overrides);
	cr_expect_eq(overrides, 0, "an empty service keeps no override");
	/*
	 * No listing against the render here: an empty service's base is
	 * its (empty) table, so a replace now would give api a map of its
	 * own; the kernel keeps the shape of the last replace.
	 */

	kt_rig_verdict(&g, 1, 4, true);
	committer_run(g.committer);
	out = kt_run_ok("nft list map inet knlb svc_dispatch");
	cr_expect(strstr(out, "192.0.2.11 . tcp . 80 : jump svc_api"),
		  "api is not dispatched again:\n%s", out);
	free(out);
	kernel_slots(1, got, &overrides);
	cr_expect_arr_eq(got, g.pool->services[1].slots, M * sizeof(*got),
			 "api back on one backend");
	expect_listing_is_render(&g, "api back");
	free(got);
	kt_rig_down(&g);
}

/*
 * A restart reads back what each shared service forwards to: the base
 * overlaid with its overrides, nothing for an empty one; a fresh pool
 * adopting it computes the same tables.
 */
Test(slot_share, the_read_back_composes_the_base_and_the_overrides)
{
	struct knlb_config *config;
	struct knlb_model *fresh;
	struct pool_adopt_result res;
	struct adopt_table *t;
	struct kt_rig g;
	char err[512], *text;

	rig_up(&g);
	kt_rig_verdict(&g, 0, 5, false);
	for (size_t b = 0; b < N; b++)
		kt_rig_verdict(&g, 2, b, false);
	committer_run(g.committer);

	cr_assert_eq(adopt_read("knlb", &t, err, sizeof(err)), 0, "%s", err);
	for (size_t s = 0; s < 4; s++) {
		const struct adopt_service *as = adopt_find(t, names[s]);

		cr_assert_not_null(as, "%s not read back", names[s]);
		cr_expect(as->has_map && as->has_chain && as->has_mark, "%s", names[s]);
		cr_expect_eq(as->n_elements, s == 2 ? 0 : M, "%s: %u slots read back",
			     names[s], as->n_elements);
	}
	cr_expect_eq(adopt_slots_of(adopt_find(t, "web"),
				    &g.pool->services[0].backends[5].cfg->addr, 8080), 0,
		     "web's dead backend is read back mapped");
	cr_expect_gt(adopt_slots_of(adopt_find(t, "api"),
				    &g.pool->services[1].backends[5].cfg->addr, 8080), 0,
		     "api's backend 5 is not read back mapped");

	text = config_text();
	load_text(text, &config, &fresh);
	free(text);
	cr_assert_eq(pool_adopt(fresh, t, &res), 0);
	cr_expect(!fresh->services[0].backends[5].up, "web's backend 5 adopted up");
	cr_expect(fresh->services[1].backends[5].up, "api's backend 5 adopted down");
	for (size_t b = 0; b < N; b++)
		cr_expect(!fresh->services[2].backends[b].up, "img's backend %zu adopted up", b);
	for (size_t s = 0; s < 4; s++)
		cr_expect_arr_eq(fresh->services[s].slots, g.pool->services[s].slots,
				 M * sizeof(uint32_t), "service %s", names[s]);
	adopt_table_free(t);
	pool_free(fresh);
	config_free(config);
	kt_rig_down(&g);
}

/* A reload of the rig's pool to text: its plan's kind, the committer on the new pool. */
static enum reload_kind reload_to(struct kt_rig *g, const char *text,
				  struct knlb_config **config,
				  struct knlb_model **pool, struct sync_result *res)
{
	struct reload_plan plan;
	enum reload_kind kind;
	char err[512];

	load_text(text, config, pool);
	cr_assert_eq(reload_plan_build(g->pool, *pool, 0, &plan, err, sizeof(err)),
		     0, "%s", err);
	kind = plan.kind;
	cr_assert_eq(committer_reload(g->committer, *pool, &plan, res, err,
				      sizeof(err)), 0, "%s", err);
	reload_plan_free(&plan);
	return kind;
}

static bool map_exists(const char *name)
{
	char cmd[128];
	int status;

	snprintf(cmd, sizeof(cmd), "nft list map inet knlb %s >/dev/null 2>&1", name);
	free(kt_run(cmd, &status));
	return status == 0;
}

/*
 * A reload that keeps the shared services' backends is a delta that
 * leaves the base map alone (a weight changed in web: web's overrides
 * take it); one that changes a shared service's backend list replaces
 * the table, and the groups are made again (api, one backend fewer,
 * gets a map of its own; web, its weight back, shares with img again).
 * Each time every service forwards as its pool.
 */
Test(slot_share, a_reload_keeps_the_base_map_unless_a_shared_list_changes)
{
	struct knlb_config *c1, *c2;
	struct knlb_model *p1, *p2;
	struct sync_result res;
	uint32_t *got = malloc(M * sizeof(*got)), *base = malloc(M * sizeof(*base));
	struct kt_rig g;
	size_t overrides;
	char *text;

	cr_assert(got && base);
	rig_up(&g);
	read_base(base);

	text = config_text_of(N, 3, false);
	cr_expect_eq(reload_to(&g, text, &c1, &p1, &res), RELOAD_SLOTS);
	free(text);
	cr_expect_lt(res.elements, M, "a weight change rewrote %zu elements", res.elements);
	read_base(got);
	cr_expect_arr_eq(got, base, M * sizeof(*got), "the delta wrote the base map");
	for (size_t s = 0; s < SHARED; s++) {
		kernel_slots(s, got, &overrides);
		cr_expect_arr_eq(got, p1->services[s].slots, M * sizeof(*got),
				 "%s after the weight change", names[s]);
	}
	kernel_slots(0, got, &overrides);
	cr_expect_gt(overrides, 0, "web's new weight is in no override");

	/* api loses a backend; web's weight back as web and img list it */
	text = config_text_of(N - 1, 1, false);
	cr_expect_eq(reload_to(&g, text, &c2, &p2, &res), RELOAD_SLOTS);
	free(text);
	cr_expect(map_exists("api_slots") && !map_exists("api_ovr"),
		  "api, with another list, still shares");
	cr_expect(map_exists("web_base") && map_exists("web_ovr") &&
		  map_exists("img_ovr"), "web and img do not share again");
	{
		char *listed = kt_sort_objects_free(kt_normalize_free(kt_nft_list("knlb")));
		char *rendered = kt_sort_objects_free(kt_normalize_free(kt_render(p2)));

		cr_expect_str_eq(listed, rendered, "the replace is not the new pool");
		free(listed);
		free(rendered);
	}

	kt_rig_down(&g);	/* the first pool: the committer follows p2 now */
	pool_free(p1);
	config_free(c1);
	pool_free(p2);
	config_free(c2);
	free(got);
	free(base);
}

/*
 * Where a TCP connection from 198.51.100.<host>:<port> to VIP 192.0.2.<vip>:80
 * goes: the backend index (10.1.0.(1 + index)) that accepted it, read
 * from the accepted socket's own address.
 */
static int reached(int listener, int host, uint16_t port, int vip)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(80),
				  .sin_addr.s_addr = htonl(0xc0000200 + (uint32_t)vip) };
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(0xc6336400 + (uint32_t)host) };
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	struct pollfd p = { .fd = listener, .events = POLLIN };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, c;

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0,
		     "connect to 192.0.2.%d: %s", vip, strerror(errno));
	cr_assert_eq(poll(&p, 1, 2000), 1, "no backend accepted");
	c = accept(listener, NULL, NULL);
	cr_assert_geq(c, 0);
	cr_assert_eq(getsockname(c, (struct sockaddr *)&got, &len), 0);
	close(c);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 }, sizeof(struct linger));
	close(fd);
	return (int)(ntohl(got.sin_addr.s_addr) & 0xff) - 1;
}

/*
 * Real connections: to each shared service, every client reaches the
 * backend its own table gives (pool_explain()), through its overrides
 * where ten of api's backends are down and through the base elsewhere.
 */
Test(slot_share, connections_follow_each_services_own_table)
{
	int listener, one = 1, status, through_override = 0;
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(8080) };
	char setup[4096];
	size_t off;
	struct kt_rig g;
	char *out;

	off = (size_t)snprintf(setup, sizeof(setup),
			       "ip link set lo up && ip route add local 198.51.100.0/22 dev lo && "
			       "ip route add local 192.0.2.0/24 dev lo && "
			       "ip route add local 10.1.0.0/24 dev lo");
	cr_assert_lt(off, sizeof(setup));
	out = kt_run(setup, &status);
	cr_assert_eq(status, 0, "%s", out);
	free(out);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cr_assert_geq(listener, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(listener, (struct sockaddr *)&any, sizeof(any)), 0);
	cr_assert_eq(listen(listener, 256), 0);

	rig_up(&g);
	for (size_t b = 0; b < 10; b++)
		kt_rig_verdict(&g, 1, 2 * b, false);
	committer_run(g.committer);
	for (int i = 1; i <= 300; i++) {
		uint16_t port = (uint16_t)(20000 + i * 7);
		struct knlb_addr client = { .family = AF_INET,
					    .in.s_addr = htonl(0xc6336400 + (uint32_t)i) };

		for (size_t s = 0; s < SHARED; s++) {
			struct pool_explanation ex;
			int got = reached(listener, i, port, 10 + (int)s);

			cr_assert_eq(pool_explain(&g.pool->services[s], &client, port, &ex), 0);
			cr_assert_eq(got, (int)ex.backend, "%s: client %d reached backend %d, its table says %u (slot %u)",
				     names[s], i, got, ex.backend, ex.slot);
			through_override += ex.fallback_from != SCHED_SLOT_EMPTY;
		}
	}
	cr_expect_gt(through_override, 0, "no connection took an override");
	close(listener);
	kt_rig_down(&g);
}

/*
 * Dual stack: one base map per family, shared; a transition in either
 * family writes that family's overrides; a service whose IPv6 backends
 * all fail leaves svc_dispatch6 and keeps its IPv4 dispatch.
 */
Test(slot_share, each_family_shares_its_own_base_map)
{
	char *text = config_text_of(N, 1, true), *out;
	struct kt_rig g;
	size_t b6;

	kt_rig_up(&g, text, "dual.conf");
	free(text);
	cr_expect_eq(g.programmed.shared, 2);
	cr_expect_eq(g.programmed.elements, 2 * M, "%zu elements written",
		     g.programmed.elements);
	expect_listing_is_render(&g, "dual stack, after the replace");

	/* backends alternate IPv4, IPv6 in the file: 2b + 1 is IPv6 */
	kt_rig_verdict(&g, 0, 2 * 3 + 1, false);
	kt_rig_verdict(&g, 0, 2 * 8, false);
	committer_run(g.committer);
	expect_listing_is_render(&g, "web: one IPv4 and one IPv6 backend down");

	for (b6 = 0; b6 < N; b6++)
		kt_rig_verdict(&g, 1, 2 * b6 + 1, false);
	committer_run(g.committer);
	out = kt_run_ok("nft list map inet knlb svc_dispatch6");
	cr_expect(!strstr(out, "2001:db8:100::11 "), "api's IPv6 VIP is still dispatched:\n%s", out);
	cr_expect(strstr(out, "2001:db8:100::10 "), "web's IPv6 VIP lost its dispatch:\n%s", out);
	free(out);
	out = kt_run_ok("nft list map inet knlb svc_dispatch");
	cr_expect(strstr(out, "192.0.2.11 "), "api's IPv4 VIP lost its dispatch:\n%s", out);
	free(out);

	for (b6 = 0; b6 < N; b6++)
		kt_rig_verdict(&g, 1, 2 * b6 + 1, true);
	committer_run(g.committer);
	expect_listing_is_render(&g, "api's IPv6 backends back");
	kt_rig_down(&g);
}

/* The fallback shape: FB_N backends in M slots, 1000 per backend. */
#define FB_N 10

/* Each shared service forwards as pool's table, and has no override. */
static void expect_fallback_members_forward(const struct knlb_model *pool,
					    const char *when, bool overrides_expected)
{
	uint32_t *got = malloc(M * sizeof(*got));
	size_t overrides;

	cr_assert_not_null(got);
	for (size_t s = 0; s < SHARED; s++) {
		const uint32_t *want = pool->services[s].slots;

		kernel_slots(s, got, &overrides);
		for (uint32_t k = 0; k < M; k++)
			cr_assert_eq(got[k], want[k], "%s: %s slot %u is %u in the kernel, %u in the pool",
				     when, names[s], k, got[k], want[k]);
		if (!overrides_expected)
			cr_expect_eq(overrides, 0, "%s: %s has %zu overrides, its base did not move",
				     when, names[s], overrides);
	}
	free(got);
}

/*
 * The fallback shape shares its base map too: a member's chain jumps to
 * its own fallback chain first, then reads its overrides, then the base.
 * Health moves no base, so the overrides stay empty and each failure is
 * a rule, as without sharing; a reload that moves web's base (a weight)
 * writes web's overrides and leaves the base map alone; the read-back
 * composes all three layers.
 */
Test(slot_share, the_fallback_shape_shares_its_base_and_keeps_its_fallbacks)
{
	static const struct { size_t s, b; bool up; } steps[] = {
		{ 0, 3, false }, { 1, 3, false }, { 0, 7, false }, { 2, 0, false },
		{ 0, 3, true }, { 1, 9, false }, { 1, 3, true }, { 0, 7, true },
		{ 1, 9, true }, { 2, 0, true }, { 1, 4, false }, { 2, 4, false },
	};
	uint32_t *base = malloc(M * sizeof(*base)), *base_now = malloc(M * sizeof(*base_now));
	char *text = config_text_n(FB_N, FB_N, 1, false), *out, err[512];
	struct knlb_config *config, *c1;
	struct knlb_model *fresh, *p1;
	struct pool_adopt_result ares;
	struct sync_result res;
	struct adopt_table *t;
	struct kt_rig g;

	cr_assert(base && base_now);
	kt_rig_up(&g, text, "fallback-share.conf");
	for (size_t s = 0; s < 4; s++)
		cr_assert(pool_has_fallback_maps(&g.pool->services[s]), "%s", names[s]);
	cr_expect_eq(g.programmed.shared, SHARED);
	/* web_base and solo_slots; every fallback map is filled later */
	cr_expect_eq(g.programmed.elements, 2 * M, "%zu elements written",
		     g.programmed.elements);
	cr_expect(!map_exists("api_slots") && map_exists("api_ovr") &&
		  map_exists("api_fb0"), "api's maps");
	out = kt_run_ok("nft list chain inet knlb svc_api");
	cr_expect(strstr(out, "jump fb_api") && strstr(out, "map @api_ovr") &&
		  strstr(out, "map @web_base") &&
		  strstr(out, "jump fb_api") < strstr(out, "map @api_ovr") &&
		  strstr(out, "map @api_ovr") < strstr(out, "map @web_base"),
		  "api's chain: its fallbacks, its overrides, the base:\n%s", out);
	free(out);
	read_base(base);
	committer_refresh_fallbacks(g.committer, NULL);
	expect_listing_is_render(&g, "fallback shape, after the replace and refresh");

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char when[64];

		step(&g, i, steps[i].s, steps[i].b, steps[i].up);
		snprintf(when, sizeof(when), "step %zu", i);
		expect_fallback_members_forward(g.pool, when, false);
		if (i % 2)	/* half the steps with the serving maps refreshed */
			committer_refresh_fallbacks(g.committer, NULL);
		read_base(base_now);
		cr_expect_arr_eq(base_now, base, M * sizeof(*base), "step %zu wrote the base map", i);
	}
	committer_refresh_fallbacks(g.committer, NULL);
	expect_listing_is_render(&g, "fallback shape, after the transitions");

	/* api's backend 4 and img's are down: read back and adopted so */
	cr_assert_eq(adopt_read("knlb", &t, err, sizeof(err)), 0, "%s", err);
	load_text(text, &config, &fresh);
	cr_assert_eq(pool_adopt(fresh, t, &ares), 0);
	cr_expect(!fresh->services[1].backends[4].up && !fresh->services[2].backends[4].up &&
		  fresh->services[0].backends[4].up, "backend 4 adopted as it is");
	for (size_t s = 0; s < 4; s++)
		cr_expect_arr_eq(fresh->services[s].slots, g.pool->services[s].slots,
				 M * sizeof(uint32_t), "service %s read back", names[s]);
	adopt_table_free(t);
	pool_free(fresh);
	config_free(config);
	free(text);

	/* img empty: out of the dispatch map (the base maps every slot), then back */
	for (size_t b = 0; b < FB_N; b++)
		if (g.pool->services[2].backends[b].up)
			kt_rig_verdict(&g, 2, b, false);
	committer_run(g.committer);
	out = kt_run_ok("nft list map inet knlb svc_dispatch");
	cr_expect(!strstr(out, "192.0.2.12 ") && strstr(out, "192.0.2.11 "),
		  "img is still dispatched, or api is not:\n%s", out);
	free(out);
	for (size_t b = 0; b < FB_N; b++)
		kt_rig_verdict(&g, 2, b, true);
	committer_run(g.committer);
	out = kt_run_ok("nft list map inet knlb svc_dispatch");
	cr_expect(strstr(out, "192.0.2.12 . tcp . 80 : jump svc_img"),
		  "img is not dispatched again:\n%s", out);
	free(out);
	expect_fallback_members_forward(g.pool, "img back", false);

	/* web's backend 3 weighs 3: its base moves, into its overrides */
	text = config_text_n(FB_N, FB_N, 3, false);
	cr_expect_eq(reload_to(&g, text, &c1, &p1, &res), RELOAD_SLOTS);
	free(text);
	cr_expect_lt(res.elements, M, "a weight change rewrote %zu elements", res.elements);
	read_base(base_now);
	cr_expect_arr_eq(base_now, base, M * sizeof(*base), "the reload wrote the base map");
	expect_fallback_members_forward(p1, "after the weight change", true);
	{
		uint32_t *got = malloc(M * sizeof(*got));
		size_t overrides;

		cr_assert_not_null(got);
		kernel_slots(0, got, &overrides);
		cr_expect_gt(overrides, 0, "web's new weight is in no override");
		free(got);
	}
	/*
	 * No listing against the render: p1 would give web a map of its own,
	 * the kernel keeps the shape of the last replace.  After the refresh
	 * each member still forwards as p1 says.
	 */
	committer_refresh_fallbacks(g.committer, NULL);
	expect_fallback_members_forward(p1, "after the reload's refresh", true);
	kt_rig_down(&g);
	pool_free(p1);
	config_free(c1);
	free(base);
	free(base_now);
}

/*
 * knlbctl status says which base map a service shares (`shared base
 * web_base`, JSON "shared_base"), null for a map of its own; after a
 * reload that gives api another backend list, api has its own again.
 */
/* text with its health checks off: their lines made comments, in place */
static char *unchecked(char *text)
{
	static const char *const keys[] = { "check = tcp", "rise = 1", "fall = 1" };

	for (size_t k = 0; k < 3; k++)
		for (char *p = text; (p = strstr(p, keys[k])); p++)
			*p = ';';
	return text;
}

Test(slot_share, status_names_the_shared_base_map)
{
	char *text = unchecked(config_text()), *out;
	struct kt_knlbd r;
	int code;

	/* no cr_assert from here to the stop: knlbd must not outlive the test */
	kt_knlbd_start(&r, "share", text);
	free(text);
	out = kt_knlbctl(&r, "status --json", &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "\"name\":\"web\"") && strstr(out, "\"name\":\"solo\""), "%s", out);
	cr_expect_eq(kt_count_in_log(r.log, "3 services share base maps"), 1, "%s",
		     kt_read_file(r.log));
	{
		/* web, api, img name web_base; solo none */
		size_t shared = 0, own = 0;

		for (const char *p = out; (p = strstr(p, "\"shared_base\":")); p++) {
			shared += strncmp(p, "\"shared_base\":\"web_base\"", 24) == 0;
			own += strncmp(p, "\"shared_base\":null", 18) == 0;
		}
		cr_expect_eq(shared, SHARED, "%s", out);
		cr_expect_eq(own, 1, "%s", out);
	}
	free(out);
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "(set, shared base web_base)"), "%s", out);
	free(out);

	text = unchecked(config_text_of(N - 1, 1, false));
	kt_knlbd_write_conf(&r, text);
	free(text);
	out = kt_knlbctl(&r, "reload", &code);
	cr_expect_eq(code, 0, "%s", out);
	free(out);
	cr_expect(kt_wait_for_log(r.log, "service api shares a base slot map and its backends changed", 1000),
		  "%s", kt_read_file(r.log));
	out = kt_knlbctl(&r, "status --json", &code);
	cr_expect(strstr(out, "\"name\":\"api\"") &&
		  strstr(strstr(out, "\"name\":\"api\""), "\"shared_base\":null"),
		  "api still shares:\n%s", out);
	free(out);
	kt_knlbd_stop(&r);
}
