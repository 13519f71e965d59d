/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl flows [SERVICE [BACKEND]]: the conntrack entries of knlb's
 * services, read from the kernel now (one dump, filtered by ct mark), so
 * what is listed is what `conntrack -L -m MARK/MASK` shows.
 *
 * A listing can be long (155k entries: 22 MB of text, half a second of
 * kernel and formatting work), so it is a streamed reply: the handler
 * checks the request and sends the dump request on a socket of the
 * listing's own; the server then calls produce() from the loop whenever
 * that socket is readable and the client has room, and each call reads a
 * few datagrams.  See docs/flows.md, "What a listing costs".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/ct/ct.h"
#include "knlb/daemon/daemon.h"
#include "knlb/lib/json.h"
#include "knlb/pool/pool.h"
#include "ctl-int.h"

/*
 * Datagrams of the dump read per step: each holds a hundred entries or
 * so, about half a millisecond of work; the client's buffer bounds the
 * rest (CTL_STREAM_HIGH).
 */
#define READS_PER_STEP	4

struct flows_out {
	const struct knlbd *d;
	FILE *out;
	struct json_writer *json;	/* NULL: text */
	size_t n;
	bool counters;			/* some flow had packet counters */
	bool ages;			/* some flow had a start time */
};

/* One listing being streamed; what it needs of the request is copied. */
struct flows_stream {
	struct flows_out o;
	struct ct_listing *listing;
	struct json_writer w;
	bool json;
	bool started;			/* the header is out */
	bool one_service;		/* the footer names its conntrack command */
	uint32_t svc_mark;
	unsigned families;		/* bit 1 << family for each VIP it has */
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

static void text_footer(const struct flows_stream *st)
{
	const struct flows_out *o = &st->o;
	uint32_t mask = o->d->config->global.ct_mark_mask;

	fprintf(o->out, "%zu flow%s\n", o->n, o->n == 1 ? "" : "s");
	if (!o->ages)
		fprintf(o->out, "(AGE needs net.netfilter.nf_conntrack_timestamp=1 when the flow starts)\n");
	if (!o->counters)
		fprintf(o->out, "(PACKETS and BYTES need net.netfilter.nf_conntrack_acct=1 when the flow starts)\n");
	/* conntrack -L lists IPv4 unless told -f ipv6: one command per family. */
	for (int f = 0; st->one_service && f < KNLB_FAMILIES; f++)
		if (st->families & (1u << f))
			fprintf(o->out, "the same with conntrack: conntrack -L%s -m 0x%08x/0x%08x\n",
				f == KNLB_FAMILY_IPV6 ? " -f ipv6" : "",
				st->svc_mark, mask);
}

static int flows_produce(void *state, FILE *out, enum ctl_status *status)
{
	struct flows_stream *st = state;
	int ret;

	st->o.out = out;
	if (!st->started) {
		st->started = true;
		if (st->json) {
			json_init(&st->w, out);
			st->o.json = &st->w;
			json_array_begin(&st->w);
		} else {
			fprintf(out, "%-12s %-4s %-21s %-21s %-21s %-12s %6s %8s %13s %17s\n",
				"SERVICE", "PROTO", "CLIENT", "VIP", "BACKEND", "STATE",
				"AGE", "TIMEOUT", "PACKETS o/r", "BYTES o/r");
		}
	}
	ret = ct_listing_read(st->listing, READS_PER_STEP, on_flow, &st->o);
	if (ret == 1)
		return 1;
	if (st->json)
		json_array_end(&st->w);
	if (ret < 0) {
		fprintf(out, "reading conntrack: %s\n", strerror(-ret));
		*status = CTL_ERROR;
		return 0;
	}
	if (!st->json)
		text_footer(st);
	*status = CTL_OK;
	return 0;
}

static void flows_release(void *state)
{
	struct flows_stream *st = state;

	ct_listing_close(st->listing);
	free(st);
}

static const struct ctl_stream_ops flows_ops = {
	.produce = flows_produce,
	.release = flows_release,
};

enum ctl_status ctl_flows_cmd(struct knlbd *d, const struct ctl_request *req,
			      FILE *out)
{
	const struct knlb_service *svc = NULL;
	const struct knlb_addr *backend = NULL;
	struct flows_stream *st;
	uint16_t port = 0;
	long b;
	int ret;

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
	/* Before the dump request: a refused listing costs the kernel nothing. */
	if (ctl_streams_running(d->ctl) >= CTL_MAX_STREAMS) {
		fprintf(out, "busy: %u flows listings running, try again\n",
			ctl_streams_running(d->ctl));
		return CTL_ERROR;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		fprintf(out, "reading conntrack: %s\n", strerror(ENOMEM));
		return CTL_ERROR;
	}
	st->o.d = d;
	st->json = req->json;
	st->one_service = svc != NULL;
	st->svc_mark = svc ? svc->ct_mark : 0;
	for (size_t k = 0; svc && k < svc->n_families; k++)
		st->families |= 1u << svc->families[k].family;
	ret = ct_listing_open(d->ct, st->svc_mark, backend, port, &st->listing);
	if (ret == 0) {
		ret = ctl_stream_begin(d->ctl, ct_listing_fd(st->listing), &flows_ops, st);
		if (ret == 0)
			return CTL_OK;
		ct_listing_close(st->listing);
	}
	free(st);
	fprintf(out, "reading conntrack: %s\n", strerror(-ret));
	return CTL_ERROR;
}
