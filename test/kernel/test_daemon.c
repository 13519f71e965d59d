/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd as an operator runs it: -t, --render, start, stop, --flush-on-exit,
 * and a 65537-slot service.  Each test has its own network namespace; the
 * daemon started here inherits it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"
#include "knlb/pool/pool.h"
#include "knlb/nft/sync.h"
#include "knlb/nft/nfnl.h"
#include "kt.h"
#include "../common/loopback.h"

TestSuite(daemon, .init = kt_enter_netns, .timeout = 60);

static char *run_knlbd(const char *args, int *status)
{
	char cmd[1024], src[512];

	snprintf(cmd, sizeof(cmd), "cd %s && %s %s 2>&1",
		 kt_src_path("", src, sizeof(src)), kt_knlbd(), args);
	return kt_run(cmd, status);
}

Test(daemon, check_config_ok)
{
	int status;
	char *out = run_knlbd("-t -c conf/knlb.conf", &status);

	cr_expect_eq(WEXITSTATUS(status), 0, "%s", out);
	cr_expect(strstr(out, "configuration OK: 3 services, 7 backends") != NULL, "%s", out);
	free(out);
}

Test(daemon, check_config_error_names_file_and_line)
{
	char path[] = "/tmp/knlb-test-XXXXXX.conf";
	int fd = mkstemps(path, 5), status;
	const char *bad = "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.1:80 weight=70000\n";
	char args[256], expect[256], *out, *listed;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	snprintf(args, sizeof(args), "-c %s", path);
	out = run_knlbd(args, &status);
	unlink(path);
	cr_expect_eq(WEXITSTATUS(status), 1, "exit status %d: %s", WEXITSTATUS(status), out);
	snprintf(expect, sizeof(expect), "%s:4:", path);
	cr_expect(strstr(out, expect) != NULL, "no '%s' in: %s", expect, out);
	/* and the kernel was not touched */
	listed = kt_run("nft list ruleset", &status);
	cr_expect_str_eq(listed, "", "kernel touched on a bad config: %s", listed);
	free(listed);
	free(out);
}

Test(daemon, render_matches_golden_without_kernel)
{
	char golden_path[512];
	char *golden = kt_read_file(kt_src_path("rules/knlb.nft", golden_path,
						sizeof(golden_path)));
	int status;
	char *out = run_knlbd("--render -c conf/knlb.conf", &status), *listed;

	cr_assert_not_null(golden);
	cr_expect_eq(WEXITSTATUS(status), 0);
	cr_expect_str_eq(out, golden);
	listed = kt_run("nft list ruleset", &status);
	cr_expect_str_eq(listed, "", "--render touched the kernel");
	free(listed);
	free(golden);
	free(out);
}

/*
 * "PROGRAM ARGS" in the background, with a control socket of its own
 * (tests may run beside a real knlbd): /tmp/knlb-kt-PID.sock.
 */
static pid_t start_knlbd_with(const char *program, const char *args,
			      const char *logpath, char *sock, size_t socklen)
{
	static unsigned n;
	char cmd[1536], path[64];

	snprintf(path, sizeof(path), "/tmp/knlb-kt-%d-%u.sock", (int)getpid(), n++);
	if (sock)
		snprintf(sock, socklen, "%s", path);
	snprintf(cmd, sizeof(cmd), "%s %s -s %s", program, args, path);
	return kt_start_command(cmd, logpath);
}

static pid_t start_knlbd(const char *args, const char *logpath)
{
	return start_knlbd_with(kt_knlbd(), args, logpath, NULL, 0);
}

static void stop_and_check(pid_t pid, const char *args_desc, int expect_exit)
{
	int status;

	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == expect_exit,
		  "%s: status 0x%x", args_desc, status);
}

Test(daemon, stop_leaves_table_in_place)
{
	char log[] = "/tmp/knlb-test-log-XXXXXX";
	int fd = mkstemp(log), status;
	pid_t pid;
	char *out, *golden, gp[512];

	cr_assert_geq(fd, 0);
	close(fd);
	pid = start_knlbd("-c conf/knlb.conf", log);
	cr_assert(kt_wait_for_log(log, "programmed table inet knlb", 5000),
		  "knlbd did not program the table:\n%s", kt_read_file(log));
	stop_and_check(pid, "knlbd", 0);
	out = kt_normalize_free(kt_run("nft list table inet knlb", &status));
	golden = kt_normalize_free(kt_read_file(kt_src_path("rules/knlb.nft", gp, sizeof(gp))));
	cr_expect_str_eq(out, golden, "table after stop differs from golden");
	cr_expect(kt_wait_for_log(log, "leaving table inet knlb in place", 100));
	unlink(log);
	free(out);
	free(golden);
}

