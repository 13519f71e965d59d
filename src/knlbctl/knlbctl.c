/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl: the command-line client of knlbd's control socket.  Checks its
 * arguments before connecting (a usage error never reaches the daemon),
 * sends one request line, streams the body of the reply to stdout (OK,
 * WARN) or stderr (ERROR), and turns the status line into its exit code.
 * check-config and help run locally.  Protocol: docs/control-protocol.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "knlb/config/config.h"
#include "knlb/ctl/server.h"
#include "knlb/pool/pool.h"
#include "knlb/lib/version.h"
#include "rate-int.h"

/* Exit codes, documented in --help and knlbctl(8). */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,	/* ERROR reply; check-config: not valid */
	EXIT_USAGE = 2,		/* nothing was sent */
	EXIT_UNREACHABLE = 3,	/* no daemon, or a bad or incomplete reply */
	EXIT_WARN = 4,		/* WARN reply */
};

#define DEFAULT_TIMEOUT_S	10.0
#define LONG_TIMEOUT_S		60.0	/* reload, flows: real work behind them */
#define MAX_TIMEOUT_S		86400.0
#define STATUS_LINE_MAX		16	/* "ERROR\n" and then some */

struct options {
	const char *socket;
	bool json;
	bool help;
	double timeout_s;	/* 0: the command's default */
};

struct command {
	const char *name;
	const char *args;	/* usage of its arguments */
	int min_args, max_args;
	bool local;		/* runs here, no daemon */
	bool long_running;	/* default timeout LONG_TIMEOUT_S */
	int weight_arg;		/* index of a 0..65535 argument, or -1 */
	const char *summary;	/* one line for the command list */
	const char *help;	/* the rest of `knlbctl help NAME` */
};

