/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl __complete WORD...: what the bash completion offers for the last
 * WORD of a command line (the words after "knlbctl", the last one being
 * typed), one candidate a line, read from the command registry.  Service
 * and backend names come from the running knlbd (status --json, a short
 * timeout); when it cannot be reached there are none, silently.  "@files"
 * alone asks the shell to complete a file name.
 */
#include <stdlib.h>
#include <string.h>

#include "knlb/ctl/server.h"
#include "knlb/config/config-t.h"
#include "knlbctl-int.h"

#define COMPLETE_TIMEOUT_S	1.0

static const char *const options[] = {
	"-s", "--socket", "--json", "-t", "--timeout", "-h", "--help",
	"-V", "--version",
};

/* An option whose value is the next word: a number, nothing to offer. */
static bool takes_value(const char *word)
{
	return !strcmp(word, "-t") || !strcmp(word, "--timeout") ||
	       !strcmp(word, "--interval") || !strcmp(word, "--count");
}

static void offer(const char *word, const char *prefix)
{
	if (!strncmp(word, prefix, strlen(prefix)))
		puts(word);
}

/* Every string value of key in a JSON body (names have no escapes). */
static void offer_values(const char *body, const char *key, const char *prefix)
{
	char pat[32];
	const char *p = body;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	while ((p = strstr(p, pat))) {
		size_t n;
		char word[256];

		p += strlen(pat);
		n = strcspn(p, "\"\\");
		if (n < sizeof(word) && p[n] == '"') {
			memcpy(word, p, n);
			word[n] = '\0';
			offer(word, prefix);
		}
		p += n;
	}
}

/* Asks knlbd: service names, or (service given) its backend ids. */
static void offer_from_daemon(const char *socket, const char *service,
			      const char *prefix)
{
	char request[CTL_REQUEST_MAX], *body = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&body, &len), *sink;
	int ret;

	if (!mem)
		return;
	sink = fopen("/dev/null", "w");
	if (!sink) {
		fclose(mem);
		free(body);
		return;
	}
	snprintf(request, sizeof(request), "status%s%s --json",
		 service ? " " : "", service ? service : "");
	ret = ctl_call(socket, request, COMPLETE_TIMEOUT_S, mem, sink, true);
	fclose(sink);
	fclose(mem);
	if ((ret == EXIT_OK || ret == EXIT_WARN) && body) {
		/* "name" keys are services', "id" keys backends'. */
		offer_values(body, service ? "id" : "name", prefix);
	}
	free(body);
}

int complete_words(int argc, char **argv)
{
	const char *env = getenv("KNLB_SOCKET");
	const char *socket = env && *env ? env : KNLB_DEFAULT_CONTROL_SOCKET;
	const struct ctl_command *cmd = NULL;
	const char *cur = argc ? argv[argc - 1] : "";
	const char *prev = argc > 1 ? argv[argc - 2] : "";
	const char *args[CTL_CMD_MAX_ARGS] = { 0 };
	int nargs = 0;
	enum ctl_arg_kind kind;

	if (!strcmp(prev, "-s") || !strcmp(prev, "--socket")) {
		puts("@files");
		return EXIT_OK;
	}
	if (takes_value(prev))
		return EXIT_OK;
	for (int i = 0; i < argc - 1; i++) {
		const char *w = argv[i];

		if ((!strcmp(w, "-s") || !strcmp(w, "--socket")) && i + 1 < argc - 1) {
			socket = argv[++i];
			continue;
		}
		if (takes_value(w)) {
			i++;
			continue;
		}
		if (w[0] == '-')
			continue;
		if (!cmd)
			cmd = ctl_command_find(w);
		else if (nargs < CTL_CMD_MAX_ARGS)
			args[nargs++] = w;
		else
			nargs++;
		if (!cmd)
			return EXIT_OK;		/* an unknown command: nothing */
	}
	if (cur[0] == '-') {
		for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
			offer(options[i], cur);
		if (cmd && cmd->flags & CTL_CMD_WAIT)
			offer("--wait", cur);
		if (cmd && cmd->flags & CTL_CMD_RATE) {
			if (cmd != &ctl_commands[CTL_CMD_TOP])
				offer("--rate", cur);
			offer("--interval", cur);
			offer("--count", cur);
		}
		return EXIT_OK;
	}
	if (!cmd) {
		for (size_t i = 0; i < CTL_N_COMMANDS; i++)
			offer(ctl_commands[i].name, cur);
		return EXIT_OK;
	}
	kind = nargs < ctl_command_max_args(cmd) ? cmd->args[nargs] : CTL_ARG_NONE;
	switch (kind) {
	case CTL_ARG_SERVICE:
		offer_from_daemon(socket, NULL, cur);
		break;
	case CTL_ARG_BACKEND:
		offer_from_daemon(socket, args[nargs - 1], cur);
		break;
	case CTL_ARG_COMMAND:
		for (size_t i = 0; i < CTL_N_COMMANDS; i++)
			offer(ctl_commands[i].name, cur);
		break;
	case CTL_ARG_FILE:
		puts("@files");
		break;
	case CTL_ARG_NONE:
	case CTL_ARG_WEIGHT:
	case CTL_ARG_CLIENT:
		break;
	}
	return EXIT_OK;
}
