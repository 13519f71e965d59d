/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `flows` under hostile clients (issue 13, defect 3), end to end in a
 * throwaway netns: 50k conntrack entries of a service, 8 clients that send
 * `flows` and never read, and meanwhile `status` timed, knlbd's RSS
 * sampled and a health transition timed.  The figures go out as
 * "measure:" lines (--verbose shows them).
 *
 * Entries come from the lab's knlb-ctgen ($KNLB_CTGEN, else lab/knlb-ctgen
 * in $KNLBD's directory): entry i is 10.0.x.y:port -> 192.0.2.10:80,
 * reply source 10.0.0.11:8080, ct mark 1 (service web), ESTABLISHED.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"
#include "../common/loopback.h"

#define FLOWS		50000
#define HOGS		8
#define HC_PORT		18080
/* What the fix promises: see docs/control-protocol.md, "Limits". */
#define STATUS_MAX_MS	200.0
#define FAILOVER_MAX_MS	1000.0
#define RSS_GROWTH_MAX_KB (16 * 1024)

TestSuite(flows_abuse, .init = kt_enter_netns, .timeout = 150);

static long conntrack_count(void)
{
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_count", "r");
	long n = -1;

	if (f && fscanf(f, "%ld", &n) != 1)
		n = -1;
	if (f)
		fclose(f);
	return n;
}

/* FLOWS entries of mark 1 from knlb-ctgen, stopped once they are in. */
static void make_flows(void)
{
	char knlbd[512], ctgen[600], cmd[1024];
	double end;
	pid_t pid;

	snprintf(knlbd, sizeof(knlbd), "%s", kt_knlbd());
	if (getenv("KNLB_CTGEN"))
		snprintf(ctgen, sizeof(ctgen), "%s", getenv("KNLB_CTGEN"));
	else
		snprintf(ctgen, sizeof(ctgen), "%s/lab/knlb-ctgen", dirname(knlbd));
	if (access(ctgen, X_OK) == -1)
		cr_skip_test("%s not built (make all)", ctgen);
	snprintf(cmd, sizeof(cmd),
		 "%s --rate %d --duration-ms 1500 --vip 192.0.2.10:80 "
		 "--backend 10.0.0.11:8080 --mark 1 --lifetime-ms 600000 >/dev/null",
		 ctgen, FLOWS * 2);
	pid = kt_start_command(cmd, "/dev/null");
	end = now_ms() + 20000;
	/* It creates for 1.5 s, then deletes: stop it at FLOWS. */
	while (conntrack_count() < FLOWS && now_ms() < end)
		usleep(5 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_geq(conntrack_count(), FLOWS, "only %ld entries made", conntrack_count());
}

/* A child that accepts and closes on 127.0.0.1:HC_PORT: hc's backend. */
static pid_t start_backend(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(HC_PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(fd, 128), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlives the test */
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0)
				close(c);
		}
	}
	close(fd);
	return pid;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* `status` on the control socket, in ms; -1 when not answered (OK, or WARN: hc down). */
static double status_ms(const char *sock)
{
	double t0 = now_ms(), t;
	char *out = kt_ctl(sock, "status");

	t = out && (!strncmp(out, "OK\n", 3) || !strncmp(out, "WARN\n", 5)) ?
	    now_ms() - t0 : -1;
	free(out);
	return t;
}

static int ctl_connect(const char *sock)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static size_t count_in_log(const char *log, const char *needle)
{
	char *s = kt_read_file(log);
	size_t n = 0;

	for (const char *p = s; p && (p = strstr(p, needle)); p++)
		n++;
	free(s);
	return n;
}

/* The first bytes a hog's connection holds, without waiting. */
static void peek_reply(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
}

