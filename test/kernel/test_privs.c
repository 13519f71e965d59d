/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd after setup: CAP_NET_ADMIN and nothing else, as the kernel reports
 * it in /proc/PID/status, running as `user` when one is configured, and
 * still able to change the kernel map afterwards.  knlbd tells us it is
 * past the drop with sd_notify READY=1 on an abstract socket (no file
 * permissions for the unprivileged daemon to trip on).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(privs, .init = kt_enter_netns, .timeout = 60);

#define NET_ADMIN_ONLY "0000000000001000"	/* bit 12 */

struct rig {
	char conf[64], log[64], sock[64];
	int notify_fd;
	pid_t pid;
};

static const char *knlbd(void)
{
	const char *p = getenv("KNLBD");

	return p ? p : "build/knlbd";
}

/* An abstract datagram socket, named in NOTIFY_SOCKET for knlbd to inherit. */
static int notify_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	char name[64];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_neq(fd, -1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	snprintf(name, sizeof(name), "@knlb-kt-privs-%d", (int)getpid());
	memcpy(sun.sun_path, name, strlen(name));
	sun.sun_path[0] = '\0';
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name))),
		     0, "bind %s: %s", name, strerror(errno));
	cr_assert_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	return fd;
}

/* The next notification; fails the test when none comes within 10 s. */
static void expect_notify(struct rig *g, const char *prefix)
{
	char buf[1024];
	ssize_t n = recv(g->notify_fd, buf, sizeof(buf) - 1, 0);

	cr_assert_geq(n, 0, "no sd_notify \"%s\" from knlbd (%s); log:\n%s", prefix,
		      strerror(errno), kt_read_file(g->log));
	buf[n] = '\0';
	cr_assert_eq(strncmp(buf, prefix, strlen(prefix)), 0, "got \"%s\", want \"%s...\"",
		     buf, prefix);
}

static void rig_start(struct rig *g, const char *config_text)
{
	int fd;

	snprintf(g->conf, sizeof(g->conf), "/tmp/knlb-privs-XXXXXX");
	fd = mkstemp(g->conf);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, config_text, strlen(config_text)), (ssize_t)strlen(config_text));
	/* The documented requirement: `user` can read the configuration. */
	cr_assert_eq(fchmod(fd, 0644), 0);
	close(fd);
	snprintf(g->log, sizeof(g->log), "/tmp/knlb-privs-log-XXXXXX");
	fd = mkstemp(g->log);
	cr_assert_geq(fd, 0);
	close(fd);
	g->notify_fd = notify_listen();
	/* A control socket of its own: tests may run beside a real knlbd. */
	snprintf(g->sock, sizeof(g->sock), "/tmp/knlb-kt-privs-%d.sock", (int)getpid());

	g->pid = fork();
	cr_assert_geq(g->pid, 0);
	if (g->pid == 0) {
		char cmd[512], src[512];

		snprintf(cmd, sizeof(cmd), "exec %s -c %s -s %s 2>%s", knlbd(), g->conf,
			 g->sock, g->log);
		if (chdir(kt_src_path("", src, sizeof(src))) == -1)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	expect_notify(g, "READY=1\nSTATUS=");
}

/* SIGTERM, STOPPING=1, exit 0; removes the files. */
static void rig_stop(struct rig *g)
{
	int status;

	cr_assert_eq(kill(g->pid, SIGTERM), 0);
	expect_notify(g, "STOPPING=1");
	cr_assert_eq(waitpid(g->pid, &status, 0), g->pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "knlbd status 0x%x:\n%s",
		  status, kt_read_file(g->log));
	close(g->notify_fd);
	cr_expect_eq(access(g->sock, F_OK), -1, "knlbd left its control socket %s", g->sock);
	unlink(g->conf);
	unlink(g->log);
}

static void expect_field(pid_t pid, const char *field, const char *want)
{
	char *got = kt_status_field(pid, field);

	cr_expect_str_eq(got, want, "/proc/%d/status %s", (int)pid, field);
	free(got);
}

