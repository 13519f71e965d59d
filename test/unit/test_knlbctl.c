/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl as an operator runs it: the built binary (KNLBCTL, set by
 * `make test-unit`) against a real ctl server in this process
 * (ctl-test.h), or against a raw socket that misbehaves.  Checks exit
 * codes, what goes to stdout and what to stderr, and what was sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"
#include "knlb/ctl/commands.h"
#include "ctl-test.h"
#include "knlb/lib/version.h"

extern char **environ;

struct run {
	int code;		/* exit code; -1 if killed */
	char *out, *err;	/* everything it wrote; freed by run_free */
};

static const char *knlbctl_path(void)
{
	const char *p = getenv("KNLBCTL");

	if (!p)
		p = "build/knlbctl";
	cr_assert_eq(access(p, X_OK), 0,
		     "%s: not executable (run through `make test-unit`, which sets KNLBCTL)", p);
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[65536];
	size_t n;

	cr_assert_not_null(f);
	cr_assert_not_null(m);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

/*
 * Runs knlbctl with args (NULL-terminated) and KNLB_SOCKET set to
 * sock_env, or unset when NULL.  Output goes to files, not pipes, so a
 * big body cannot dead-lock against our wait.
 */
static struct run run_knlbctl(const char *sock_env, const char *const *args)
{
	char dir[] = "/tmp/knlbctl-run-XXXXXX", out[64], err[64], envsock[200];
	posix_spawn_file_actions_t fa;
	char *argv[32], *envp[256];
	struct run r = { 0 };
	size_t na = 0, ne = 0;
	int status;
	pid_t pid;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	argv[na++] = (char *)"knlbctl";
	for (; *args; args++) {
		cr_assert_lt(na, 31);
		argv[na++] = (char *)*args;
	}
	argv[na] = NULL;
	for (char **e = environ; *e && ne < 250; e++)
		if (strncmp(*e, "KNLB_SOCKET=", 12))
			envp[ne++] = *e;
	if (sock_env) {
		snprintf(envsock, sizeof(envsock), "KNLB_SOCKET=%s", sock_env);
		envp[ne++] = envsock;
	}
	envp[ne] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(posix_spawn(&pid, knlbctl_path(), &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r.out = slurp(out);
	r.err = slurp(err);
	unlink(out);
	unlink(err);
	rmdir(dir);
	/* Under `make test-san` knlbctl is sanitized: its reports land here. */
	cr_expect_null(strstr(r.err, "Sanitizer"), "sanitizer report: %s", r.err);
	cr_expect_null(strstr(r.err, "runtime error:"), "UBSan report: %s", r.err);
	return r;
}

#define RUN(sock_env, ...) \
	run_knlbctl(sock_env, (const char *const[]){ __VA_ARGS__, NULL })

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void expect_run(struct run r, int code, const char *out, const char *err)
{
	cr_expect_eq(r.code, code, "exit %d, expected %d; stderr: %s", r.code, code, r.err);
	if (out)
		cr_expect_str_eq(r.out, out);
	if (err)
		cr_expect_str_eq(r.err, err);
	run_free(&r);
}

static unsigned long long connections(const char *path)
{
	char *reply = client_request(path, "stats\n");
	const char *p = strstr(reply, "connections ");
	unsigned long long v;

	cr_assert_not_null(p);
	v = strtoull(p + 12, NULL, 10);
	free(reply);
	return v;
}

Test(knlbctl, ok_goes_to_stdout_and_exits_0)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_run(RUN(NULL, "-s", s.path, "status"), 0, "got: status\n", "");
	expect_run(RUN(NULL, "-s", s.path, "drain", "web", "b2"), 0,
		   "got: drain web b2\n", "");
	expect_run(RUN(NULL, "--socket", s.path, "weight", "web", "10.0.0.12:8080", "0"),
		   0, "got: weight web 10.0.0.12:8080 0\n", "");
	expect_run(RUN(NULL, "-s", s.path, "flows", "web", "b1"), 0,
		   "got: flows web b1\n", "");
	expect_run(RUN(NULL, "-s", s.path, "enable", "web", "b2"), 0,
		   "got: enable web b2\n", "");
	expect_run(RUN(NULL, "-s", s.path, "disable", "web", "b2"), 0,
		   "got: disable web b2\n", "");
	expect_run(RUN(NULL, "-s", s.path, "reload"), 0, "got: reload\n", "");
	expect_run(RUN(NULL, "-s", s.path, "render"), 0, "got: render\n", "");
	expect_run(RUN(NULL, "-s", s.path, "status", "silent"), 0, "", "");
	server_stop(&s);
}

Test(knlbctl, json_is_sent_last_wherever_it_was_given)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_run(RUN(NULL, "--json", "-s", s.path, "status", "web"), 0,
		   "got: status web --json\n", "");
	cr_expect_str_eq(s.last_request, "status|web|--json");
	expect_run(RUN(NULL, "-s", s.path, "flows", "--json"), 0,
		   "got: flows --json\n", "");
	server_stop(&s);
}

Test(knlbctl, warn_goes_to_stdout_and_exits_4)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_run(RUN(NULL, "-s", s.path, "status", "degraded"), 4,
		   "service degraded: backend b2 down\n", "");
	server_stop(&s);
}

