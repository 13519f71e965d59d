/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How knlbd has conntrack follow the pool's flows: events only while a
 * service is tracked by them, TCP closing updates only while something
 * needs a closed flow to stop counting at once, and the track = periodic
 * services counted from kernel-filtered dumps, their flows between two
 * dumps from the table's per-backend new-flow counters.
 * Policy only; the mechanisms are src/ct/'s.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/config.h"
#include "knlb/ct/ct.h"
#include "knlb/daemon/daemon.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/nft/stats.h"
#include "knlb/pool/pool.h"

bool daemon_events_needed(const struct knlb_config *config)
{
	for (size_t s = 0; s < config->n_services; s++)
		if (config->services[s].track == KNLB_TRACK_EVENTS)
			return true;
	return false;
}

/*
 * No service on events: no event group joined at all.  Being subscribed
 * costs the forwarding path even when no event is made (the kernel gives
 * every new conntrack entry an event extension while anyone listens, see
 * ct_set_following_events()).
 */
static void follow_events(struct knlbd *d)
{
	bool want = daemon_events_needed(d->config);
	struct ct_stats st;
	int ret;

	ct_get_stats(d->ct, &st);
	if (want == !st.events_off)
		return;
	ret = ct_set_following_events(d->ct, want);
	if (ret < 0)
		log_warn("conntrack: %s the event groups: %s", want ? "joining" :
			 "leaving", strerror(-ret));
	else if (want)
		log_info("conntrack: following the track = events services' flows by their events again");
	else
		log_info("conntrack: no service has track = events: subscribed to no conntrack event");
}

/*
 * Whether knlbd acts on svc's active counts as they change, not only
 * shows them: wlc weighs its backends by them; a drain waits for zero;
 * maxconn lets a full backend back in when its count falls.
 */
static bool counts_acted_on(const struct knlb_service *svc)
{
	if (svc->cfg->scheduler == KNLB_SCHED_WLC || svc->n_maxconn)
		return true;
	for (size_t b = 0; b < svc->n_backends; b++)
		if (svc->backends[b].admin == KNLB_ADMIN_DRAIN)
			return true;
	return false;
}

/*
 * Any service of the given track acted on; events_only: of track =
 * events (the closing updates are theirs: a dump shows TIME_WAIT), else
 * of any tracked service (their counts may come from dumps: periodic,
 * and every one in bounded mode).
 */
static bool any_acted_on(const struct knlbd *d, bool events_only)
{
	for (size_t s = 0; s < d->pool->n_services; s++) {
		const struct knlb_service *svc = &d->pool->services[s];

		if (svc->cfg->track == KNLB_TRACK_OFF ||
		    (events_only && svc->cfg->track != KNLB_TRACK_EVENTS))
			continue;
		if (counts_acted_on(svc))
			return true;
	}
	return false;
}

/*
 * Who needs a closed TCP flow to stop counting at once, not at its
 * DESTROY 120 s later in TIME_WAIT.
 */
static bool closing_needed(const struct knlbd *d)
{
	return d->config->global.ct_closing == KNLB_CT_CLOSING_ALWAYS ||
	       any_acted_on(d, true);
}

static void follow_closing(struct knlbd *d)
{
	struct ct_stats st;
	bool want;
	int ret;

	want = closing_needed(d);
	ct_get_stats(d->ct, &st);
	if (want == st.closing_updates)
		return;
	ret = ct_set_closing_updates(d->ct, want);
	if (ret < 0)
		log_warn("conntrack: %s TCP closing updates: %s",
			 want ? "subscribing to" : "leaving", strerror(-ret));
	else
		log_info("conntrack: %s TCP closing updates (ct_closing = %s)%s",
			 want ? "following" : "not following",
			 d->config->global.ct_closing == KNLB_CT_CLOSING_ALWAYS ?
			 "always" : "needed",
			 want ? "" : ": a closed TCP flow counts active until its conntrack entry is destroyed");
}

/* The kernel's backend_new counters of knlbd's table, for ct's passes. */
static int read_new_flows(void *arg, struct stats_table *out)
{
	const struct knlbd *d = arg;
	char err[256];

	return stats_read_new(d->config->global.table,
			      d->config->global.ct_mark_mask, out, err,
			      sizeof(err));
}

static int mark_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The new flows the kernel counted for the track = events services: what
 * their NEW events would be, for ct's bounded mode to measure the rate by
 * without one (periodic and off services make none).  Once per bounded
 * pass over every backend's counter: the marks sorted, not a walk of the
 * services per backend.
 */
static int read_event_flows(void *arg, uint64_t *total)
{
	const struct knlbd *d = arg;
	struct stats_table t = { 0 };
	uint32_t *marks = malloc((d->pool->n_services + 1) * sizeof(*marks));
	size_t n = 0;
	int ret;

	*total = 0;
	if (!marks)
		return -ENOMEM;
	for (size_t s = 0; s < d->pool->n_services; s++)
		if (d->pool->services[s].cfg->track == KNLB_TRACK_EVENTS)
			marks[n++] = d->pool->services[s].ct_mark;
	qsort(marks, n, sizeof(*marks), mark_cmp);
	ret = read_new_flows(arg, &t);
	for (size_t i = 0; ret == 0 && i < t.n; i++)
		if (bsearch(&t.c[i].mark, marks, n, sizeof(*marks), mark_cmp))
			*total += t.c[i].new_flows;
	stats_table_free(&t);
	free(marks);
	return ret;
}

