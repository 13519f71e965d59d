/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl status: every service and backend as the daemon sees them now,
 * as a table for people or JSON for scripts.  WARN (knlbctl exits 4)
 * when something needs attention: a backend down, a service running on
 * its backups or with no usable backend.  Drain and disable are the
 * operator's own doing and do not warn.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/config/table_size.h"
#include "knlb/ct/ct.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/traffic.h"
#include "knlb/daemon/slot_digest.h"
#include "knlb/ct/flowtab.h"
#include "knlb/health/health.h"
#include "knlb/lib/json.h"
#include "knlb/pool/pool.h"
#include "knlb/lib/version.h"
#include "knlb/nft/persist.h"
#include "knlb/nft/ruleset.h"
#include "ctl-int.h"
#include "status_view-int.h"

/* One word for the service as a whole. */
static const char *service_state(const struct knlb_service *svc)
{
	if (svc->empty)
		return "empty";
	/* A dual-stack service one of whose families has nothing left. */
	for (size_t k = 0; k < svc->n_families; k++)
		if (svc->families[k].empty)
			return svc->families[k].family == KNLB_FAMILY_IPV6 ?
			       "ipv6-empty" : "ipv4-empty";
	if (svc->on_backups)
		return "on-backups";
	for (size_t b = 0; b < svc->n_backends; b++)
		if (!svc->backends[b].up)
			return "degraded";
	return "ok";
}

static const char *check_status_name(enum check_status st)
{
	switch (st) {
	case CHECK_OK:
		return "ok";
	case CHECK_FAILED:
		return "failed";
	case CHECK_LOCAL_ERROR:
		return "local-error";
	}
	return "?";
}

static void last_check_text(const struct health_backend_info *h, char *buf,
			    size_t len)
{
	if (!h)
		snprintf(buf, len, "no check");
	else if (!h->probed)
		snprintf(buf, len, "not probed yet");
	else
		snprintf(buf, len, "%s%s%s %.1fms", check_status_name(h->last.status),
			 h->last.reason[0] ? ": " : "", h->last.reason,
			 h->last.latency_ms);
}

/*
 * How a service's counts are kept: "events" (exact), "periodic" (its own
 * choice) or "bounded" (events overloaded: counted from dumps meanwhile),
 * or "off".  *every_ms: how old periodic counts may be.
 */
static const char *counts_mode(const struct knlb_service_config *cfg,
			       const struct ct_stats *ct, uint64_t *every_ms)
{
	*every_ms = ct ? ct->periodic_interval_ms : 0;
	if (cfg->track == KNLB_TRACK_OFF)
		return "off";
	if (cfg->track == KNLB_TRACK_PERIODIC)
		return "periodic";
	return ct && ct->bounded ? "bounded" : "events";
}

/* The base map sr's service shares, of its first family: "web_base". */
static const char *shared_base_name(const struct service_row *sr, char *buf,
				    size_t len)
{
	return ruleset_share_base_name(sr->shared_with,
				       sr->svc->families[0].family, buf, len);
}

/*
 * persist: entries per backend of a persistent service, read from the
 * kernel's maps; NULL when the service does not persist or they could not
 * be read (unread true).
 */
