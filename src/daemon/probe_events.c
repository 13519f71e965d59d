/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The raw tcp probes' conntrack entries without events: knlbd's side of
 * nft/probe_events.c.  The price of not doing it, and what it keeps
 * (tracking, so host firewalls still see replies), is in
 * include/knlb/nft/probe_events.h and docs/health-checks.md.
 */
#include <sys/socket.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/daemon.h"
#include "knlb/health/check.h"
#include "knlb/lib/log.h"
#include "knlb/nft/probe_events.h"

void daemon_quiet_probes(struct knlbd *d)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct probe_port_range r[2];
	char name[PROBE_EVENTS_NAME_MAX], err[512];
	size_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		r[n].family = families[i];
		checker_raw_ports(d->checker, families[i], &r[n].first, &r[n].count);
		if (r[n].count)
			n++;
	}
	if (!n)
		return;
	if (probe_events_table_name(d->config->global.table, name, sizeof(name)) < 0) {
		log_warn("tcp probes: their conntrack entries keep their events: table name %s.probes is too long",
			 d->config->global.table);
		return;
	}
	if (probe_events_install(d->nfnl, name, r, n, err, sizeof(err)) < 0) {
		log_warn("tcp probes: their conntrack entries keep their events: %s", err);
		return;
	}
	d->probes_quiet = true;
	log_info("tcp probes: their conntrack entries send no events (table inet %s)", name);
}

/* A reload cannot rename `table` (pool/reload_plan.c): the name is the start's. */
void daemon_unquiet_probes(struct knlbd *d)
{
	char name[PROBE_EVENTS_NAME_MAX], err[512];

	if (!d->probes_quiet || !d->nfnl)
		return;
	d->probes_quiet = false;
	if (probe_events_table_name(d->config->global.table, name, sizeof(name)) < 0)
		return;		/* cannot be: the same name was added */
	if (probe_events_remove(d->nfnl, name, err, sizeof(err)) < 0)
		log_warn("tcp probes: deleting table inet %s: %s", name, err);
}
