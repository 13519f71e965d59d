/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * maxconn=N: a backend with N active flows takes no new ones.  The counts
 * are conntrack's, kept by the ct module from events (flowtab); this runs
 * in the loop's before-sleep hook, right before the commit, so the
 * iteration that reads the NEW event of the Nth flow also takes the
 * backend out of the slot table.  The rule (and its hysteresis) is the
 * pool's, pool_apply_maxconn().
 */
#include <inttypes.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/daemon.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/pool/pool.h"

void daemon_check_maxconn(struct knlbd *d)
{
	uint64_t now = loop_now_ns();

	if (!d->flows)
		return;		/* no conntrack: no counts, no limit (logged at start) */
	for (size_t s = 0; s < d->pool->n_services; s++) {
		struct knlb_service *svc = &d->pool->services[s];

		/* Runs before every sleep: a service without maxconn costs one test. */
		if (!svc->n_maxconn)
			continue;
		for (size_t b = 0; b < svc->n_backends; b++) {
			const struct knlb_backend *be = &svc->backends[b];
			uint64_t active;

			if (!be->cfg->maxconn)
				continue;
			active = daemon_backend_active(d, svc, b);
			if (!pool_apply_maxconn(svc, b, active, now))
				continue;
			if (be->full)
				log_info("%s/%s full: %" PRIu64 " active flows (maxconn %u): no new flows until %u",
					 svc->cfg->name, be->cfg->id, active,
					 be->cfg->maxconn,
					 pool_maxconn_low_water(be->cfg->maxconn));
			else
				log_info("%s/%s takes new flows again: %" PRIu64 " active flows (maxconn %u)",
					 svc->cfg->name, be->cfg->id, active,
					 be->cfg->maxconn);
		}
	}
}
