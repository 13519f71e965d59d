/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Adoption, the pure half: turn what the running table holds (adopt.c
 * reads it) into the pool's starting health and marks, so that a restart
 * maps what the kernel already maps and keeps counting old flows as
 * their service's (adopt, do not guess: docs/restart.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/pool/adopt_table.h"
#include "knlb/config/config-t.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/adopt_plan.h"

static uint32_t config_order_mark(const struct knlb_service *svc, size_t s)
{
	return ((uint32_t)s + 1) << __builtin_ctz(svc->ct_mark_mask);
}

/* Can every running mark be kept?  If not, why says what is wrong. */
static bool marks_consistent(const struct knlb_model *pool,
			     const struct adopt_table *t, char *why,
			     size_t len)
{
	for (size_t s = 0; s < pool->n_services; s++) {
		const struct knlb_service *svc = &pool->services[s];
		const struct adopt_service *as = adopt_find(t, svc->cfg->name);
		uint32_t mask = svc->ct_mark_mask;

		if (!as || !as->has_mark)
			continue;
		if (as->mark_mask != mask) {
			snprintf(why, len,
				 "service %s: the running rule sets ct mark under mask 0x%08x, ct_mark_mask is 0x%08x",
				 svc->cfg->name, as->mark_mask, mask);
			return false;
		}
		if (as->mark == 0 || (as->mark & ~mask)) {
			snprintf(why, len,
				 "service %s: running ct mark 0x%08x does not fit ct_mark_mask 0x%08x",
				 svc->cfg->name, as->mark, mask);
			return false;
		}
		for (size_t o = 0; o < s; o++) {
			const struct adopt_service *ao =
				adopt_find(t, pool->services[o].cfg->name);

			if (ao && ao->has_mark && ao->mark == as->mark) {
				snprintf(why, len,
					 "services %s and %s both set ct mark 0x%08x",
					 pool->services[o].cfg->name,
					 svc->cfg->name, as->mark);
				return false;
			}
		}
	}
	return true;
}

static void config_order_marks(struct knlb_model *pool)
{
	for (size_t s = 0; s < pool->n_services; s++)
		pool->services[s].ct_mark =
			config_order_mark(&pool->services[s], s);
}

static void adopt_marks(struct knlb_model *pool, const struct adopt_table *t,
			struct pool_adopt_result *res)
{
	if (!marks_consistent(pool, t, res->why, sizeof(res->why)))
		goto out_config_order;
	/* Running marks first, so the others take what is left. */
	for (size_t s = 0; s < pool->n_services; s++) {
		struct knlb_service *svc = &pool->services[s];
		const struct adopt_service *as = adopt_find(t, svc->cfg->name);

		svc->ct_mark = as && as->has_mark ? as->mark : 0;
	}
	for (size_t s = 0; s < pool->n_services; s++) {
		struct knlb_service *svc = &pool->services[s];

		if (svc->ct_mark)
			continue;
		if (pool_free_mark(pool, svc->ct_mark_mask, &svc->ct_mark) < 0) {
			snprintf(res->why, sizeof(res->why),
				 "service %s: no free ct mark under ct_mark_mask 0x%08x next to the running ones",
				 svc->cfg->name, svc->ct_mark_mask);
			goto out_config_order;
		}
	}
	return;

out_config_order:
	res->marks_reset = true;
	config_order_marks(pool);
}

static bool map_holds_primary(const struct knlb_service *svc,
			      const struct adopt_service *as)
{
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend_config *be = svc->backends[b].cfg;

		if (!be->backup && adopt_slots_of(as, &be->addr, be->port))
			return true;
	}
	return false;
}

bool pool_adopt_starts_down(const struct knlb_service *svc, size_t b,
			    const struct adopt_service *as,
			    const uint32_t *all_up_slots)
{
	const struct knlb_backend_config *be = svc->backends[b].cfg;

	if (!as || !as->has_map)
		return false;
	if (svc->cfg->health.check.kind == CHECK_NONE)
		return false;
	if (adopt_slots_of(as, &be->addr, be->port))
		return false;
	if (all_up_slots[b] > 0)
		return true;
	/* Standing by says nothing, unless no primary was serving. */
	return be->backup && be->weight > 0 && !map_holds_primary(svc, as);
}

