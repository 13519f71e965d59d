/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd with metrics_listen, as an operator scrapes it: curl against
 * 127.0.0.1 inside the test's own network namespace, health checks
 * against listeners the test opens there, and a port already taken.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

static void lo_up(void)
{
	int status;

	free(kt_run("ip link set lo up 2>&1", &status));
	cr_assert_eq(status, 0, "ip link set lo up");
}

TestSuite(metrics_daemon, .init = kt_enter_netns, .timeout = 60);

/* A TCP listener on 127.0.0.1 (port 0: any); its port in *port. */
static int listener(uint16_t want, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(want),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "bind %u", want);
	cr_assert_eq(listen(fd, 64), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Write text to a fresh file; path is a mkstemps() template (XXXXXX.conf). */
static void write_conf(char *path, const char *text)
{
	int fd = mkstemps(path, 5);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Its own control socket (CONF.sock): another knlbd may run on this host. */
static pid_t start_knlbd(const char *conf, const char *logpath)
{
	char args[512];

	snprintf(args, sizeof(args), "-c %s -s %s.sock", conf, conf);
	return kt_start_knlbd(args, logpath);
}

static void stop_knlbd(pid_t pid)
{
	int status;

	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "knlbd status 0x%x", status);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *s = text; (s = strstr(s, line)); s++)
		if ((s == text || s[-1] == '\n') && s[n] == '\n')
			return true;
	return false;
}

Test(metrics_daemon, curl_shows_health_and_map_updates)
{
	char conf[] = "/tmp/knlb-metrics-XXXXXX.conf", log[] = "/tmp/knlb-metrics-log-XXXXXX";
	char text[1024], line[256], *out, *diag;
	uint16_t p1, p2, p3;
	int l1, l2, l3, status, fd;
	pid_t pid;

	lo_up();
	l1 = listener(0, &p1);
	l2 = listener(0, &p2);
	l3 = listener(0, &p3);
	close(l3);		/* p3: nobody listens, its check fails */
	snprintf(text, sizeof(text),
		 "[global]\ntable = mt\nmetrics_listen = 127.0.0.1:9410\n"
		 "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\n"
		 "interval = 200ms\ntimeout = 100ms\nrise = 1\nfall = 1\n"
		 "backend = 127.0.0.1:%u id=a\nbackend = 127.0.0.1:%u id=b\n"
		 "backend = 127.0.0.1:%u id=c\n", p1, p2, p3);
	write_conf(conf, text);
	fd = mkstemp(log);
	cr_assert_geq(fd, 0);
	close(fd);

	pid = start_knlbd(conf, log);
	cr_assert(kt_wait_for_log(log, "metrics: serving http://127.0.0.1:9410/metrics", 5000),
		  "%s", kt_read_file(log));
	/* c's failure is in the kernel once the delta is acknowledged. */
	cr_assert(kt_wait_for_log(log, "web/c DOWN", 5000), "%s", kt_read_file(log));
	cr_assert(kt_wait_for_log(log, "to the kernel's ack", 5000), "%s", kt_read_file(log));

	out = kt_run("curl -sS --max-time 5 http://127.0.0.1:9410/metrics 2>&1", &status);
	diag = kt_read_file(log);
	cr_assert_eq(status, 0, "curl: %s\nlog:\n%s", out, diag);
	snprintf(line, sizeof(line), "knlb_backend_up{service=\"web\",backend=\"a\",address=\"127.0.0.1:%u\"} 1", p1);
	cr_expect(has_line(out, line), "no \"%s\" in:\n%s", line, out);
	snprintf(line, sizeof(line), "knlb_backend_up{service=\"web\",backend=\"b\",address=\"127.0.0.1:%u\"} 1", p2);
	cr_expect(has_line(out, line), "no \"%s\" in:\n%s", line, out);
	snprintf(line, sizeof(line), "knlb_backend_up{service=\"web\",backend=\"c\",address=\"127.0.0.1:%u\"} 0", p3);
	cr_expect(has_line(out, line), "no \"%s\" in:\n%s", line, out);
	cr_expect(has_line(out, "knlb_service_usable_backends{service=\"web\"} 2"), "%s", out);
	cr_expect(has_line(out, "# TYPE knlb_map_updates_total counter"), "%s", out);
	/* c going down was one delta; a flapping probe could add more. */
	cr_expect_geq(kt_metric_sample(out, "knlb_map_updates_total"), 1, "%s", out);
	cr_expect_eq(kt_metric_sample(out, "knlb_map_update_errors_total"), 0, "%s", out);
	cr_expect(kt_metric_sample(out, "knlb_start_time_seconds") > 1700000000LL, "%s", out);
	cr_expect_eq(kt_metric_sample(out, "knlb_reloads_total"), 0, "%s", out);
	free(out);

	/* a reload and a drain through the control socket show up */
	snprintf(line, sizeof(line), "%s.sock", conf);
	free(kt_ctl(line, "reload"));
	free(kt_ctl(line, "drain web a"));
	out = kt_run("curl -sS --max-time 5 http://127.0.0.1:9410/metrics 2>&1", &status);
	cr_expect_eq(kt_metric_sample(out, "knlb_reloads_total"), 1, "%s", out);
	cr_expect_geq(kt_metric_sample(out, "knlb_control_requests_total"), 2, "%s", out);
	snprintf(line, sizeof(line),
		 "knlb_backend_admin_state{service=\"web\",backend=\"a\",address=\"127.0.0.1:%u\",state=\"drain\"} 1", p1);
	cr_expect(has_line(out, line), "no \"%s\" in:\n%s", line, out);
	free(out);

	out = kt_run("curl -s -o /dev/null -w '%{http_code} %{content_type}' --max-time 5 "
		     "http://127.0.0.1:9410/metrics", &status);
	cr_expect_str_eq(out, "200 text/plain; version=0.0.4; charset=utf-8");
	free(out);
	out = kt_run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 "
		     "http://127.0.0.1:9410/", &status);
	cr_expect_str_eq(out, "404");
	free(out);
	out = kt_run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X DELETE "
		     "http://127.0.0.1:9410/metrics", &status);
	cr_expect_str_eq(out, "405");
	free(out);

	stop_knlbd(pid);
	close(l1);
	close(l2);
	unlink(conf);
	unlink(log);
	free(diag);
}