static void text_service(const struct service_row *sr, const uint64_t *persist,
			 bool unread, const struct ct_stats *ct, FILE *out)
{
	bool persists = persist_enabled(sr->svc);
	const struct knlb_service *svc = sr->svc;
	const struct knlb_service_config *cfg = svc->cfg;
	char vip[CONFIG_VIPS_STRLEN], digest[SLOT_DIGEST_STRLEN];
	char base[RULESET_NAME_MAX];

	char active[96];
	uint64_t every_ms;
	const char *mode = counts_mode(cfg, ct, &every_ms);

	if (cfg->track == KNLB_TRACK_OFF)
		snprintf(active, sizeof(active), "flows not tracked (track = off)");
	else if (strcmp(mode, "events") == 0)
		snprintf(active, sizeof(active), "active flows %" PRIu64, sr->flows.active);
	else	/* nothing silently approximate */
		snprintf(active, sizeof(active), "active flows %" PRIu64 " (counts %s %" PRIu64 ".%" PRIu64 "s)",
			 sr->flows.active, mode, every_ms / 1000, every_ms % 1000 / 100);
	fprintf(out, "service %s  %s/%s  %s  %u slots (%s%s%s)  digest %s  ct mark 0x%08x  flush %s  on_empty %s  state %s  %s\n",
		cfg->name, config_service_vips(cfg, vip, sizeof(vip)),
		config_proto_name(cfg->proto), config_scheduler_name(cfg->scheduler),
		cfg->table_size,
		config_table_size_source_name(cfg->table_size_source),
		sr->shared_with ? ", shared base " : "",
		sr->shared_with ? shared_base_name(sr, base, sizeof(base)) : "",
		slot_digest_format(sr->slot_digest, digest),
		svc->ct_mark, cfg->flush ? "yes" : "no",
		cfg->on_empty == KNLB_ON_EMPTY_DROP ? "drop" : "reject",
		service_state(svc), active);
	/* Columns as wide as the widest id and endpoint (IPv6 ones are long). */
	int id_w = 20, addr_w = 21;

	for (size_t b = 0; b < svc->n_backends; b++) {
		char addr[KNLB_ADDRSTRLEN];
		int n = (int)strlen(svc->backends[b].cfg->id);

		id_w = n > id_w ? n : id_w;
		n = (int)strlen(addr_port_format(&svc->backends[b].cfg->addr,
						 svc->backends[b].cfg->port, addr,
						 sizeof(addr)));
		addr_w = n > addr_w ? n : addr_w;
	}
	fprintf(out, "  %-*s %-*s %6s %9s %-8s %-6s %7s %7s %8s%s  %s\n", id_w,
		"BACKEND", addr_w, "ADDRESS", "WEIGHT", "EFFECTIVE", "ADMIN",
		"HEALTH", "SLOTS", "SHARE", "ACTIVE", persists ? "  PERSIST" : "",
		"LAST CHECK");
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct backend_row *br = &sr->backends[b];
		const struct knlb_backend *be = br->be;
		char addr[KNLB_ADDRSTRLEN], check[CHECK_REASON_MAX + 32], weight[16];

		last_check_text(br->health, check, sizeof(check));
		snprintf(weight, sizeof(weight), "%u%s", be->weight,
			 be->weight_set ? "*" : "");
		char entries[32] = "";

		if (persists && persist)
			snprintf(entries, sizeof(entries), " %8" PRIu64, persist[b]);
		else if (persists)
			snprintf(entries, sizeof(entries), " %8s", unread ? "?" : "0");
		fprintf(out, "  %-*s %-*s %6s %9g %-8s %-6s %7u %6.2f%% %8" PRIu64 "%s  %s%s%s\n",
			id_w, be->cfg->id, addr_w,
			addr_port_format(&be->cfg->addr, be->cfg->port, addr, sizeof(addr)),
			weight, pool_effective_weight(svc, b),
			pool_admin_name(be->admin), be->up ? "up" : "DOWN", br->slots,
			100.0 * br->slots / cfg->table_size, br->flows.active, entries,
			check, be->cfg->backup ? "  (backup)" : "",
			be->full ? "  (full: maxconn)" : "");
	}
}

static void json_flow_counts(struct json_writer *w, const struct flow_counts *c)
{
	json_key(w, "active_flows");
	json_uint(w, c->active);
	json_key(w, "flows_opened");
	json_uint(w, c->opened);
	json_key(w, "flows_closed");
	json_uint(w, c->closed);
}

static void json_backend(const struct knlb_service *svc, size_t b,
			 const struct backend_row *br, const uint64_t *persist,
			 struct json_writer *w)
{
	const struct knlb_backend *be = br->be;
	const struct health_backend_info *h = br->health;
	uint32_t slots = br->slots;
	char addr[KNLB_ADDRSTRLEN];
	json_object_begin(w);
	json_key(w, "id");
	json_string(w, be->cfg->id);
	json_key(w, "address");
	json_string(w, addr_port_format(&be->cfg->addr, be->cfg->port, addr, sizeof(addr)));
	json_key(w, "backup");
	json_bool(w, be->cfg->backup);
	json_key(w, "maxconn");
	if (be->cfg->maxconn)
		json_uint(w, be->cfg->maxconn);
	else
		json_null(w);
	json_key(w, "full");
	json_bool(w, be->full);
	json_key(w, "weight");
	json_uint(w, be->weight);
	json_key(w, "config_weight");
	json_uint(w, be->cfg->weight);
	json_key(w, "effective_weight");
	json_double(w, pool_effective_weight(svc, b));
	json_key(w, "admin");
	json_string(w, pool_admin_name(be->admin));
	json_key(w, "health");
	json_string(w, be->up ? "up" : "down");
	json_key(w, "slots");
	json_uint(w, slots);
	json_key(w, "share");
	json_double(w, (double)slots / svc->cfg->table_size);
	json_flow_counts(w, &br->flows);
	if (persist_enabled(svc)) {
		json_key(w, "persistence_entries");
		if (persist)
			json_uint(w, persist[b]);
		else
			json_null(w);
	}
	json_key(w, "check");
	if (!h) {
		json_null(w);
	} else {
		json_object_begin(w);
		json_key(w, "probed");
		json_bool(w, h->probed);
		json_key(w, "last_status");
		if (h->probed)
			json_string(w, check_status_name(h->last.status));
		else
			json_null(w);
		json_key(w, "last_reason");
		json_string(w, h->last.reason);
		json_key(w, "last_latency_ms");
		json_double(w, h->last.latency_ms);
		json_key(w, "probes");
		json_uint(w, h->probes);
		json_key(w, "transitions");
		json_uint(w, h->transitions);
		json_object_end(w);
	}
	json_object_end(w);
}

