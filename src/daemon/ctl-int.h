/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the control command handlers (ctl-commands.c, ctl-status.c, ctl-flows.c). */
#ifndef KNLB_CTL_INT_H
#define KNLB_CTL_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "knlb/ctl/server.h"

struct knlbd;
struct knlb_service;

/*
 * Take "--json" out of argv (anywhere after the command); true when it was
 * there.  *argc shrinks accordingly.
 */
bool ctl_take_json(int *argc, char **argv);

/* The service named name, or NULL with an error (naming the services) in out. */
struct knlb_service *ctl_service(const struct knlbd *d, const char *name, FILE *out);
/* Backend index by id or ADDR:PORT, or -1 with an error in out. */
long ctl_backend(const struct knlb_service *svc, const char *name, FILE *out);

enum ctl_status ctl_status_cmd(struct knlbd *d, int argc, char **argv, FILE *out);
enum ctl_status ctl_flows_cmd(struct knlbd *d, int argc, char **argv, FILE *out);
enum ctl_status ctl_stats_cmd(struct knlbd *d, int argc, char **argv, FILE *out);

#endif