/* A second knlbd on the same metrics port: exit 1, its table never made. */
Test(metrics_daemon, port_taken_by_another_knlbd)
{
	char conf_a[] = "/tmp/knlb-metrics-a-XXXXXX.conf";
	char conf_b[] = "/tmp/knlb-metrics-b-XXXXXX.conf";
	char log[] = "/tmp/knlb-metrics-log-XXXXXX", cmd[1024], *out;
	int fd = mkstemp(log), status;
	pid_t pid;

	cr_assert_geq(fd, 0);
	close(fd);
	lo_up();
	write_conf(conf_a, "[global]\ntable = a\nmetrics_listen = 127.0.0.1:9410\n"
			   "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.1:80\n");
	write_conf(conf_b, "[global]\ntable = b\nmetrics_listen = 127.0.0.1:9410\n"
			   "[service web]\nvip = 192.0.2.20\nport = 80\nbackend = 10.0.0.1:80\n");
	pid = start_knlbd(conf_a, log);
	cr_assert(kt_wait_for_log(log, "programmed table inet a", 5000), "%s", kt_read_file(log));

	snprintf(cmd, sizeof(cmd), "%s -c %s -s %s.sock 2>&1", kt_knlbd(), conf_b, conf_b);
	out = kt_run(cmd, &status);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit 0x%x: %s", status, out);
	cr_expect(strstr(out, "metrics_listen 127.0.0.1:9410: Address already in use; nothing changed") != NULL,
		  "%s", out);
	free(out);
	/* the first one's tables only (a.probes: its tcp probes', which may
	 * or may not be there yet) */
	out = kt_run("nft list tables", &status);
	cr_expect(!strstr(out, "table inet b"), "the second knlbd touched the kernel:\n%s", out);
	cr_expect(strstr(out, "table inet a\n") != NULL, "%s", out);
	free(out);
	/* and the first one still answers */
	out = kt_run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 "
		     "http://127.0.0.1:9410/metrics", &status);
	cr_expect_str_eq(out, "200");
	free(out);

	stop_knlbd(pid);
	unlink(conf_a);
	unlink(conf_b);
	unlink(log);
}

