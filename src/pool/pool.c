/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runtime state: services and backends with their effective weights and
 * the slot table each service wants in the kernel.  Pure bookkeeping; the
 * schedulers compute, the nft layer programs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"

#include "knlb/config/config.h"
#include "knlb/pool/base_index.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

struct knlb_service_family *pool_service_family(const struct knlb_service *svc,
						enum knlb_family f)
{
	for (size_t k = 0; k < svc->n_families; k++)
		if (svc->families[k].family == f)
			return (struct knlb_service_family *)&svc->families[k];
	return NULL;
}

unsigned pool_empty_families(const struct knlb_service *svc)
{
	unsigned bits = 0;

	for (size_t k = 0; k < svc->n_families; k++)
		if (svc->families[k].empty)
			bits |= 1u << svc->families[k].family;
	return bits;
}

bool pool_serves_family(const struct knlb_model *pool, enum knlb_family f)
{
	for (size_t i = 0; i < pool->n_services; i++)
		if (pool_service_family(&pool->services[i], f))
			return true;
	return false;
}

static enum knlb_family backend_family(const struct knlb_backend *be)
{
	return addr_family_index(&be->cfg->addr);
}

bool pool_backend_serves_family(const struct knlb_backend *be,
				enum knlb_family f)
{
	return backend_family(be) == f && be->effective_weight > 0;
}

/* Scratch of one pool_compute_slots(), indexed like the family's backends. */
struct slots_scratch {
	struct sched_backend *in;
	uint32_t *map;			/* to svc's backend index */
	bool *serving;
	const struct pool_fallback_hint *hint;	/* NULL: none */
	int hinted;			/* families the hint answered */
};

/*
 * Whether hint answers fam's slots for the serving set in sc: computed
 * on the same base, for a set that holds every backend serving now (a
 * backend the hint had as dead serves again: an earlier preference may
 * be back, the hint does not know).
 */
static bool hint_usable(const struct knlb_service *svc,
			const struct slots_scratch *sc)
{
	/* the same base: named by its generation, not compared slot by slot */
	if (!sc->hint || !sc->hint->base_gen || sc->hint->base_gen != svc->base_gen)
		return false;
	for (size_t b = 0; b < svc->n_backends; b++)
		if (sc->hint->dead[b] && sc->serving[b])
			return false;
	return true;
}

/* Whether fam's kept fill was built with these base weights. */
static bool prefs_current(const struct knlb_service_family *fam,
			  const struct sched_backend *in, size_t n)
{
	if (!fam->prefs)
		return false;
	for (size_t j = 0; j < n; j++)
		if (fam->prefs_weights[j] != in[j].weight)
			return false;
	return true;
}

static void forget_prefs(struct knlb_service_family *fam)
{
	maglev_prefs_free(fam->prefs);
	free(fam->prefs_weights);
	fam->prefs = NULL;
	fam->prefs_weights = NULL;
}

/* A new base table and its kept fill, for the weights in in[]. */
static int rebuild_prefs(struct knlb_service *svc, struct knlb_service_family *fam,
			 const struct sched_backend *in, size_t n)
{
	uint32_t *weights = malloc((n ? n : 1) * sizeof(*weights));
	struct maglev_prefs *prefs;
	int ret;
	const struct knlb_service_family *twin = svc->build_twin ?
		pool_service_family(svc->build_twin, fam->family) : NULL;

	if (!weights)
		return -ENOMEM;
	/* base is written from here on, even if the build then fails */
	pool_base_changed(svc);
	fam->eff_known = false;
	if (twin && prefs_current(twin, in, n)) {
		/* the same inputs give the same fill and base */
		ret = maglev_prefs_copy(twin->prefs, &prefs);
		if (ret == 0)
			memcpy(fam->base, twin->base,
			       svc->cfg->table_size * sizeof(*fam->base));
	} else {
		ret = maglev_prefs_new(in, n, svc->cfg->hash_seed, fam->base,
				       svc->cfg->table_size, &prefs);
	}
	if (ret < 0) {
		free(weights);
		return ret;
	}
	for (size_t j = 0; j < n; j++)
		weights[j] = in[j].weight;
	forget_prefs(fam);
	fam->prefs = prefs;
	fam->prefs_weights = weights;
	return 0;
}

