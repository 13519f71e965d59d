/* SPDX-License-Identifier: GPL-2.0-or-later */
/* struct host_watch, embedded in struct knlbd; functions in host_watch.h. */
#ifndef KNLB_HOST_WATCH_T_H
#define KNLB_HOST_WATCH_T_H

#include "knlb/lib/loop-t.h"
#include "knlb/daemon/host_checks.h"

struct loop;

struct host_watch {
	const char *proc_root;			/* "/proc" */
	const struct knlb_config *config;	/* the running one, borrowed */
	struct loop *loop;
	struct loop_timer timer;
	struct host_problems current;		/* as of the last pass */
	struct host_ct ct;			/* as of the last pass */
};

#endif
