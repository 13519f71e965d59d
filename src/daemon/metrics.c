/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus text exposition (format 0.0.4) of what the other modules
 * count.  Read-only: every number comes from a module's own state or
 * stats call; the only arithmetic is unit conversion (ms -> seconds) and
 * counting each backend's slots.  The HTTP side is metrics-http.c.
 *
 * Each family is written whole (HELP, TYPE, then every sample) because
 * the format wants a family's samples together: so per-backend values
 * are gathered once into rows, then each family walks the rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#include "knlb/lib/addr.h"
#include "knlb/nft/commit.h"
#include "knlb/config/config-t.h"
#include "knlb/ct/ct.h"
#include "knlb/ctl/server.h"
#include "knlb/ct/flowtab.h"
#include "knlb/health/health.h"
#include "knlb/daemon/announce.h"
#include "knlb/daemon/host_checks.h"
#include "knlb/daemon/metrics.h"
#include "knlb/daemon/slot_digest.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "knlb/lib/version.h"
#include "status_view-int.h"

/* A sample value: counters stay integers, the rest are floats. */
struct num {
	bool is_int;
	uint64_t u;
	double d;
};

#define NUM_U(v) ((struct num){ .is_int = true, .u = (v) })
#define NUM_D(v) ((struct num){ .d = (v) })
#define NUM_B(v) NUM_U((v) ? 1 : 0)