Test(knlbctl, error_goes_to_stderr_and_exits_1)
{
	struct test_server s;

	server_start(&s, 0, 0);
	expect_run(RUN(NULL, "-s", s.path, "drain", "web", "refuse"), 1, "",
		   "refused: drain\n");
	server_stop(&s);
}

Test(knlbctl, big_body_is_streamed_whole)
{
	struct test_server s;
	struct run r;

	server_start(&s, 0, 0);
	r = RUN(NULL, "-s", s.path, "flows", "big");
	cr_expect_eq(r.code, 0, "stderr: %s", r.err);
	cr_expect_eq(strlen(r.out), 100000 * 12);
	cr_expect(!strncmp(r.out, "flow 000000\nflow 000001\n", 24));
	cr_expect_str_eq(r.out + strlen(r.out) - 12, "flow 099999\n");
	run_free(&r);
	server_stop(&s);
}

Test(knlbctl, socket_from_environment_and_s_overrides_it)
{
	struct test_server s;
	char other[200];

	server_start(&s, 0, 0);
	expect_run(RUN(s.path, "status"), 0, "got: status\n", "");
	snprintf(other, sizeof(other), "%s/none.sock", s.dir);
	/* -s wins over KNLB_SOCKET, in both directions. */
	expect_run(RUN(other, "-s", s.path, "status"), 0, "got: status\n", "");
	{
		char want[300];

		snprintf(want, sizeof(want),
			 "knlbctl: %s: No such file or directory (is knlbd running? -s PATH)\n",
			 other);
		expect_run(RUN(s.path, "-s", other, "status"), 3, "", want);
	}
	server_stop(&s);
}