static const struct command commands[] = {
	{ "status", "[SERVICE]", 0, 1, false, false, -1,
	  "services, VIPs, schedulers and backends with their state",
	  "Shows every service (or only SERVICE): its VIP, port and protocol, its\n"
	  "scheduler, and for each backend its configured weight, effective weight\n"
	  "(after health, slow start, backups and runtime changes), admin state\n"
	  "(enabled, draining, disabled), health (last result and its reason),\n"
	  "share of the slot table and active flows.\n"
	  "\n"
	  "Exits 4 (WARN) when something needs attention: a backend is down, a\n"
	  "service runs on its backups or has no usable backend.  So\n"
	  "`knlbctl status web || alert` fires on any degradation.\n"
	  "\n"
	  "With --rate: per service and backend, new flows per second (CPS), active\n"
	  "flows, packets and bytes per second each way, from the kernel's counters\n"
	  "sampled --interval DUR apart (default 1s), like `ipvsadm -L --rate`.\n" },
	{ "top", "[SERVICE]", 0, 1, false, false, -1,
	  "status --rate, refreshed in place until q or Ctrl-C",
	  "Shows what status --rate shows, refreshed every --interval DUR (default\n"
	  "1s) until q or Ctrl-C, or --count N times.  The screen is cleared only\n"
	  "when stdout is a terminal; --json prints one JSON line per refresh.\n" },
	{ "flows", "[SERVICE [BACKEND]]", 0, 2, false, true, -1,
	  "the flows knlb tracks",
	  "Lists the flows knlbd follows through conntrack, all of them or those of\n"
	  "SERVICE, or of one BACKEND of it: client address and port, VIP,\n"
	  "backend, protocol, TCP state, age, packets and bytes.  Needs conntrack\n"
	  "(knlbd says so when it runs without).  Default timeout 60 s.\n" },
	{ "stats", "[SERVICE]", 0, 1, false, false, -1,
	  "the kernel's per-backend counters, raw, as JSON",
	  "Prints one sample of the counters status --rate divides: per backend,\n"
	  "new flows, packets and bytes each way as the kernel counted them, and\n"
	  "active flows.  Counters restart from 0 after an hour idle or a full\n"
	  "table replace.  Shape: docs/control-protocol.md.\n" },
	{ "drain", "SERVICE BACKEND", 2, 2, false, false, -1,
	  "no new flows to BACKEND; established ones continue",
	  "Takes BACKEND out of SERVICE's slot table: new flows go to the other\n"
	  "backends, established flows continue to BACKEND until they end (watch\n"
	  "them with `knlbctl flows SERVICE BACKEND`).  Health checks go on.\n"
	  "Undone by enable.  Runtime state: a restart or reload starts from the\n"
	  "configuration again.\n" },
	{ "enable", "SERVICE BACKEND", 2, 2, false, false, -1,
	  "put BACKEND back in service",
	  "Undoes drain and disable: BACKEND takes new flows again as soon as its\n"
	  "health allows (slow start applies if configured).\n" },
	{ "disable", "SERVICE BACKEND", 2, 2, false, false, -1,
	  "no new flows; its flows are deleted if flush = yes",
	  "Takes BACKEND out of SERVICE's slot table like drain and, when the\n"
	  "service has flush = yes, deletes its conntrack entries so its clients\n"
	  "move to another backend at once (UDP) or are reset (TCP).  Without\n"
	  "flush, established flows continue as with drain.  Undone by enable.\n" },
	{ "weight", "SERVICE BACKEND N", 3, 3, false, false, 2,
	  "set BACKEND's runtime weight to N (0..65535)",
	  "Sets the weight the scheduler uses for BACKEND until the next restart\n"
	  "or reload; only the slots that change are rewritten.  0 takes no new\n"
	  "flows, like drain.\n" },
	{ "reload", "", 0, 0, false, true, -1,
	  "re-read the configuration and report the result",
	  "Makes knlbd re-read its configuration file, as SIGHUP does, and prints\n"
	  "what happened.  An invalid file is an ERROR with its FILE:LINE\n"
	  "messages; knlbd then keeps running with what it had.  Default timeout\n"
	  "60 s.\n" },
	{ "render", "", 0, 0, false, false, -1,
	  "print the nft table knlbd would program now",
	  "Prints, in nft syntax, the table knlbd would program from its current\n"
	  "state (health, drains and weights included): compare it with\n"
	  "`nft list table inet knlb`.\n" },
	{ "check-config", "FILE", 1, 1, true, false, -1,
	  "check a configuration file here (no daemon needed)",
	  "Reads and checks FILE as knlbd would (knlbd -t), computing every slot\n"
	  "table, without touching the kernel or the daemon.  Prints\n"
	  "\"FILE: configuration OK: N services, M backends\" and exits 0, or\n"
	  "prints every error as FILE:LINE: message on stderr and exits 1.\n" },
	{ "help", "[COMMAND]", 0, 1, true, false, -1,
	  "this help, or help for one command",
	  "Prints the list of commands and options, or the help of COMMAND\n"
	  "(same as `knlbctl COMMAND --help`).\n" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char exit_status_text[] =
"Exit status:\n"
"  0  OK\n"
"  1  knlbd refused or failed the command (the reason is on stderr);\n"
"     check-config: the file is not valid\n"
"  2  usage error: nothing was sent\n"
"  3  knlbd cannot be reached, or its reply was bad or incomplete\n"
"  4  done, with a warning: e.g. status found a backend down, a service on\n"
"     its backups or without a usable backend\n";

static void usage(FILE *out)
{
	fprintf(out,
"Usage: knlbctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Query and steer a running knlbd through its control socket.\n"
"\n"
"Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char head[48];

		snprintf(head, sizeof(head), "%s %s", commands[i].name,
			 commands[i].args);
		fprintf(out, "  %-27s %s\n", head, commands[i].summary);
	}
	fprintf(out,
"\n"
"BACKEND is a backend id (id= in the configuration) or ADDR:PORT.\n"
"\n"
"Options (anywhere on the line; -- ends them):\n"
"  -s, --socket PATH      knlbd's control socket (default: $KNLB_SOCKET if set,\n"
"                         else " KNLB_DEFAULT_CONTROL_SOCKET ")\n"
"      --json             the reply as one JSON value, for scripts\n"
"      --rate             status: rates from two samples (also: top)\n"
"      --interval DUR     status --rate, top: time between samples (default 1s)\n"
"      --count N          status --rate, top: print N times, then exit\n"
"  -t, --timeout SECONDS  wait at most this long for the whole reply\n"
"                         (default 10; 60 for reload and flows)\n"
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
"  knlbctl drain web b2 && knlbctl flows web b2\n"
"  knlbctl weight web 10.0.0.12:8080 0\n"
"  knlbctl --json status\n"
"  knlbctl check-config /etc/knlb/knlb.conf\n"
"\n"
"See knlbctl(8) and docs/control-protocol.md.\n", exit_status_text);
}

static void command_help(FILE *out, const struct command *cmd)
{
	fprintf(out, "Usage: knlbctl [OPTIONS] %s%s%s\n\n%s.\n\n%s\n",
		cmd->name, cmd->args[0] ? " " : "", cmd->args, cmd->summary,
		cmd->help);
	if (!cmd->local)
		fprintf(out,
"Options: -s PATH (socket), --json, -t SECONDS (default %g); knlbctl --help.\n"
"BACKEND is a backend id (id= in the configuration) or ADDR:PORT.\n\n",
			cmd->long_running ? LONG_TIMEOUT_S : DEFAULT_TIMEOUT_S);
	fputs(exit_status_text, out);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
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

static bool parse_weight(const char *s)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v <= 65535;
}

static int check_args(const struct command *cmd, int argc, char **argv)
{
	if (argc < cmd->min_args || argc > cmd->max_args) {
		if (cmd->min_args == cmd->max_args)
			usage_error("%s takes %d argument%s (%s), not %d; knlbctl help %s",
				    cmd->name, cmd->min_args,
				    cmd->min_args == 1 ? "" : "s",
				    cmd->args[0] ? cmd->args : "none", argc, cmd->name);
		else
			usage_error("%s takes %d to %d arguments (%s), not %d; knlbctl help %s",
				    cmd->name, cmd->min_args, cmd->max_args,
				    cmd->args, argc, cmd->name);
		return EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		if (cmd->local)
			continue;	/* a FILE may contain anything */
		if (!is_word(argv[i]))
			return usage_error("%s: argument %d ('%s') must be one word: not empty, no blanks or control characters",
					   cmd->name, i + 1, argv[i]);
	}
	if (cmd->weight_arg >= 0 && !parse_weight(argv[cmd->weight_arg]))
		return usage_error("%s: N must be an integer from 0 to 65535, not '%s'",
				   cmd->name, argv[cmd->weight_arg]);
	return EXIT_OK;
}

static int check_config(const char *path)
{
	struct knlb_config *config;
	struct knlb_pool *pool;
	size_t backends = 0;
	int ret;

	if (config_load(path, &config, stderr) < 0) {
		fprintf(stderr, "knlbctl: %s: configuration not valid\n", path);
		return EXIT_REFUSED;
	}
	ret = pool_create(config, &pool);
	if (ret < 0) {
		fprintf(stderr, "knlbctl: %s: computing slot tables: %s\n", path,
			strerror(-ret));
		config_free(config);
		return EXIT_REFUSED;
	}
	for (size_t i = 0; i < config->n_services; i++)
		backends += config->services[i].n_backends;
	printf("%s: configuration OK: %zu services, %zu backends\n", path,
	       config->n_services, backends);
	pool_free(pool);
	config_free(config);
	return EXIT_OK;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 0 when fd is ready for events, -ETIMEDOUT past deadline, or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		uint64_t now = now_ms();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -errno;
	}
}

/* The socket path and the errno, with what to try next. */
static int unreachable(const char *path, int err)
{
	const char *hint = "";

	if (err == ENOENT || err == ECONNREFUSED)
		hint = " (is knlbd running? -s PATH)";
	else if (err == EACCES || err == EPERM)
		hint = " (the control socket is for root)";
	else if (err == ETIMEDOUT)
		hint = " (knlbd did not answer in time; -t SECONDS)";
	fprintf(stderr, "knlbctl: %s: %s%s\n", path, strerror(err), hint);
	return EXIT_UNREACHABLE;
}

static int bad_reply(const char *path, const char *what)
{
	fprintf(stderr, "knlbctl: %s: bad reply from knlbd: %s\n", path, what);
	return EXIT_UNREACHABLE;
}

/*
 * Connects with the timeout as the send timeout (a unix connect waits when
 * the listener's backlog is full), then goes non-blocking so the whole
 * exchange keeps to one deadline.  Returns the fd or -errno.
 */
static int connect_socket(const char *path, double timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = {
		.tv_sec = (time_t)timeout_s,
		.tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6),
	};
	int fd, err;

	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1;		/* a zero send timeout means none at all */
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto out_close;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		goto out_close;
	return fd;

out_close:
	err = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;
	close(fd);
	return -err;
}

