/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Control commands: what each request does to the running daemon.  The
 * transport is ctl.c; status and flows have files of their own.  Runtime
 * changes are committed to the kernel before the reply is written, so
 * "OK" means the kernel has it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/nft/commit.h"
#include "knlb/config/config-t.h"
#include "knlb/daemon/ctl_commands.h"
#include "knlb/daemon/daemon.h"
#include "knlb/lib/loop.h"
#include "knlb/pool/pool.h"
#include "knlb/nft/render.h"
#include "ctl-int.h"

bool ctl_take_json(int *argc, char **argv)
{
	bool json = false;
	int n = 1;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			argv[n++] = argv[i];
	}
	*argc = n;
	return json;
}

struct knlb_service *ctl_service(const struct knlbd *d, const char *name, FILE *out)
{
	struct knlb_service *svc = pool_find_service(d->pool, name);

	if (svc)
		return svc;
	fprintf(out, "no service \"%s\"; services:", name);
	for (size_t s = 0; s < d->pool->n_services; s++)
		fprintf(out, " %s", d->pool->services[s].cfg->name);
	fputc('\n', out);
	return NULL;
}

long ctl_backend(const struct knlb_service *svc, const char *name, FILE *out)
{
	long b = pool_find_backend(svc, name);

	if (b < 0)
		fprintf(out, "service %s has no backend \"%s\" (give its id or ADDR:PORT; knlbctl status %s lists them)\n",
			svc->cfg->name, name, svc->cfg->name);
	return b;
}

/*
 * Send what the change made dirty now, not at the end of this loop
 * iteration, so the reply can say whether the kernel took it.
 */
static enum ctl_status commit_now(struct knlbd *d, const struct knlb_service *svc,
				  FILE *out)
{
	struct commit_stats before, after;

	committer_get_stats(d->committer, &before);
	committer_run(d->committer);
	committer_get_stats(d->committer, &after);
	if (after.failures != before.failures) {
		fprintf(out, "the kernel refused the slot update; knlbd replaces the whole table (see its log)\n");
		return CTL_ERROR;
	}
	if (after.transactions != before.transactions)
		fprintf(out, "kernel: %u of %u slots moved, %zu elements in 1 transaction, %.2f ms\n",
			after.last_moved, svc->cfg->table_size,
			after.last_elements, after.last_ack_ms);
	else
		fprintf(out, "kernel: no slot changed\n");
	return CTL_OK;
}

static const char *const admin_verbs[] = {
	[KNLB_ADMIN_ENABLED] = "enable",
	[KNLB_ADMIN_DRAIN] = "drain",
	[KNLB_ADMIN_DISABLED] = "disable",
};

static const char *admin_effect(const struct knlb_service *svc,
				enum knlb_admin admin)
{
	switch (admin) {
	case KNLB_ADMIN_ENABLED:
		return "takes new flows while healthy";
	case KNLB_ADMIN_DRAIN:
		return "takes no new flows; its established flows go on (knlbd logs when none are left)";
	case KNLB_ADMIN_DISABLED:
		return svc->cfg->flush ?
		       "takes no new flows; its flows are deleted (flush = yes)" :
		       "takes no new flows; its established flows go on (flush = no)";
	}
	return "";
}

static enum ctl_status admin_cmd(struct knlbd *d, enum knlb_admin admin,
				 int argc, char **argv, FILE *out)
{
	struct knlb_service *svc;
	enum knlb_admin was;
	enum ctl_status st;
	long b;

	if (argc != 3) {
		fprintf(out, "usage: %s SERVICE BACKEND\n", admin_verbs[admin]);
		return CTL_ERROR;
	}
	svc = ctl_service(d, argv[1], out);
	if (!svc || (b = ctl_backend(svc, argv[2], out)) < 0)
		return CTL_ERROR;
	was = svc->backends[b].admin;
	if (was == admin) {
		fprintf(out, "%s/%s is already %s; nothing changed\n", svc->cfg->name,
			svc->backends[b].cfg->id, pool_admin_name(admin));
		return CTL_OK;
	}
	pool_set_admin(svc, (size_t)b, admin, loop_now_ns());
	daemon_admin_changed(d, svc, (size_t)b);
	fprintf(out, "%s/%s: %s (was %s): %s; %" PRIu64 " active flows\n",
		svc->cfg->name, svc->backends[b].cfg->id, pool_admin_name(admin),
		pool_admin_name(was), admin_effect(svc, admin),
		daemon_backend_active(d, svc, (size_t)b));
	st = commit_now(d, svc, out);
	if (st == CTL_OK && svc->empty)
		fprintf(out, "warning: service %s has no usable backend now: on_empty applies\n",
			svc->cfg->name);
	return st == CTL_OK && svc->empty ? CTL_WARN : st;
}

