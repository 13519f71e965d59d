/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_notify: the exact datagrams a service manager would read, on a path
 * socket and an abstract one; nothing at all without NOTIFY_SOCKET.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/lib/notify.h"

struct listener {
	int fd;
	char dir[64];		/* "" for an abstract socket */
	char path[128];
	char env[128];		/* what NOTIFY_SOCKET is set to */
};

static void listener_bind(struct listener *l, bool abstract)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	socklen_t len;

	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(l->fd, -1);
	cr_assert_eq(setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (abstract) {
		l->dir[0] = '\0';
		snprintf(l->env, sizeof(l->env), "@knlb-test-notify-%d-%ld",
			 (int)getpid(), random());
		memcpy(sun.sun_path, l->env, strlen(l->env));
		sun.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(l->env));
	} else {
		snprintf(l->dir, sizeof(l->dir), "/tmp/knlb-notify-XXXXXX");
		cr_assert_not_null(mkdtemp(l->dir));
		snprintf(l->path, sizeof(l->path), "%s/notify", l->dir);
		snprintf(l->env, sizeof(l->env), "%s", l->path);
		cr_assert_lt(strlen(l->path), sizeof(sun.sun_path));
		memcpy(sun.sun_path, l->path, strlen(l->path) + 1);
		len = sizeof(sun);
	}
	cr_assert_eq(bind(l->fd, (struct sockaddr *)&sun, len), 0, "bind: %s",
		     strerror(errno));
	cr_assert_eq(setenv("NOTIFY_SOCKET", l->env, 1), 0);
}

static void listener_close(struct listener *l)
{
	close(l->fd);
	if (l->dir[0]) {
		unlink(l->path);
		rmdir(l->dir);
	}
}

/* The next datagram, as a string; fails the test after 5 s without one. */
static void expect_datagram(struct listener *l, const char *want)
{
	char buf[2048];
	ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, 0);

	cr_assert_geq(n, 0, "no datagram (want \"%s\"): %s", want, strerror(errno));
	buf[n] = '\0';
	cr_expect_str_eq(buf, want);
}

static void expect_nothing(struct listener *l)
{
	char buf[64];

	cr_expect_eq(recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT), -1,
		     "a datagram was sent");
	cr_expect_eq(errno, EAGAIN);
}

static void lifecycle(bool abstract)
{
	struct listener l;

	listener_bind(&l, abstract);
	cr_expect_eq(notify_ready("serving: 3 services"), 0);
	expect_datagram(&l, "READY=1\nSTATUS=serving: 3 services");
	cr_expect_eq(notify_reloading(), 0);
	expect_datagram(&l, "RELOADING=1");
	cr_expect_eq(notify_ready(NULL), 0);
	expect_datagram(&l, "READY=1");
	cr_expect_eq(notify_status("%zu backends down", (size_t)2), 0);
	expect_datagram(&l, "STATUS=2 backends down");
	cr_expect_eq(notify_stopping(), 0);
	expect_datagram(&l, "STOPPING=1");
	expect_nothing(&l);
	listener_close(&l);
}

Test(notify, path_socket_gets_exact_payloads)
{
	lifecycle(false);
}

Test(notify, abstract_socket_gets_exact_payloads)
{
	lifecycle(true);
}

Test(notify, unset_is_a_silent_no_op)
{
	struct listener l;

	listener_bind(&l, false);
	cr_assert_eq(unsetenv("NOTIFY_SOCKET"), 0);
	cr_expect_eq(notify_ready("x"), 0);
	cr_expect_eq(notify_stopping(), 0);
	cr_expect_eq(notify_status("y"), 0);
	expect_nothing(&l);
	listener_close(&l);
}

/* A dead or bogus socket is reported (once) and never fatal. */
Test(notify, failure_is_returned_and_logged_once)
{
	char log[] = "/tmp/knlb-notify-log-XXXXXX", buf[4096];
	int fd = mkstemp(log), saved = dup(2);
	ssize_t n;
	FILE *f;
	int warnings = 0;

	cr_assert_geq(fd, 0);
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(fd, 2), 2);
	setenv("NOTIFY_SOCKET", "/nonexistent/knlb/notify", 1);
	cr_expect_eq(notify_ready("x"), -ENOENT);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	cr_expect_eq(notify_stopping(), -EINVAL);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	buf[n > 0 ? n : 0] = '\0';
	fclose(f);
	unlink(log);
	for (const char *s = buf; (s = strstr(s, "warning: sd_notify")); s++)
		warnings++;
	cr_expect_eq(warnings, 1, "want one warning, got:\n%s", buf);
	cr_expect(strstr(buf, "NOTIFY_SOCKET=/nonexistent/knlb/notify") != NULL, "%s", buf);
}
