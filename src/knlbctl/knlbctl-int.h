/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by knlbctl's files: exit codes, the transport, the extras. */
#ifndef KNLB_KNLBCTL_INT_H
#define KNLB_KNLBCTL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "knlb/ctl/commands.h"

/* Exit codes, documented in --help and knlbctl(8). */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,	/* ERROR reply; check-config: not valid */
	EXIT_USAGE = 2,		/* nothing was sent */
	EXIT_UNREACHABLE = 3,	/* no daemon, or a bad or incomplete reply */
	EXIT_WARN = 4,		/* WARN reply */
	EXIT_NOT_DRAINED = 5,	/* drain --wait: flows left at the timeout */
};

#define DEFAULT_TIMEOUT_S	10.0
#define LONG_TIMEOUT_S		60.0	/* reload, flows: real work behind them */
#define WAIT_TIMEOUT_S		300.0	/* drain --wait */
#define MAX_TIMEOUT_S		86400.0

struct options {
	const char *socket;
	bool json;
	bool wait;
	bool help;
	double timeout_s;	/* 0: the command's default */
	bool rate;		/* status --rate */
	double interval_s;	/* --interval DUR; 0: not given */
	long count;		/* --count N; 0: not given */
};

int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

uint64_t now_ms(void);

/*
 * One request line (without its '\n') to the socket at path, the reply's
 * body streamed to out (OK, WARN) or err (ERROR), all within timeout_s.
 * Returns the exit code: EXIT_OK, EXIT_WARN, EXIT_REFUSED, or
 * EXIT_UNREACHABLE with the reason on stderr (unless quiet).
 */
int ctl_call(const char *path, const char *request, double timeout_s,
	     FILE *out, FILE *err, bool quiet);

/* drain --wait, after the drain itself succeeded. */
int drain_wait(const struct options *opt, const char *service,
	       const char *backend, double timeout_s);

/* --interval DUR (100ms to 1h) and --count N (1 or more).  0 or -EINVAL. */
int rate_parse_interval(const char *s, double *out);
int rate_parse_count(const char *s, long *out);
/* Does this command line ask for rates (status --rate, top)? */
bool rate_wanted(const struct options *opt, const struct ctl_command *cmd);
/*
 * Sample `stats` from knlbd every --interval and print rates (JSON lines
 * with --json), --count times (status --rate: once; top: until q, Ctrl-C
 * or the count).  Returns knlbctl's exit code.
 */
int rate_run(const struct options *opt, const struct ctl_command *cmd,
	     int argc, char **argv);

/* knlbctl __complete WORDS...: candidates for the last word, one a line. */
int complete_words(int argc, char **argv);

/* Local commands. */
int check_config(const char *path, bool json);
void help_json(FILE *out);

#endif