static void json_service(const struct service_row *sr, const uint64_t *persist,
			 const struct ct_stats *ct, struct json_writer *w)
{
	const struct knlb_service *svc = sr->svc;
	const struct knlb_service_config *cfg = svc->cfg;
	char vip[KNLB_ADDRSTRLEN], digest[SLOT_DIGEST_STRLEN];
	char base[RULESET_NAME_MAX];
	uint64_t every_ms;
	json_object_begin(w);
	json_key(w, "name");
	json_string(w, cfg->name);
	json_key(w, "vip");
	json_string(w, addr_format(config_service_first_vip(cfg), vip, sizeof(vip)));
	json_key(w, "vips");
	json_array_begin(w);
	for (int f = 0; f < KNLB_FAMILIES; f++)
		if (config_service_has_family(cfg, f))
			json_string(w, addr_format(&cfg->vip[f], vip, sizeof(vip)));
	json_array_end(w);
	json_key(w, "port");
	json_uint(w, cfg->port);
	json_key(w, "proto");
	json_string(w, config_proto_name(cfg->proto));
	json_key(w, "scheduler");
	json_string(w, config_scheduler_name(cfg->scheduler));
	json_key(w, "table_size");
	json_uint(w, cfg->table_size);
	json_key(w, "table_size_source");
	json_string(w, config_table_size_source_name(cfg->table_size_source));
	json_key(w, "shared_base");
	if (sr->shared_with)
		json_string(w, shared_base_name(sr, base, sizeof(base)));
	else
		json_null(w);
	json_key(w, "slot_digest");
	json_string(w, slot_digest_format(sr->slot_digest, digest));
	json_key(w, "ct_mark");
	json_uint(w, svc->ct_mark);
	json_key(w, "flush");
	json_bool(w, cfg->flush);
	json_key(w, "persistence_s");
	json_uint(w, cfg->persistence_ns / 1000000000ULL);
	json_key(w, "state");
	json_string(w, service_state(svc));
	json_key(w, "tracked");
	json_bool(w, cfg->track != KNLB_TRACK_OFF);
	json_key(w, "counts");
	json_string(w, counts_mode(cfg, ct, &every_ms));
	json_key(w, "counts_interval_ms");
	json_uint(w, strcmp(counts_mode(cfg, ct, &every_ms), "events") == 0 ||
		  cfg->track == KNLB_TRACK_OFF ? 0 : every_ms);
	json_flow_counts(w, &sr->flows);
	json_key(w, "backends");
	json_array_begin(w);
	for (size_t b = 0; b < svc->n_backends; b++)
		json_backend(svc, b, &sr->backends[b], persist, w);
	json_array_end(w);
	json_object_end(w);
}