Test(knlbctl, no_daemon_exits_3_naming_the_socket_and_errno)
{
	char dir[] = "/tmp/knlbctl-XXXXXX", path[64], want[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/knlb.sock", dir);
	snprintf(want, sizeof(want),
		 "knlbctl: %s: No such file or directory (is knlbd running? -s PATH)\n", path);
	expect_run(RUN(NULL, "-s", path, "status"), 3, "", want);

	/* A socket file nobody listens on: what a crashed knlbd leaves. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	snprintf(want, sizeof(want),
		 "knlbctl: %s: Connection refused (is knlbd running? -s PATH)\n", path);
	expect_run(RUN(NULL, "-s", path, "reload"), 3, "", want);
	unlink(path);
	rmdir(dir);
}

/* A daemon that accepts nothing: the client gives up at its deadline. */
Test(knlbctl, no_reply_within_the_timeout_exits_3)
{
	char dir[] = "/tmp/knlbctl-XXXXXX", path[64], want[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec t0, t1;
	double dt;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/knlb.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(want, sizeof(want), "knlbctl: %s: no complete reply within 0.3 s (-t SECONDS)\n",
		 path);
	expect_run(RUN(NULL, "-s", path, "-t", "0.3", "status"), 3, "", want);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_expect(dt >= 0.3 && dt < 5.0, "gave up after %.3f s", dt);
	close(fd);
	unlink(path);
	rmdir(dir);
}

/*
 * A peer that answers one connection with reply (len bytes) after reading
 * the request line, in a child process.  Returns its pid.
 */
static pid_t raw_server(const char *path, const char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int c = accept(fd, NULL, NULL);
		char ch;

		alarm(10);
		while (c != -1 && read(c, &ch, 1) == 1 && ch != '\n')
			;
		if (c != -1 && len && write(c, reply, len) != (ssize_t)len)
			_exit(1);
		_exit(0);
	}
	close(fd);
	return pid;
}

Test(knlbctl, bad_or_incomplete_reply_exits_3)
{
	static const struct {
		const char *reply, *out, *err;
	} cases[] = {
		{ "HELLO\nthere\n", "", "bad reply from knlbd: unknown status line" },
		{ "", "", "bad reply from knlbd: the connection closed without a reply" },
		{ "OK", "", "bad reply from knlbd: the status line is cut short" },
		{ "OK\npartial", "partial", "bad reply from knlbd: the reply is cut short (no newline at its end)" },
		{ "THIS IS NOT A STATUS LINE AT ALL\n", "", "bad reply from knlbd: no status line" },
	};
	char dir[] = "/tmp/knlbctl-XXXXXX", path[64];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/knlb.sock", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t pid = raw_server(path, cases[i].reply, strlen(cases[i].reply));
		char want[300];
		int status;

		snprintf(want, sizeof(want), "knlbctl: %s: %s\n", path, cases[i].err);
		expect_run(RUN(NULL, "-s", path, "status"), 3, cases[i].out, want);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		unlink(path);
	}
	rmdir(dir);
}

/* Usage errors exit 2 and never connect: the server's count stays. */
Test(knlbctl, usage_errors_exit_2_before_connecting)
{
	static const struct {
		const char *args[6];
		const char *err;
	} cases[] = {
		{ { "weight", "web", "b1", "65536" },
		  "knlbctl: weight: N must be an integer from 0 to 65535, not '65536'\n" },
		{ { "weight", "web", "b1", "-1" }, "knlbctl: unknown option '-1' (knlbctl --help)\n" },
		{ { "weight", "web", "b1", "--", "-1" },
		  "knlbctl: weight: N must be an integer from 0 to 65535, not '-1'\n" },
		{ { "weight", "web", "b1", "1.5" },
		  "knlbctl: weight: N must be an integer from 0 to 65535, not '1.5'\n" },
		{ { "weight", "web", "b1", "" },
		  "knlbctl: weight: argument 3 ('') must be one word: not empty, no blanks or control characters\n" },
		{ { "weight", "web", "b1" },
		  "knlbctl: weight takes 3 arguments (SERVICE BACKEND N), not 2; knlbctl help weight\n" },
		{ { "drain", "web" },
		  "knlbctl: drain takes 2 arguments (SERVICE BACKEND), not 1; knlbctl help drain\n" },
		{ { "drain", "web", "b 1" },
		  "knlbctl: drain: argument 2 ('b 1') must be one word: not empty, no blanks or control characters\n" },
		{ { "status", "a", "b" },
		  "knlbctl: status takes 0 to 1 arguments ([SERVICE]), not 2; knlbctl help status\n" },
		{ { "flows", "a", "b", "c" },
		  "knlbctl: flows takes 0 to 2 arguments ([SERVICE [BACKEND]]), not 3; knlbctl help flows\n" },
		{ { "reload", "now" },
		  "knlbctl: reload takes 0 arguments (none), not 1; knlbctl help reload\n" },
		{ { "frobnicate" },
		  "knlbctl: unknown command 'frobnicate' (knlbctl --help lists them)\n" },
		{ { "--bogus", "status" }, "knlbctl: unknown option '--bogus' (knlbctl --help)\n" },
		{ { "status", "-t", "0" },
		  "knlbctl: -t: timeout must be a number of seconds above 0, at most 86400, not '0'\n" },
		{ { "status", "-t", "soon" },
		  "knlbctl: -t: timeout must be a number of seconds above 0, at most 86400, not 'soon'\n" },
		{ { "status", "-t" }, "knlbctl: option -t needs an argument\n" },
		{ { "help", "frobnicate" },
		  "knlbctl: help: unknown command 'frobnicate' (knlbctl --help lists them)\n" },
		{ { "check-config" },
		  "knlbctl: check-config takes 1 argument (FILE), not 0; knlbctl help check-config\n" },
	};
	struct test_server s;
	unsigned long long before;

	server_start(&s, 0, 0);
	before = connections(s.path);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[10] = { "-s", s.path };
		size_t n = 2;

		for (size_t j = 0; cases[i].args[j]; j++)
			args[n++] = cases[i].args[j];
		args[n] = NULL;
		expect_run(run_knlbctl(NULL, args), 2, "", cases[i].err);
	}
	cr_expect_eq(connections(s.path), before + 1,
		     "a usage error reached the daemon");
	server_stop(&s);
}

