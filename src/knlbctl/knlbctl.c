/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl: the command-line client of knlbd's control socket.  Checks its
 * arguments before connecting (a usage error never reaches the daemon),
 * sends one request line, streams the body of the reply to stdout (OK,
 * WARN) or stderr (ERROR), and turns the status line into its exit code.
 * check-config and help run locally.  Protocol: docs/control-protocol.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/config-t.h"
#include "knlb/ctl/commands.h"
#include "knlb/ctl/server.h"
#include "knlb/lib/version.h"
#include "knlbctl-int.h"

static const char exit_status_text[] =
"Exit status:\n"
"  0  OK\n"
"  1  knlbd refused or failed the command (the reason is on stderr);\n"
"     check-config: the file is not valid\n"
"  2  usage error: nothing was sent\n"
"  3  knlbd cannot be reached, or its reply was bad or incomplete\n"
"  4  done, with a warning: e.g. status found a backend down, a service on\n"
"     its backups or without a usable backend\n"
"  5  drain --wait: the backend still had active flows at the timeout\n";

static void usage(FILE *out)
{
	fprintf(out,
"Usage: knlbctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Query and steer a running knlbd through its control socket.\n"
"\n"
"Commands:\n");
	for (size_t i = 0; i < CTL_N_COMMANDS; i++) {
		char head[48];

		snprintf(head, sizeof(head), "%s %s", ctl_commands[i].name,
			 ctl_commands[i].usage);
		fprintf(out, "  %-27s %s\n", head, ctl_commands[i].summary);
	}
	fprintf(out,
"\n"
"BACKEND is a backend id (id= in the configuration) or ADDR:PORT.\n"
"\n"
"Options (anywhere on the line; -- ends them):\n"
"  -s, --socket PATH      knlbd's control socket (default: $KNLB_SOCKET if set,\n"
"                         else " KNLB_DEFAULT_CONTROL_SOCKET ")\n"
"      --json             the reply as one JSON value on one line, for every\n"
"                         command; an ERROR's reason stays text, on stderr\n"
"  -t, --timeout SECONDS  wait at most this long for the whole reply (30s, 5m\n"
"                         and 1h too; default 10; 60 for reload and flows;\n"
"                         300 for drain --wait)\n"
"      --wait             drain: then wait until the backend has no flow left\n"
"      --rate             status: rates from two samples of the kernel's counters\n"
"      --interval DUR     status --rate, top: time between samples (default 1s)\n"
"      --count N          status --rate, top: print N times, then exit\n"
"  -h, --help             this help; after a command, that command's help\n"
"  -V, --version          print the version\n"
"\n"
"%s"
"\n"
"Environment:\n"
"  KNLB_SOCKET  control socket when -s is not given\n"
"\n"
"Examples:\n"
"  knlbctl status web || alert \"web is degraded\"\n"
"  knlbctl drain --wait -t 10m web b2 && systemctl restart the-backend\n"
"  knlbctl weight web 10.0.0.12:8080 0\n"
"  knlbctl --json status\n"
"  knlbctl status --rate --interval 5s web\n"
"  knlbctl check-config /etc/knlb/knlb.conf\n"
"\n"
"See knlbctl(8) and docs/control-protocol.md.\n", exit_status_text);
}