/*
 * With net.netfilter.nf_conntrack_events = 2 (the default) a conntrack
 * entry made while no event listener exists never gets the event
 * extension: it sends no event ever, not even its DESTROY, whatever the
 * rule's `ct event set` says.  So knlbd subscribes before its table
 * forwards a first packet; programmed the other way round, the flows of
 * the first instants were counted only by the next audit, and their
 * traffic (traffic_counters = conntrack) was lost when they were deleted.
 */
Test(daemon, conntrack_is_followed_before_the_table_forwards)
{
	char log[] = "/tmp/knlb-test-log-XXXXXX";
	int fd = mkstemp(log);
	const char *followed, *programmed;
	char *text;
	pid_t pid;

	cr_assert_geq(fd, 0);
	close(fd);
	pid = start_knlbd("-c conf/knlb.conf", log);
	cr_assert(kt_wait_for_log(log, "programmed table inet knlb", 5000),
		  "knlbd did not program the table:\n%s", kt_read_file(log));
	text = kt_read_file(log);
	followed = strstr(text, "conntrack: following flows by their events");
	programmed = strstr(text, "programmed table inet knlb");
	cr_expect(followed && followed < programmed,
		  "conntrack not followed before the table was programmed:\n%s", text);
	stop_and_check(pid, "knlbd", 0);
	free(text);
	unlink(log);
}

/*
 * A restart over the running table replaces it in place (its rules and
 * sets' elements flushed and written again in one transaction): deleting
 * the sets, as a whole-table replace does, let a connection arriving at
 * that instant go un-NATed (replace_in_place.h).  When a set's definition
 * changed (here a table_size), the kernel refuses that, and knlbd says
 * so and replaces the table whole.
 */
Test(daemon, a_restart_replaces_the_table_in_place)
{
	static const char svc[] = "[service web]\nvip = 192.0.2.10\nport = 80\n"
				  "check = none\nbackend = 10.0.0.11:8080\n"
				  "backend = 10.0.0.12:8080\n";
	char conf[512], *first, *again, *log;
	struct kt_knlbd r;

	snprintf(conf, sizeof(conf), "[global]\n%stable_size = 1021\n", svc);
	kt_knlbd_start(&r, "in-place-1", conf);
	first = kt_nft_list("knlb");
	log = kt_read_file(r.log);
	cr_expect_null(strstr(log, "in place"), "no table ran yet:\n%s", log);
	free(log);
	kt_knlbd_stop(&r);	/* the table stays */

	kt_knlbd_start(&r, "in-place-2", conf);
	again = kt_nft_list("knlb");
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "programmed table inet knlb: ") &&
		  strstr(log, ", in place over the running table"), "%s", log);
	cr_expect_str_eq(again, first, "the same config listed otherwise after a restart");
	free(log);
	free(again);
	kt_knlbd_stop(&r);

	snprintf(conf, sizeof(conf), "[global]\n%stable_size = 509\n", svc);
	kt_knlbd_start(&r, "in-place-3", conf);
	again = kt_nft_list("knlb");
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "cannot replace it in place (") &&
		  strstr(log, "replacing it whole"), "%s", log);
	cr_expect_null(strstr(log, ", in place over the running table"), "%s", log);
	cr_expect(strstr(again, "size 509"), "%s", again);
	free(log);
	free(again);
	free(first);
	kt_knlbd_stop(&r);
}

Test(daemon, flush_on_exit_removes_only_our_table)
{
	char log[] = "/tmp/knlb-test-log-XXXXXX";
	int fd = mkstemp(log), status;
	pid_t pid;
	char *out;

	cr_assert_geq(fd, 0);
	close(fd);
	free(kt_run("nft add table inet foreign", &status));
	pid = start_knlbd("--flush-on-exit -c conf/knlb.conf", log);
	cr_assert(kt_wait_for_log(log, "programmed table inet knlb", 5000),
		  "%s", kt_read_file(log));
	stop_and_check(pid, "knlbd --flush-on-exit", 0);
	out = kt_run("nft list tables", &status);
	cr_expect_str_eq(out, "table inet foreign\n");
	unlink(log);
	free(out);
}

/* A config with N backends and M slots, written to a temp file. */
static char *write_big_config(unsigned n, unsigned m)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/knlb-big-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fprintf(f, "[global]\ntable = big\n[service big]\nvip = 192.0.2.99\nport = 80\n"
		   "table_size = %u\n", m);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "backend = 10.%u.%u.%u:8080 weight=%u\n",
			(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 1 + i % 4);
	fclose(f);
	return path;
}