static void json_conntrack(const struct knlbd *d, struct json_writer *w)
{
	struct ct_stats st;

	json_key(w, "conntrack");
	if (!d->ct) {
		json_null(w);
		return;
	}
	ct_get_stats(d->ct, &st);
	json_object_begin(w);
	json_key(w, "events_new");
	json_uint(w, st.events_new);
	json_key(w, "events_closing");
	json_uint(w, st.events_closing);
	json_key(w, "events_destroy");
	json_uint(w, st.events_destroy);
	json_key(w, "overflows");
	json_uint(w, st.overflows);
	json_key(w, "resyncs");
	json_uint(w, st.resyncs);
	json_key(w, "counts_stale");
	json_bool(w, st.resync_pending);
	json_key(w, "events_subscribed");
	json_bool(w, !st.events_off && !st.bounded);
	json_key(w, "closing_exact");
	json_bool(w, st.closing_updates && !st.events_off);
	json_key(w, "bounded");
	json_bool(w, st.bounded);
	json_key(w, "bounded_reason");
	if (st.bounded)
		json_string(w, st.bounded_by_rate ? "rate" : "overload");
	else
		json_null(w);
	json_key(w, "bounded_entries");
	json_uint(w, st.bounded_entries);
	json_key(w, "events_limit");
	json_uint(w, st.events_limit);
	json_key(w, "events_rate");
	json_uint(w, st.events_rate);
	json_key(w, "periodic_passes");
	json_uint(w, st.periodic_passes);
	json_key(w, "dumps");
	json_uint(w, st.dumps);
	json_key(w, "periodic_interval_ms");
	json_uint(w, st.periodic_interval_ms);
	json_key(w, "unread_interval_ms");
	json_uint(w, st.unread_interval_ms);
	json_key(w, "unread_interval_tcp_ms");
	json_uint(w, ct_unread_proto_ms(d->ct, IPPROTO_TCP));
	json_key(w, "unread_interval_udp_ms");
	json_uint(w, ct_unread_proto_ms(d->ct, IPPROTO_UDP));
	json_key(w, "last_pass_ms");
	json_uint(w, st.last_pass_ms);
	json_key(w, "last_pass_cpu_ms");
	json_uint(w, st.last_pass_cpu_us / 1000);
	json_key(w, "new_flow_rate");
	json_uint(w, st.new_flow_rate);
	json_key(w, "flows_unseen");
	json_uint(w, st.flows_unseen);
	json_key(w, "sampled_rate");
	json_uint(w, st.sampled_rate);
	json_key(w, "sampled_from");
	json_string(w, st.rate_from_counters ? "counters" : "events");
	json_key(w, "intake_rate");
	json_uint(w, st.intake_rate);
	json_object_end(w);
}

/* How often the counts by dumps are refreshed, for the text header. */
static void put_dump_cadence(const struct knlbd *d, const struct ct_stats *st,
			     FILE *out)
{
	uint64_t tcp = ct_unread_proto_ms(d->ct, IPPROTO_TCP),
		 udp = ct_unread_proto_ms(d->ct, IPPROTO_UDP);

	if (!st->unread_interval_ms)
		fprintf(out, "from a dump every %" PRIu64 " ms", st->periodic_interval_ms);
	else if (tcp && udp && tcp != udp)
		fprintf(out, "from a dump when read (at most %" PRIu64 " ms old) and every %" PRIu64 " ms for TCP, %" PRIu64 " ms for UDP (nothing drains, no wlc or maxconn)",
			st->periodic_interval_ms, tcp, udp);
	else
		fprintf(out, "from a dump when read (at most %" PRIu64 " ms old) and every %" PRIu64 " ms (nothing drains, no wlc or maxconn)",
			st->periodic_interval_ms, st->unread_interval_ms);
}

static void text_header(const struct knlbd *d, FILE *out)
{
	uint64_t up = (uint64_t)time(NULL) - d->counters.start_time_unix;
	const char *traffic = traffic_status_line(&d->config->global, d->ct);
	struct ct_stats st;

	fprintf(out, "knlbd %s  table inet %s  config %s  up %" PRIu64 "s  reloads %" PRIu64 " ok, %" PRIu64 " failed\n",
		KNLB_VERSION, d->config->global.table, d->config_path, up,
		d->counters.reloads, d->counters.reload_failures);
	if (traffic)
		fprintf(out, "%s\n", traffic);
	if (!d->ct) {
		fprintf(out, "conntrack: not available (no flow counts, flush or wlc)\n");
		return;
	}
	ct_get_stats(d->ct, &st);
	fprintf(out, "conntrack: %" PRIu64 " new, %" PRIu64 " closing and %" PRIu64 " destroy events, %" PRIu64 " overflows, %" PRIu64 " resyncs%s\n",
		st.events_new, st.events_closing, st.events_destroy,
		st.overflows, st.resyncs,
		st.resync_pending ? "; COUNTS STALE until the pending resync" : "");
	if (st.bounded) {
		if (st.bounded_by_rate)
			fprintf(out, "conntrack: BOUNDED MODE: %" PRIu64 " new flows/s, above track_events_limit %" PRIu64 "/s",
				st.intake_rate, st.events_limit);
		else
			fprintf(out, "conntrack: BOUNDED MODE: event intake overloaded (%" PRIu64 " new flows/s read)",
				st.intake_rate);
		fputs("; every tracked service counted ", out);
		put_dump_cadence(d, &st, out);
		fprintf(out, ", new flows now %" PRIu64 "/s (%s), back to events below %" PRIu64 "/s\n",
			st.sampled_rate,
			st.rate_from_counters ? "the kernel's counters" : "sampled events",
			st.bounded_exit_rate);
	} else if (st.periodic_services) {
		fprintf(out, "conntrack: %zu service%s (track = periodic) counted ",
			st.periodic_services, st.periodic_services == 1 ? "" : "s");
		put_dump_cadence(d, &st, out);
		fprintf(out, ", last pass %" PRIu64 " ms (%" PRIu64 " ms of CPU)\n",
			st.last_pass_ms, st.last_pass_cpu_us / 1000);
	}
	if (st.events_off)
		fprintf(out, "conntrack: subscribed to no event: no service has track = events\n");
	else if (!st.closing_updates)
		fprintf(out, "conntrack: closing updates not followed (ct_closing = needed, nothing drains, no wlc): TCP active counts include closed flows until their entries expire\n");
}