static void put_escaped(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\':
			fputs("\\\\", out);
			break;
		case '"':
			fputs("\\\"", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

static void put_num(FILE *out, struct num v)
{
	if (v.is_int)
		fprintf(out, " %" PRIu64 "\n", v.u);
	else
		fprintf(out, " %.9g\n", v.d);
}

static void family(FILE *out, const char *name, const char *type,
		   const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * Label sets, escaped once per scrape rather than once per sample: they
 * are most of the text.  NULL on ENOMEM; the caller frees.
 */
static char *service_labels(const struct knlb_service *svc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		return NULL;
	fputs("service=\"", out);
	put_escaped(out, svc->cfg->name);
	fputc('"', out);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static char *backend_labels(const struct knlb_service *svc,
			    const struct knlb_backend *be)
{
	char addr[KNLB_ADDRSTRLEN], *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		return NULL;
	fputs("service=\"", out);
	put_escaped(out, svc->cfg->name);
	fputs("\",backend=\"", out);
	put_escaped(out, be->cfg->id);
	fputs("\",address=\"", out);
	put_escaped(out, addr_port_format(&be->cfg->addr, be->cfg->port, addr,
					  sizeof(addr)));
	fputc('"', out);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- labels ------------------------------------------------------------ */

/* The gathered rows' label sets.  0 or -ENOMEM. */
static int label_rows(struct status_view *v)
{
	for (size_t s = 0; s < v->n_services; s++) {
		struct service_row *sr = &v->services[s];

		sr->labels = service_labels(sr->svc);
		if (!sr->labels)
			return -ENOMEM;
		for (size_t b = 0; b < sr->svc->n_backends; b++) {
			sr->backends[b].labels = backend_labels(sr->svc,
								sr->backends[b].be);
			if (!sr->backends[b].labels)
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---- per service -------------------------------------------------------- */

enum service_value {
	SV_BACKENDS,
	SV_USABLE,
	SV_ON_BACKUPS,
	SV_EMPTY,
	SV_ACTIVE_FLOWS,
	SV_FLOWS_OPENED,
	SV_FLOWS_CLOSED,
};

struct family_def {
	const char *name, *type, *help;
	int value;
	bool needs_flows;
};

static const struct family_def service_families[] = {
	{ "knlb_service_backends", "gauge",
	  "Backends configured, backups included.", SV_BACKENDS, false },
	{ "knlb_service_usable_backends", "gauge",
	  "Backends that take new flows now (effective weight above 0): up, weight above 0, not a standby backup.",
	  SV_USABLE, false },
	{ "knlb_service_on_backups", "gauge",
	  "1 while no primary backend is usable and backups serve.",
	  SV_ON_BACKUPS, false },
	{ "knlb_service_empty", "gauge",
	  "1 while no backend is usable: new flows get on_empty (reject or drop).",
	  SV_EMPTY, false },
	{ "knlb_service_active_flows", "gauge",
	  "Conntrack flows of the service alive now (not yet reported gone).",
	  SV_ACTIVE_FLOWS, true },
	{ "knlb_service_flows_opened_total", "counter",
	  "Conntrack flows of the service seen appearing since knlbd started.",
	  SV_FLOWS_OPENED, true },
	{ "knlb_service_flows_closed_total", "counter",
	  "Conntrack flows of the service seen ending since knlbd started.",
	  SV_FLOWS_CLOSED, true },
};

static struct num service_value(const struct service_row *sr, int which)
{
	switch ((enum service_value)which) {
	case SV_BACKENDS:
		return NUM_U(sr->svc->n_backends);
	case SV_USABLE:
		return NUM_U(sr->usable);
	case SV_ON_BACKUPS:
		return NUM_B(sr->svc->on_backups);
	case SV_EMPTY:
		return NUM_B(sr->svc->empty);
	case SV_ACTIVE_FLOWS:
		return NUM_U(sr->flows.active);
	case SV_FLOWS_OPENED:
		return NUM_U(sr->flows.opened);
	case SV_FLOWS_CLOSED:
		return NUM_U(sr->flows.closed);
	}
	return NUM_U(0);
}

static void render_services(FILE *out, const struct status_view *v)
{
	for (size_t f = 0; f < sizeof(service_families) / sizeof(service_families[0]); f++) {
		const struct family_def *fd = &service_families[f];

		if (fd->needs_flows && !v->src->flows)
			continue;
		family(out, fd->name, fd->type, fd->help);
		for (size_t s = 0; s < v->n_services; s++) {
			fprintf(out, "%s{%s}", fd->name, v->services[s].labels);
			put_num(out, service_value(&v->services[s], fd->value));
		}
	}
}

/*
 * An info metric: a 64-bit digest is no float, so it goes in a label.  Two
 * gateways whose series differ would send some flows to different backends.
 */
static void render_slot_digests(FILE *out, const struct status_view *v)
{
	char hex[SLOT_DIGEST_STRLEN];

	family(out, "knlb_service_slot_table_info", "gauge",
	       "Always 1; the digest label is a 64-bit hash of the slot table the kernel holds (slot -> backend address:port): equal on two gateways means same key, same backend.");
	for (size_t s = 0; s < v->n_services; s++)
		fprintf(out, "knlb_service_slot_table_info{%s,digest=\"%s\"} 1\n",
			v->services[s].labels,
			slot_digest_format(v->services[s].slot_digest, hex));
}

/* ---- per backend -------------------------------------------------------- */

enum backend_value {
	BV_UP,
	BV_WEIGHT,
	BV_EFFECTIVE_WEIGHT,
	BV_SLOTS,
	BV_ACTIVE_FLOWS,
	BV_FLOWS_OPENED,
	BV_FLOWS_CLOSED,
	BV_TRANSITIONS,
	BV_CHECKS,
	BV_CHECK_DURATION,
};

enum backend_source { BS_POOL, BS_FLOWS, BS_HEALTH };

struct backend_family_def {
	const char *name, *type, *help;
	enum backend_value value;
	enum backend_source source;
};

static const struct backend_family_def backend_families[] = {
	{ "knlb_backend_up", "gauge",
	  "Health verdict: 1 up, 0 down (always 1 without health checks).",
	  BV_UP, BS_POOL },
	{ "knlb_backend_weight", "gauge",
	  "Weight: the configured one, or the runtime one set with knlbctl.",
	  BV_WEIGHT, BS_POOL },
	{ "knlb_backend_effective_weight", "gauge",
	  "Weight the scheduler uses now: 0 when down, drained or a standby backup, a fraction of the weight during slow start.",
	  BV_EFFECTIVE_WEIGHT, BS_POOL },
	{ "knlb_backend_slots", "gauge",
	  "Slots of the service's table that map to this backend.",
	  BV_SLOTS, BS_POOL },
	{ "knlb_backend_active_flows", "gauge",
	  "Conntrack flows to this backend alive now (not yet reported gone).",
	  BV_ACTIVE_FLOWS, BS_FLOWS },
	{ "knlb_backend_flows_opened_total", "counter",
	  "Conntrack flows to this backend seen appearing since knlbd started.",
	  BV_FLOWS_OPENED, BS_FLOWS },
	{ "knlb_backend_flows_closed_total", "counter",
	  "Conntrack flows to this backend seen ending since knlbd started.",
	  BV_FLOWS_CLOSED, BS_FLOWS },
	{ "knlb_backend_health_transitions_total", "counter",
	  "Health verdict changes (up to down, down to up) since knlbd started.",
	  BV_TRANSITIONS, BS_HEALTH },
	{ "knlb_backend_checks_total", "counter",
	  "Health probes completed since knlbd started, whatever their result.",
	  BV_CHECKS, BS_HEALTH },
	{ "knlb_backend_check_duration_seconds", "gauge",
	  "Duration of the last completed health probe.",
	  BV_CHECK_DURATION, BS_HEALTH },
};

/* The runtime weight; the pool leaves it 0 until knlbctl sets one. */
static uint32_t backend_weight(const struct knlb_backend *be)
{
	if (be->weight == 0 && !be->weight_set)
		return be->cfg->weight;
	return be->weight;
}

/* false: no sample for this backend (e.g. never probed). */
static bool backend_value(const struct service_row *sr,
			  const struct backend_row *br,
			  enum backend_value which, struct num *out)
{
	const struct health_backend_info *h = br->health;

	switch (which) {
	case BV_UP:
		*out = NUM_B(br->be->up);
		return true;
	case BV_WEIGHT:
		*out = NUM_U(backend_weight(br->be));
		return true;
	case BV_EFFECTIVE_WEIGHT:
		*out = NUM_D(pool_effective_weight(sr->svc,
						   (size_t)(br - sr->backends)));
		return true;
	case BV_SLOTS:
		*out = NUM_U(br->slots);
		return true;
	case BV_ACTIVE_FLOWS:
		*out = NUM_U(br->flows.active);
		return true;
	case BV_FLOWS_OPENED:
		*out = NUM_U(br->flows.opened);
		return true;
	case BV_FLOWS_CLOSED:
		*out = NUM_U(br->flows.closed);
		return true;
	case BV_TRANSITIONS:
		*out = NUM_U(h ? h->transitions : 0);
		return h;
	case BV_CHECKS:
		*out = NUM_U(h ? h->probes : 0);
		return h;
	case BV_CHECK_DURATION:
		*out = NUM_D(h ? h->last.latency_ms / 1000.0 : 0);
		return h && h->probed;
	}
	return false;
}

static void render_backend_family(FILE *out, const struct status_view *v,
				  const struct backend_family_def *fd)
{
	family(out, fd->name, fd->type, fd->help);
	for (size_t s = 0; s < v->n_services; s++) {
		const struct service_row *sr = &v->services[s];

		for (size_t b = 0; b < sr->svc->n_backends; b++) {
			struct num n;

			if (!backend_value(sr, &sr->backends[b], fd->value, &n))
				continue;
			fprintf(out, "%s{%s}", fd->name, sr->backends[b].labels);
			put_num(out, n);
		}
	}
}

static void render_admin_state(FILE *out, const struct status_view *v)
{
	static const char *const states[] = {
		[KNLB_ADMIN_ENABLED] = "enabled",
		[KNLB_ADMIN_DRAIN] = "drain",
		[KNLB_ADMIN_DISABLED] = "disabled",
	};

	family(out, "knlb_backend_admin_state", "gauge",
	       "Operator's state for the backend (knlbctl): 1 for the current state, 0 for the others.");
	for (size_t s = 0; s < v->n_services; s++) {
		const struct service_row *sr = &v->services[s];

		for (size_t b = 0; b < sr->svc->n_backends; b++) {
			const struct backend_row *br = &sr->backends[b];

			for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
				fprintf(out, "knlb_backend_admin_state{%s,state=\"%s\"}",
					br->labels, states[i]);
				put_num(out, NUM_B(br->be->admin == (enum knlb_admin)i));
			}
		}
	}
}

static void render_backends(FILE *out, const struct status_view *v)
{
	for (size_t f = 0; f < sizeof(backend_families) / sizeof(backend_families[0]); f++) {
		const struct backend_family_def *fd = &backend_families[f];

		if ((fd->source == BS_FLOWS && !v->src->flows) ||
		    (fd->source == BS_HEALTH && !v->src->health))
			continue;
		render_backend_family(out, v, fd);
		/* Keep the pool's families together, as the docs list them. */
		if (fd->value == BV_EFFECTIVE_WEIGHT)
			render_admin_state(out, v);
	}
}

/* ---- daemon-wide -------------------------------------------------------- */

static void scalar(FILE *out, const char *name, const char *type,
		   const char *help, struct num n)
{
	family(out, name, type, help);
	fputs(name, out);
	put_num(out, n);
}

static void render_commits(FILE *out, const struct committer *c)
{
	struct commit_stats st;

	committer_get_stats(c, &st);
	scalar(out, "knlb_map_updates_total", "counter",
	       "Slot map delta transactions the kernel acknowledged.",
	       NUM_U(st.transactions));
	scalar(out, "knlb_map_update_errors_total", "counter",
	       "Delta or whole-table transactions the kernel rejected.",
	       NUM_U(st.failures));
	scalar(out, "knlb_table_replaces_total", "counter",
	       "Whole-table replaces after a rejected delta.",
	       NUM_U(st.replaces));
	family(out, "knlb_map_update_last_duration_seconds", "gauge",
	       "Build, send and kernel acknowledgement of the last acknowledged delta.");
	if (st.transactions)
		fprintf(out, "knlb_map_update_last_duration_seconds %.9g\n",
			st.last_ack_ms / 1000.0);
}

static void render_conntrack(FILE *out, const struct ct *ct)
{
	struct ct_stats st;

	ct_get_stats(ct, &st);
	family(out, "knlb_conntrack_events_total", "counter",
	       "Conntrack events applied to the flow counts, by type.");
	fprintf(out, "knlb_conntrack_events_total{type=\"new\"} %" PRIu64 "\n",
		st.events_new);
	fprintf(out, "knlb_conntrack_events_total{type=\"closing\"} %" PRIu64 "\n",
		st.events_closing);
	fprintf(out, "knlb_conntrack_events_total{type=\"destroy\"} %" PRIu64 "\n",
		st.events_destroy);
	scalar(out, "knlb_conntrack_overflows_total", "counter",
	       "Times the kernel dropped conntrack events (ENOBUFS); each schedules a resync.",
	       NUM_U(st.overflows));
	scalar(out, "knlb_conntrack_resyncs_total", "counter",
	       "Flow counts rebuilt from a full conntrack dump.",
	       NUM_U(st.resyncs));
	scalar(out, "knlb_conntrack_counts_stale", "gauge",
	       "1 while events were lost and the resync that corrects the flow counts is pending.",
	       NUM_B(st.resync_pending));
	scalar(out, "knlb_conntrack_bounded", "gauge",
	       "1 while every tracked service is counted from periodic conntrack dumps instead of events: the event intake is overloaded, or new flows come faster than track_events_limit.",
	       NUM_B(st.bounded));
	scalar(out, "knlb_conntrack_bounded_entries_total", "counter",
	       "Times the event intake went into bounded mode.",
	       NUM_U(st.bounded_entries));
	scalar(out, "knlb_conntrack_periodic_passes_total", "counter",
	       "Flow counts refreshed from a conntrack dump (track = periodic, bounded mode).",
	       NUM_U(st.periodic_passes));
	scalar(out, "knlb_conntrack_dumps_total", "counter",
	       "Conntrack table dumps knlbd asked of the kernel, for any reason (passes, resyncs, listings, the bytes a reader is shown); each walks the whole table.",
	       NUM_U(st.dumps));
	scalar(out, "knlb_conntrack_count_interval_seconds", "gauge",
	       "How old periodic flow counts may be when read (track_interval, or 4x the last dump's duration or 20x its CPU time when longer).",
	       NUM_D(st.periodic_interval_ms / 1000.0));
	scalar(out, "knlb_conntrack_unread_interval_seconds", "gauge",
	       "0 while knlbd acts on the periodic flow counts as they change (wlc, maxconn, a drain) and dumps every count interval; else how often it dumps while nobody reads them (a read dumps when they are older than the count interval).",
	       NUM_D(st.unread_interval_ms / 1000.0));
	scalar(out, "knlb_conntrack_receive_buffer_bytes", "gauge",
	       "Conntrack event socket receive buffer, as the kernel has it.",
	       NUM_U(st.rcvbuf > 0 ? (uint64_t)st.rcvbuf : 0));
}

static void render_daemon(FILE *out, const struct daemon_counters *d)
{
	scalar(out, "knlb_reloads_total", "counter",
	       "Configuration reloads applied.", NUM_U(d->reloads));
	scalar(out, "knlb_reload_failures_total", "counter",
	       "Configuration reloads refused (bad file) or rejected by the kernel.",
	       NUM_U(d->reload_failures));
	family(out, "knlb_reload_last_duration_seconds", "gauge",
	       "The last reload, from request to kernel acknowledgement.");
	if (d->reloads || d->reload_failures)
		fprintf(out, "knlb_reload_last_duration_seconds %.9g\n",
			d->last_reload_ms / 1000.0);
}

static void render_control(FILE *out, const struct ctl *ctl)
{
	struct ctl_stats st;

	ctl_get_stats(ctl, &st);
	scalar(out, "knlb_control_requests_total", "counter",
	       "Complete requests on the control socket.", NUM_U(st.requests));
	scalar(out, "knlb_control_bad_requests_total", "counter",
	       "Control socket requests refused: oversized, truncated, not text, too many words.",
	       NUM_U(st.bad_requests));
}

/* Every check, 0 when fine: an alert can tell "fixed" from "not scraped". */
static void render_host(FILE *out, const struct host_problems *p)
{
	family(out, "knlb_host_problem", "gauge",
	       "1 while the host lacks what knlb needs (check: ip_forward, snat_address, conntrack_full, ...); knlbctl status says what.");
	for (int c = 0; c < HOST_CHECK_COUNT; c++)
		fprintf(out, "knlb_host_problem{check=\"%s\"} %d\n",
			host_check_name((enum host_check)c),
			host_problems_have(p, (enum host_check)c) ? 1 : 0);
}

static bool vip_announced(const struct announce_state *st, size_t n,
			  const struct knlb_addr *vip)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&st[i].vip, vip))
			return st[i].installed;
	return false;
}

/*
 * One sample per VIP of each service with announce = route: whether the
 * VIP's route is in the kernel now (a VIP is one route, so the services
 * sharing it show the same value).  Left out when the announcer could not
 * start (knlbctl status says so), since knlbd then knows nothing.
 */
static void render_announce(FILE *out, const struct knlb_model *pool,
			    const struct announcer *a)
{
	const struct announce_state *st;
	char vip[KNLB_ADDRSTRLEN];
	bool any = false;
	size_t n;

	st = announcer_states(a, &n);
	for (size_t s = 0; s < pool->n_services; s++) {
		const struct knlb_service *svc = &pool->services[s];

		if (svc->cfg->announce != KNLB_ANNOUNCE_ROUTE)
			continue;
		if (!any)
			family(out, "knlb_vip_announced", "gauge",
			       "1 while knlbd keeps the VIP's route in announce_table for the routing daemon to export; 0 when withdrawn (knlbctl status says why).");
		any = true;
		for (size_t f = 0; f < svc->n_families; f++) {
			const struct knlb_addr *addr = &svc->cfg->vip[svc->families[f].family];

			fputs("knlb_vip_announced{service=\"", out);
			put_escaped(out, svc->cfg->name);
			fputs("\",vip=\"", out);
			put_escaped(out, addr_format(addr, vip, sizeof(vip)));
			fprintf(out, "\"} %d\n", vip_announced(st, n, addr) ? 1 : 0);
		}
	}
}

/*
 * Read at each scrape, not taken from the last host pass (up to 10 s
 * old): a table can fill in less, and two small files cost microseconds.
 * Left out while nf_conntrack is not loaded (knlb_host_problem says so).
 */
static void render_conntrack_table(FILE *out, const char *proc_root)
{
	struct host_ct ct;

	host_ct_read(proc_root, &ct);
	if (!ct.loaded)
		return;
	scalar(out, "knlb_conntrack_entries", "gauge",
	       "Entries in the gateway's conntrack table (this network namespace), read at the scrape.",
	       NUM_U(ct.count));
	scalar(out, "knlb_conntrack_max", "gauge",
	       "net.netfilter.nf_conntrack_max: at this many entries the kernel drops new flows.",
	       NUM_U(ct.max));
}

int metrics_render(FILE *out, const struct metrics_sources *src)
{
	struct status_view v = { 0 };
	int ret;

	if (!src || !src->pool)
		return -EINVAL;
	/* A failed pass is logged by ct; the scrape shows the last one's. */
	if (src->read_ct)
		(void)ct_refresh_counts(src->read_ct,
					 src->kernel_counters);
	ret = status_view_gather(&v, src);
	if (ret == 0)
		ret = label_rows(&v);
	if (ret < 0)
		goto out_free_view;

	family(out, "knlb_build_info", "gauge",
	       "Always 1; the version label says which knlbd runs.");
	fputs("knlb_build_info{version=\"", out);
	put_escaped(out, KNLB_VERSION);
	fputs("\"} 1\n", out);
	if (src->daemon)
		scalar(out, "knlb_start_time_seconds", "gauge",
		       "When knlbd started, in seconds since the Unix epoch.",
		       NUM_U(src->daemon->start_time_unix));
	render_services(out, &v);
	render_slot_digests(out, &v);
	render_backends(out, &v);
	if (src->kernel_counters)
		metrics_render_kernel(out, src->pool, src->read_ct);
	if (src->committer)
		render_commits(out, src->committer);
	if (src->ct)
		render_conntrack(out, src->ct);
	if (src->daemon)
		render_daemon(out, src->daemon);
	if (src->ctl)
		render_control(out, src->ctl);
	if (src->host)
		render_host(out, src->host);
	if (src->announcer)
		render_announce(out, src->pool, src->announcer);
	if (src->proc_root)
		render_conntrack_table(out, src->proc_root);
	ret = ferror(out) ? -EIO : 0;

out_free_view:
	status_view_free(&v);
	return ret;
}
