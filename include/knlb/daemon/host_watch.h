/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HOST_WATCH_H
#define KNLB_HOST_WATCH_H

#include <stdint.h>
#include <stdio.h>

#include "knlb/lib/loop.h"
#include "knlb/daemon/host_watch-t.h"

struct knlb_config;

/*
 * The host checks while knlbd runs: at start, after every reload, and
 * every HOST_WATCH_INTERVAL_NS so an operator who fixes a sysctl sees the
 * problem clear without a reload.  One warning line when a problem
 * appears and one when it clears, not one per pass.
 */
#define HOST_WATCH_INTERVAL_NS	10000000000ULL

void host_watch_init(struct host_watch *w, struct loop *loop,
		     const char *proc_root);

/*
 * Judge config (borrowed until the next call or host_watch_stop) now, log
 * what appeared and what cleared, and re-arm the periodic pass.  report,
 * when not NULL, gets one "warning: host: ..." line per current problem.
 */
void host_watch_check(struct host_watch *w, const struct knlb_config *config,
		      FILE *report);

/*
 * A pass now, for knlbctl status (current and ct as of this instant),
 * with the same log lines; the periodic timer keeps its schedule.
 */
void host_watch_refresh(struct host_watch *w);

void host_watch_stop(struct host_watch *w);

#endif
