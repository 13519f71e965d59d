/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TCP probe: the backend is up when a non-blocking connect() completes
 * before the deadline.  The connection is then closed with a reset, as
 * HAProxy closes its layer-4 checks: a normal close (FIN) costs four more
 * packets and leaves a TIME_WAIT socket and a conntrack entry for two
 * minutes per probe, 600,000 of each with 10,000 backends at 2 s, which
 * is most of what the kernel spent on the checks and makes each new
 * connect search more ports (bench: knlbd at rest).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "check-int.h"

/* A failed connect: the kernel may give up before our own deadline. */
static void tcp_report_errno(struct check_probe *probe, int err)
{
	check_probe_fail_errno(probe, "connect", "connect refused",
			       "connect timeout", err);
}

static void tcp_on_event(struct loop *loop, int fd, uint32_t events,
			 void *arg)
{
	struct check_probe *probe = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	(void)loop;
	/* Writable without an error or a hang-up: connected, no syscall needed. */
	if ((events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP))) {
		check_probe_done(probe, CHECK_OK, "connected");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err) {
		tcp_report_errno(probe, err);
		return;
	}
	if (events & EPOLLOUT) {
		check_probe_done(probe, CHECK_OK, "connected");
		return;
	}
	/* A hang-up with no pending error: the peer closed during the handshake. */
	if (events & (EPOLLHUP | EPOLLERR))
		check_probe_done(probe, CHECK_FAILED, "connection closed");
}

static int tcp_start(struct check_probe *probe)
{
	struct sockaddr_storage ss;
	socklen_t len = check_probe_sockaddr(probe, &ss);
	int err;

	probe->fd = socket(ss.ss_family,
			   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe->fd == -1)
		return -errno;
	if (connect(probe->fd, (struct sockaddr *)&ss, len) == 0) {
		check_probe_done(probe, CHECK_OK, "connected");
		return 0;
	}
	err = errno;
	if (err != EINPROGRESS) {
		if (check_errno_is_local(err))
			return -err;
		tcp_report_errno(probe, err);
		return 0;
	}
	return check_probe_watch_fd(probe, EPOLLOUT, tcp_on_event);
}

/* Abortive close (SO_LINGER 0): a reset instead of a FIN, no TIME_WAIT. */
static void tcp_stop(struct check_probe *probe)
{
	static const struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };

	if (probe->fd >= 0)
		(void)setsockopt(probe->fd, SOL_SOCKET, SO_LINGER, &abort_close,
				 sizeof(abort_close));
	check_probe_close_fd(probe);
}

static void tcp_timeout(struct check_probe *probe)
{
	check_probe_done(probe, CHECK_FAILED, "connect timeout");
}

const struct check_ops check_tcp_ops = {
	.start = tcp_start,
	.timeout = tcp_timeout,
	.stop = tcp_stop,
};
