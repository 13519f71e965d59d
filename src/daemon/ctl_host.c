/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "host:" part of knlbctl status: what the host lacks for knlb to
 * forward (host_checks.h), and how full the conntrack table is.  The
 * host is checked again for the request, so the answer is of now, not of
 * the last periodic pass.  Any problem is a WARN: with one of them the
 * gateway may be a black hole while every backend is up.
 */
#include <inttypes.h>

#include "knlb/daemon/daemon.h"
#include "knlb/daemon/host_checks.h"
#include "knlb/daemon/host_watch.h"
#include "knlb/lib/json.h"
#include "ctl-int.h"

static double fill_percent(const struct host_ct *ct)
{
	return ct->max ? 100.0 * (double)ct->count / (double)ct->max : 0.0;
}

static void json_ct_table(const struct host_ct *ct, struct json_writer *w)
{
	json_key(w, "conntrack_table");
	if (!ct->loaded) {
		json_null(w);
		return;
	}
	json_object_begin(w);
	json_key(w, "entries");
	json_uint(w, ct->count);
	json_key(w, "max");
	json_uint(w, ct->max);
	json_key(w, "fill_percent");
	json_double(w, fill_percent(ct));
	json_key(w, "warning_percent");
	json_uint(w, HOST_CT_FULL_PERCENT);
	json_key(w, "state");
	json_string(w, host_ct_fill_name(host_ct_fill(ct)));
	json_object_end(w);
}

static void text_ct_table(const struct host_ct *ct, FILE *out)
{
	if (!ct->loaded) {
		fprintf(out, "conntrack table: nf_conntrack not loaded\n");
		return;
	}
	fprintf(out, "conntrack table: %" PRIu64 " of %" PRIu64 " entries (%.1f %%), ",
		ct->count, ct->max, fill_percent(ct));
	switch (host_ct_fill(ct)) {
	case HOST_CT_FULL:
		fprintf(out, "FULL: the kernel is dropping new flows\n");
		break;
	case HOST_CT_HIGH:
		fprintf(out, "above the %u %% warning threshold\n",
			HOST_CT_FULL_PERCENT);
		break;
	case HOST_CT_ROOMY:
		fprintf(out, "warning above %u %%\n", HOST_CT_FULL_PERCENT);
		break;
	}
}

enum ctl_status ctl_host_section(struct knlbd *d, struct json_writer *w,
				 FILE *out)
{
	const struct host_problems *p = &d->host.current;

	host_watch_refresh(&d->host);
	if (w) {
		json_key(w, "host_problems");
		json_array_begin(w);
		for (size_t i = 0; i < p->n; i++) {
			json_object_begin(w);
			json_key(w, "check");
			json_string(w, host_check_name(p->v[i].check));
			json_key(w, "subject");
			json_string(w, p->v[i].subject);
			json_key(w, "message");
			json_string(w, p->v[i].text);
			json_object_end(w);
		}
		json_array_end(w);
		json_ct_table(&d->host.ct, w);
	} else {
		if (!p->n)
			fprintf(out, "host: ok (forwarding, snat addresses, conntrack)\n");
		else
			fprintf(out, "host: %zu problem%s: knlb may not forward until fixed\n",
				p->n, p->n == 1 ? "" : "s");
		for (size_t i = 0; i < p->n; i++)
			fprintf(out, "  %s: %s\n", host_check_name(p->v[i].check),
				p->v[i].text);
		text_ct_table(&d->host.ct, out);
	}
	return p->n ? CTL_WARN : CTL_OK;
}