/* Health of one service from its running map; slots recomputed. */
static int adopt_health(struct knlb_service *svc,
			const struct adopt_service *as)
{
	uint32_t *all_up;
	int ret;

	for (size_t b = 0; b < svc->n_backends; b++) {
		svc->backends[b].up = true;
		svc->backends[b].up_since_ns = 0;
	}
	pool_refresh_weights(svc, 0);
	ret = pool_compute_slots(svc);
	if (ret < 0 || !as || !as->has_map)
		return ret;
	all_up = calloc(svc->n_backends ? svc->n_backends : 1, sizeof(*all_up));
	if (!all_up)
		return -ENOMEM;
	pool_count_slots(svc, all_up);
	for (size_t b = 0; b < svc->n_backends; b++)
		if (pool_adopt_starts_down(svc, b, as, all_up))
			svc->backends[b].up = false;
	free(all_up);
	pool_refresh_weights(svc, 0);
	return pool_compute_slots(svc);
}

int pool_adopt(struct knlb_model *pool, const struct adopt_table *t,
	       struct pool_adopt_result *res)
{
	int ret;

	*res = (struct pool_adopt_result){ .table = t && t->exists };
	if (!res->table)
		return 0;
	adopt_marks(pool, t, res);
	for (size_t s = 0; s < pool->n_services; s++) {
		struct knlb_service *svc = &pool->services[s];

		ret = adopt_health(svc, adopt_find(t, svc->cfg->name));
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* snprintf that appends to buf and never runs past len. */
static void append(char *buf, size_t len, size_t *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at = *at + (size_t)n < len ? *at + (size_t)n : len;
}

static const char *mark_origin(const struct knlb_service *svc,
			       const struct adopt_service *as,
			       const struct pool_adopt_result *res)
{
	if (res->marks_reset)
		return " (config order: the running marks cannot be kept)";
	if (as && as->has_mark && as->mark == svc->ct_mark)
		return "";
	if (as && as->has_chain)
		return " (the running rule's mark was not recognised: lowest free)";
	return " (new: lowest free)";
}

/* ids of svc's backends with up == up that the map does not hold: how many. */
static size_t list_unmapped(const struct knlb_service *svc,
			    const struct adopt_service *as, bool up, char *out,
			    size_t len)
{
	size_t at = 0, count = 0;

	out[0] = '\0';
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend *be = &svc->backends[b];

		if (be->up != up || adopt_slots_of(as, &be->cfg->addr, be->cfg->port))
			continue;
		append(out, len, &at, "%s%s", count ? ", " : "", be->cfg->id);
		count++;
	}
	return count;
}

/* Values of the running map that are no backend of svc (config changed). */
static size_t unknown_values(const struct knlb_service *svc,
			     const struct adopt_service *as)
{
	size_t n = 0;

	for (size_t i = 0; i < as->n_mapped; i++) {
		bool known = false;

		for (size_t b = 0; b < svc->n_backends && !known; b++)
			known = svc->backends[b].cfg->port == as->mapped[i].port &&
				addr_equal(&svc->backends[b].cfg->addr,
					   &as->mapped[i].addr);
		n += !known;
	}
	return n;
}

void pool_adopt_describe(const struct knlb_model *pool, size_t s,
			 const struct adopt_table *t,
			 const struct pool_adopt_result *res, char *buf,
			 size_t len)
{
	const struct knlb_service *svc = &pool->services[s];
	const struct adopt_service *as = adopt_find(t, svc->cfg->name);
	char down[256], standby[256];
	size_t at = 0, mapped = 0, n_down, n_standby, unknown;

	if (!len)
		return;
	buf[0] = '\0';
	if (!as || !as->has_map) {
		append(buf, len, &at,
		       "service %s: not in the running table: mark 0x%08x%s, backends start up",
		       svc->cfg->name, svc->ct_mark, mark_origin(svc, as, res));
		return;
	}
	for (size_t b = 0; b < svc->n_backends; b++)
		mapped += adopt_slots_of(as, &svc->backends[b].cfg->addr,
					 svc->backends[b].cfg->port) > 0;
	n_down = list_unmapped(svc, as, false, down, sizeof(down));
	n_standby = list_unmapped(svc, as, true, standby, sizeof(standby));
	unknown = unknown_values(svc, as);
	append(buf, len, &at,
	       "service %s: adopted from the running table: mark 0x%08x%s, %zu of %zu backends mapped",
	       svc->cfg->name, svc->ct_mark, mark_origin(svc, as, res), mapped,
	       svc->n_backends);
	if (unknown)
		append(buf, len, &at, " (and %zu mapped addresses no longer in the config)",
		       unknown);
	if (n_down)
		append(buf, len, &at, "; %s %s down until %s probes pass", down,
		       n_down == 1 ? "starts" : "start",
		       n_down == 1 ? "its" : "their");
	if (n_standby)
		append(buf, len, &at,
		       "; %s not mapped but %s up (no check, or no slots even with every backend up)",
		       standby, n_standby == 1 ? "starts" : "start");
}