static void command_help(FILE *out, const struct ctl_command *cmd)
{
	const char *rate = "";

	if (cmd->flags & CTL_CMD_RATE)
		rate = cmd == &ctl_commands[CTL_CMD_TOP] ?
		       " [--interval DUR] [--count N]" :
		       " [--rate [--interval DUR] [--count N]]";
	fprintf(out, "Usage: knlbctl [OPTIONS] %s%s%s%s%s\n\n%s.\n\n%s\n",
		cmd->name, cmd->flags & CTL_CMD_WAIT ? " [--wait]" : "", rate,
		cmd->usage[0] ? " " : "", cmd->usage, cmd->summary, cmd->help);
	for (int i = 0; i < ctl_command_max_args(cmd); i++)
		if (cmd->args[i] == CTL_ARG_WEIGHT)
			fprintf(out, "N is an integer from 0 to %u.\n\n", KNLB_MAX_WEIGHT);
	/* top is local but asks knlbd for its samples */
	if (!(cmd->flags & CTL_CMD_LOCAL) || cmd->flags & CTL_CMD_RATE)
		fprintf(out,
"Options: -s PATH (socket), --json, -t SECONDS (default %g); knlbctl --help.\n"
"BACKEND is a backend id (id= in the configuration) or ADDR:PORT.\n\n",
			cmd->flags & CTL_CMD_LONG ? LONG_TIMEOUT_S : DEFAULT_TIMEOUT_S);
	fputs(exit_status_text, out);
}