static int send_request(int fd, const char *req, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, req, len, MSG_NOSIGNAL);
		int ret;

		if (n >= 0) {
			req += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Reads the reply to EOF: the status line, then the body streamed to
 * stdout or stderr as it comes (a flows listing can be large).  The server
 * ends every non-empty body with '\n', so a body that does not is a reply
 * cut short.
 */
static int read_reply(int fd, const char *path, const char *command,
		      uint64_t deadline, double timeout_s)
{
	char status[STATUS_LINE_MAX], buf[65536];
	size_t slen = 0, body = 0;
	int code = -1;
	FILE *sink = NULL;
	char last = '\n';

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		char *p = buf;
		int ret;

		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return unreachable(path, errno);
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret == -ETIMEDOUT) {
				fflush(stdout);
				fprintf(stderr, "knlbctl: %s: no complete reply within %g s (-t SECONDS)\n",
					path, timeout_s);
				return EXIT_UNREACHABLE;
			}
			if (ret < 0)
				return unreachable(path, -ret);
			continue;
		}
		if (!sink) {
			char *nl = memchr(buf, '\n', (size_t)n);
			size_t take = nl ? (size_t)(nl - buf) : (size_t)n;

			if (slen + take >= sizeof(status))
				return bad_reply(path, "no status line");
			memcpy(status + slen, buf, take);
			slen += take;
			if (!nl)
				continue;
			status[slen] = '\0';
			if (!strcmp(status, "OK")) {
				code = EXIT_OK;
				sink = stdout;
			} else if (!strcmp(status, "WARN")) {
				code = EXIT_WARN;
				sink = stdout;
			} else if (!strcmp(status, "ERROR")) {
				code = EXIT_REFUSED;
				sink = stderr;
			} else {
				return bad_reply(path, "unknown status line");
			}
			p = nl + 1;
			n -= p - buf;
			if (!n)
				continue;
		}
		fwrite(p, 1, (size_t)n, sink);
		body += (size_t)n;
		last = p[n - 1];
	}
	if (!sink)
		return bad_reply(path, slen ? "the status line is cut short"
					    : "the connection closed without a reply");
	fflush(sink);
	if (last != '\n')
		return bad_reply(path, "the reply is cut short (no newline at its end)");
	if (code == EXIT_REFUSED && body == 0)
		fprintf(stderr, "knlbctl: knlbd refused %s without a reason\n", command);
	return code;
}