static void expect_only_net_admin(pid_t pid)
{
	expect_field(pid, "CapEff", NET_ADMIN_ONLY);
	expect_field(pid, "CapPrm", NET_ADMIN_ONLY);
	expect_field(pid, "CapBnd", NET_ADMIN_ONLY);
	expect_field(pid, "CapInh", "0000000000000000");
	expect_field(pid, "CapAmb", "0000000000000000");
	expect_field(pid, "NoNewPrivs", "1");
}

static bool map_has(const char *map, const char *needle)
{
	char cmd[128];
	int status;
	char *out;
	bool found;

	snprintf(cmd, sizeof(cmd), "nft list map inet privs %s 2>&1", map);
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s:\n%s", cmd, out);
	found = strstr(out, needle) != NULL;
	free(out);
	return found;
}

Test(privs, user_nobody_keeps_only_net_admin_and_still_updates_the_map)
{
	struct passwd *pw = getpwnam("nobody");
	char config[1024], uid[64], alive[64], dead[64], *log, *reply;
	struct stat st;
	uint16_t alive_port, dead_port;
	int listen_fd, status;
	struct rig g;
	bool gone = false;

	cr_assert_not_null(pw, "no user nobody on this machine");
	free(kt_run("ip link set lo up", &status));
	cr_assert_eq(status, 0);
	listen_fd = kt_loopback_port(true, &alive_port);
	kt_loopback_port(false, &dead_port);
	snprintf(config, sizeof(config),
		 "[global]\nuser = nobody\ntable = privs\n"
		 "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 31\n"
		 "check = tcp\ninterval = 100ms\ntimeout = 50ms\nrise = 1\nfall = 1\n"
		 "backend = 127.0.0.1:%u id=alive\nbackend = 127.0.0.1:%u id=dead\n"
		 /* libcurl and a UDP socket as nobody: no CAP_NET_RAW needed */
		 "[service api]\nvip = 192.0.2.11\nport = 80\ntable_size = 31\n"
		 "check = http\ninterval = 100ms\ntimeout = 50ms\nrise = 1\nfall = 1\n"
		 "backend = 127.0.0.1:%u id=h\n"
		 "[service dns]\nvip = 192.0.2.53\nport = 53\nproto = udp\ntable_size = 31\n"
		 "check = udp\ninterval = 100ms\ntimeout = 50ms\nrise = 1\nfall = 1\n"
		 "backend = 127.0.0.1:%u id=u\n",
		 alive_port, dead_port, dead_port, dead_port);
	snprintf(alive, sizeof(alive), "127.0.0.1 . %u", alive_port);
	snprintf(dead, sizeof(dead), "127.0.0.1 . %u", dead_port);

	rig_start(&g, config);
	snprintf(uid, sizeof(uid), "%u\t%u\t%u\t%u", pw->pw_uid, pw->pw_uid,
		 pw->pw_uid, pw->pw_uid);
	expect_field(g.pid, "Uid", uid);
	expect_only_net_admin(g.pid);
	/* The control socket was handed over, and is served after the drop. */
	cr_assert_eq(stat(g.sock, &st), 0, "%s: %s", g.sock, strerror(errno));
	cr_expect_eq(st.st_uid, pw->pw_uid, "control socket owned by uid %u", st.st_uid);
	reply = kt_ctl(g.sock, "status");
	/* OK, or WARN once the dead backend is seen down: either way, served. */
	cr_expect(reply && (strncmp(reply, "OK\n", 3) == 0 || strncmp(reply, "WARN\n", 5) == 0) &&
		  strstr(reply, "table inet privs"), "knlbctl status as user nobody: %s", reply);
	free(reply);

	/* Backends start up: the dead one leaves the map only through an update. */
	for (int i = 0; i < 100 && !gone; i++) {
		gone = !map_has("web_slots", dead);
		if (!gone)
			usleep(50000);
	}
	/* http (libcurl) and udp probes ran too, and got the kernel's answer. */
	cr_expect(kt_wait_for_log(g.log, "api/h DOWN: connect refused", 5000), "no http verdict");
	cr_expect(kt_wait_for_log(g.log, "dns/u DOWN: port unreachable", 5000), "no udp verdict");
	log = kt_read_file(g.log);
	cr_expect(gone, "dead backend still in web_slots 5 s after start; log:\n%s", log);
	cr_expect(map_has("web_slots", alive), "live backend left web_slots");
	cr_expect(strstr(log, "web/dead DOWN: ") != NULL, "no DOWN line:\n%s", log);
	cr_expect(strstr(log, "could not run") == NULL, "a probe failed on our side:\n%s", log);
	cr_expect(strstr(log, "error") == NULL, "errors after the drop:\n%s", log);
	/* Issue 13: a shared account is allowed, and said to be one. */
	cr_expect(strstr(log, "warning: user nobody: \"nobody\" (uid 65534) is the account of every unprivileged service: every process running as it can drive knlbd"),
		  "no shared-account warning:\n%s", log);
	free(log);

	/* As nobody, a reload still reads the (world-readable) file. */
	cr_assert_eq(kill(g.pid, SIGHUP), 0);
	expect_notify(&g, "RELOADING=1");
	expect_notify(&g, "READY=1");
	log = kt_read_file(g.log);
	cr_expect(strstr(log, "reloaded /tmp/knlb-privs-") != NULL, "reload as nobody:\n%s", log);
	free(log);
	rig_stop(&g);
	close(listen_fd);
}

