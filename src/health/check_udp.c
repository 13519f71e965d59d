/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UDP probe: send one datagram (possibly empty) on a connected socket and
 * wait for one reply.  Connecting the socket makes the kernel drop replies
 * from anyone else and turns an ICMP port unreachable into ECONNREFUSED
 * on the next recv(), which is how a closed port shows up quickly instead
 * of as a timeout.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "check-int.h"

static void udp_on_event(struct loop *loop, int fd, uint32_t events,
			 void *arg)
{
	struct check_probe *probe = arg;
	const struct check_spec *spec = &probe->spec;
	/* Only the reply's head is compared; the kernel drops the rest. */
	uint8_t buf[CHECK_TEXT_MAX];
	ssize_t n;

	(void)loop;
	(void)events;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		check_probe_fail_errno(probe, "recv", "port unreachable", NULL,
				       errno);
		return;
	}
	if ((size_t)n < spec->expect_reply_len ||
	    memcmp(buf, spec->expect_reply, spec->expect_reply_len) != 0) {
		check_probe_done(probe, CHECK_FAILED, "unexpected reply");
		return;
	}
	check_probe_done(probe, CHECK_OK, "reply");
}

static int udp_start(struct check_probe *probe)
{
	const struct check_spec *spec = &probe->spec;
	struct sockaddr_storage ss;
	socklen_t len = check_probe_sockaddr(probe, &ss);
	int err;

	if (spec->send_len > sizeof(spec->send) ||
	    spec->expect_reply_len > sizeof(spec->expect_reply))
		return -EINVAL;
	probe->fd = socket(ss.ss_family,
			   SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe->fd == -1)
		return -errno;
	if (connect(probe->fd, (struct sockaddr *)&ss, len) == -1) {
		err = errno;
		if (check_errno_is_local(err))
			return -err;
		check_probe_fail_errno(probe, "connect", "port unreachable",
				       NULL, err);
		return 0;
	}
	if (send(probe->fd, spec->send, spec->send_len, 0) == -1) {
		err = errno;
		if (check_errno_is_local(err))
			return -err;
		check_probe_fail_errno(probe, "send", "port unreachable",
				       NULL, err);
		return 0;
	}
	return check_probe_watch_fd(probe, EPOLLIN, udp_on_event);
}

static void udp_timeout(struct check_probe *probe)
{
	check_probe_done(probe, CHECK_FAILED, "no reply");
}

const struct check_ops check_udp_ops = {
	.start = udp_start,
	.timeout = udp_timeout,
	.stop = check_probe_close_fd,
};