/* An address this host does not have: exit 1 naming it, kernel untouched. */
Test(metrics_daemon, address_not_local)
{
	char conf[] = "/tmp/knlb-metrics-XXXXXX.conf", cmd[1024], *out;
	int status;

	lo_up();
	write_conf(conf, "[global]\nmetrics_listen = 192.0.2.1:9410\n"
			 "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.1:80\n");
	snprintf(cmd, sizeof(cmd), "%s -c %s -s %s.sock 2>&1", kt_knlbd(), conf, conf);
	out = kt_run(cmd, &status);
	unlink(conf);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit 0x%x: %s", status, out);
	cr_expect(strstr(out, "metrics_listen 192.0.2.1:9410: Cannot assign requested address") != NULL,
		  "%s", out);
	free(out);
	out = kt_run("nft list ruleset", &status);
	cr_expect_str_eq(out, "", "kernel touched");
	free(out);
}

/* Scraped, then stopped, under valgrind: no error, nothing leaked. */
Test(metrics_daemon, scrape_and_stop_are_valgrind_clean, .timeout = 120)
{
	char conf[] = "/tmp/knlb-metrics-XXXXXX.conf", log[] = "/tmp/knlb-metrics-vg-XXXXXX";
	char cmd[1024], *out;
	int fd = mkstemp(log), status;
	pid_t pid;

	cr_assert_geq(fd, 0);
	close(fd);
	free(kt_run("command -v valgrind", &status));
	if (status != 0)
		cr_skip_test("valgrind not installed (make deps installs it)");
	if (strstr(kt_knlbd(), "build-san"))
		cr_skip_test("valgrind and AddressSanitizer do not mix");
	lo_up();
	write_conf(conf, "[global]\ntable = vg\nmetrics_listen = 127.0.0.1:9410\n"
			 "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\n"
			 "interval = 200ms\ntimeout = 100ms\nbackend = 127.0.0.1:1\n");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		snprintf(cmd, sizeof(cmd),
			 "exec valgrind --leak-check=full --show-leak-kinds=all "
			 "--errors-for-leak-kinds=all --error-exitcode=99 %s -c %s -s %s.sock 2>%s",
			 kt_knlbd(), conf, conf, log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	cr_assert(kt_wait_for_log(log, "metrics: serving", 60000), "%s", kt_read_file(log));
	cr_assert(kt_wait_for_log(log, "web/127.0.0.1:1 DOWN", 60000), "%s", kt_read_file(log));
	out = kt_run("curl -sS --max-time 20 http://127.0.0.1:9410/metrics 2>&1", &status);
	cr_expect(strstr(out, "knlb_backend_up{service=\"web\",backend=\"127.0.0.1:1\",address=\"127.0.0.1:1\"} 0\n") != NULL,
		  "%s", out);
	free(out);
	free(kt_run("curl -s --max-time 20 -X POST http://127.0.0.1:9410/x", &status));
	stop_knlbd(pid);
	out = kt_read_file(log);
	cr_expect(strstr(out, "ERROR SUMMARY: 0 errors") != NULL, "%s", out);
	cr_expect(strstr(out, "All heap blocks were freed") != NULL, "%s", out);
	free(out);
	unlink(conf);
	unlink(log);
}
