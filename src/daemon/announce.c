/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Announced VIPs: the plan of src/pool/announce_plan.c applied with
 * src/route/ after each acknowledged commit.  See knlb/daemon/announce.h.
 *
 * Order against the nft commit: a VIP is announced once the kernel maps
 * a backend for each of its services (the commit before this hook made
 * it so) and withdrawn in the same loop iteration as the commit that left
 * a service empty: the kernel offers no transaction across nftables and
 * routes, so between the two the gateway answers with on_empty.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/daemon/announce.h"
#include "knlb/config/config-t.h"
#include "knlb/daemon/daemon-t.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/nft/commit.h"
#include "knlb/pool/announce_plan.h"
#include "knlb/pool/pool-t.h"
#include "knlb/route/route.h"

/* After a failed route change, the next try waits this long. */
#define RETRY_NS 1000000000ULL

struct announcer {
	struct route_sock *rs;
	uint32_t table;
	struct announce_state *vips;
	size_t n, cap;
	/* what the last sync saw, to skip the unchanged iterations */
	const struct knlb_model *seen_pool;
	uint64_t seen_sig;
	uint64_t retry_at_ns;		/* 0: nothing to retry */
};

/* Changes when any service's announce or empty does (or the pool). */
static uint64_t pool_signature(const struct knlb_model *pool)
{
	uint64_t sig = 1469598103934665603ULL;

	for (size_t s = 0; s < pool->n_services; s++) {
		const struct knlb_service *svc = &pool->services[s];

		sig = (sig ^ (uint64_t)svc->cfg->announce) * 1099511628211ULL;
		for (size_t f = 0; f < svc->n_families; f++)
			sig = (sig ^ (uint64_t)(svc->families[f].empty + 2)) *
			      1099511628211ULL;
	}
	return sig;
}

static struct announce_state *find(struct announcer *a,
				   const struct knlb_addr *vip)
{
	for (size_t i = 0; i < a->n; i++)
		if (addr_equal(&a->vips[i].vip, vip))
			return &a->vips[i];
	return NULL;
}

static struct announce_state *find_or_add(struct announcer *a,
					  const struct knlb_addr *vip)
{
	struct announce_state *st = find(a, vip);

	if (st)
		return st;
	if (grow(&a->vips, &a->cap, a->n + 1, sizeof(*a->vips), 4) < 0)
		return NULL;
	st = &a->vips[a->n++];
	*st = (struct announce_state){ .vip = *vip };
	return st;
}

/* What the kernel holds of knlb's in the table becomes the state. */
static int adopt_installed(struct announcer *a)
{
	struct knlb_addr *have = NULL;
	size_t n = 0;
	int ret;

	ret = route_list(a->rs, a->table, &have, &n);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct announce_state *st = find_or_add(a, &have[i]);

		if (!st) {
			ret = -ENOMEM;
			break;
		}
		st->installed = true;
	}
	if (n)
		log_info("announce: %zu VIP route%s of knlb's already in table %u: adopted",
			 n, n == 1 ? "" : "s", a->table);
	free(have);
	return ret;
}

int announcer_start(struct knlbd *d)
{
	struct announcer *a = calloc(1, sizeof(*a));
	int ret;

	if (!a)
		return -ENOMEM;
	a->table = d->config->global.announce_table;
	ret = route_sock_open(&a->rs);
	if (ret == 0)
		ret = adopt_installed(a);
	if (ret < 0) {
		log_warn("announce: rtnetlink: %s: no VIP is announced or withdrawn",
			 strerror(-ret));
		announcer_free(a);
		return ret;
	}
	d->announcer = a;
	return 0;
}

static void set_why(struct announce_state *st, const char *fmt, const char *arg)
{
	snprintf(st->why, sizeof(st->why), fmt, arg);
}

static int announce(struct announcer *a, struct announce_state *st)
{
	char vip[KNLB_ADDRSTRLEN];
	int ret = route_announce(a->rs, a->table, &st->vip);

	addr_format(&st->vip, vip, sizeof(vip));
	if (ret < 0) {
		log_error("announce: VIP %s: adding its route to table %u: %s",
			  vip, a->table, strerror(-ret));
		set_why(st, "route not added: %s", strerror(-ret));
		return ret;
	}
	st->installed = true;
	st->why[0] = '\0';
	log_info("announce: VIP %s announced (route in table %u)", vip, a->table);
	return 0;
}

