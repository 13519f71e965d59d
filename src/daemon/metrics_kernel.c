/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's per-backend counters (nft/stats.h) in the /metrics
 * exposition, read from the kernel at each scrape: one dump of the three
 * counting sets.  A counter restarts from 0 when its set element expired
 * idle (an hour) or the table was replaced: Prometheus' rate() takes a
 * counter that went down as a reset, which is what happened.  With
 * [global] traffic_counters = conntrack packets and bytes are conntrack's
 * accounting summed by knlbd (a dump of knlb's flows at each scrape;
 * daemon/traffic.h); with no the kernel counts new flows only, and the
 * packet and byte families are left out rather than shown as zeros.
 */
#include <stdbool.h>
#include <stdio.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/metrics.h"
#include "knlb/daemon/traffic.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/log.h"
#include "knlb/nft/stats.h"
#include "knlb/pool/pool-t.h"

/* A label value: backslash, quote and newline escaped (text format 0.0.4). */
static void put_label(FILE *out, const char *name, const char *value, bool first)
{
	fprintf(out, "%s%s=\"", first ? "" : ",", name);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fputc('\\', out);
		if (*value == '\n')
			fputs("\\n", out);
		else
			fputc(*value, out);
	}
	fputc('"', out);
}

static void put_backend(FILE *out, const char *family,
			const struct knlb_service *svc, size_t b,
			const char *direction, uint64_t v)
{
	const struct knlb_backend_config *be = svc->backends[b].cfg;
	char addr[KNLB_ADDRSTRLEN];

	fprintf(out, "%s{", family);
	put_label(out, "service", svc->cfg->name, true);
	put_label(out, "backend", be->id, false);
	put_label(out, "address", addr_port_format(&be->addr, be->port, addr,
						   sizeof(addr)), false);
	if (direction)
		put_label(out, "direction", direction, false);
	fprintf(out, "} %llu\n", (unsigned long long)v);
}

enum which { NEW_FLOWS, PACKETS, BYTES };

static void put_family(FILE *out, const struct knlb_model *pool,
		       const struct traffic_view *v, enum which which)
{
	static const char *const names[] = {
		[NEW_FLOWS] = "knlb_backend_kernel_new_flows_total",
		[PACKETS] = "knlb_backend_packets_total",
		[BYTES] = "knlb_backend_bytes_total",
	};
	static const char *const helps[] = {
		[NEW_FLOWS] = "New flows the kernel sent to the backend (first packets counted in nft; restarts after an hour idle).",
		[PACKETS] = "Packets of the backend's flows counted by the kernel: in = client to backend, out = backend to client.",
		[BYTES] = "Bytes (IP) of the backend's flows counted by the kernel: in = client to backend, out = backend to client.",
	};
	fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", names[which],
		helps[which], names[which]);
	for (size_t s = 0; s < pool->n_services; s++) {
		const struct knlb_service *svc = &pool->services[s];

		for (size_t b = 0; b < svc->n_backends; b++) {
			const struct stats_counter c = traffic_view_backend(v, svc, b);

			if (which == NEW_FLOWS) {
				put_backend(out, names[which], svc, b, NULL, c.new_flows);
				continue;
			}
			put_backend(out, names[which], svc, b, "in",
				    which == PACKETS ? c.pkts_in : c.bytes_in);
			put_backend(out, names[which], svc, b, "out",
				    which == PACKETS ? c.pkts_out : c.bytes_out);
		}
	}
}

void metrics_render_kernel(FILE *out, const struct knlb_model *pool,
			   struct ct *ct)
{
	const struct knlb_global_config *g = &pool->config->global;
	struct traffic_view v;
	char err[256];
	int ret = traffic_view_read(&v, g, ct, err, sizeof(err));

	fputs("# HELP knlb_kernel_counters_read Whether this scrape could read the kernel's per-backend counters.\n"
	      "# TYPE knlb_kernel_counters_read gauge\n", out);
	fprintf(out, "knlb_kernel_counters_read %d\n", ret == 0);
	if (ret < 0) {
		log_warn("metrics: %s", err);
		return;
	}
	put_family(out, pool, &v, NEW_FLOWS);
	if (v.counted) {
		put_family(out, pool, &v, PACKETS);
		put_family(out, pool, &v, BYTES);
	}
	traffic_view_free(&v);
}
