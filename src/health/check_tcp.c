/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TCP probe: the backend is up when a non-blocking connect() completes
 * before the deadline, that is when its SYN-ACK arrives.  Two things are
 * done as HAProxy does its layer-4 checks (bench: knlbd at rest):
 *
 * - The final ACK of the handshake is held back (TCP_QUICKACK off) and
 *   the socket closed with a reset (SO_LINGER 0) once connected: the
 *   backend's kernel drops the half-open connection and its application
 *   is never woken to accept and close one connection per probe.  With
 *   10,000 backends at 2 s that wakeup was thousands of context switches
 *   a second, each charged to us when the backend is local.
 * - No FIN: a normal close costs four more packets and leaves a TIME_WAIT
 *   socket and a conntrack entry for two minutes per probe, 600,000 of
 *   each with 10,000 backends at 2 s.
 *
 * A listening socket answers the SYN-ACK from its kernel whether or not
 * its application keeps up: a full handshake proves no more.
 *
 * Sockets are kept from one probe to the next (check_sock.c): a probe
 * that ends well costs setsockopt (TCP_QUICKACK, which the reset clears),
 * connect and the reset, three syscalls where socket, two setsockopt,
 * connect, two epoll_ctl and close were seven (bench: knlbd at rest).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "check-int.h"

/* Up; the socket may be kept (the probe is freed on return). */
static void tcp_connected(struct check_probe *probe)
{
	check_sock_reusable(probe);
	check_probe_done(probe, CHECK_OK, "connected");
}

/* A failed connect: the kernel may give up before our own deadline. */
static void tcp_report_errno(struct check_probe *probe, int err)
{
	check_probe_fail_errno(probe, "connect", "connect refused",
			       "connect timeout", err);
}

/* What the socket's events say (check_sock.c calls it for the kept socket). */
static void tcp_judge(struct check_probe *probe, uint32_t events)
{
	socklen_t len = sizeof(int);
	int err = 0;

	/* Writable without an error or a hang-up: connected, no syscall needed. */
	if ((events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP))) {
		tcp_connected(probe);
		return;
	}
	if (getsockopt(probe->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err) {
		tcp_report_errno(probe, err);
		return;
	}
	if (events & EPOLLOUT) {
		tcp_connected(probe);
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

	err = check_sock_take(probe, ss.ss_family);
	if (err < 0)
		return err;
	check_probe_delay_ack(probe->fd);
	if (connect(probe->fd, (struct sockaddr *)&ss, len) == 0) {
		tcp_connected(probe);
		return 0;
	}
	err = errno;
	if (err == EINPROGRESS)
		return 0;
	if (check_errno_is_local(err))
		return -err;
	tcp_report_errno(probe, err);
	return 0;
}

/*
 * The deadline came before we saw the connect complete.  A prober that
 * got the CPU late (a loaded host) may find the answer already there:
 * look once, so our lateness is not taken for the backend's failure.
 */
static void tcp_timeout(struct check_probe *probe)
{
	struct pollfd pfd = { .fd = probe->fd, .events = POLLOUT };

	if (probe->fd >= 0 && poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
		tcp_judge(probe, (pfd.revents & POLLOUT ? EPOLLOUT : 0) |
				 (pfd.revents & POLLERR ? EPOLLERR : 0) |
				 (pfd.revents & POLLHUP ? EPOLLHUP : 0));
		return;
	}
	check_probe_done(probe, CHECK_FAILED, "connect timeout");
}

const struct check_ops check_tcp_ops = {
	.start = tcp_start,
	.timeout = tcp_timeout,
	.stop = check_sock_release,
	.event = tcp_judge,
};