/* fam->slots is now the effective table of the serving set in sc. */
static void remember_effective(struct knlb_service *svc,
			       struct knlb_service_family *fam,
			       const struct slots_scratch *sc)
{
	for (size_t b = 0; b < svc->n_backends; b++)
		if (backend_family(&svc->backends[b]) == fam->family)
			svc->eff_dead[b] = !sc->serving[b];
	fam->eff_known = true;
}

/*
 * The effective table from the one fam->slots holds, rewriting only what
 * can differ: the base slots of each backend that does not serve now or
 * did not when it was computed (svc->eff_dead).  A slot whose owner
 * serves, and served then, holds its owner already.  Those that come
 * back get their slots back; the others' slots take the hint's answer
 * when it serves (hint: the kernel's fallbacks, usable) or are walked
 * again.  Costs M/N per backend concerned instead of passes over M: one
 * of 10 backends down at M = 65537 looked at 6554 slots, not 65537.
 */
/* Whether answer_touched() rewrites b's slots. */
static bool concerned(const struct knlb_service *svc,
		      const struct knlb_service_family *fam,
		      const struct slots_scratch *sc, size_t b)
{
	return backend_family(&svc->backends[b]) == fam->family &&
	       (!sc->serving[b] || svc->eff_dead[b]);
}

static int answer_touched(struct knlb_service *svc,
			  struct knlb_service_family *fam, size_t k,
			  const struct slots_scratch *sc, bool hinted)
{
	uint32_t m = svc->cfg->table_size, off = (uint32_t)(k * m);
	const uint32_t *next = hinted ? sc->hint->next + off : NULL;
	uint32_t *pending;
	size_t n_pending = 0, most = 0, n_own;
	int ret;

	/* sized to what is looked at: M/N per backend, not M */
	for (size_t b = 0; b < svc->n_backends; b++)
		if (concerned(svc, fam, sc, b)) {
			pool_base_slots_of(svc, b, &n_own);
			most += n_own;
		}
	pending = malloc((most ? most : 1) * sizeof(*pending));
	if (!pending)
		return -ENOMEM;
	for (size_t b = 0; b < svc->n_backends; b++) {
		bool serves = sc->serving[b];
		const uint32_t *own;

		if (!concerned(svc, fam, sc, b))
			continue;
		own = pool_base_slots_of(svc, b, &n_own);
		for (size_t j = 0; j < n_own; j++) {
			uint32_t s = own[j] - off, nx;

			if (serves) {
				fam->slots[s] = (uint32_t)b;
				continue;
			}
			nx = next ? next[s] : SCHED_SLOT_EMPTY;
			if (nx != SCHED_SLOT_EMPTY && sc->serving[nx]) {
				fam->slots[s] = nx;
			} else {
				fam->slots[s] = SCHED_SLOT_PENDING;
				pending[n_pending++] = s;
			}
		}
		svc->eff_dead[b] = !serves;
	}
	ret = maglev_prefs_fill_list(fam->prefs, fam->base, sc->serving,
				     fam->slots, pending, n_pending);
	free(pending);
	/* on failure slots holds PENDING entries: computed in full next time */
	if (ret < 0)
		fam->eff_known = false;
	return ret;
}

/*
 * maglev: the base table over base weights and, from it, the effective
 * one.  A health or maxconn transition leaves the base weights alone and
 * costs only the walk from the kept fill.  When no backend of the base
 * serves, the table of the backends that do (backups) as before, and
 * base is that table too.
 */
static int compute_family_maglev(struct knlb_service *svc,
				 struct knlb_service_family *fam,
				 struct slots_scratch *sc)
{
	const struct knlb_service_config *cfg = svc->cfg;
	size_t n = svc->n_backends;
	bool base_serves = false, all_serve = true;
	int ret = 0;

