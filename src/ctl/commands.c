/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control command registry (see include/knlb/ctl/commands.h): one row
 * per command, with the text `knlbctl help NAME` prints.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "knlb/config/config-t.h"
#include "knlb/ctl/commands.h"
#include "knlb/lib/addr.h"

#define SVC		CTL_ARG_SERVICE
#define BE		CTL_ARG_BACKEND

const struct ctl_command ctl_commands[CTL_N_COMMANDS] = {
	[CTL_CMD_STATUS] = {
		"status", { SVC }, 0, CTL_CMD_READ_ONLY | CTL_CMD_RATE, "[SERVICE]",
		"services, VIPs, schedulers and backends with their state",
		"Shows every service (or only SERVICE): its VIP, port and protocol, its\n"
		"scheduler, its table size (and the base slot map it shares with\n"
		"services that list the same backends: \"shared base web_base\"), the\n"
		"digest of the table the kernel holds, and for each backend its\n"
		"configured weight, effective weight (after health, slow start,\n"
		"backups and runtime changes), admin state (enabled, draining,\n"
		"disabled), health (last result and its reason), share of the slot\n"
		"table and active flows.\n"
		"\n"
		"Exits 4 (WARN) when something needs attention: a backend is down, a\n"
		"service runs on its backups or has no usable backend.  So\n"
		"`knlbctl status web || alert` fires on any degradation.\n"
		"\n"
		"With --rate: per service and backend, new flows per second (CPS), active\n"
		"flows, packets and bytes per second each way, from the kernel's counters\n"
		"sampled --interval DUR apart (default 1s), like `ipvsadm -L --rate`;\n"
		"--count N prints N samples.\n" },
	[CTL_CMD_TOP] = {
		"top", { SVC }, 0, CTL_CMD_LOCAL | CTL_CMD_READ_ONLY | CTL_CMD_RATE,
		"[SERVICE]",
		"status --rate, refreshed in place until q or Ctrl-C",
		"Shows what status --rate shows, refreshed every --interval DUR (default\n"
		"1s) until q or Ctrl-C, or --count N times.  The screen is cleared only\n"
		"when stdout is a terminal; --json prints one JSON line per refresh.\n"
		"Runs in knlbctl: it asks knlbd for `stats` samples and divides them.\n" },
	[CTL_CMD_FLOWS] = {
		"flows", { SVC, BE }, 0, CTL_CMD_READ_ONLY | CTL_CMD_LONG,
		"[SERVICE [BACKEND]]",
		"the flows knlb tracks",
		"Lists the flows knlbd follows through conntrack, all of them or those of\n"
		"SERVICE, or of one BACKEND of it: client address and port, VIP,\n"
		"backend, protocol, TCP state, age, packets and bytes.  Needs conntrack\n"
		"(knlbd says so when it runs without).  Default timeout 60 s.\n" },
	[CTL_CMD_STATS] = {
		"stats", { SVC }, 0, CTL_CMD_READ_ONLY, "[SERVICE]",
		"the kernel's per-backend counters, raw, as JSON",
		"Prints one sample of the counters status --rate divides: per backend,\n"
		"new flows, packets and bytes each way as the kernel counted them, and\n"
		"active flows.  Always JSON, --json or not.  Counters restart from 0\n"
		"after an hour idle or a full table replace.  Shape:\n"
		"docs/control-protocol.md.\n" },
	[CTL_CMD_DRAIN] = {
		"drain", { SVC, BE }, 2, CTL_CMD_WAIT, "SERVICE BACKEND",
		"no new flows to BACKEND; established ones continue",
		"Takes BACKEND out of SERVICE's slot table: new flows go to the other\n"
		"backends, established flows continue to BACKEND until they end (watch\n"
		"them with `knlbctl flows SERVICE BACKEND`).  Health checks go on.\n"
		"Undone by enable.  Runtime state: a reload keeps the drain, a restart\n"
		"of knlbd starts from the configuration again.\n"
		"\n"
		"With --wait, knlbctl then waits until BACKEND has no active flow left\n"
		"and exits 0, or exits 5 when flows remain at the timeout (-t SECONDS,\n"
		"default 300 s for --wait; 30s, 5m and 1h are understood too).\n" },
	[CTL_CMD_ENABLE] = {
		"enable", { SVC, BE }, 2, 0, "SERVICE BACKEND",
		"put BACKEND back in service",
		"Undoes drain and disable: BACKEND takes new flows again as soon as its\n"
		"health allows (slow start applies if configured).\n" },
	[CTL_CMD_DISABLE] = {
		"disable", { SVC, BE }, 2, 0, "SERVICE BACKEND",
		"no new flows; its flows are deleted if flush = yes",
		"Takes BACKEND out of SERVICE's slot table like drain and, when the\n"
		"service has flush = yes, deletes its conntrack entries so its clients\n"
		"move to another backend at once (UDP) or are reset (TCP).  Without\n"
		"flush, established flows continue as with drain.  Undone by enable.\n" },
	[CTL_CMD_WEIGHT] = {
		"weight", { SVC, BE, CTL_ARG_WEIGHT }, 3, 0, "SERVICE BACKEND N",
		"set BACKEND's runtime weight to N",
		"Sets the weight the scheduler uses for BACKEND until the next restart,\n"
		"or a reload that changes this backend's weight in the file; only the\n"
		"slots that change are rewritten.  N is the new weight itself (no sign:\n"
		"nothing is added to the old one).  0 takes no new flows, like drain.\n" },
	[CTL_CMD_EXPLAIN] = {
		"explain", { SVC, CTL_ARG_CLIENT }, 2, CTL_CMD_READ_ONLY,
		"SERVICE CLIENT[:PORT]",
		"which backend a new flow from CLIENT would reach, and why",
		"For a maglev service, computes in knlbd the kernel's own jhash of the\n"
		"service's hash_key for a new flow from CLIENT (its port too when the\n"
		"key has it: src-ip-port, 5-tuple) and prints the slot, the backend the\n"
		"slot maps to, and why: the backend is up, a backup serves because no\n"
		"primary is usable, or no backend is usable and on_empty applies; the\n"
		"other backends are listed with why they take new flows or not\n"
		"(down, draining, disabled, weight 0, backup on standby).  For wrr,\n"
		"random and wlc the kernel picks per flow (numgen): explain says so and\n"
		"lists the candidates with their shares.  An established flow keeps\n"
		"the backend conntrack bound it to, whatever explain says.  An IPv6\n"
		"client ([2001:db8::1]:443) is looked up in the service's IPv6 slot\n"
		"table; a family the service has no VIP of is an error.\n" },
	[CTL_CMD_RELOAD] = {
		"reload", { 0 }, 0, CTL_CMD_LONG, "",
		"re-read the configuration and report the result",
		"Makes knlbd re-read its configuration file, as SIGHUP does, and prints\n"
		"what happened.  An invalid file is an ERROR with its FILE:LINE\n"
		"messages; knlbd then keeps running with what it had.  Default timeout\n"
		"60 s.\n" },
	[CTL_CMD_RENDER] = {
		"render", { 0 }, 0, CTL_CMD_READ_ONLY, "",
		"print the nft table knlbd would program now",
		"Prints, in nft syntax, the table knlbd would program from its current\n"
		"state (health, drains and weights included): compare it with\n"
		"`nft list table inet knlb`.\n" },
	[CTL_CMD_CHECK_CONFIG] = {
		"check-config", { CTL_ARG_FILE }, 1, CTL_CMD_LOCAL | CTL_CMD_READ_ONLY,
		"FILE",
		"check a configuration file here (no daemon needed)",
		"Reads and checks FILE as knlbd would (knlbd -t), computing every slot\n"
		"table, without touching the kernel or the daemon.  Prints\n"
		"\"FILE: configuration OK: N services, M backends\" and exits 0, or\n"
		"prints every error as FILE:LINE: message on stderr and exits 1.\n" },
	[CTL_CMD_HELP] = {
		"help", { CTL_ARG_COMMAND }, 0, CTL_CMD_LOCAL | CTL_CMD_READ_ONLY,
		"[COMMAND]",
		"this help, or help for one command",
		"Prints the list of commands and options, or the help of COMMAND\n"
		"(same as `knlbctl COMMAND --help`).  With --json, the command list\n"
		"itself, as the registry knlbctl and knlbd share holds it.\n" },
};