/* Keys may follow the backend lines: [global] is the last section. */
#define ROOT_CONF "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 31\n" \
		  "backend = 10.0.0.11:8080\n[global]\ntable = privs\n"

Test(privs, root_without_user_keeps_only_net_admin_and_reloads)
{
	struct rig g;
	FILE *cfg;
	char *log;
	int said = 0;

	rig_start(&g, ROOT_CONF);
	expect_field(g.pid, "Uid", "0\t0\t0\t0");
	expect_only_net_admin(g.pid);
	/*
	 * A reload is announced to the service manager, and its end too.  A
	 * new user = cannot be honoured without a restart: said once, and
	 * knlbd stays what it was.
	 */
	cfg = fopen(g.conf, "w");
	cr_assert_not_null(cfg);
	fputs(ROOT_CONF "user = nobody\n", cfg);
	fclose(cfg);
	cr_assert_eq(kill(g.pid, SIGHUP), 0);
	expect_notify(&g, "RELOADING=1");
	expect_notify(&g, "READY=1");
	log = kt_read_file(g.log);
	cr_expect(strstr(log, "user changed: still running as root until knlbd restarts") != NULL,
		  "%s", log);
	for (const char *p = log; (p = strstr(p, "user changed")); p++)
		said++;
	cr_expect_eq(said, 1, "\"user changed\" said %d times:\n%s", said, log);
	free(log);
	expect_field(g.pid, "Uid", "0\t0\t0\t0");
	rig_stop(&g);
}

/*
 * user = nobody, but started without CAP_SETUID/CAP_SETGID (setpriv takes
 * them out of the bounding set, so the root knlbd never holds them): knlbd
 * says why, exits 3, and never reports READY.
 */
Test(privs, user_without_setuid_exits_3_with_the_reason)
{
	char conf[] = "/tmp/knlb-privs-XXXXXX", cmd[512], *out;
	const char *text = "[global]\nuser = nobody\ntable = privs\n[service web]\n"
			   "vip = 192.0.2.10\nport = 80\ntable_size = 31\nbackend = 10.0.0.11:8080\n";
	int fd = mkstemp(conf), status, notify_fd;
	char buf[64];

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	notify_fd = notify_listen();
	snprintf(cmd, sizeof(cmd),
		 "setpriv --bounding-set -setuid,-setgid %s -c %s -s /tmp/knlb-kt-privs-%d.sock 2>&1",
		 knlbd(), conf, (int)getpid());
	out = kt_run(cmd, &status);
	unlink(conf);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status 0x%x:\n%s", status, out);
	cr_expect(strstr(out, "error: dropping privileges: user = nobody needs knlbd started as root (CAP_SETUID and CAP_SETGID)") != NULL,
		  "%s", out);
	cr_expect_eq(recv(notify_fd, buf, sizeof(buf), MSG_DONTWAIT), -1, "READY sent after a failed drop");
	close(notify_fd);
	free(out);
}