	for (size_t j = 0; j < n; j++) {
		const struct knlb_backend *be = &svc->backends[j];
		bool ours = backend_family(be) == fam->family;

		sc->in[j].id = be->cfg->id;
		sc->in[j].weight = ours ? be->base_weight : 0;
		sc->serving[j] = pool_backend_serves_family(be, fam->family);
		base_serves |= sc->in[j].weight > 0 && sc->serving[j];
		all_serve &= !sc->in[j].weight || sc->serving[j];
	}
	if (base_serves) {
		size_t k = (size_t)(fam - svc->families);
		bool hinted;

		if (!prefs_current(fam, sc->in, n))
			ret = rebuild_prefs(svc, fam, sc->in, n);
		if (ret < 0)
			return ret;
		if (fam->eff_known && pool_base_index_valid(svc)) {
			hinted = !all_serve && hint_usable(svc, sc);
			sc->hinted += hinted;
			return answer_touched(svc, fam, k, sc, hinted);
		}
		/*
		 * The whole table: a new base (no hint was computed on it) or
		 * the first computation.  No hint is worth a pass here.
		 */
		if (all_serve)
			memcpy(fam->slots, fam->base,
			       cfg->table_size * sizeof(*fam->slots));
		else
			ret = maglev_prefs_answer(fam->prefs, fam->base,
						  sc->serving, fam->slots);
		if (ret == 0)
			remember_effective(svc, fam, sc);
		return ret;
	}
	/* fam->base now holds another table: the kept fill is not its. */
	forget_prefs(fam);
	fam->eff_known = false;
	for (size_t j = 0; j < n; j++)
		sc->in[j].weight = backend_family(&svc->backends[j]) == fam->family ?
				   svc->backends[j].effective_weight : 0;
	ret = maglev_build(sc->in, n, cfg->hash_seed, fam->slots, cfg->table_size);
	if (ret == 0)
		memcpy(fam->base, fam->slots, cfg->table_size * sizeof(*fam->base));
	pool_base_changed(svc);
	return ret;
}

static void map_to_service(uint32_t *table, uint32_t m, const uint32_t *map)
{
	for (uint32_t i = 0; i < m; i++)
		if (table[i] != SCHED_SLOT_EMPTY)
			table[i] = map[table[i]];
}

/*
 * One family's table from its backends, in config order.  maglev takes
 * every backend of the service, the other family's with weight 0 (which
 * changes no slot), so that its tables hold svc's indexes directly.
 */
static int compute_family_slots(struct knlb_service *svc,
				struct knlb_service_family *fam,
				struct slots_scratch *sc)
{
	const struct knlb_service_config *cfg = svc->cfg;
	size_t n = 0;
	int ret;

	if (cfg->scheduler == KNLB_SCHED_MAGLEV)
		return compute_family_maglev(svc, fam, sc);
	for (size_t i = 0; i < svc->n_backends; i++) {
		if (backend_family(&svc->backends[i]) != fam->family)
			continue;
		sc->in[n].id = svc->backends[i].cfg->id;
		sc->in[n].weight = svc->backends[i].effective_weight;
		sc->map[n++] = (uint32_t)i;
	}
	/* wrr, random and wlc share the interleaved table; no base. */
	ret = wrr_build(sc->in, n, fam->slots, cfg->table_size);
	if (ret == 0)
		map_to_service(fam->slots, cfg->table_size, sc->map);
	return ret;
}

int pool_compute_slots(struct knlb_service *svc)
{
	return pool_compute_slots_hinted(svc, NULL);
}

int pool_compute_slots_hinted(struct knlb_service *svc,
			      const struct pool_fallback_hint *hint)
{
	size_t n = svc->n_backends ? svc->n_backends : 1;
	struct slots_scratch sc = {
		.in = calloc(n, sizeof(*sc.in)),
		.map = calloc(n, sizeof(*sc.map)),
		.serving = calloc(n, sizeof(*sc.serving)),
		.hint = hint,
	};
	int ret = sc.in && sc.map && sc.serving ? 0 : -ENOMEM;

	for (size_t k = 0; ret == 0 && k < svc->n_families; k++)
		ret = compute_family_slots(svc, &svc->families[k], &sc);
	if (ret == 0)
		pool_base_index_build(svc);
	free(sc.in);
	free(sc.map);
	free(sc.serving);
	if (ret < 0)
		return ret;
	svc->dirty = false;
	return sc.hinted;
}