static int withdraw(struct announcer *a, struct announce_state *st,
		    const char *why)
{
	char vip[KNLB_ADDRSTRLEN], reason[sizeof(st->why)];
	int ret = route_withdraw(a->rs, a->table, &st->vip);

	snprintf(reason, sizeof(reason), "%s", why);	/* why may be st->why */
	addr_format(&st->vip, vip, sizeof(vip));
	if (ret < 0) {
		log_error("announce: VIP %s: removing its route from table %u: %s",
			  vip, a->table, strerror(-ret));
		set_why(st, "route not removed: %s", strerror(-ret));
		return ret;
	}
	st->installed = false;
	snprintf(st->why, sizeof(st->why), "%s", reason);
	log_warn("announce: VIP %s withdrawn: %s", vip, reason);
	return 0;
}

/* The plan's rows into the state; every VIP not in it is unconfigured. */
static int take_plan(struct announcer *a, const struct knlb_model *pool)
{
	struct announce_want *want = NULL;
	size_t n = 0;
	int ret = announce_plan_build(pool, &want, &n);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < a->n; i++)
		a->vips[i].configured = false;
	for (size_t i = 0; i < n; i++) {
		struct announce_state *st = find_or_add(a, &want[i].vip);

		if (!st) {
			ret = -ENOMEM;
			break;
		}
		st->configured = true;
		st->wanted = want[i].wanted;
		if (!st->wanted)
			snprintf(st->why, sizeof(st->why),
				 "no usable backend in service %s",
				 want[i].blocked_by);
	}
	free(want);
	return ret;
}

/* Acts on every VIP whose route is not as wanted; drops the finished ones. */
static int apply(struct announcer *a)
{
	int failed = 0;
	size_t keep = 0;

	for (size_t i = 0; i < a->n; i++) {
		struct announce_state *st = &a->vips[i];

		if (st->configured && st->wanted && !st->installed)
			failed |= announce(a, st) < 0;
		else if (st->configured && !st->wanted && st->installed)
			failed |= withdraw(a, st, st->why) < 0;
		else if (!st->configured && st->installed)
			failed |= withdraw(a, st, "no service announces it any more") < 0;
		if (st->configured || st->installed)
			a->vips[keep++] = *st;
	}
	a->n = keep;
	return failed ? -1 : 0;
}

void announcer_sync(struct knlbd *d)
{
	struct announcer *a = d->announcer;
	uint64_t sig, now;

	/* The routes follow what the kernel maps, not what it may map later. */
	if (!a || !committer_synced(d->committer))
		return;
	sig = pool_signature(d->pool);
	now = loop_now_ns();
	if (a->seen_pool == d->pool && a->seen_sig == sig &&
	    (!a->retry_at_ns || now < a->retry_at_ns))
		return;
	if (take_plan(a, d->pool) < 0) {
		log_error("announce: out of memory: VIP routes left as they are");
		a->retry_at_ns = now + RETRY_NS;
		return;
	}
	a->seen_pool = d->pool;
	a->seen_sig = sig;
	a->retry_at_ns = apply(a) < 0 ? now + RETRY_NS : 0;
}

void announcer_reload(struct knlbd *d, uint32_t old_table)
{
	struct announcer *a = d->announcer;

	if (!a)
		return;
	a->seen_pool = NULL;	/* the next sync looks again */
	if (d->config->global.announce_table == old_table)
		return;
	for (size_t i = 0; i < a->n; i++)
		if (a->vips[i].installed)
			withdraw(a, &a->vips[i], "announce_table changed");
	a->n = 0;
	a->table = d->config->global.announce_table;
	if (adopt_installed(a) < 0)
		log_error("announce: listing table %u failed: its routes are not adopted",
			  a->table);
}

void announcer_withdraw_all(struct knlbd *d)
{
	struct announcer *a = d->announcer;
	struct knlb_addr *have = NULL;
	size_t n = 0;
	int ret;

	if (!a)
		return;
	ret = route_list(a->rs, a->table, &have, &n);
	if (ret < 0) {
		log_error("--flush-on-exit: listing table %u: %s; VIP routes left in place",
			  a->table, strerror(-ret));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct announce_state *st = find_or_add(a, &have[i]);

		if (st)
			withdraw(a, st, "knlbd stopped with --flush-on-exit");
	}
	free(have);
}

void announcer_free(struct announcer *a)
{
	if (!a)
		return;
	route_sock_close(a->rs);
	free(a->vips);
	free(a);
}

const struct announce_state *announcer_states(const struct announcer *a,
					      size_t *n)
{
	*n = a ? a->n : 0;
	return a ? a->vips : NULL;
}

uint32_t announcer_table(const struct announcer *a)
{
	return a ? a->table : 0;
}
