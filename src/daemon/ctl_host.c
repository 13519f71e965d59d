/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "host:" part of knlbctl status: what the host lacks for knlb to
 * forward (host_checks.h), as of the last pass.  Any problem is a WARN:
 * with one of them the gateway may be a black hole while every backend
 * is up.
 */
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/host_checks.h"
#include "knlb/lib/json.h"
#include "ctl-int.h"

enum ctl_status ctl_host_section(const struct knlbd *d, struct json_writer *w,
				 FILE *out)
{
	const struct host_problems *p = &d->host.current;

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
	} else if (!p->n) {
		fprintf(out, "host: ok (forwarding, snat addresses, conntrack)\n");
	} else {
		fprintf(out, "host: %zu problem%s: knlb may not forward until fixed\n",
			p->n, p->n == 1 ? "" : "s");
		for (size_t i = 0; i < p->n; i++)
			fprintf(out, "  %s: %s\n", host_check_name(p->v[i].check),
				p->v[i].text);
	}
	return p->n ? CTL_WARN : CTL_OK;
}
