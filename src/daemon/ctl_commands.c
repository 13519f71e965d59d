/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Control commands: the dispatch of a request to its handler, through the
 * registry both ends share (include/knlb/ctl/commands.h).  The registry
 * row checks the arguments; the handler acts on the daemon.  The
 * transport is src/ctl/ (listen.c, conn.c, request.c, stream.c); status, flows and the admin changes have
 * files of their own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/ctl_commands.h"
#include "knlb/daemon/daemon.h"
#include "knlb/ctl/json_lines.h"
#include "knlb/lib/json.h"
#include "knlb/pool/pool.h"
#include "knlb/nft/render.h"
#include "ctl-int.h"

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
 * What fn(arg, f) writes, captured in memory for a --json reply: *text
 * (NUL-terminated, the caller frees it, also on failure) and *len.
 * Returns fn's result, or -ENOMEM when the memory stream itself failed.
 */
static int capture(int (*fn)(void *arg, FILE *f), void *arg, char **text,
		   size_t *len)
{
	FILE *mem;
	int ret;

	*text = NULL;
	*len = 0;
	mem = open_memstream(text, len);
	if (!mem)
		return -ENOMEM;
	ret = fn(arg, mem);
	if (fclose(mem) != 0 && ret >= 0)
		ret = -ENOMEM;
	return ret;
}

static int reload_into(void *d, FILE *f)
{
	return daemon_reload(d, f);
}

static int render_into(void *d, FILE *f)
{
	return render_ruleset(f, ((struct knlbd *)d)->pool);
}

static enum ctl_status reload_cmd(struct knlbd *d, const struct ctl_request *req,
				  FILE *out)
{
	struct json_writer w;
	char *report;
	size_t len;
	int ret;

	if (!req->json)
		return daemon_reload(d, out) < 0 ? CTL_ERROR : CTL_OK;
	ret = capture(reload_into, d, &report, &len);
	if (ret < 0) {
		/* An ERROR body is text, for --json too: the FILE:LINE messages. */
		if (report && len)
			fwrite(report, 1, len, out);
		else
			fprintf(out, "reload: %s\n", strerror(-ret));
		free(report);
		return CTL_ERROR;
	}
	json_init(&w, out);
	json_object_begin(&w);
	json_key(&w, "reloaded");
	json_bool(&w, true);
	json_key(&w, "config");
	json_string(&w, d->config_path);
	ctl_json_lines(&w, "report", report, len);
	json_object_end(&w);
	free(report);
	return CTL_OK;
}

static enum ctl_status render_cmd(struct knlbd *d, const struct ctl_request *req,
				  FILE *out)
{
	struct json_writer w;
	char *text;
	size_t len;
	int ret;

	if (!req->json)
		return render_ruleset(out, d->pool) < 0 ? CTL_ERROR : CTL_OK;
	ret = capture(render_into, d, &text, &len);
	if (ret < 0) {
		free(text);
		fprintf(out, "render: %s\n", strerror(-ret));
		return CTL_ERROR;
	}
	json_init(&w, out);
	json_object_begin(&w);
	json_key(&w, "table");
	json_string(&w, d->config->global.table);
	json_key(&w, "ruleset");
	json_string_len(&w, text, len);
	json_object_end(&w);
	free(text);
	return CTL_OK;
}

/* The handler of each registry row knlbd serves; local rows have none. */
static const ctl_command_fn handlers[CTL_N_COMMANDS] = {
	[CTL_CMD_STATUS] = ctl_status_cmd,
	[CTL_CMD_FLOWS] = ctl_flows_cmd,
	[CTL_CMD_STATS] = ctl_stats_cmd,
	[CTL_CMD_DRAIN] = ctl_admin_cmd,
	[CTL_CMD_ENABLE] = ctl_admin_cmd,
	[CTL_CMD_DISABLE] = ctl_admin_cmd,
	[CTL_CMD_WEIGHT] = ctl_weight_cmd,
	[CTL_CMD_EXPLAIN] = ctl_explain_cmd,
	[CTL_CMD_RELOAD] = reload_cmd,
	[CTL_CMD_RENDER] = render_cmd,
};

bool ctl_commands_served(enum ctl_command_id id)
{
	return id < CTL_N_COMMANDS && handlers[id] != NULL;
}

static void unknown_command(const char *name, FILE *out)
{
	const char *hint = ctl_command_suggest(name);
	const struct ctl_command *near = hint ? ctl_command_find(hint) : NULL;

	fprintf(out, "unknown command \"%s\"", name);
	if (near && handlers[near - ctl_commands])
		fprintf(out, " (did you mean \"%s\"?)", hint);
	fputs("; commands:", out);
	for (size_t i = 0; i < CTL_N_COMMANDS; i++)
		if (handlers[i])
			fprintf(out, " %s", ctl_commands[i].name);
	fputc('\n', out);
}

enum ctl_status ctl_commands_handle(void *arg, int argc, char **argv, FILE *out)
{
	const struct ctl_command *cmd = ctl_command_find(argv[0]);
	struct ctl_request req = { .cmd = cmd };
	char err[256];
	int n = 0;

	if (!cmd || !handlers[cmd - ctl_commands]) {
		unknown_command(argv[0], out);
		return CTL_ERROR;
	}
	/* --json anywhere after the command; the rest are its arguments. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			req.json = true;
		else
			argv[1 + n++] = argv[i];
	}
	req.argc = n;
	req.argv = argv + 1;
	if (ctl_command_check_args(cmd, req.argc, req.argv, err, sizeof(err)) < 0) {
		fprintf(out, "%s\n", err);
		return CTL_ERROR;
	}
	return handlers[cmd - ctl_commands](arg, &req, out);
}