static enum ctl_status weight_cmd(struct knlbd *d, int argc, char **argv,
				  FILE *out)
{
	struct knlb_service *svc;
	unsigned long w;
	uint32_t was;
	char *end;
	long b;

	if (argc != 4) {
		fprintf(out, "usage: weight SERVICE BACKEND N (0..%u)\n", KNLB_MAX_WEIGHT);
		return CTL_ERROR;
	}
	errno = 0;
	w = strtoul(argv[3], &end, 10);
	if (errno || end == argv[3] || *end || argv[3][0] == '-' || w > KNLB_MAX_WEIGHT) {
		fprintf(out, "weight \"%s\": expected an integer from 0 to %u\n",
			argv[3], KNLB_MAX_WEIGHT);
		return CTL_ERROR;
	}
	svc = ctl_service(d, argv[1], out);
	if (!svc || (b = ctl_backend(svc, argv[2], out)) < 0)
		return CTL_ERROR;
	was = svc->backends[b].weight;
	pool_set_weight(svc, (size_t)b, (uint32_t)w, loop_now_ns());
	fprintf(out, "%s/%s: weight %lu (was %u, %u in the file)%s\n",
		svc->cfg->name, svc->backends[b].cfg->id, w, was,
		svc->backends[b].cfg->weight,
		svc->backends[b].weight_set ?
		"; kept across reloads unless the file changes this backend's weight" : "");
	return commit_now(d, svc, out);
}

static enum ctl_status reload_cmd(struct knlbd *d, int argc, FILE *out)
{
	if (argc != 1) {
		fprintf(out, "usage: reload\n");
		return CTL_ERROR;
	}
	return daemon_reload(d, out) < 0 ? CTL_ERROR : CTL_OK;
}

static enum ctl_status render_cmd(struct knlbd *d, int argc, FILE *out)
{
	if (argc != 1) {
		fprintf(out, "usage: render\n");
		return CTL_ERROR;
	}
	return render_ruleset(out, d->pool) < 0 ? CTL_ERROR : CTL_OK;
}

enum ctl_status ctl_commands_handle(void *arg, int argc, char **argv, FILE *out)
{
	struct knlbd *d = arg;
	const char *cmd = argv[0];

	if (strcmp(cmd, "status") == 0)
		return ctl_status_cmd(d, argc, argv, out);
	if (strcmp(cmd, "flows") == 0)
		return ctl_flows_cmd(d, argc, argv, out);
	if (strcmp(cmd, "stats") == 0)
		return ctl_stats_cmd(d, argc, argv, out);
	/* The others answer in text: --json asks for nothing more. */
	ctl_take_json(&argc, argv);
	if (strcmp(cmd, "drain") == 0)
		return admin_cmd(d, KNLB_ADMIN_DRAIN, argc, argv, out);
	if (strcmp(cmd, "enable") == 0)
		return admin_cmd(d, KNLB_ADMIN_ENABLED, argc, argv, out);
	if (strcmp(cmd, "disable") == 0)
		return admin_cmd(d, KNLB_ADMIN_DISABLED, argc, argv, out);
	if (strcmp(cmd, "weight") == 0)
		return weight_cmd(d, argc, argv, out);
	if (strcmp(cmd, "reload") == 0)
		return reload_cmd(d, argc, out);
	if (strcmp(cmd, "render") == 0)
		return render_cmd(d, argc, out);
	fprintf(out, "unknown command \"%s\" (status, flows, drain, enable, disable, weight, reload, render)\n",
		cmd);
	return CTL_ERROR;
}
