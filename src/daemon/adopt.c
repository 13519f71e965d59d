/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd's start over a running table: read it (nft/adopt.c), adopt it
 * (pool-adopt.c), say what was adopted.  Kept apart from daemon.c so the
 * start-up path there stays one call.
 */
#include <errno.h>
#include <string.h>

#include "knlb/nft/readback.h"
#include "knlb/config/config-t.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/adopt.h"
#include "knlb/lib/log.h"
#include "knlb/pool/adopt_plan.h"
#include "knlb/pool/adopt_table.h"
#include "knlb/pool/pool.h"
#include "knlb/config/table_size.h"

/*
 * A service whose table_size is derived keeps the size its running map
 * has, while adequate (config/table_size.h): a restart after an upgrade or
 * a backend change then moves no flow.  The pool was built for the sizes
 * of the file, so it is built again when one changed.
 */
static int keep_running_sizes(struct knlbd *d, const struct adopt_table *t)
{
	struct knlb_model *pool = NULL;
	bool changed = false;
	char line[384];
	int ret;

	for (size_t s = 0; s < d->config->n_services; s++) {
		struct knlb_service_config *svc = &d->config->services[s];
		const struct adopt_service *as = adopt_find(t, svc->name);

		/*
		 * n_elements counts both families' maps together: only a
		 * service with one map says its M (a dual-stack one starts
		 * from its derived size, as with no table).
		 */
		if (!as || __builtin_popcount(as->maps) != 1 ||
		    !config_keep_table_size(svc, as->n_elements))
			continue;
		config_table_size_explain(svc, line, sizeof(line));
		log_info("service %s: %s", svc->name, line);
		changed = true;
	}
	if (!changed)
		return 0;
	ret = pool_create(d->config, &pool);
	if (ret < 0)
		return ret;
	pool_free(d->pool);
	d->pool = pool;
	return 0;
}

int daemon_adopt_table(struct knlbd *d)
{
	const char *table = d->config->global.table;
	struct pool_adopt_result res;
	struct adopt_table *t = NULL;
	char line[1024];
	int ret;

	ret = adopt_read(table, &t, line, sizeof(line));
	if (ret < 0) {
		log_warn("%s: backends start up and marks follow config order, as with no table",
			 line);
		return 0;
	}
	if (t->reads > 1)
		log_debug("table inet %s: read %u times: it moved while being read",
			  table, t->reads);
	ret = t->exists ? keep_running_sizes(d, t) : 0;
	if (ret == 0)
		ret = pool_adopt(d->pool, t, &res);
	if (ret < 0) {
		log_error("adopting table inet %s: %s", table, strerror(-ret));
		goto out_free_table;
	}
	if (!res.table) {
		log_info("no table inet %s to adopt: backends start up until their probes decide",
			 table);
		goto out_free_table;
	}
	if (res.marks_reset)
		log_warn("table inet %s: ct marks not adopted: %s; marks follow config order, so flows marked before this start are not counted or flushed as their service's until they end",
			 table, res.why);
	for (size_t s = 0; s < d->pool->n_services; s++) {
		pool_adopt_describe(d->pool, s, t, &res, line, sizeof(line));
		log_info("%s", line);
	}
out_free_table:
	adopt_table_free(t);
	return ret;
}
