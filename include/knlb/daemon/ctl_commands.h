/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_CTL_COMMANDS_H
#define KNLB_DAEMON_CTL_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>
#include "knlb/ctl/commands.h"
#include "knlb/ctl/server.h"

/*
 * What each control request does to a running knlbd (arg: struct knlbd).
 * The ctl_handler_fn the daemon gives ctl_open().  Commands and replies
 * are documented in docs/control-protocol.md.
 */
enum ctl_status ctl_commands_handle(void *arg, int argc, char **argv, FILE *out);

/* Whether knlbd has a handler for the registry row id (local rows: no). */
bool ctl_commands_served(enum ctl_command_id id);

#endif
