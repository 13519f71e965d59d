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
 * Sockets are kept, not made per probe: connect(AF_UNSPEC) resets an
 * established connection as SO_LINGER 0 and close() did, and leaves the
 * socket ready to connect again, still registered with the loop.  A probe
 * that ends well costs setsockopt (TCP_QUICKACK, which the reset clears),
 * connect and the reset: three syscalls where socket, two setsockopt,
 * connect, two epoll_ctl and close were seven (bench: knlbd at rest).  A
 * socket whose probe failed is closed: an error it may still hold must
 * not reach the next probe.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check-int.h"

/* Idle sockets kept per family; more are closed when their probe ends. */
#define TCP_POOL_IDLE_MAX	1024

/* A probe socket, watched by the loop from its socket() to its close(). */
struct tcp_sock {
	struct tcp_pool *pool;
	int fd;
	struct check_probe *probe;	/* NULL: idle */
	bool connected;			/* its probe ended in a connection */
	struct tcp_sock *next_idle;
};

struct tcp_pool {
	struct checker *checker;
	int family;
	struct tcp_sock *idle;
	size_t n_idle;
};

static void tcp_on_event(struct loop *loop, int fd, uint32_t events,
			 void *arg);

static void tcp_sock_close(struct tcp_sock *ts)
{
	loop_del_fd(ts->pool->checker->loop, ts->fd);
	close(ts->fd);
	free(ts);
}

static struct tcp_pool *tcp_pool_of(struct checker *checker, int family)
{
	struct tcp_pool **slot = &checker->tcp_pools[family == AF_INET6];

	if (!*slot) {
		*slot = calloc(1, sizeof(**slot));
		if (!*slot)
			return NULL;
		(*slot)->checker = checker;
		(*slot)->family = family;
	}
	return *slot;
}

/*
 * An idle socket, or a new one watched for its whole life (edge-triggered
 * EPOLLOUT: each connect's completion is one edge).  0 or -errno.
 */
static int tcp_sock_take(struct checker *checker, int family,
			 struct tcp_sock **out)
{
	struct tcp_pool *pool = tcp_pool_of(checker, family);
	struct tcp_sock *ts;
	int err;

	if (!pool)
		return -ENOMEM;
	if (pool->idle) {
		ts = pool->idle;
		pool->idle = ts->next_idle;
		pool->n_idle--;
		*out = ts;
		return 0;
	}
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	ts->pool = pool;
	ts->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ts->fd == -1) {
		err = -errno;
		free(ts);
		return err;
	}
	err = loop_add_fd(checker->loop, ts->fd, EPOLLOUT | EPOLLET, tcp_on_event, ts);
	if (err < 0) {
		close(ts->fd);
		free(ts);
		return err;
	}
	*out = ts;
	return 0;
}

/*
 * The probe is over: reset whatever connection the socket has (an RST
 * when established, nothing in SYN-SENT) and keep it for the next probe
 * if that probe ended well, or close it.
 */
static void tcp_stop(struct check_probe *probe)
{
	static const struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	struct tcp_sock *ts = probe->tcp;
	struct tcp_pool *pool;

	if (!ts)
		return;
	probe->tcp = NULL;
	probe->fd = -1;
	ts->probe = NULL;
	pool = ts->pool;
	if (connect(ts->fd, &unspec, sizeof(unspec)) == 0 && ts->connected &&
	    pool->n_idle < TCP_POOL_IDLE_MAX) {
		ts->connected = false;
		ts->next_idle = pool->idle;
		pool->idle = ts;
		pool->n_idle++;
		return;
	}
	tcp_sock_close(ts);
}

void check_tcp_cleanup(struct checker *checker)
{
	for (size_t i = 0; i < 2; i++) {
		struct tcp_pool *pool = checker->tcp_pools[i];

		if (!pool)
			continue;
		while (pool->idle) {
			struct tcp_sock *ts = pool->idle;

			pool->idle = ts->next_idle;
			tcp_sock_close(ts);
		}
		free(pool);
		checker->tcp_pools[i] = NULL;
	}
}

/* Up; the socket may be kept (the probe is freed on return). */
static void tcp_connected(struct check_probe *probe)
{
	probe->tcp->connected = true;
	check_probe_done(probe, CHECK_OK, "connected");
}

/* A failed connect: the kernel may give up before our own deadline. */
static void tcp_report_errno(struct check_probe *probe, int err)
{
	check_probe_fail_errno(probe, "connect", "connect refused",
			       "connect timeout", err);
}

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

/* Events of an idle socket (its reset, its close) are nobody's. */
static void tcp_on_event(struct loop *loop, int fd, uint32_t events,
			 void *arg)
{
	struct tcp_sock *ts = arg;

	(void)loop;
	(void)fd;
	if (ts->probe)
		tcp_judge(ts->probe, events);
}

static int tcp_start(struct check_probe *probe)
{
	struct sockaddr_storage ss;
	socklen_t len = check_probe_sockaddr(probe, &ss);
	struct tcp_sock *ts = NULL;
	int err;

	err = tcp_sock_take(probe->checker, ss.ss_family, &ts);
	if (err < 0)
		return err;
	ts->probe = probe;
	probe->tcp = ts;
	probe->fd = ts->fd;
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
	.stop = tcp_stop,
};