Test(knlbctl, no_command_is_a_usage_error_with_the_usage_on_stderr)
{
	struct run r = RUN(NULL, "-s", "/nonexistent");

	cr_expect_eq(r.code, 2);
	cr_expect_str_eq(r.out, "");
	cr_expect(!strncmp(r.err, "knlbctl: no command given\nUsage: knlbctl [OPTIONS] COMMAND [ARGS]\n", 66),
		  "%s", r.err);
	run_free(&r);
}

Test(knlbctl, request_over_4096_bytes_is_a_usage_error)
{
	char *big = malloc(5000);
	struct run r;

	memset(big, 'w', 4999);
	big[4999] = '\0';
	r = RUN(NULL, "-s", "/nonexistent", "status", big);
	expect_run(r, 2, "", "knlbctl: status: the request is too long (max 4096 bytes)\n");
	free(big);
}

Test(knlbctl, help_in_three_spellings_and_version)
{
	struct run r1 = RUN(NULL, "help", "weight");
	struct run r2 = RUN(NULL, "weight", "--help");
	struct run r3 = RUN(NULL, "-h", "weight");
	struct run r;

	cr_expect_eq(r1.code, 0);
	cr_expect(!strncmp(r1.out, "Usage: knlbctl [OPTIONS] weight SERVICE BACKEND N\n", 50),
		  "%s", r1.out);
	cr_expect(strstr(r1.out, "  4  done, with a warning"), "exit codes listed");
	cr_expect_str_eq(r1.out, r2.out);
	cr_expect_str_eq(r1.out, r3.out);
	cr_expect_eq(r2.code, 0);
	cr_expect_eq(r3.code, 0);
	run_free(&r1);
	run_free(&r2);
	run_free(&r3);

	r = RUN(NULL, "--help");
	cr_expect_eq(r.code, 0);
	cr_expect_str_eq(r.err, "");
	/* Every command, the exit codes and the environment are in --help. */
	for (const char *const *c = (const char *const[]){ "status [SERVICE]",
	     "flows [SERVICE [BACKEND]]", "drain SERVICE BACKEND", "enable SERVICE BACKEND",
	     "disable SERVICE BACKEND", "weight SERVICE BACKEND N", "reload", "render",
	     "check-config FILE", "help [COMMAND]", "  0  OK", "  1  knlbd refused",
	     "  2  usage error", "  3  knlbd cannot be reached", "  4  done, with a warning",
	     "KNLB_SOCKET", "/run/knlb/knlb.sock", NULL }; *c; c++)
		cr_expect(strstr(r.out, *c), "--help lacks '%s'", *c);
	run_free(&r);
	expect_run(RUN(NULL, "help"), 0, NULL, "");
	expect_run(RUN(NULL, "-V"), 0, "knlbctl " KNLB_VERSION "\n", "");
}

static const char *srcdir(void)
{
	const char *d = getenv("KNLB_SRCDIR");

	return d ? d : ".";
}