static bool any_runtime_weight(const struct knlb_model *pool)
{
	for (size_t s = 0; s < pool->n_services; s++)
		for (size_t b = 0; b < pool->services[s].n_backends; b++)
			if (pool->services[s].backends[b].weight_set)
				return true;
	return false;
}

/*
 * Entries of svc's persistence maps per backend, read from the kernel
 * (one dump per map, as `knlbctl stats` reads counters); NULL when svc
 * does not persist or the maps could not be read.  The caller frees it.
 */
static uint64_t *persist_counts(const struct knlbd *d,
				const struct knlb_service *svc)
{
	struct persist_table t = { 0 };
	uint64_t *counts;
	char err[256];

	if (!persist_enabled(svc))
		return NULL;
	counts = calloc(svc->n_backends ? svc->n_backends : 1, sizeof(*counts));
	if (counts && persist_read(d->config->global.table, svc, &t, err,
				   sizeof(err)) < 0) {
		free(counts);
		counts = NULL;
	}
	if (counts)
		persist_count(svc, &t, counts);
	persist_table_free(&t);
	return counts;
}

enum ctl_status ctl_status_cmd(struct knlbd *d, const struct ctl_request *req,
			       FILE *out)
{
	struct knlb_service *only = NULL;
	struct status_view v = { 0 };
	enum ctl_status st = CTL_OK;
	struct json_writer w;
	struct ct_stats cts, *ctp = NULL;

	daemon_refresh_counts(d, false);
	if (d->ct) {
		ct_get_stats(d->ct, &cts);
		ctp = &cts;
	}
	if (req->argc == 1 && !(only = ctl_service(d, req->argv[0], out)))
		return CTL_ERROR;
	if (status_view_gather(&v, &d->metrics_src) < 0) {
		status_view_free(&v);
		fprintf(out, "status: %s\n", strerror(ENOMEM));
		return CTL_ERROR;
	}
	if (req->json) {
		json_init(&w, out);
		json_object_begin(&w);
		json_key(&w, "version");
		json_string(&w, KNLB_VERSION);
		json_key(&w, "table");
		json_string(&w, d->config->global.table);
		json_key(&w, "config");
		json_string(&w, d->config_path);
		json_key(&w, "reloads");
		json_uint(&w, d->counters.reloads);
		json_key(&w, "reload_failures");
		json_uint(&w, d->counters.reload_failures);
		json_key(&w, "traffic_counters");
		json_bool(&w, traffic_known(&d->config->global, d->ct));
		json_key(&w, "traffic_source");
		if (traffic_source(&d->config->global, d->ct))
			json_string(&w, traffic_source(&d->config->global, d->ct));
		else
			json_null(&w);
		json_conntrack(d, &w);
		st = ctl_host_section(d, &w, out);
		if (ctl_announce_section(d, &w, out) == CTL_WARN)
			st = CTL_WARN;
		json_key(&w, "services");
		json_array_begin(&w);
	} else {
		text_header(d, out);
		st = ctl_host_section(d, NULL, out);
		if (ctl_announce_section(d, NULL, out) == CTL_WARN)
			st = CTL_WARN;
	}
	for (size_t s = 0; s < v.n_services; s++) {
		const struct service_row *sr = &v.services[s];

		if (only && sr->svc != only)
			continue;
		if (strcmp(service_state(sr->svc), "ok") != 0)
			st = CTL_WARN;
		uint64_t *persist = persist_counts(d, sr->svc);

		if (req->json) {
			json_service(sr, persist, ctp, &w);
		} else {
			fputc('\n', out);
			text_service(sr, persist, persist_enabled(sr->svc) && !persist,
				     ctp, out);
		}
		free(persist);
	}
	if (req->json) {
		json_array_end(&w);
		json_object_end(&w);
	} else if (any_runtime_weight(d->pool)) {
		fprintf(out, "\n(* runtime weight set by knlbctl weight)\n");
	}
	status_view_free(&v);
	return st;
}