/* The marks of the track = periodic services, to ct. */
static void follow_periodic(struct knlbd *d)
{
	uint64_t every = d->config->global.track_interval_ns;
	uint32_t *marks = NULL;
	size_t n = 0, cap = 0;
	struct ct_stats st;
	int ret = 0;

	for (size_t s = 0; s < d->pool->n_services && ret == 0; s++) {
		const struct knlb_service *svc = &d->pool->services[s];

		if (svc->cfg->track != KNLB_TRACK_PERIODIC)
			continue;
		ret = grow(&marks, &cap, n + 1, sizeof(*marks), 8);
		if (ret == 0)
			marks[n++] = svc->ct_mark;
	}
	ct_get_stats(d->ct, &st);
	/* Their opened counts exact: the flows between dumps from the kernel. */
	ct_set_new_flows_source(d->ct, read_new_flows, d);
	ct_set_event_flows_source(d->ct, read_event_flows, d);
	if (ret == 0)
		ret = ct_set_periodic(d->ct, marks, n, every);
	if (ret < 0)
		log_error("conntrack: periodic flow counting: %s: the track = periodic services' counts are not refreshed",
			  strerror(-ret));
	else if (n != st.periodic_services)
		log_info("conntrack: %zu service%s counted from a conntrack dump every %llu ms (track = periodic)",
			 n, n == 1 ? "" : "s",
			 (unsigned long long)(every / 1000000));
	free(marks);
}

/*
 * Without conntrack's accounting to read before an entry goes, the
 * unread dumps only keep the kernel's per-backend new-flow counters
 * (backend_new) read well within their idle expiry (STATS_TIMEOUT_S, an
 * hour), so that no unseen flow is lost (ct/unseen.h); whoever reads the
 * counts gets a pass of their own anyway.
 */
#define UNREAD_WITHOUT_ACCOUNTING_NS	(60 * 1000000000ULL)

/*
 * While nothing acts on them, each counted service's counts by dumps are
 * refreshed at least every half of the shortest time conntrack keeps the
 * entry of one of its flows after its last packet (ct_set_unread_marks()),
 * so that a dump reads each flow's accounting after its last packet:
 * by default 5 s for a TCP service (CLOSE's 10 s), 15 s for a UDP one
 * (30 s), so a gateway's UDP flows are dumped a third as often.  Read at
 * start, reload and every admin change: a timeout changed meanwhile
 * applies from then on.  An unreadable timeout: ct's default, 5 s.
 * Packets and bytes counted otherwise (traffic_counters = yes or no):
 * every minute whatever the protocol.
 */
static void follow_unread_intervals(struct knlbd *d)
{
	const int protos[2] = { IPPROTO_TCP, IPPROTO_UDP };
	bool accounting = d->config->global.traffic_counters == KNLB_TRAFFIC_CONNTRACK;
	struct ct_unread_mark *m;
	uint64_t every[2];
	size_t n = 0;

	for (int p = 0; p < 2; p++) {
		every[p] = accounting ?
			   ct_shortest_timeout_ns(d->host.proc_root, protos[p]) / 2 :
			   UNREAD_WITHOUT_ACCOUNTING_NS;
		if (!every[p])
			every[p] = CT_UNREAD_INTERVAL_NS;
	}
	m = calloc(d->pool->n_services + 1, sizeof(*m));
	if (!m) {
		log_error("conntrack: each service's dump interval: out of memory: every one dumped every %llu ms",
			  (unsigned long long)(CT_UNREAD_INTERVAL_NS / 1000000));
		(void)ct_set_unread_marks(d->ct, NULL, 0);
		return;
	}
	for (size_t s = 0; s < d->pool->n_services; s++) {
		const struct knlb_service *svc = &d->pool->services[s];
		int p = svc->cfg->proto == KNLB_PROTO_UDP;

		if (svc->cfg->track == KNLB_TRACK_OFF)
			continue;
		m[n] = (struct ct_unread_mark){
			.mark = svc->ct_mark, .l4proto = (uint8_t)protos[p],
			.every_ns = every[p],
		};
		for (size_t f = 0; f < KNLB_FAMILIES; f++)
			if (svc->cfg->vip[f].family)
				m[n].families |= CT_FAMILY_BIT(svc->cfg->vip[f].family);
		n++;
	}
	if (ct_set_unread_marks(d->ct, m, n) < 0)
		log_error("conntrack: each service's dump interval: out of memory: the last ones stay");
	free(m);
}

/* A failed pass is logged by ct, and the reader shows the last one's. */
void daemon_refresh_counts(struct knlbd *d, bool with_traffic)
{
	if (d->ct)
		(void)ct_refresh_counts(d->ct, with_traffic);
}

void daemon_follow_flows(struct knlbd *d)
{
	if (!d->ct)
		return;
	follow_closing(d);
	follow_periodic(d);
	/* Else the counts by dumps are refreshed when read (daemon_refresh_counts). */
	ct_set_counts_acted_on(d->ct, any_acted_on(d, false));
	follow_unread_intervals(d);
	follow_events(d);
	ct_set_events_limit(d->ct, d->config->global.track_events_limit);
}
