/* SPDX-License-Identifier: GPL-2.0-or-later */
/* knlbctl's local commands: check-config and help --json; no daemon. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/config.h"
#include "knlb/ctl/json_lines.h"
#include "knlb/lib/json.h"
#include "knlb/pool/pool.h"
#include "knlbctl-int.h"

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void json_result(const char *path, bool valid, size_t services,
			size_t backends, const char *errors, size_t len)
{
	struct json_writer w;

	json_init(&w, stdout);
	json_object_begin(&w);
	json_key(&w, "file");
	json_string(&w, path);
	json_key(&w, "valid");
	json_bool(&w, valid);
	if (valid) {
		json_key(&w, "services");
		json_uint(&w, services);
		json_key(&w, "backends");
		json_uint(&w, backends);
	} else {
		ctl_json_lines(&w, "errors", errors, len);
	}
	json_object_end(&w);
}

/*
 * Reads and checks path as knlbd -t does.  Text: the verdict on stdout,
 * the FILE:LINE errors on stderr.  JSON: one object on stdout either way.
 */
int check_config(const char *path, bool json)
{
	struct knlb_config *config;
	struct knlb_model *pool;
	size_t backends = 0, len = 0;
	char *errors = NULL;
	FILE *err = stderr;
	int ret, code = EXIT_REFUSED;

	if (json) {
		err = open_memstream(&errors, &len);
		if (!err) {
			fprintf(stderr, "knlbctl: %s\n", strerror(errno));
			return EXIT_REFUSED;
		}
	}
	if (config_load(path, &config, err) < 0) {
		if (!json)
			fprintf(stderr, "knlbctl: %s: configuration not valid\n", path);
		goto out;
	}
	ret = pool_create(config, &pool);
	if (ret < 0) {
		fprintf(err, "knlbctl: %s: computing slot tables: %s\n", path,
			strerror(-ret));
		config_free(config);
		goto out;
	}
	for (size_t i = 0; i < config->n_services; i++)
		backends += config->services[i].n_backends;
	if (json)
		json_result(path, true, config->n_services, backends, NULL, 0);
	else
		printf("%s: configuration OK: %zu %s, %zu %s\n", path,
		       config->n_services, plural(config->n_services, "service", "services"),
		       backends, plural(backends, "backend", "backends"));
	pool_free(pool);
	config_free(config);
	code = EXIT_OK;
out:
	if (json) {
		fclose(err);
		if (code != EXIT_OK)
			json_result(path, false, 0, 0, errors, len);
		free(errors);
	}
	return code;
}

static const char *const arg_kind_names[] = {
	[CTL_ARG_NONE] = "none",
	[CTL_ARG_SERVICE] = "service",
	[CTL_ARG_BACKEND] = "backend",
	[CTL_ARG_WEIGHT] = "weight",
	[CTL_ARG_FILE] = "file",
	[CTL_ARG_COMMAND] = "command",
	[CTL_ARG_CLIENT] = "client",
};

/* The registry itself, for scripts and the docs check. */
void help_json(FILE *out)
{
	struct json_writer w;

	json_init(&w, out);
	json_array_begin(&w);
	for (size_t i = 0; i < CTL_N_COMMANDS; i++) {
		const struct ctl_command *c = &ctl_commands[i];

		json_object_begin(&w);
		json_key(&w, "name");
		json_string(&w, c->name);
		json_key(&w, "usage");
		json_string(&w, c->usage);
		json_key(&w, "summary");
		json_string(&w, c->summary);
		json_key(&w, "args");
		json_array_begin(&w);
		for (int a = 0; a < ctl_command_max_args(c); a++)
			json_string(&w, arg_kind_names[c->args[a]]);
		json_array_end(&w);
		json_key(&w, "min_args");
		json_uint(&w, (uint64_t)c->min_args);
		json_key(&w, "local");
		json_bool(&w, c->flags & CTL_CMD_LOCAL);
		json_key(&w, "read_only");
		json_bool(&w, c->flags & CTL_CMD_READ_ONLY);
		json_key(&w, "wait");
		json_bool(&w, c->flags & CTL_CMD_WAIT);
		json_object_end(&w);
	}
	json_array_end(&w);
}
