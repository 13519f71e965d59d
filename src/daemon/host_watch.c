/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host checks on a timer: the judging is host_checks.c; here are only the
 * pass, the log lines of what changed since the last pass, and the timer.
 */
#include <string.h>

#include "knlb/lib/log.h"
#include "knlb/daemon/host_watch.h"

static bool listed(const struct host_problems *p, const struct host_problem *pr,
		   bool (*same)(const struct host_problem *,
				const struct host_problem *))
{
	for (size_t i = 0; i < p->n; i++)
		if (same(&p->v[i], pr))
			return true;
	return false;
}

static void log_changes(const struct host_problems *before,
			const struct host_problems *now)
{
	/*
	 * Both at warning level, so an operator who filters at warning sees
	 * the problem go as well as come.  A problem at a new level (the
	 * conntrack table from 95 % to full, or back) is said again; it
	 * clears only when it is gone at every level.
	 */
	for (size_t i = 0; i < now->n; i++)
		if (!listed(before, &now->v[i], host_problem_unchanged))
			log_warn("host: %s", now->v[i].text);
	for (size_t i = 0; i < before->n; i++)
		if (!listed(now, &before->v[i], host_problem_same))
			log_warn("host: cleared: %s%s%s",
				 host_check_name(before->v[i].check),
				 before->v[i].subject[0] ? " " : "",
				 before->v[i].subject);
}

static void pass(struct host_watch *w, FILE *report)
{
	struct host_problems now = { 0 };
	int ret = host_checks_run(w->config, w->proc_root, 0, &now, &w->ct);

	if (ret < 0) {
		/* Keep the last verdict rather than claim problems gone. */
		log_error("host checks: %s; the last result stands", strerror(-ret));
		host_problems_free(&now);
		return;
	}
	log_changes(&w->current, &now);
	host_problems_free(&w->current);
	w->current = now;
	for (size_t i = 0; report && i < w->current.n; i++)
		fprintf(report, "warning: host: %s\n", w->current.v[i].text);
}

static void on_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct host_watch *w = arg;

	pass(w, NULL);
	if (loop_timer_arm(loop, t, HOST_WATCH_INTERVAL_NS) < 0)
		log_error("host checks: cannot schedule the next pass: out of memory");
}

void host_watch_init(struct host_watch *w, struct loop *loop,
		     const char *proc_root)
{
	memset(w, 0, sizeof(*w));
	w->loop = loop;
	w->proc_root = proc_root;
	loop_timer_init(&w->timer, on_timer, w);
}

void host_watch_check(struct host_watch *w, const struct knlb_config *config,
		      FILE *report)
{
	w->config = config;
	pass(w, report);
	loop_timer_cancel(w->loop, &w->timer);
	if (loop_timer_arm(w->loop, &w->timer, HOST_WATCH_INTERVAL_NS) < 0)
		log_error("host checks: cannot schedule the next pass: out of memory");
}

void host_watch_refresh(struct host_watch *w)
{
	if (w->config)
		pass(w, NULL);
}

void host_watch_stop(struct host_watch *w)
{
	if (w->loop)
		loop_timer_cancel(w->loop, &w->timer);
	host_problems_free(&w->current);
	w->config = NULL;
}