static int run_remote(const struct options *opt, const struct command *cmd,
		      int argc, char **argv)
{
	const char *path = opt->socket;
	double timeout_s = opt->timeout_s;
	char req[CTL_REQUEST_MAX + 1];
	uint64_t deadline;
	size_t len;
	int fd, ret, n;

	if (!timeout_s)
		timeout_s = cmd->long_running ? LONG_TIMEOUT_S : DEFAULT_TIMEOUT_S;
	n = snprintf(req, sizeof(req), "%s", cmd->name);
	for (int i = 0; i < argc && n >= 0 && (size_t)n < sizeof(req); i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n, " %s", argv[i]);
	if (opt->json && n >= 0 && (size_t)n < sizeof(req))
		n += snprintf(req + n, sizeof(req) - (size_t)n, " --json");
	if (n < 0 || (size_t)n + 1 > CTL_REQUEST_MAX)
		return usage_error("%s: the request is too long (max %d bytes)",
				   cmd->name, CTL_REQUEST_MAX);
	req[n] = '\n';
	len = (size_t)n + 1;

	deadline = now_ms() + (uint64_t)(timeout_s * 1000.0);
	fd = connect_socket(path, timeout_s);
	if (fd < 0)
		return unreachable(path, -fd);
	ret = send_request(fd, req, len, deadline);
	/*
	 * The server may answer and close before reading everything (too many
	 * clients): a failed send is not final, the reply may be waiting.
	 */
	if (ret < 0 && ret != -EPIPE && ret != -ECONNRESET) {
		close(fd);
		return unreachable(path, -ret);
	}
	ret = read_reply(fd, path, cmd->name, deadline, timeout_s);
	close(fd);
	return ret;
}

static int parse_timeout(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > MAX_TIMEOUT_S)
		return -1;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
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
	struct rate_options rate;
	const struct command *cmd;
	int ret;

	if ((ret = rate_take_options(&argc, argv, &rate)) != 0)
		return ret;
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
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s' (knlbctl --help lists them)",
				   argv[optind]);
	argc -= optind + 1;
	argv += optind + 1;
	if (opt.help) {
		command_help(stdout, cmd);
		return EXIT_OK;
	}
	ret = check_args(cmd, argc, argv);
	if (ret != EXIT_OK)
		return ret;
	if (!strcmp(cmd->name, "help")) {
		const struct command *about;

		if (!argc) {
			usage(stdout);
			return EXIT_OK;
		}
		about = find_command(argv[0]);
		if (!about)
			return usage_error("help: unknown command '%s' (knlbctl --help lists them)",
					   argv[0]);
		command_help(stdout, about);
		return EXIT_OK;
	}
	if (!strcmp(cmd->name, "check-config")) {
		if (opt.json)
			return usage_error("check-config has no --json output");
		return check_config(argv[0]);
	}
	if (rate_wanted(&rate, cmd->name))
		return rate_run(opt.socket, opt.json, opt.timeout_s, cmd->name, argc, argv, &rate);
	return run_remote(&opt, cmd, argc, argv);
}
