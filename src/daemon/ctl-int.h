/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the control command handlers (src/daemon/ctl_*.c). */
#ifndef KNLB_CTL_INT_H
#define KNLB_CTL_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "knlb/ctl/commands.h"
#include "knlb/ctl/server.h"

struct knlbd;
struct knlb_service;

/*
 * One request, checked against its registry row before a handler sees
 * it: argc is within the row's bounds and every weight parses.
 */
struct ctl_request {
	const struct ctl_command *cmd;
	int argc;		/* the arguments, the command and --json not counted */
	char **argv;
	bool json;		/* --json was given: the body is one JSON value */
};

typedef enum ctl_status (*ctl_command_fn)(struct knlbd *d,
					  const struct ctl_request *req,
					  FILE *out);

/* The service named name, or NULL with an error (naming the services) in out. */
struct knlb_service *ctl_service(const struct knlbd *d, const char *name, FILE *out);
/* Backend index by id or ADDR:PORT, or -1 with an error in out. */
long ctl_backend(const struct knlb_service *svc, const char *name, FILE *out);

/* The handlers, bound to their rows in ctl_commands.c. */
enum ctl_status ctl_status_cmd(struct knlbd *d, const struct ctl_request *req, FILE *out);
enum ctl_status ctl_flows_cmd(struct knlbd *d, const struct ctl_request *req, FILE *out);
enum ctl_status ctl_admin_cmd(struct knlbd *d, const struct ctl_request *req, FILE *out);
enum ctl_status ctl_weight_cmd(struct knlbd *d, const struct ctl_request *req, FILE *out);
enum ctl_status ctl_explain_cmd(struct knlbd *d, const struct ctl_request *req, FILE *out);
enum ctl_status ctl_stats_cmd(struct knlbd *d, const struct ctl_request *req, FILE *out);
/*
 * status's "host:" and "conntrack table:" lines, or its "host_problems"
 * and "conntrack_table" members when w is set; checks the host first.
 */
struct json_writer;
enum ctl_status ctl_host_section(struct knlbd *d, struct json_writer *w,
				 FILE *out);

/*
 * The announced VIPs of status (announce = route): lines on out, or the
 * "announce" member when w is set (null when nothing is announced and
 * nothing asks to be).  WARN while a configured VIP is not announced.
 */
enum ctl_status ctl_announce_section(const struct knlbd *d,
				     struct json_writer *w, FILE *out);

#endif
