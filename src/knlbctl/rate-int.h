/* SPDX-License-Identifier: GPL-2.0-or-later */
/* knlbctl status --rate and top (rate.c), as knlbctl.c calls them. */
#ifndef KNLB_KNLBCTL_RATE_INT_H
#define KNLB_KNLBCTL_RATE_INT_H

#include <stdbool.h>

struct rate_options {
	bool rate;		/* status --rate */
	double interval_s;	/* --interval DUR; 0: not given */
	long count;		/* --count N; 0: not given */
};

/*
 * Take --rate, --interval DUR and --count N out of argv (before getopt
 * sees them; "--" ends the options).  0, or knlbctl's usage exit code
 * with the error printed.
 */
int rate_take_options(int *argc, char **argv, struct rate_options *ro);

/* Does this command line ask for rates (status --rate, top)? */
bool rate_wanted(const struct rate_options *ro, const char *command);

/*
 * Sample `stats` from knlbd at socket every interval and print rates
 * (JSON lines with json), --count times (status --rate: once; top: until
 * q, Ctrl-C or the count).  Returns knlbctl's exit code.
 */
int rate_run(const char *socket, bool json, double timeout_s,
	     const char *command, int argc, char **argv,
	     const struct rate_options *ro);

#endif
