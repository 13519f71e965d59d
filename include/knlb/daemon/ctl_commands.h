/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CTL_COMMANDS_H
#define KNLB_CTL_COMMANDS_H

#include <stdio.h>
#include "knlb/ctl/server.h"

/*
 * What each control request does to a running knlbd (arg: struct knlbd).
 * The ctl_handler_fn the daemon gives ctl_open().  Commands and replies
 * are documented in docs/control-protocol.md.
 */
enum ctl_status ctl_commands_handle(void *arg, int argc, char **argv, FILE *out);

#endif
