/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CTL_COMMANDS_H
#define KNLB_CTL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The one list of control commands, read by both ends: knlbctl takes its
 * usage, help, argument checks and completion from it, knlbd its dispatch
 * and argument checks (the handlers live in src/daemon/ctl_*.c, bound to
 * rows by enum ctl_command_id).  Adding a command is one row here, one
 * handler there; the docs check (test/docs/check-docs.sh) then asks for
 * its man page entry and protocol row.
 */

enum ctl_command_id {
	CTL_CMD_STATUS,
	CTL_CMD_TOP,
	CTL_CMD_FLOWS,
	CTL_CMD_STATS,
	CTL_CMD_DRAIN,
	CTL_CMD_ENABLE,
	CTL_CMD_DISABLE,
	CTL_CMD_WEIGHT,
	CTL_CMD_EXPLAIN,
	CTL_CMD_RELOAD,
	CTL_CMD_RENDER,
	CTL_CMD_CHECK_CONFIG,
	CTL_CMD_HELP,
	CTL_N_COMMANDS
};

/* What an argument is: for checks and for completion. */
enum ctl_arg_kind {
	CTL_ARG_NONE,
	CTL_ARG_SERVICE,	/* a [service NAME] */
	CTL_ARG_BACKEND,	/* id= or ADDR:PORT of the SERVICE before it */
	CTL_ARG_WEIGHT,		/* 0..KNLB_MAX_WEIGHT, digits only */
	CTL_ARG_FILE,		/* a path, any bytes: local commands only */
	CTL_ARG_COMMAND,	/* a command name */
	CTL_ARG_CLIENT,		/* ADDR, ADDR:PORT or [V6]:PORT: a client */
};

#define CTL_CMD_MAX_ARGS	3

enum ctl_command_flag {
	CTL_CMD_LOCAL = 1 << 0,		/* runs in knlbctl; never sent */
	CTL_CMD_READ_ONLY = 1 << 1,	/* changes nothing in knlbd */
	CTL_CMD_LONG = 1 << 2,		/* real work behind it: longer timeout */
	CTL_CMD_WAIT = 1 << 3,		/* accepts knlbctl's --wait */
	CTL_CMD_RATE = 1 << 4,		/* accepts --rate, --interval, --count */
};

struct ctl_command {
	const char *name;
	enum ctl_arg_kind args[CTL_CMD_MAX_ARGS];	/* CTL_ARG_NONE after the last */
	int min_args;			/* the rest, up to the last kind, optional */
	unsigned flags;			/* enum ctl_command_flag */
	const char *usage;		/* its arguments: "SERVICE BACKEND N" */
	const char *summary;		/* one line for the command list */
	const char *help;		/* the rest of `knlbctl help NAME` */
};

extern const struct ctl_command ctl_commands[CTL_N_COMMANDS];

/* The number of argument kinds of cmd: its most arguments. */
int ctl_command_max_args(const struct ctl_command *cmd);
/* The row named name, or NULL. */
const struct ctl_command *ctl_command_find(const char *name);
/*
 * The command name closest to a mistyped one (two edits at most: a
 * transposition counts as one), or NULL when none is close.
 */
const char *ctl_command_suggest(const char *name);

/*
 * Checks argc/argv (the arguments only, without the command) against
 * cmd's row: their number, and each weight.  0, or -EINVAL with a
 * one-line message in err ("weight: N must be ...").
 */
int ctl_command_check_args(const struct ctl_command *cmd, int argc,
			   char *const *argv, char *err, size_t errlen);

/* A weight as the registry accepts it: digits only, 0..KNLB_MAX_WEIGHT. */
int ctl_parse_weight(const char *s, uint32_t *out);

/*
 * A client as explain takes it: ADDR, ADDR:PORT, V6 or [V6]:PORT; *port
 * is 0 when none was given.  0 or -EINVAL.
 */
struct knlb_addr;
int ctl_parse_client(const char *s, struct knlb_addr *addr, uint16_t *port);

#endif