uint32_t pool_slots_of(const struct knlb_service *svc, size_t b)
{
	size_t len = pool_slots_len(svc);
	uint32_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += svc->slots[i] == b;
	return n;
}

/* Would take new flows but for maxconn. */
bool pool_backend_serving(const struct knlb_backend *be)
{
	return be->up && be->admin == KNLB_ADMIN_ENABLED && be->weight > 0;
}

/* Takes new flows if the scheduler gives it slots. */
static bool backend_usable(const struct knlb_backend *be)
{
	return pool_backend_serving(be) && !be->full;
}

uint32_t pool_maxconn_low_water(uint32_t maxconn)
{
	uint32_t gap = maxconn / 10;

	return maxconn - (gap ? gap : 1);
}

bool pool_apply_maxconn(struct knlb_service *svc, size_t b, uint64_t active,
			uint64_t now_ns)
{
	struct knlb_backend *be = &svc->backends[b];
	uint32_t max = be->cfg->maxconn;
	bool full = be->full;

	if (!max)
		full = false;
	else if (!full && active >= max)
		full = true;
	else if (full && active <= pool_maxconn_low_water(max))
		full = false;
	if (full == be->full)
		return false;
	be->full = full;
	pool_refresh_weights(svc, now_ns);
	return true;
}

/* The weight the scheduler starts from, before slow start scales it. */
static uint32_t backend_base_weight(const struct knlb_service *svc,
				    const struct knlb_backend *be)
{
	if (svc->cfg->scheduler == KNLB_SCHED_WLC && be->wlc_set)
		return be->wlc_weight;
	if (svc->cfg->health.latency_weights && be->lrt_set)
		return be->lrt_weight;
	return be->weight;
}

static bool backend_ramping(const struct knlb_service *svc,
			    const struct knlb_backend *be, uint64_t now_ns)
{
	uint64_t ramp = svc->cfg->health.slowstart_ns;

	return ramp && be->up_since_ns && now_ns - be->up_since_ns < ramp &&
	       backend_usable(be);
}

bool pool_service_ramping(const struct knlb_service *svc, uint64_t now_ns)
{
	for (size_t b = 0; b < svc->n_backends; b++)
		if (backend_ramping(svc, &svc->backends[b], now_ns))
			return true;
	return false;
}

/* The weight it would take new flows with: slow start applied. */
static uint32_t backend_scaled_weight(const struct knlb_service *svc,
				      const struct knlb_backend *be,
				      uint32_t scale, uint64_t now_ns)
{
	uint32_t w = backend_base_weight(svc, be) * scale;

	if (backend_ramping(svc, be, now_ns)) {
		uint64_t done = now_ns - be->up_since_ns;

		w = (uint32_t)((uint64_t)w * done / svc->cfg->health.slowstart_ns);
		if (w == 0)
			w = 1;
	}
	return w;
}

/* Would serve if healthy and under maxconn: what the base table counts. */
static bool backend_eligible(const struct knlb_backend *be)
{
	return be->admin == KNLB_ADMIN_ENABLED && be->weight > 0;
}

bool pool_refresh_weights(struct knlb_service *svc, uint64_t now_ns)
{
	bool primary[KNLB_FAMILIES] = { false }, any[KNLB_FAMILIES] = { false };
	bool eligible[KNLB_FAMILIES] = { false };
	bool changed = false;
	uint32_t scale = pool_service_ramping(svc, now_ns) ? KNLB_RAMP_SCALE : 1;

	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend *be = &svc->backends[b];

		if (be->cfg->backup)
			continue;
		primary[backend_family(be)] |= backend_usable(be);
		eligible[backend_family(be)] |= backend_eligible(be);
	}
	for (size_t b = 0; b < svc->n_backends; b++) {
		struct knlb_backend *be = &svc->backends[b];
		enum knlb_family f = backend_family(be);
		uint32_t w = 0, base = 0;

		/* Backups stand by while a primary of their family can take flows. */
		if (backend_usable(be) && (!be->cfg->backup || !primary[f]))
			w = backend_scaled_weight(svc, be, scale, now_ns);
		if (backend_eligible(be) && (!be->cfg->backup || !eligible[f]))
			base = backend_scaled_weight(svc, be, scale, now_ns);
		if (!backend_ramping(svc, be, now_ns))
			be->up_since_ns = 0;
		changed |= w != be->effective_weight || base != be->base_weight;
		be->effective_weight = w;
		be->base_weight = base;
		any[f] |= w > 0;
	}
	/* A new scale alone changes no table, only the numbers: no commit. */
	svc->weight_scale = scale;
	svc->on_backups = false;
	svc->empty = true;
	for (size_t k = 0; k < svc->n_families; k++) {
		struct knlb_service_family *fam = &svc->families[k];

		fam->on_backups = !primary[fam->family] && any[fam->family];
		fam->empty = !any[fam->family];
		svc->on_backups |= fam->on_backups;
		svc->empty &= fam->empty;
	}
	if (changed && !svc->dirty) {
		svc->dirty = true;
		svc->dirty_since_ns = now_ns;
	}
	return changed;
}

