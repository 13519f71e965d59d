/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl status, the announce part: per VIP whether this gateway
 * attracts it (its route is in announce_table for the routing daemon to
 * export) and, when not, why.
 */
#include <stdio.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/announce.h"
#include "knlb/daemon/daemon-t.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/json.h"
#include "ctl-int.h"

static bool any_service_announces(const struct knlb_config *cfg)
{
	for (size_t s = 0; s < cfg->n_services; s++)
		if (cfg->services[s].announce == KNLB_ANNOUNCE_ROUTE)
			return true;
	return false;
}

/* "announced", "withdrawn: WHY", or for a route no service wants any more. */
static const char *state_word(const struct announce_state *st)
{
	if (st->installed)
		return st->configured && st->wanted ? "announced" : "announced (withdraw pending)";
	return "withdrawn";
}

static bool state_warns(const struct announce_state *st)
{
	return st->configured != st->installed || !st->wanted;
}

static void json_state(const struct announce_state *st, struct json_writer *w)
{
	char vip[KNLB_ADDRSTRLEN];

	json_object_begin(w);
	json_key(w, "vip");
	json_string(w, addr_format(&st->vip, vip, sizeof(vip)));
	json_key(w, "announced");
	json_bool(w, st->installed);
	json_key(w, "wanted");
	json_bool(w, st->configured && st->wanted);
	json_key(w, "reason");
	if (st->why[0])
		json_string(w, st->why);
	else
		json_null(w);
	json_object_end(w);
}

enum ctl_status ctl_announce_section(const struct knlbd *d,
				     struct json_writer *w, FILE *out)
{
	size_t n;
	const struct announce_state *st = announcer_states(d->announcer, &n);
	bool wanted = any_service_announces(d->config);
	enum ctl_status ret = CTL_OK;

	if (w)
		json_key(w, "announce");
	if (!n && !wanted) {
		if (w)
			json_null(w);
		return CTL_OK;
	}
	if (!d->announcer) {
		if (w)
			json_null(w);
		else
			fprintf(out, "announce: NOT AVAILABLE: rtnetlink failed at start (see the log): no VIP is announced or withdrawn\n");
		return CTL_WARN;
	}
	if (w) {
		json_object_begin(w);
		json_key(w, "table");
		json_uint(w, announcer_table(d->announcer));
		json_key(w, "vips");
		json_array_begin(w);
	} else {
		fprintf(out, "announce: routes in table %u for the routing daemon to export\n",
			announcer_table(d->announcer));
	}
	for (size_t i = 0; i < n; i++) {
		char vip[KNLB_ADDRSTRLEN];

		if (state_warns(&st[i]))
			ret = CTL_WARN;
		if (w) {
			json_state(&st[i], w);
			continue;
		}
		fprintf(out, "  vip %-15s %s%s%s\n",
			addr_format(&st[i].vip, vip, sizeof(vip)), state_word(&st[i]),
			st[i].why[0] ? ": " : "", st[i].why);
	}
	if (w) {
		json_array_end(w);
		json_object_end(w);
	}
	return ret;
}
