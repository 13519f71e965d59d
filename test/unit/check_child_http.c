/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The forked HTTP backend of the check tests; see check-test.h. */
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "check-test.h"

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