Test(flows_abuse, listings_hold_neither_the_loop_nor_the_memory)
{
	char dir[] = "/tmp/knlb-kt-flows-XXXXXX", conf[96], log[96], sock[96];
	char args[512], head[64], *reply;
	double base_status = 0, worst = 0, t0, failover = -1, flows_ms;
	long rss0, rss_peak = 0, rss;
	int hogs[HOGS], busy = 0, status;
	size_t flows_bytes;
	pid_t backend, pid;
	FILE *f;

	free(kt_run("ip link set lo up 2>&1", &status));
	cr_assert_eq(status, 0);
	/* First: it skips without knlb-ctgen, and must leave no directory. */
	make_flows();
	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/k.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "[global]\ntable = fa\n"
		"[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.11:8080\n"
		"[service hc]\nvip = 192.0.2.20\nport = 80\ncheck = tcp\ninterval = 100ms\n"
		"timeout = 100ms\nrise = 1\nfall = 1\nbackend = 127.0.0.1:%d\n", HC_PORT);
	fclose(f);
	backend = start_backend();
	snprintf(args, sizeof(args), "-c %s -s %s", conf, sock);
	pid = kt_start_knlbd(args, log);
	if (!kt_wait_for_log(log, "programmed table inet fa", 20000)) {
		kill(backend, SIGKILL);
		kt_stop_knlbd(pid);
		cr_assert_fail("knlbd did not start:\n%s", kt_read_file(log));
	}

	/* Before: status, RSS, and one listing read by a client that keeps up. */
	usleep(500 * 1000);		/* the initial dump is over */
	for (int i = 0; i < 5; i++) {
		double t = status_ms(sock);

		base_status = t > base_status ? t : base_status;
	}
	t0 = now_ms();
	reply = kt_ctl(sock, "flows");
	flows_ms = now_ms() - t0;
	flows_bytes = reply ? strlen(reply) : 0;
	cr_expect(reply && !strncmp(reply, "OK\nSERVICE", 10) && strstr(reply, " flows\n"),
		  "a whole listing");
	free(reply);
	rss0 = rss_kb(pid);
	cr_log_info("measure: before: status worst of 5 %.1f ms, flows (%d entries) %.1f ms "
		    "and %zu bytes, RSS %ld kB", base_status, FLOWS, flows_ms, flows_bytes, rss0);

	/*
	 * The abuse: HOGS listings nobody reads, in two waves.  During the
	 * first, hc's backend dies: how long until knlbd says so?  During
	 * the second, status is timed.
	 */
	for (int i = 0; i < HOGS / 2; i++) {
		hogs[i] = ctl_connect(sock);
		cr_expect(hogs[i] >= 0 && write(hogs[i], "flows\n", 6) == 6, "hog %d", i);
	}
	usleep(20 * 1000);
	kill(backend, SIGKILL);
	waitpid(backend, NULL, 0);
	t0 = now_ms();
	while (now_ms() - t0 < 15000) {
		if (count_in_log(log, "hc/127.0.0.1:18080 DOWN")) {
			failover = now_ms() - t0;
			break;
		}
		usleep(5 * 1000);
	}
	rss = rss_kb(pid);
	rss_peak = rss > rss_peak ? rss : rss_peak;
	for (int i = HOGS / 2; i < HOGS; i++) {
		hogs[i] = ctl_connect(sock);
		cr_expect(hogs[i] >= 0 && write(hogs[i], "flows\n", 6) == 6, "hog %d", i);
	}
	usleep(20 * 1000);
	for (int i = 0; i < 10; i++) {
		double t = status_ms(sock);

		worst = t < 0 || worst < 0 ? -1 : t > worst ? t : worst;
		rss = rss_kb(pid);
		rss_peak = rss > rss_peak ? rss : rss_peak;
		usleep(100 * 1000);
	}
	rss = rss_kb(pid);
	rss_peak = rss > rss_peak ? rss : rss_peak;
	for (int i = 0; i < HOGS; i++) {
		peek_reply(hogs[i], head, sizeof(head));
		busy += !strncmp(head, "ERROR\nbusy: ", 12);
	}
	cr_log_info("measure: %d clients sending flows, not reading: status worst of 10 %.1f ms, "
		    "health DOWN logged %.1f ms after the backend died, RSS peak %ld kB "
		    "(+%ld kB), %d told busy", HOGS, worst, failover, rss_peak,
		    rss_peak - rss0, busy);
	cr_expect(worst >= 0 && worst < STATUS_MAX_MS,
		  "status took %.1f ms (-1: failed) under %d listings", worst, HOGS);
	cr_expect(failover >= 0 && failover < FAILOVER_MAX_MS,
		  "health transition took %.1f ms (-1: never)", failover);
	cr_expect_lt(rss_peak - rss0, RSS_GROWTH_MAX_KB, "RSS grew from %ld to %ld kB",
		     rss0, rss_peak);
	cr_expect_eq(busy, HOGS - 2, "2 listings run, the others are told busy");
	for (int i = 0; i < HOGS; i++)
		if (hogs[i] >= 0)
			close(hogs[i]);

	/* After: a reader still gets the whole listing. */
	reply = kt_ctl(sock, "flows");
	cr_expect(reply && strlen(reply) == flows_bytes, "the listing after the abuse");
	free(reply);
	reply = kt_ctl(sock, "flows --json");
	cr_expect(reply && !strncmp(reply, "OK\n[{", 5) &&
		  !strcmp(reply + strlen(reply) - 3, "}]\n"), "flows --json is one array");
	free(reply);
	cr_expect_eq(kt_stop_knlbd(pid), 0);
	unlink(conf);
	unlink(log);
	unlink(sock);
	rmdir(dir);
}