bool pool_set_health(struct knlb_service *svc, size_t b, bool up,
		     uint64_t now_ns)
{
	struct knlb_backend *be = &svc->backends[b];

	if (be->up == up)
		return false;
	be->up = up;
	be->up_since_ns = up && svc->cfg->health.slowstart_ns ? now_ns : 0;
	return pool_refresh_weights(svc, now_ns);
}

bool pool_set_admin(struct knlb_service *svc, size_t b, enum knlb_admin admin,
		    uint64_t now_ns)
{
	if (svc->backends[b].admin == admin)
		return false;
	svc->backends[b].admin = admin;
	return pool_refresh_weights(svc, now_ns);
}

bool pool_set_weight(struct knlb_service *svc, size_t b, uint32_t weight,
		     uint64_t now_ns)
{
	struct knlb_backend *be = &svc->backends[b];

	be->weight_set = weight != be->cfg->weight;
	if (be->weight == weight)
		return false;
	be->weight = weight;
	/* wlc and latency weights recompute from it at their next pass. */
	be->wlc_set = false;
	be->lrt_set = false;
	return pool_refresh_weights(svc, now_ns);
}

int pool_apply_wlc(struct knlb_service *svc, const uint64_t *active,
		   uint64_t now_ns)
{
	size_t n = svc->n_backends;
	uint32_t *buf = calloc(3 * (n ? n : 1), sizeof(*buf));
	uint32_t *weight = buf, *cur = buf + n, *out = buf + 2 * n;
	bool have_cur = true;

	if (!buf)
		return -ENOMEM;
	for (size_t b = 0; b < n; b++) {
		const struct knlb_backend *be = &svc->backends[b];

		weight[b] = backend_usable(be) ? be->weight : 0;
		cur[b] = be->wlc_set ? be->wlc_weight : 0;
		have_cur &= be->wlc_set;
	}
	if (wlc_weights(weight, active, n, cur, have_cur, out)) {
		for (size_t b = 0; b < n; b++) {
			svc->backends[b].wlc_weight = out[b];
			svc->backends[b].wlc_set = true;
		}
		pool_refresh_weights(svc, now_ns);
	}
	free(buf);
	return 0;
}

void pool_note_latency(struct knlb_service *svc, size_t b, double latency_ms)
{
	struct knlb_backend *be = &svc->backends[b];

	be->latency_ms = lrt_smooth(be->latency_ms, be->latency_known, latency_ms);
	be->latency_known = true;
}

int pool_apply_lrt(struct knlb_service *svc, uint64_t now_ns)
{
	size_t n = svc->n_backends;
	uint32_t *buf = calloc(3 * (n ? n : 1), sizeof(*buf));
	double *latency = calloc(n ? n : 1, sizeof(*latency));
	uint32_t *weight = buf, *cur = buf + n, *out = buf + 2 * n;
	bool have_cur = true;

	if (!buf || !latency) {
		free(buf);
		free(latency);
		return -ENOMEM;
	}
	for (size_t b = 0; b < n; b++) {
		const struct knlb_backend *be = &svc->backends[b];

		weight[b] = backend_usable(be) ? be->weight : 0;
		latency[b] = be->latency_known ? be->latency_ms : -1;
		cur[b] = be->lrt_set ? be->lrt_weight : 0;
		have_cur &= be->lrt_set;
	}
	if (lrt_weights(weight, latency, n, cur, have_cur, out)) {
		for (size_t b = 0; b < n; b++) {
			svc->backends[b].lrt_weight = out[b];
			svc->backends[b].lrt_set = true;
		}
		pool_refresh_weights(svc, now_ns);
	}
	free(buf);
	free(latency);
	return 0;
}