/* Every shipped example config checks OK, with its own counts. */
Test(knlbctl, check_config_accepts_the_shipped_examples)
{
	char pattern[512];
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/conf/*.conf", srcdir());
	cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no %s", pattern);
	cr_assert_geq(g.gl_pathc, 3);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct knlb_config *cfg;
		size_t backends = 0;
		char want[700];

		cr_assert_eq(config_load(g.gl_pathv[i], &cfg, stderr), 0);
		for (size_t k = 0; k < cfg->n_services; k++)
			backends += cfg->services[k].n_backends;
		snprintf(want, sizeof(want), "%s: configuration OK: %zu service%s, %zu backend%s\n",
			 g.gl_pathv[i], cfg->n_services, cfg->n_services == 1 ? "" : "s",
			 backends, backends == 1 ? "" : "s");
		config_free(cfg);
		expect_run(RUN("/nonexistent", "check-config", g.gl_pathv[i]), 0, want, "");
	}
	globfree(&g);
}

Test(knlbctl, check_config_reports_file_and_line_and_exits_1)
{
	char dir[] = "/tmp/knlbctl-XXXXXX", path[64], want[300];
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[service web]\nvip = 192.0.2.10\nport = 80\n"
	      "backend = 10.0.0.1:80 weight=abc\n", f);
	fclose(f);
	snprintf(want, sizeof(want),
		 "%s:4: weight \"abc\" is not a number\n"
		 "knlbctl: %s: configuration not valid\n", path, path);
	expect_run(RUN(NULL, "check-config", path), 1, "", want);
	unlink(path);

	snprintf(want, sizeof(want),
		 "%s: cannot open: No such file or directory\n"
		 "knlbctl: %s: configuration not valid\n", path, path);
	expect_run(RUN(NULL, "check-config", path), 1, "", want);
	rmdir(dir);
}

/* issue 11: one service is "1 service", in text; JSON says the same. */
Test(knlbctl, check_config_counts_in_words_and_in_json)
{
	char path[512], want[700];

	snprintf(path, sizeof(path), "%s/conf/minimal.conf", srcdir());
	snprintf(want, sizeof(want), "%s: configuration OK: 1 service, 2 backends\n", path);
	expect_run(RUN(NULL, "check-config", path), 0, want, "");
	snprintf(want, sizeof(want),
		 "{\"file\":\"%s\",\"valid\":true,\"services\":1,\"backends\":2}\n", path);
	expect_run(RUN(NULL, "--json", "check-config", path), 0, want, "");
	expect_run(RUN(NULL, "--json", "check-config", "/nonexistent/k.conf"), 1,
		   "{\"file\":\"/nonexistent/k.conf\",\"valid\":false,\"errors\":"
		   "[\"/nonexistent/k.conf: cannot open: No such file or directory\"]}\n", "");
}

Test(knlbctl, a_mistyped_command_gets_the_nearest_name)
{
	expect_run(RUN("/nonexistent", "stauts"), 2, "",
		   "knlbctl: unknown command 'stauts' (did you mean 'status'?)\n");
	expect_run(RUN("/nonexistent", "dran", "web", "b1"), 2, "",
		   "knlbctl: unknown command 'dran' (did you mean 'drain'?)\n");
	expect_run(RUN("/nonexistent", "help", "wieght"), 2, "",
		   "knlbctl: help: unknown command 'wieght' (did you mean 'weight'?)\n");
}

/* issue 13 item 7: the config refuses signs, so does weight. */
Test(knlbctl, a_signed_weight_is_refused)
{
	expect_run(RUN("/nonexistent", "weight", "web", "b1", "+5"), 2, "",
		   "knlbctl: weight: N must be an integer from 0 to 65535, not '+5'\n");
	expect_run(RUN("/nonexistent", "--wait", "status"), 2, "",
		   "knlbctl: --wait is for drain, not status\n");
}

/* help --json is the registry: every command of --help, with its kinds. */
Test(knlbctl, help_json_lists_the_registry)
{
	struct run r = RUN(NULL, "--json", "help");

	cr_expect_eq(r.code, 0);
	for (size_t i = 0; i < CTL_N_COMMANDS; i++) {
		char name[64];

		snprintf(name, sizeof(name), "{\"name\":\"%s\",", ctl_commands[i].name);
		cr_expect(strstr(r.out, name), "help --json lacks %s: %s", name, r.out);
	}
	cr_expect(strstr(r.out, "\"args\":[\"service\",\"backend\",\"weight\"]"), "%s", r.out);
	run_free(&r);
}

Test(knlbctl, drain_wait_returns_when_the_backend_has_no_flow)
{
	struct test_server s;
	struct run r;

	server_start(&s, 0, 0);
	r = RUN(NULL, "-s", s.path, "drain", "--wait", "drainy", "b1");
	cr_expect_eq(r.code, 0, "%s", r.err);
	cr_expect(!strncmp(r.out, "got: drain drainy b1\ndrainy/b1: no active flow left (waited ", 58),
		  "%s", r.out);
	cr_expect_str_eq(r.err, "");
	cr_expect_eq(s.polls, 3, "polled %d times", s.polls);
	run_free(&r);

	/* by address too, and in JSON: the drain reply, then the verdict */
	s.polls = 0;
	r = RUN(NULL, "-s", s.path, "--json", "drain", "drainy", "10.0.0.11:80", "--wait");
	cr_expect_eq(r.code, 0, "%s", r.err);
	cr_expect(strstr(r.out, "{\"service\":\"drainy\",\"backend\":\"10.0.0.11:80\",\"drained\":true,"
			 "\"active_flows\":0,\"waited_s\":"), "%s", r.out);
	run_free(&r);
	server_stop(&s);
}

Test(knlbctl, drain_wait_exits_5_when_flows_remain_at_the_timeout)
{
	struct test_server s;
	struct run r;

	server_start(&s, 0, 0);
	r = RUN(NULL, "-s", s.path, "-t", "0.5s", "drain", "--wait", "stuck", "b1");
	cr_expect_eq(r.code, 5);
	cr_expect_str_eq(r.err, "knlbctl: stuck/b1: still 3 active flows after 0.5 s; "
			 "it stays drained (-t SECONDS to wait longer)\n");
	cr_expect_geq(s.polls, 2);
	run_free(&r);
	/* a backend that is not draining (b2 is enabled) is not waited for */
	expect_run(RUN(NULL, "-s", s.path, "drain", "--wait", "stuck", "b2"), 1,
		   "got: drain stuck b2\n",
		   "knlbctl: drain --wait: stuck/b2 is enabled now, no longer draining: not waiting\n");
	server_stop(&s);
}

/* The completion's words come from the registry and from knlbd. */
Test(knlbctl, complete_offers_commands_options_and_names)
{
	struct test_server s;
	char *all = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&all, &len);
	struct run r;

	for (size_t i = 0; i < CTL_N_COMMANDS; i++)
		fprintf(m, "%s\n", ctl_commands[i].name);
	fclose(m);
	expect_run(RUN("/nonexistent", "__complete", ""), 0, all, "");
	free(all);
	expect_run(RUN("/nonexistent", "__complete", "d"), 0, "drain\ndisable\n", "");
	expect_run(RUN("/nonexistent", "__complete", "drain", "--w"), 0, "--wait\n", "");
	expect_run(RUN("/nonexistent", "__complete", "status", "--w"), 0, "", "");
	expect_run(RUN("/nonexistent", "__complete", "check-config", "x"), 0, "@files\n", "");
	expect_run(RUN("/nonexistent", "__complete", "weight", "web", "b1", ""), 0, "", "");
	/* no daemon: no names, silently */
	expect_run(RUN("/nonexistent", "__complete", "drain", ""), 0, "", "");

	server_start(&s, 0, 0);
	expect_run(RUN(s.path, "__complete", "drain", ""), 0, "drainy\nstuck\n", "");
	expect_run(RUN(NULL, "__complete", "-s", s.path, "drain", "st"), 0, "stuck\n", "");
	r = RUN(s.path, "__complete", "weight", "drainy", "");
	expect_run(r, 0, "b1\nb2\n", "");
	server_stop(&s);
}

