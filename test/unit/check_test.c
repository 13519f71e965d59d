/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the check tests that run a checker of their own share; see check-test.h. */
#include <netinet/in.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "check-test.h"

void check_outcome_done(const struct check_result *res, void *arg)
{
	struct check_outcome *o = arg;

	o->calls++;
	o->res = *res;
	if (--*o->pending == 0)
		loop_stop(o->loop);
}

static void on_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	*(bool *)arg = true;
	loop_stop(loop);
}

void check_loop_run(struct loop *loop, uint64_t limit_ms)
{
	struct loop_timer guard;
	bool fired = false;

	loop_timer_init(&guard, on_guard, &fired);
	cr_assert_eq(loop_timer_arm(loop, &guard, limit_ms * 1000000ULL), 0);
	cr_assert_eq(loop_run(loop), 0);
	loop_timer_cancel(loop, &guard);
	cr_assert(!fired, "no result in %llu ms", (unsigned long long)limit_ms);
}

struct check_spec check_test_spec(enum check_kind kind, uint64_t timeout_ms)
{
	struct check_spec spec = { .kind = kind, .timeout_ns = timeout_ms * 1000000ULL };

	strcpy(spec.path, "/");
	spec.expect_status[(200 - CHECK_STATUS_MIN) / 8] |=
		(uint8_t)(1u << ((200 - CHECK_STATUS_MIN) % 8));
	return spec;
}

struct knlb_addr check_test_loopback(void)
{
	return (struct knlb_addr){ .family = AF_INET,
				   .in.s_addr = htonl(INADDR_LOOPBACK) };
}

static void serve(int lfd)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	for (;;) {
		char buf[2048];
		int fd = accept(lfd, NULL, NULL);

		if (fd == -1)
			continue;
		if (recv(fd, buf, sizeof(buf), 0) > 0)
			(void)!write(fd, ok, sizeof(ok) - 1);
		close(fd);
	}
}

uint16_t child_http_start(pid_t *pid)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_neq(lfd, -1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(lfd, 64), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	*pid = fork();
	cr_assert_neq(*pid, -1);
	if (*pid == 0)
		serve(lfd);
	close(lfd);
	return ntohs(sin.sin_port);
}

void child_http_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}