const char *pool_admin_name(enum knlb_admin admin)
{
	switch (admin) {
	case KNLB_ADMIN_ENABLED:
		return "enabled";
	case KNLB_ADMIN_DRAIN:
		return "drain";
	case KNLB_ADMIN_DISABLED:
		return "disabled";
	}
	return "?";
}

struct knlb_service *pool_find_service(const struct knlb_model *pool,
				       const char *name)
{
	for (size_t i = 0; i < pool->n_services; i++)
		if (strcmp(pool->services[i].cfg->name, name) == 0)
			return &pool->services[i];
	return NULL;
}

long pool_find_backend(const struct knlb_service *svc, const char *name)
{
	struct knlb_addr addr;
	uint16_t port;
	bool by_addr = addr_port_parse(name, &addr, &port) == 0;

	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend_config *be = svc->backends[b].cfg;

		if (strcmp(be->id, name) == 0)
			return (long)b;
	}
	for (size_t b = 0; by_addr && b < svc->n_backends; b++) {
		const struct knlb_backend_config *be = svc->backends[b].cfg;

		if (be->port == port && addr_equal(&be->addr, &addr))
			return (long)b;
	}
	return -1;
}

void pool_count_slots(const struct knlb_service *svc, uint32_t *counts)
{
	size_t len = pool_slots_len(svc);

	memset(counts, 0, svc->n_backends * sizeof(*counts));
	for (size_t i = 0; i < len; i++)
		if (svc->slots[i] < svc->n_backends)
			counts[svc->slots[i]]++;
}

int pool_free_mark(const struct knlb_model *pool, uint32_t mask, uint32_t *out)
{
	uint32_t shift = (uint32_t)__builtin_ctz(mask);
	uint64_t cap = (uint64_t)(mask >> shift);

	for (uint64_t k = 1; k <= cap; k++) {
		uint32_t mark = (uint32_t)k << shift;
		bool used = false;

		for (size_t i = 0; i < pool->n_services && !used; i++)
			used = pool->services[i].ct_mark == mark;
		if (!used) {
			*out = mark;
			return 0;
		}
	}
	return -ENOSPC;
}

double pool_effective_weight(const struct knlb_service *svc, size_t b)
{
	return (double)svc->backends[b].effective_weight / svc->weight_scale;
}

static int service_init(struct knlb_service *svc,
			const struct knlb_service_config *cfg, uint32_t mark,
			uint32_t mask)
{
	svc->cfg = cfg;
	svc->ct_mark = mark;
	svc->ct_mark_mask = mask;
	svc->n_backends = cfg->n_backends;
	svc->backends = calloc(cfg->n_backends ? cfg->n_backends : 1,
			       sizeof(*svc->backends));
	for (int f = 0; f < KNLB_FAMILIES; f++)
		if (config_service_has_family(cfg, f))
			svc->families[svc->n_families++].family = f;
	svc->slots = calloc(pool_slots_len(svc) ? pool_slots_len(svc) : 1,
			    sizeof(*svc->slots));
	/*
	 * maglev: the base table in memory of its own from the start, its
	 * pages faulted in by the first build.  Separating it at the first
	 * failover (as once done, to spare a service that never fails over
	 * the second table) faulted them in on the failover's path: 64 pages
	 * at M = 65537, about 0.8 ms of a 1.5 ms first failover on this VM.
	 */
	if (cfg->scheduler == KNLB_SCHED_MAGLEV) {
		size_t len = pool_slots_len(svc) ? pool_slots_len(svc) : 1;

		svc->base_slots = calloc(len, sizeof(*svc->base_slots));
		svc->base_order = calloc(len, sizeof(*svc->base_order));
		svc->base_start = calloc(cfg->n_backends + 1, sizeof(*svc->base_start));
		svc->eff_dead = calloc(cfg->n_backends ? cfg->n_backends : 1,
				       sizeof(*svc->eff_dead));
		if (!svc->base_slots || !svc->base_order || !svc->base_start ||
		    !svc->eff_dead)
			return -ENOMEM;
	}
	if (!svc->backends || !svc->slots)
		return -ENOMEM;
	for (size_t k = 0; k < svc->n_families; k++) {
		svc->families[k].slots = svc->slots + k * cfg->table_size;
		if (svc->base_slots)
			svc->families[k].base = svc->base_slots + k * cfg->table_size;
	}
	svc->weight_scale = 1;
	for (size_t i = 0; i < cfg->n_backends; i++) {
		svc->backends[i].cfg = &cfg->backends[i];
		svc->backends[i].weight = cfg->backends[i].weight;
		/* No verdict yet: start up, as HAProxy does (docs/restart.md). */
		svc->backends[i].up = true;
		svc->n_maxconn += cfg->backends[i].maxconn != 0;
	}
	pool_refresh_weights(svc, 0);
	svc->dirty = true;
	return pool_compute_slots(svc);
}