int ctl_command_max_args(const struct ctl_command *cmd)
{
	int n = 0;

	while (n < CTL_CMD_MAX_ARGS && cmd->args[n] != CTL_ARG_NONE)
		n++;
	return n;
}

const struct ctl_command *ctl_command_find(const char *name)
{
	for (size_t i = 0; i < CTL_N_COMMANDS; i++)
		if (!strcmp(ctl_commands[i].name, name))
			return &ctl_commands[i];
	return NULL;
}

#define SUGGEST_MAX_LEN	32

/* Optimal string alignment distance: edits, a swap of neighbours as one. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

	if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const char *ctl_command_suggest(const char *name)
{
	const char *best = NULL;
	size_t best_d = 3;	/* more than two edits is another word */

	for (size_t i = 0; i < CTL_N_COMMANDS; i++) {
		size_t dist = edit_distance(name, ctl_commands[i].name);

		/* A one-letter name is two edits from every two-letter one. */
		if (dist < best_d && dist < strlen(ctl_commands[i].name)) {
			best_d = dist;
			best = ctl_commands[i].name;
		}
	}
	return best;
}

int ctl_parse_weight(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(*p - '0');
	}
	if (v > KNLB_MAX_WEIGHT)
		return -ERANGE;
	*out = v;
	return 0;
}

int ctl_command_check_args(const struct ctl_command *cmd, int argc,
			   char *const *argv, char *err, size_t errlen)
{
	int max = ctl_command_max_args(cmd);

	if (argc < cmd->min_args || argc > max) {
		if (cmd->min_args == max)
			snprintf(err, errlen, "%s takes %d argument%s (%s), not %d; knlbctl help %s",
				 cmd->name, max, max == 1 ? "" : "s",
				 cmd->usage[0] ? cmd->usage : "none", argc, cmd->name);
		else
			snprintf(err, errlen, "%s takes %d to %d arguments (%s), not %d; knlbctl help %s",
				 cmd->name, cmd->min_args, max, cmd->usage, argc,
				 cmd->name);
		return -EINVAL;
	}
	for (int i = 0; i < argc; i++) {
		uint32_t w;

		struct knlb_addr a;
		uint16_t port;

		if (cmd->args[i] == CTL_ARG_CLIENT &&
		    ctl_parse_client(argv[i], &a, &port) < 0) {
			snprintf(err, errlen, "%s: CLIENT must be ADDR, ADDR:PORT or [IPV6]:PORT, not '%s'",
				 cmd->name, argv[i]);
			return -EINVAL;
		}
		if (cmd->args[i] == CTL_ARG_WEIGHT && ctl_parse_weight(argv[i], &w) < 0) {
			snprintf(err, errlen, "%s: N must be an integer from 0 to %u, not '%s'",
				 cmd->name, KNLB_MAX_WEIGHT, argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int ctl_parse_client(const char *s, struct knlb_addr *addr, uint16_t *port)
{
	*port = 0;
	if (addr_parse(s, addr) == 0)
		return 0;
	return addr_port_parse(s, addr, port) < 0 ? -EINVAL : 0;
}