/* The command, or a usage error that offers the nearest name. */
static const struct ctl_command *find_command(const char *what, const char *name)
{
	const struct ctl_command *cmd = ctl_command_find(name);
	const char *hint;

	if (cmd)
		return cmd;
	hint = ctl_command_suggest(name);
	if (hint)
		usage_error("%sunknown command '%s' (did you mean '%s'?)", what, name, hint);
	else
		usage_error("%sunknown command '%s' (knlbctl --help lists them)", what, name);
	return NULL;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("knlbctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	return EXIT_USAGE;
}

/* A word the server will see as one word: no blanks, no control bytes. */
static bool is_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int check_args(const struct ctl_command *cmd, int argc, char **argv)
{
	char err[256];

	/* Counts first, then words, then kinds: the most useful error first. */
	if (argc < cmd->min_args || argc > ctl_command_max_args(cmd)) {
		ctl_command_check_args(cmd, argc, argv, err, sizeof(err));
		return usage_error("%s", err);
	}
	for (int i = 0; i < argc && !(cmd->flags & CTL_CMD_LOCAL); i++) {
		/* a local FILE may contain anything */
		if (!is_word(argv[i]))
			return usage_error("%s: argument %d ('%s') must be one word: not empty, no blanks or control characters",
					   cmd->name, i + 1, argv[i]);
	}
	if (ctl_command_check_args(cmd, argc, argv, err, sizeof(err)) < 0)
		return usage_error("%s", err);
	return EXIT_OK;
}

static int run_remote(const struct options *opt, const struct ctl_command *cmd,
		      int argc, char **argv)
{
	double timeout_s = opt->timeout_s;
	char req[CTL_REQUEST_MAX + 1];
	int n, ret;

	if (!timeout_s)
		timeout_s = cmd->flags & CTL_CMD_LONG ? LONG_TIMEOUT_S : DEFAULT_TIMEOUT_S;
	n = snprintf(req, sizeof(req), "%s", cmd->name);
	for (int i = 0; i < argc && n >= 0 && (size_t)n < sizeof(req); i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n, " %s", argv[i]);
	if (opt->json && n >= 0 && (size_t)n < sizeof(req))
		n += snprintf(req + n, sizeof(req) - (size_t)n, " --json");
	if (n < 0 || (size_t)n + 1 > CTL_REQUEST_MAX)
		return usage_error("%s: the request is too long (max %d bytes)",
				   cmd->name, CTL_REQUEST_MAX);
	if (!opt->wait)
		return ctl_call(opt->socket, req, timeout_s, stdout, stderr, false);
	/* drain --wait: one deadline for the drain and the wait. */
	timeout_s = opt->timeout_s ? opt->timeout_s : WAIT_TIMEOUT_S;
	ret = ctl_call(opt->socket, req, timeout_s < DEFAULT_TIMEOUT_S ?
		       timeout_s : DEFAULT_TIMEOUT_S, stdout, stderr, false);
	if (ret != EXIT_OK && ret != EXIT_WARN)
		return ret;
	return drain_wait(opt, argv[0], argv[1], timeout_s);
}

static int parse_timeout(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	/* A duration as the configuration writes them: 30s, 5m, 1h. */
	if (*end == 's')
		end++;
	else if (*end == 'm')
		v *= 60, end++;
	else if (*end == 'h')
		v *= 3600, end++;
	if (*end || !(v > 0) || v > MAX_TIMEOUT_S)
		return -1;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "wait", no_argument, NULL, 'w' },
		{ "rate", no_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("KNLB_SOCKET");
	int c;

	opt->socket = env && *env ? env : KNLB_DEFAULT_CONTROL_SOCKET;
	opterr = 0;	/* our own messages, with the exit code we document */
	while ((c = getopt_long(argc, argv, ":s:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return usage_error("-s needs a socket path");
			opt->socket = optarg;
			break;
		case 'j':
			opt->json = true;
			break;
		case 'w':
			opt->wait = true;
			break;
		case 'r':
			opt->rate = true;
			break;
		case 'i':
			if (rate_parse_interval(optarg, &opt->interval_s) < 0)
				return usage_error("--interval: expected a duration from 100ms to 1h (1s, 500ms), not '%s'",
						   optarg);
			break;
		case 'c':
			if (rate_parse_count(optarg, &opt->count) < 0)
				return usage_error("--count: expected a number of refreshes of 1 or more, not '%s'",
						   optarg);
			break;
		case 't':
			if (parse_timeout(optarg, &opt->timeout_s) < 0)
				return usage_error("-t: timeout must be a number of seconds above 0, at most %g, not '%s'",
						   MAX_TIMEOUT_S, optarg);
			break;
		case 'h':
			opt->help = true;
			break;
		case 'V':
			printf("knlbctl %s\n", KNLB_VERSION);
			exit(EXIT_OK);
		case ':':
			return usage_error("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c' (knlbctl --help)", optopt);
			return usage_error("unknown option '%s' (knlbctl --help)",
					   argv[optind - 1]);
		}
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct options opt = { 0 };
	const struct ctl_command *cmd;
	int ret;

	/* Completion passes the line as typed: options are its words. */
	if (argc >= 2 && !strcmp(argv[1], "__complete"))
		return complete_words(argc - 2, argv + 2);
	ret = parse_options(argc, argv, &opt);
	if (ret != EXIT_OK)
		return ret;
	if (optind == argc) {
		if (opt.help) {
			usage(stdout);
			return EXIT_OK;
		}
		usage_error("no command given");
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command("", argv[optind]);
	if (!cmd)
		return EXIT_USAGE;
	argc -= optind + 1;
	argv += optind + 1;
	if (opt.help) {
		command_help(stdout, cmd);
		return EXIT_OK;
	}
	if (opt.wait && !(cmd->flags & CTL_CMD_WAIT))
		return usage_error("--wait is for drain, not %s", cmd->name);
	if ((opt.rate || opt.interval_s || opt.count) && !(cmd->flags & CTL_CMD_RATE))
		return usage_error("--rate, --interval and --count go with status and top, not %s",
				   cmd->name);
	if ((opt.interval_s || opt.count) && !rate_wanted(&opt, cmd))
		return usage_error("--interval and --count need --rate (status --rate) or top");
	ret = check_args(cmd, argc, argv);
	if (ret != EXIT_OK)
		return ret;
	if (cmd == &ctl_commands[CTL_CMD_HELP]) {
		const struct ctl_command *about;

		if (opt.json) {
			help_json(stdout);
			return EXIT_OK;
		}
		if (!argc) {
			usage(stdout);
			return EXIT_OK;
		}
		about = find_command("help: ", argv[0]);
		if (!about)
			return EXIT_USAGE;
		command_help(stdout, about);
		return EXIT_OK;
	}
	if (cmd == &ctl_commands[CTL_CMD_CHECK_CONFIG])
		return check_config(argv[0], opt.json);
	if (rate_wanted(&opt, cmd))
		return rate_run(&opt, cmd, argc, argv);
	return run_remote(&opt, cmd, argc, argv);
}