Test(daemon, table_of_65537_slots_in_one_transaction)
{
	char *path = write_big_config(1000, 65537);
	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *sock;
	struct sync_result res;
	uint32_t gen;
	char err[512], *listed, *rendered;
	double t0;
	int ret;

	cr_assert_eq(config_load(path, &config, stderr), 0);
	unlink(path);
	t0 = now_ms();
	cr_assert_eq(pool_create(config, &pool), 0);
	cr_log_info("M=65537 N=1000: slot table computed in %.2f ms", now_ms() - t0);
	cr_assert_eq(nfnl_sock_open(&sock), 0);
	gen = kt_nft_genid();
	ret = sync_replace(sock, pool, &res, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s", err);
	cr_expect_eq(kt_nft_genid(), gen + 1);
	cr_expect_eq(res.elements, 65537);
	cr_log_info("M=65537 N=1000: %zu elements, %zu messages, %zu bytes, programmed in %.1f ms",
		    res.elements, res.messages, res.bytes, res.elapsed_ms);
	listed = kt_normalize_free(kt_nft_list("big"));
	rendered = kt_normalize_free(kt_render(pool));
	if (strcmp(listed, rendered) != 0) {
		FILE *a = fopen("/tmp/knlb-big-listed.nft", "w"), *b = fopen("/tmp/knlb-big-rendered.nft", "w");

		fputs(listed, a);
		fputs(rendered, b);
		fclose(a);
		fclose(b);
		cr_expect_fail("65537-slot table differs from render: see /tmp/knlb-big-{listed,rendered}.nft");
	}
	free(listed);
	free(rendered);
	nfnl_sock_close(sock);
	pool_free(pool);
	config_free(config);
}

/* Start, program, SIGTERM under valgrind: no error, nothing leaked. */
Test(daemon, shutdown_is_valgrind_clean, .timeout = 120)
{
	char log[] = "/tmp/knlb-test-vg-XXXXXX", args[1024], sock[64];
	int fd = mkstemp(log), status;
	char *out;
	pid_t pid;

	cr_assert_geq(fd, 0);
	close(fd);
	free(kt_run("command -v valgrind", &status));
	if (status != 0)
		cr_skip_test("valgrind not installed (make deps installs it)");
	if (strstr(kt_knlbd(), "build-san"))
		cr_skip_test("valgrind and AddressSanitizer do not mix");
	snprintf(args, sizeof(args),
		 "--leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all "
		 "--error-exitcode=99 %s -c conf/knlb.conf", kt_knlbd());
	pid = start_knlbd_with("valgrind", args, log, sock, sizeof(sock));
	cr_assert(kt_wait_for_log(log, "control socket", 60000),
		  "knlbd under valgrind did not start:\n%s", kt_read_file(log));
	/* every path that allocates: control requests, a reload, a drain */
	free(kt_ctl(sock, "status --json"));
	free(kt_ctl(sock, "drain web 10.0.0.12:8080"));
	free(kt_ctl(sock, "flows web"));
	free(kt_ctl(sock, "render"));
	out = kt_ctl(sock, "reload");
	cr_expect(out && strstr(out, "reloaded"), "%s", out);
	free(out);
	kill(pid, SIGHUP);
	cr_expect(kt_wait_for_log(log, "received SIGHUP", 30000));
	for (int i = 0; i < 300 && kt_count_in_log(log, "reloaded conf/knlb.conf") < 2; i++)
		usleep(100000);
	cr_expect_eq(kt_count_in_log(log, "reloaded conf/knlb.conf"), 2, "%s", kt_read_file(log));
	stop_and_check(pid, "valgrind knlbd", 0);
	out = kt_read_file(log);
	cr_expect(strstr(out, "ERROR SUMMARY: 0 errors") != NULL, "%s", out);
	cr_expect(strstr(out, "All heap blocks were freed") != NULL, "%s", out);
	unlink(log);
	free(out);
}

/* Without CAP_NET_ADMIN: a clear reason, exit 3, nothing programmed. */
Test(daemon, missing_cap_net_admin_is_explained)
{
	char cmd[1024], src[512], *out, *listed;
	int status;

	free(kt_run("command -v setpriv", &status));
	if (status != 0)
		cr_skip_test("setpriv (util-linux) not installed");
	snprintf(cmd, sizeof(cmd),
		 "cd %s && setpriv --bounding-set=-net_admin --inh-caps=-net_admin "
		 "%s -c conf/knlb.conf 2>&1", kt_src_path("", src, sizeof(src)), kt_knlbd());
	out = kt_run(cmd, &status);
	cr_expect_eq(WEXITSTATUS(status), 3, "exit %d: %s", WEXITSTATUS(status), out);
	cr_expect(strstr(out, "knlbd needs CAP_NET_ADMIN") != NULL, "%s", out);
	cr_expect(strstr(out, "kernel state unchanged") != NULL, "%s", out);
	listed = kt_run("nft list ruleset", &status);
	cr_expect_str_eq(listed, "", "kernel touched without CAP_NET_ADMIN");
	free(listed);
	free(out);
}