/*
 * Issue 13: a socket in a directory others may write to could be anyone's;
 * knlbctl does not send the request nor print what answers there.
 */
Test(knlbctl, a_socket_in_a_directory_others_may_write_is_not_trusted)
{
	char dir[] = "/tmp/knlbctl-XXXXXX", open_dir[64], path[96];
	struct run r;
	pid_t pid;
	int status;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	cr_assert_eq(mkdir(open_dir, 0700), 0);
	cr_assert_eq(chmod(open_dir, 0777), 0);
	snprintf(path, sizeof(path), "%s/knlb.sock", open_dir);
	pid = raw_server(path, "OK\nall backends up (a fake)\n", 28);
	r = RUN(NULL, "-s", path, "status");
	cr_expect_eq(r.code, 3, "exit %d: %s", r.code, r.err);
	cr_expect_str_eq(r.out, "");
	cr_expect(strstr(r.err, "not talking to it: unsafe directory: "), "%s", r.err);
	cr_expect(strstr(r.err, open_dir) && strstr(r.err, "is writable by group and others (mode 0777)"),
		  "%s", r.err);
	run_free(&r);

	/* The same socket once the directory is fixed: the reply is taken. */
	cr_assert_eq(chmod(open_dir, 0755), 0);
	expect_run(RUN(NULL, "-s", path, "status"), 0, "all backends up (a fake)\n", "");
	cr_expect_eq(waitpid(pid, &status, 0), pid);
	unlink(path);
	rmdir(open_dir);
	rmdir(dir);
}
