/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reload, the pure half: carry runtime state into the new pool and say
 * how the kernel must change (see reload.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config-t.h"
#include "knlb/config/config.h"
#include "knlb/config/table_size.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/reload_plan.h"

int reload_check(const struct knlb_config *old, const struct knlb_config *new,
		 char *err, size_t errlen)
{
	if (strcmp(old->global.table, new->global.table) != 0) {
		snprintf(err, errlen,
			 "%s: table changed from %s to %s: a reload cannot rename the table; restart knlbd to apply it",
			 new->path, old->global.table, new->global.table);
		return -EINVAL;
	}
	if (old->global.ct_mark_mask != new->global.ct_mark_mask) {
		snprintf(err, errlen,
			 "%s: ct_mark_mask changed from 0x%08x to 0x%08x: flows already marked would be lost; restart knlbd to apply it",
			 new->path, old->global.ct_mark_mask,
			 new->global.ct_mark_mask);
		return -EINVAL;
	}
	/* The mask is the flows' own, set at their first packet: no delta can change it. */
	if (old->global.ct_events != new->global.ct_events) {
		snprintf(err, errlen,
			 "%s: ct_events changed: the service chains would have to be replaced; restart knlbd to apply it",
			 new->path);
		return -EINVAL;
	}
	/*
	 * Their chains and sets come and go with the table's replace at a
	 * start; conntrack's accounting is turned on at a start too.
	 */
	if (old->global.traffic_counters != new->global.traffic_counters) {
		snprintf(err, errlen,
			 "%s: traffic_counters changed: the counting chains would have to be added or removed; restart knlbd to apply it",
			 new->path);
		return -EINVAL;
	}
	return 0;
}

/* Per-family addresses (VIPs, SNAT addresses): the same ones, or absent in both. */
static bool same_addrs(const struct knlb_addr *a, const struct knlb_addr *b)
{
	for (int f = 0; f < KNLB_FAMILIES; f++)
		if (a[f].family != b[f].family ||
		    (a[f].family && !addr_equal(&a[f], &b[f])))
			return false;
	return true;
}

/* NULL when the kernel rules of the service are the same, else what differs. */
static const char *rules_change(const struct knlb_service_config *a,
				const struct knlb_service_config *b)
{
	if (!same_addrs(a->vip, b->vip))
		return "vip";
	if (a->port != b->port)
		return "port";
	if (a->proto != b->proto)
		return "proto";
	if (a->scheduler != b->scheduler)
		return "scheduler";
	if (a->hash_key != b->hash_key)
		return "hash_key";
	if (a->table_size != b->table_size)
		return "table_size";
	if (a->hash_seed != b->hash_seed)
		return "hash_seed";
	if (a->snat != b->snat || (a->snat == KNLB_SNAT_ADDRESS &&
				   !same_addrs(a->snat_addr, b->snat_addr)))
		return "snat";
	if (a->on_empty != b->on_empty)
		return "on_empty";
	/* a map and rules appear, go or change timeout: entries carried over */
	if (a->persistence_ns != b->persistence_ns)
		return "persistence";
	if (a->track != b->track)
		return "track";
	/* the service chain gains or loses its jump to fb_NAME */
	if (config_table_has_fallback_maps(a) != config_table_has_fallback_maps(b))
		return "fallback maps";
	return NULL;
}

static long find_service(const struct knlb_model *pool, const char *name)
{
	for (size_t i = 0; i < pool->n_services; i++)
		if (strcmp(pool->services[i].cfg->name, name) == 0)
			return (long)i;
	return -1;
}

/*
 * Backends by id, sorted, so matching N new backends against N old ones
 * is N log N: a farm of 10000 backends reloads in milliseconds, not the
 * half second a linear search per backend took.
 */
struct id_index {
	const struct knlb_service *svc;
	size_t *order;			/* backend indexes sorted by id */
};

static int cmp_backend_id(const void *a, const void *b, void *arg)
{
	const struct knlb_service *svc = arg;

	return strcmp(svc->backends[*(const size_t *)a].cfg->id,
		      svc->backends[*(const size_t *)b].cfg->id);
}

static int id_index_build(struct id_index *ix, const struct knlb_service *svc)
{
	ix->svc = svc;
	ix->order = malloc((svc->n_backends ? svc->n_backends : 1) * sizeof(size_t));
	if (!ix->order)
		return -ENOMEM;
	for (size_t b = 0; b < svc->n_backends; b++)
		ix->order[b] = b;
	qsort_r(ix->order, svc->n_backends, sizeof(size_t), cmp_backend_id,
		(void *)svc);
	return 0;
}

static long id_index_find(const struct id_index *ix, const char *id)
{
	size_t lo = 0, hi = ix->svc->n_backends;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ix->svc->backends[ix->order[mid]].cfg->id, id);

		if (c == 0)
			return (long)ix->order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * The names of one kind of structural change, for why: all of them up to
 * RELOAD_WHY_NAMES, then "and N more".  One name keeps the sentence a
 * single change always had ("service web: vip changed").
 */
struct name_list {
	size_t n;
	char text[RELOAD_WHY_NAMES * 64];
};

static void name_list_add(struct name_list *l, const char *name,
			  const char *detail)
{
	size_t off = strlen(l->text);

	if (l->n++ >= RELOAD_WHY_NAMES)
		return;
	snprintf(l->text + off, sizeof(l->text) - off, "%s%s%s%s%s",
		 off ? ", " : "", name, detail ? " (" : "",
		 detail ? detail : "", detail ? ")" : "");
}

/* "service a removed", "services a, b and 3 more removed", after "; ". */
static void why_append(struct reload_plan *plan, const struct name_list *l,
		       const char *one, const char *what)
{
	size_t off = strlen(plan->why);

	if (!l->n)
		return;
	if (off)
		off += (size_t)snprintf(plan->why + off, sizeof(plan->why) - off, "; ");
	if (off >= sizeof(plan->why))
		return;
	if (l->n == 1) {
		snprintf(plan->why + off, sizeof(plan->why) - off, "%s", one);
		return;
	}
	if (l->n > RELOAD_WHY_NAMES)
		snprintf(plan->why + off, sizeof(plan->why) - off,
			 "services %s and %zu more %s", l->text,
			 l->n - RELOAD_WHY_NAMES, what);
	else
		snprintf(plan->why + off, sizeof(plan->why) - off,
			 "services %s %s", l->text, what);
}

/*
 * Every structural change, by kind, into plan->why: removed first (their
 * flows are flushed), then added, then changed rules.
 */
static void describe_structure(struct reload_plan *plan,
			       const struct knlb_model *old,
			       const struct knlb_model *new)
{
	struct name_list removed = { 0 }, added = { 0 }, changed = { 0 };
	char one_removed[96] = "", one_added[96] = "", one_changed[128] = "";

	for (size_t s = 0; s < old->n_services; s++) {
		const char *name = old->services[s].cfg->name;

		if (find_service(new, name) >= 0)
			continue;
		name_list_add(&removed, name, NULL);
		snprintf(one_removed, sizeof(one_removed), "service %s removed", name);
	}
	for (size_t s = 0; s < new->n_services; s++) {
		const struct knlb_service_config *cfg = new->services[s].cfg;
		const char *what;

		if (plan->svc_from[s] < 0) {
			name_list_add(&added, cfg->name, NULL);
			snprintf(one_added, sizeof(one_added), "service %s added",
				 cfg->name);
			continue;
		}
		what = rules_change(old->services[plan->svc_from[s]].cfg, cfg);
		if (!what)
			continue;
		name_list_add(&changed, cfg->name, what);
		snprintf(one_changed, sizeof(one_changed), "service %s: %s changed",
			 cfg->name, what);
	}
	plan->why[0] = '\0';
	why_append(plan, &removed, one_removed, "removed");
	why_append(plan, &added, one_added, "added");
	why_append(plan, &changed, one_changed, "changed");
	if (plan->why[0])
		plan->kind = RELOAD_STRUCTURE;
}

/* The state of backend ob of the running pool, moved into nb. */
static void carry_backend(struct reload_plan *plan, struct knlb_service *nsvc,
			  struct knlb_backend *nb, const struct knlb_backend *ob)
{
	nb->admin = ob->admin;
	nb->up = ob->up;
	nb->up_since_ns = ob->up_since_ns;
	if (nsvc->cfg->health.check.kind == CHECK_NONE) {
		nb->up = true;
		nb->up_since_ns = 0;
	}
	if (nb->cfg->weight != ob->cfg->weight)
		plan->weights_changed++;
	if (ob->weight_set) {
		if (nb->cfg->weight == ob->cfg->weight) {
			nb->weight = ob->weight;
			nb->weight_set = true;
			plan->runtime_weights_kept++;
		} else {
			plan->runtime_weights_dropped++;
		}
	}
	if (nsvc->cfg->scheduler == KNLB_SCHED_WLC && ob->wlc_set &&
	    nb->weight == ob->weight) {
		nb->wlc_weight = ob->wlc_weight;
		nb->wlc_set = true;
	}
}

static int carry_service(struct reload_plan *plan, size_t s,
			 const struct knlb_service *osvc,
			 struct knlb_service *nsvc)
{
	const char *what = rules_change(osvc->cfg, nsvc->cfg);
	struct id_index ix;
	size_t kept = 0;

	nsvc->ct_mark = osvc->ct_mark;
	if (what)
		plan->services_changed++;
	plan->backend_from[s] = malloc((nsvc->n_backends ? nsvc->n_backends : 1) *
				       sizeof(long));
	if (!plan->backend_from[s] || id_index_build(&ix, osvc) < 0)
		return -ENOMEM;
	for (size_t b = 0; b < nsvc->n_backends; b++) {
		long ob = id_index_find(&ix, nsvc->backends[b].cfg->id);

		plan->backend_from[s][b] = ob;
		if (ob < 0) {
			plan->backends_added++;
			continue;
		}
		kept++;
		carry_backend(plan, nsvc, &nsvc->backends[b], &osvc->backends[ob]);
	}
	free(ix.order);
	plan->backends_removed += osvc->n_backends - kept;
	return 0;
}

int reload_plan_build(const struct knlb_model *old, struct knlb_model *new,
		      uint64_t now_ns, struct reload_plan *plan, char *err,
		      size_t errlen)
{
	size_t n = new->n_services;
	size_t kept = 0;
	int ret;

	*plan = (struct reload_plan){ .kind = RELOAD_SLOTS, .n_services = n };
	plan->svc_from = calloc(n ? n : 1, sizeof(*plan->svc_from));
	plan->backend_from = calloc(n ? n : 1, sizeof(*plan->backend_from));
	if (!plan->svc_from || !plan->backend_from)
		return -ENOMEM;

	/* Marks of kept services first, so new ones can take what is free. */
	for (size_t s = 0; s < n; s++)
		new->services[s].ct_mark = 0;
	for (size_t s = 0; s < n; s++) {
		long os = find_service(old, new->services[s].cfg->name);

		plan->svc_from[s] = os;
		if (os < 0)
			continue;
		kept++;
		ret = carry_service(plan, s, &old->services[os], &new->services[s]);
		if (ret < 0)
			return ret;
	}
	for (size_t s = 0; s < n; s++) {
		struct knlb_service *svc = &new->services[s];

		if (plan->svc_from[s] >= 0)
			continue;
		plan->services_added++;
		plan->backends_added += svc->n_backends;
		if (pool_free_mark(new, svc->ct_mark_mask, &svc->ct_mark) < 0) {
			snprintf(err, errlen,
				 "service %s: no free ct mark under ct_mark_mask 0x%08x",
				 svc->cfg->name, svc->ct_mark_mask);
			return -ENOSPC;
		}
	}
	plan->services_removed = old->n_services - kept;
	for (size_t s = 0; plan->services_removed && s < old->n_services; s++)
		if (find_service(new, old->services[s].cfg->name) < 0)
			plan->backends_removed += old->services[s].n_backends;
	describe_structure(plan, old, new);

	for (size_t s = 0; s < n; s++) {
		pool_refresh_weights(&new->services[s], now_ns);
		ret = pool_compute_slots(&new->services[s]);
		if (ret < 0) {
			snprintf(err, errlen, "service %s: computing slots: %s",
				 new->services[s].cfg->name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void reload_plan_free(struct reload_plan *plan)
{
	for (size_t s = 0; plan->backend_from && s < plan->n_services; s++)
		free(plan->backend_from[s]);
	free(plan->backend_from);
	free(plan->svc_from);
	*plan = (struct reload_plan){ 0 };
}
