/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hitless reload: a fresh config, validated, becomes a fresh pool that
 * takes over the running one's state (reload.c); the kernel gets the
 * difference in one transaction (commit.c); only then are the objects
 * swapped.  Anything that fails before the swap leaves the running daemon
 * exactly as it was.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/nft/commit.h"
#include "knlb/config/config.h"
#include "knlb/daemon/announce.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/host_watch.h"
#include "knlb/daemon/traffic.h"
#include "knlb/lib/loop.h"
#include "knlb/health/health.h"
#include "knlb/lib/log.h"
#include "knlb/lib/notify.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/reload_plan.h"
#include "knlb/config/table_size.h"
#include "knlb/nft/sync.h"

/* A message for the log and, when asked, the knlbctl reply. */
static void say(FILE *report, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(FILE *report, bool error, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (error)
		log_error("%s", line);
	else
		log_info("%s", line);
	if (report)
		fprintf(report, "%s\n", line);
}

/* Parse errors come as FILE:LINE lines: each one to the log and the reply. */
static int load_config(struct knlbd *d, FILE *report, struct knlb_config **out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *errors = open_memstream(&text, &len);
	int ret;

	if (!errors)
		return -ENOMEM;
	ret = config_load(d->config_path, out, errors);
	fclose(errors);
	if (ret < 0) {
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
			say(report, true, "%s", line);
	}
	free(text);
	return ret;
}

/*
 * One line per service whose derived table_size gave way to the running
 * one, the first time only (a size kept already is kept quietly).
 */
static void report_kept_sizes(FILE *report, const struct knlb_config *running,
			      const struct knlb_config *config)
{
	char line[384];

	for (size_t i = 0; i < config->n_services; i++) {
		const struct knlb_service_config *svc = &config->services[i];
		bool before = false;

		for (size_t j = 0; j < running->n_services; j++)
			if (strcmp(running->services[j].name, svc->name) == 0)
				before = running->services[j].table_size_source ==
					 KNLB_TABLE_SIZE_KEPT;
		if (svc->table_size_source != KNLB_TABLE_SIZE_KEPT || before)
			continue;
		config_table_size_explain(svc, line, sizeof(line));
		say(report, false, "service %s: %s", svc->name, line);
	}
}

/* Health of kept backends goes on from where it was: no re-probing flap. */
static int new_health(struct knlbd *d, struct knlb_model *pool,
		      const struct reload_plan *plan, struct health **out)
{
	int ret = daemon_start_health(d, pool, out);

	if (ret < 0)
		return ret;
	for (size_t s = 0; s < pool->n_services; s++)
		for (size_t b = 0; b < pool->services[s].n_backends; b++) {
			long ob = reload_backend_from(plan, s, b);

			if (ob >= 0)
				health_adopt(*out, s, b,
					     health_backend(d->health,
							    (size_t)plan->svc_from[s],
							    (size_t)ob));
		}
	return 0;
}

/*
 * Backends the new file dropped (or whose service it dropped) are out of
 * the map now: with flush = yes their flows go, like a dead backend's.
 * The plan says which old backends the new pool kept (linear, not a
 * lookup per backend: farms of thousands reload often).
 */
static void flush_removed(struct knlbd *d, const struct knlb_model *pool,
			  const struct reload_plan *plan)
{
	const struct knlb_model *old = d->pool;

	for (size_t os = 0; os < old->n_services; os++) {
		const struct knlb_service *osvc = &old->services[os];
		bool *kept = calloc(osvc->n_backends ? osvc->n_backends : 1,
				    sizeof(*kept));

		if (!kept) {
			log_error("service %s: out of memory: removed backends' flows are not flushed",
				  osvc->cfg->name);
			continue;
		}
		for (size_t s = 0; s < pool->n_services; s++) {
			if (plan->svc_from[s] != (long)os)
				continue;
			for (size_t b = 0; b < pool->services[s].n_backends; b++)
				if (plan->backend_from[s][b] >= 0)
					kept[plan->backend_from[s][b]] = true;
		}
		for (size_t b = 0; b < osvc->n_backends; b++)
			if (!kept[b])
				daemon_queue_flush(d, osvc, b);
		free(kept);
	}
}

static double ms_since(uint64_t start_ns)
{
	return (double)(loop_now_ns() - start_ns) / 1e6;
}

static void report_done(struct knlbd *d, FILE *report,
			const struct reload_plan *plan,
			const struct sync_result *res, double total_ms)
{
	say(report, false,
	    "reloaded %s: %zu service%s (%zu added, %zu removed, %zu changed), backends %zu added, %zu removed, %zu weight%s changed; %s",
	    d->config_path, d->pool->n_services,
	    d->pool->n_services == 1 ? "" : "s", plan->services_added,
	    plan->services_removed, plan->services_changed,
	    plan->backends_added, plan->backends_removed, plan->weights_changed,
	    plan->weights_changed == 1 ? "" : "s", plan->kind == RELOAD_STRUCTURE ? plan->why : "same services and rules");
	if (plan->runtime_weights_kept || plan->runtime_weights_dropped)
		say(report, false,
		    "runtime weights (knlbctl weight): %zu kept, %zu replaced by a weight the file changed",
		    plan->runtime_weights_kept, plan->runtime_weights_dropped);
	if (!res->messages)
		say(report, false, "kernel: nothing to change; %.2f ms", total_ms);
	else
		say(report, false,
		    "kernel: 1 transaction, %s, %zu elements, %.2f ms to the kernel's ack, %.2f ms in all",
		    plan->kind == RELOAD_STRUCTURE ? "table replaced" : "slot deltas",
		    res->elements, res->elapsed_ms, total_ms);
	if (res->persist_kept || res->persist_purged || res->persist_unread)
		say(report, false,
		    "persistence: %zu entries carried over, %zu purged with their backend%s",
		    res->persist_kept, res->persist_purged, res->persist_unread ?
		    " (some maps could not be read: they start empty)" : "");
}

static void warn_restart_only(const struct knlb_config *old,
			      const struct knlb_config *new, FILE *report)
{
	if (strcmp(old->global.control_socket, new->global.control_socket) != 0)
		say(report, false,
		    "control_socket changed: still listening on %s until knlbd restarts",
		    old->global.control_socket);
	if (strcmp(old->global.metrics_listen, new->global.metrics_listen) != 0)
		say(report, false,
		    "metrics_listen changed: still serving %s until knlbd restarts",
		    old->global.metrics_listen[0] ? old->global.metrics_listen : "nothing");
	if (strcmp(old->global.user, new->global.user) != 0)
		say(report, false,
		    "user changed: still running as %s until knlbd restarts",
		    old->global.user[0] ? old->global.user : "root");
}

static int reload(struct knlbd *d, FILE *report);

/* systemd (Type=notify) hears RELOADING=1 then READY=1 around it. */
int daemon_reload(struct knlbd *d, FILE *report)
{
	int ret;

	notify_reloading();
	ret = reload(d, report);
	notify_ready(NULL);
	return ret;
}

static int reload(struct knlbd *d, FILE *report)
{
	uint64_t start = loop_now_ns();
	struct knlb_config *config = NULL;
	struct knlb_model *pool = NULL;
	struct health *health = NULL;
	struct reload_plan plan = { 0 };
	struct sync_result res = { 0 };
	uint64_t old_audit_ns;
	uint32_t old_announce_table;
	char err[512] = "";
	int ret;

	ret = load_config(d, report, &config);
	if (ret < 0) {
		say(report, true, "%s: configuration not valid, nothing changed",
		    d->config_path);
		goto out_failed;
	}
	traffic_keep_running(&d->config->global, &config->global);
	ret = reload_check(d->config, config, err, sizeof(err));
	if (ret == 0) {
		/* A derived size stays while adequate: resizing moves every flow. */
		config_keep_table_sizes(d->config, config);
		report_kept_sizes(report, d->config, config);
		ret = pool_create(config, &pool);
	}
	if (ret == 0)
		ret = reload_plan_build(d->pool, pool, start, &plan, err, sizeof(err));
	if (ret == 0)
		ret = new_health(d, pool, &plan, &health);
	if (ret < 0) {
		say(report, true, "reload refused, nothing changed: %s",
		    err[0] ? err : strerror(-ret));
		goto out_failed;
	}
	ret = committer_reload(d->committer, pool, &plan, &res, err, sizeof(err));
	if (ret < 0) {
		say(report, true, "reload: the kernel refused the change, old state kept: %s",
		    err);
		goto out_failed;
	}

	/* The kernel holds the new pool: swap, then release the old objects. */
	flush_removed(d, pool, &plan);
	health_free(d->health);
	d->health = health;
	health = NULL;
	pool_free(d->pool);
	d->pool = pool;
	pool = NULL;
	old_audit_ns = d->config->global.ct_resync_interval_ns;
	old_announce_table = d->config->global.announce_table;
	warn_restart_only(d->config, config, report);
	config_free(d->config);
	d->config = config;
	config = NULL;
	log_set_level((enum log_level)d->config->global.log_level);
	ret = health_start(d->health);
	if (ret < 0)
		say(report, true, "reload: starting health checks: %s", strerror(-ret));
	daemon_arm_wlc(d);
	daemon_follow_flows(d);
	/* The new pool's VIPs are looked at in the next before-sleep hook. */
	announcer_reload(d, old_announce_table);
	if (d->config->global.ct_resync_interval_ns != old_audit_ns)
		daemon_arm_audit(d);
	daemon_update_sources(d);
	d->counters.reloads++;
	d->counters.last_reload_ms = ms_since(start);
	report_done(d, report, &plan, &res, d->counters.last_reload_ms);
	/* A new snat address or a new family may need what the host lacks. */
	host_watch_check(&d->host, d->config, report);
	reload_plan_free(&plan);
	return 0;

out_failed:
	d->counters.reload_failures++;
	health_free(health);
	reload_plan_free(&plan);
	pool_free(pool);
	config_free(config);
	return ret < 0 ? ret : -EINVAL;
}