/* Same backends (ids, in order), seed, size and families: the same Maglev input. */
static bool same_maglev_input(const struct knlb_service_config *a,
			      const struct knlb_service_config *b)
{
	if (a->scheduler != KNLB_SCHED_MAGLEV || b->scheduler != KNLB_SCHED_MAGLEV ||
	    a->table_size != b->table_size || a->hash_seed != b->hash_seed ||
	    a->n_backends != b->n_backends)
		return false;
	for (int f = 0; f < KNLB_FAMILIES; f++)
		if (config_service_has_family(a, f) != config_service_has_family(b, f))
			return false;
	for (size_t i = 0; i < a->n_backends; i++)
		if (strcmp(a->backends[i].id, b->backends[i].id) != 0)
			return false;
	return true;
}

/* The first earlier service of pool with svc's Maglev input, or NULL. */
static const struct knlb_service *find_twin(const struct knlb_model *pool,
					    size_t i)
{
	const struct knlb_service_config *cfg = &pool->config->services[i];

	for (size_t j = 0; j < i; j++)
		if (same_maglev_input(pool->services[j].cfg, cfg))
			return &pool->services[j];
	return NULL;
}

int pool_create(const struct knlb_config *config, struct knlb_model **out)
{
	struct knlb_model *pool;
	int ret = -ENOMEM;

	*out = NULL;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->config = config;
	pool->services = calloc(config->n_services ? config->n_services : 1,
				sizeof(*pool->services));
	if (!pool->services)
		goto out_free;
	pool->n_services = config->n_services;
	for (size_t i = 0; i < config->n_services; i++) {
		/*
		 * Marks follow config order, shifted under ct_mark_mask so
		 * the other bits stay whoever else's; 0 means "not ours".
		 */
		uint32_t mask = config->global.ct_mark_mask;

		pool->services[i].build_twin = find_twin(pool, i);
		ret = service_init(&pool->services[i], &config->services[i],
				   ((uint32_t)i + 1) << __builtin_ctz(mask), mask);
		if (ret < 0)
			goto out_free;
		pool->services[i].ct_events = config->global.ct_events;
	}
	for (size_t i = 0; i < pool->n_services; i++)
		pool->services[i].build_twin = NULL;
	*out = pool;
	return 0;

out_free:
	pool_free(pool);
	return ret;
}

void pool_free(struct knlb_model *pool)
{
	if (!pool)
		return;
	for (size_t i = 0; i < pool->n_services; i++) {
		free(pool->services[i].backends);
		free(pool->services[i].slots);
		free(pool->services[i].base_slots);
		free(pool->services[i].base_order);
		free(pool->services[i].base_start);
		free(pool->services[i].eff_dead);
		for (size_t k = 0; k < pool->services[i].n_families; k++)
			forget_prefs(&pool->services[i].families[k]);
	}
	free(pool->services);
	free(pool);
}
