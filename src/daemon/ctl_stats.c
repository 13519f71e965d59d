/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl stats [SERVICE]: per service and backend, the counters the
 * kernel keeps (new flows, packets and bytes each way: nft/stats.h) read
 * now, plus the active flows conntrack events count.  With [global]
 * traffic_counters = conntrack packets and bytes are conntrack's
 * accounting summed by knlbd (daemon/traffic.h); with no the kernel
 * counts new flows only: packets and bytes are null, not 0, so that no
 * reader takes them for idle.  Always
 * JSON: it is a sample for programs (knlbctl status --rate and top take
 * two and divide); people read the rates.  Shape:
 * docs/control-protocol.md.
 */
#include <inttypes.h>
#include <stdio.h>

#include "knlb/config/config.h"
#include "knlb/ct/flowtab.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/traffic.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/json.h"
#include "knlb/lib/loop.h"
#include "knlb/nft/stats.h"
#include "knlb/pool/pool.h"
#include "ctl-int.h"

/* A packet or byte counter: null when the kernel does not count them. */
static void json_traffic(struct json_writer *w, const char *key, uint64_t v,
			 bool counted)
{
	json_key(w, key);
	if (counted)
		json_uint(w, v);
	else
		json_null(w);
}

static void json_backend(const struct knlbd *d, const struct knlb_service *svc,
			 size_t b, const struct traffic_view *v,
			 struct json_writer *w)
{
	const struct knlb_backend_config *be = svc->backends[b].cfg;
	const struct stats_counter c = traffic_view_backend(v, svc, b);
	char addr[KNLB_ADDRSTRLEN];
	struct flow_counts fc = { 0 };

	json_object_begin(w);
	json_key(w, "id");
	json_string(w, be->id);
	json_key(w, "address");
	json_string(w, addr_port_format(&be->addr, be->port, addr, sizeof(addr)));
	json_key(w, "active_flows");
	if (d->flows) {
		flowtab_backend_counts(d->flows, svc->ct_mark, &be->addr, be->port,
				       (uint8_t)svc->cfg->proto, &fc);
		json_uint(w, fc.active);
	} else {
		json_null(w);	/* knlbd runs without conntrack */
	}
	json_key(w, "new_flows");
	json_uint(w, c.new_flows);
	json_traffic(w, "packets_in", c.pkts_in, v->counted);
	json_traffic(w, "bytes_in", c.bytes_in, v->counted);
	json_traffic(w, "packets_out", c.pkts_out, v->counted);
	json_traffic(w, "bytes_out", c.bytes_out, v->counted);
	json_object_end(w);
}

static void json_service(const struct knlbd *d, const struct knlb_service *svc,
			 const struct traffic_view *v, struct json_writer *w)
{
	char vip[KNLB_ADDRSTRLEN];

	json_object_begin(w);
	json_key(w, "name");
	json_string(w, svc->cfg->name);
	json_key(w, "vip");
	json_string(w, addr_port_format(config_service_first_vip(svc->cfg),
					svc->cfg->port, vip, sizeof(vip)));
	json_key(w, "proto");
	json_string(w, config_proto_name(svc->cfg->proto));
	json_key(w, "backends");
	json_array_begin(w);
	for (size_t b = 0; b < svc->n_backends; b++)
		json_backend(d, svc, b, v, w);
	json_array_end(w);
	json_object_end(w);
}

enum ctl_status ctl_stats_cmd(struct knlbd *d, const struct ctl_request *req,
			      FILE *out)
{
	const struct knlb_service *only = NULL;
	const struct knlb_global_config *g = &d->config->global;
	struct traffic_view v;
	struct json_writer w;
	uint64_t now_ns;
	char err[256];

	/* JSON with or without --json; the registry row checked argc. */
	if (req->argc == 1 && !(only = ctl_service(d, req->argv[0], out)))
		return CTL_ERROR;
	daemon_refresh_counts(d, true);
	if (traffic_view_read(&v, g, d->ct, err, sizeof(err)) < 0) {
		fprintf(out, "%s\n", err);
		return CTL_ERROR;
	}
	now_ns = loop_now_ns();		/* when the kernel was read */
	json_init(&w, out);
	json_object_begin(&w);
	json_key(&w, "monotonic_ms");
	json_uint(&w, now_ns / 1000000);
	json_key(&w, "traffic_counters");
	json_bool(&w, v.counted);
	json_key(&w, "traffic_source");
	if (traffic_source(g, d->ct))
		json_string(&w, traffic_source(g, d->ct));
	else
		json_null(&w);
	json_key(&w, "services");
	json_array_begin(&w);
	for (size_t s = 0; s < d->pool->n_services; s++)
		if (!only || only == &d->pool->services[s])
			json_service(d, &d->pool->services[s], &v, &w);
	json_array_end(&w);
	json_object_end(&w);
	traffic_view_free(&v);
	return json_error(&w) < 0 ? CTL_ERROR : CTL_OK;
}
