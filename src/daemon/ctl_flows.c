/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl flows [SERVICE [BACKEND]]: the conntrack entries of knlb's
 * services, read from the kernel now (one dump, filtered by ct mark), so
 * what is listed is what `conntrack -L -m MARK/MASK` shows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/ct/ct.h"
#include "knlb/daemon/daemon.h"
#include "knlb/lib/json.h"
#include "knlb/pool/pool.h"
#include "ctl-int.h"

struct flows_out {
	const struct knlbd *d;
	FILE *out;
	struct json_writer *json;	/* NULL: text */
	size_t n;
	bool counters;			/* some flow had packet counters */
	bool ages;			/* some flow had a start time */
};

static const char *service_of_mark(const struct knlbd *d, uint32_t mark)
{
	for (size_t s = 0; s < d->pool->n_services; s++)
		if (d->pool->services[s].ct_mark == mark)
			return d->pool->services[s].cfg->name;
	return "?";
}

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

static void json_flow(struct json_writer *w, const char *svc,
		      const struct ct_flow *f, const char *client,
		      const char *vip, const char *backend)
{
	json_object_begin(w);
	json_key(w, "service");
	json_string(w, svc);
	json_key(w, "proto");
	json_string(w, proto_name(f->proto));
	json_key(w, "client");
	json_string(w, client);
	json_key(w, "vip");
	json_string(w, vip);
	json_key(w, "backend");
	json_string(w, backend);
	json_key(w, "state");
	if (f->state[0])
		json_string(w, f->state);
	else
		json_null(w);
	json_key(w, "age_s");
	if (f->age_s >= 0)
		json_int(w, f->age_s);
	else
		json_null(w);
	json_key(w, "timeout_s");
	json_int(w, f->timeout_s);
	json_key(w, "packets");
	if (f->has_counters) {
		json_array_begin(w);
		json_uint(w, f->orig_packets);
		json_uint(w, f->reply_packets);
		json_array_end(w);
	} else {
		json_null(w);
	}
	json_key(w, "bytes");
	if (f->has_counters) {
		json_array_begin(w);
		json_uint(w, f->orig_bytes);
		json_uint(w, f->reply_bytes);
		json_array_end(w);
	} else {
		json_null(w);
	}
	json_key(w, "conntrack_id");
	json_uint(w, f->id);
	json_object_end(w);
}

static void on_flow(const struct ct_flow *f, void *arg)
{
	struct flows_out *o = arg;
	const char *svc = service_of_mark(o->d, f->mark);
	char client[KNLB_ADDRSTRLEN], vip[KNLB_ADDRSTRLEN], backend[KNLB_ADDRSTRLEN];
	char age[24] = "-", pk[48] = "-", by[48] = "-";

	o->n++;
	addr_port_format(&f->client, f->client_port, client, sizeof(client));
	addr_port_format(&f->vip, f->vip_port, vip, sizeof(vip));
	addr_port_format(&f->backend, f->backend_port, backend, sizeof(backend));
	if (o->json) {
		json_flow(o->json, svc, f, client, vip, backend);
		return;
	}
	if (f->age_s >= 0) {
		snprintf(age, sizeof(age), "%" PRId64 "s", f->age_s);
		o->ages = true;
	}
	if (f->has_counters) {
		snprintf(pk, sizeof(pk), "%" PRIu64 "/%" PRIu64, f->orig_packets,
			 f->reply_packets);
		snprintf(by, sizeof(by), "%" PRIu64 "/%" PRIu64, f->orig_bytes,
			 f->reply_bytes);
		o->counters = true;
	}
	fprintf(o->out, "%-12s %-4s %-21s %-21s %-21s %-12s %6s %8" PRId64 " %13s %17s\n",
		svc, proto_name(f->proto), client, vip, backend,
		f->state[0] ? f->state : "-", age, f->timeout_s, pk, by);
}

static void text_footer(const struct knlbd *d, const struct knlb_service *svc,
			const struct flows_out *o)
{
	uint32_t mask = d->config->global.ct_mark_mask;

	fprintf(o->out, "%zu flow%s\n", o->n, o->n == 1 ? "" : "s");
	if (!o->ages)
		fprintf(o->out, "(AGE needs net.netfilter.nf_conntrack_timestamp=1 when the flow starts)\n");
	if (!o->counters)
		fprintf(o->out, "(PACKETS and BYTES need net.netfilter.nf_conntrack_acct=1 when the flow starts)\n");
	if (svc)
		fprintf(o->out, "the same with conntrack: conntrack -L -m 0x%08x/0x%08x\n",
			svc->ct_mark, mask);
}

enum ctl_status ctl_flows_cmd(struct knlbd *d, const struct ctl_request *req,
			      FILE *out)
{
	bool json = req->json;
	const struct knlb_service *svc = NULL;
	struct flows_out o = { .d = d, .out = out };
	const struct knlb_addr *backend = NULL;
	struct json_writer w;
	uint16_t port = 0;
	long ret, b;

	if (!d->ct) {
		fprintf(out, "conntrack is not available to knlbd (see its log): no flows to list\n");
		return CTL_ERROR;
	}
	if (req->argc >= 1 && !(svc = ctl_service(d, req->argv[0], out)))
		return CTL_ERROR;
	if (req->argc == 2) {
		b = ctl_backend(svc, req->argv[1], out);
		if (b < 0)
			return CTL_ERROR;
		backend = &svc->backends[b].cfg->addr;
		port = svc->backends[b].cfg->port;
	}
	if (json) {
		json_init(&w, out);
		o.json = &w;
		json_array_begin(&w);
	} else {
		fprintf(out, "%-12s %-4s %-21s %-21s %-21s %-12s %6s %8s %13s %17s\n",
			"SERVICE", "PROTO", "CLIENT", "VIP", "BACKEND", "STATE", "AGE",
			"TIMEOUT", "PACKETS o/r", "BYTES o/r");
	}
	ret = ct_list(d->ct, svc ? svc->ct_mark : 0, backend, port, on_flow, &o);
	if (json)
		json_array_end(&w);
	if (ret < 0) {
		fprintf(out, "reading conntrack: %s\n", strerror((int)-ret));
		return CTL_ERROR;
	}
	if (!json)
		text_footer(d, svc, &o);
	return CTL_OK;
}
