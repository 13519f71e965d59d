/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One control connection's I/O: read the request line, write the reply,
 * close.  Every socket is non-blocking and every connection has a
 * deadline, so a slow or silent client costs a file descriptor and a
 * timer, never the loop.  What a request means is request.c's; replies
 * produced piece by piece are stream.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "knlb/ctl/server.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "server-int.h"

/* Bytes read and dropped after the reply, so the peer sees EOF, not a reset. */
#define DRAIN_MAX		(64u << 10)

const char *const ctl_status_line[] = {
	[CTL_OK] = "OK\n",
	[CTL_WARN] = "WARN\n",
	[CTL_ERROR] = "ERROR\n",
};

void ctl_conn_close(struct ctl_conn *conn)
{
	struct ctl *ctl = conn->ctl;

	if (conn->stream)
		ctl_stream_free(conn);
	loop_timer_cancel(ctl->loop, &conn->timer);
	loop_del_fd(ctl->loop, conn->fd);
	close(conn->fd);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		ctl->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	ctl->n_conns--;
	free(conn->reply);
	free(conn);
}

/*
 * Whatever the peer sent beyond its request (an oversized one) is still
 * queued; closing over unread data makes the peer's read fail with
 * ECONNRESET instead of returning our reply and EOF.  Bounded.
 */
void ctl_drain_input(int fd)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	while (total < DRAIN_MAX &&
	       (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
}

void ctl_conn_write(struct ctl_conn *conn)
{
	size_t sent = 0;

	while (conn->reply_start < conn->reply_end) {
		ssize_t n = send(conn->fd, conn->reply + conn->reply_start,
				 conn->reply_end - conn->reply_start,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;		/* EPOLLOUT (edge) resumes */
			log_debug("control socket: client went away before its reply was sent: %s",
				  strerror(errno));
			ctl_conn_close(conn);
			return;
		}
		conn->reply_start += (size_t)n;
		sent += (size_t)n;
	}
	if (conn->stream) {
		ctl_stream_sent(conn, sent);
		return;
	}
	if (conn->reply_start < conn->reply_end)
		return;
	ctl_drain_input(conn->fd);
	ctl_conn_close(conn);
}

void ctl_conn_reply(struct ctl_conn *conn, char *data, size_t start, size_t end)
{
	struct ctl *ctl = conn->ctl;

	conn->replying = true;
	free(conn->reply);
	conn->reply = data;
	conn->reply_start = start;
	conn->reply_end = end;
	conn->reply_cap = end;
	/* Without its deadline a client that never reads would stay forever. */
	if (loop_timer_arm(ctl->loop, &conn->timer, ctl->reply_ns) < 0) {
		log_error("control socket: out of memory: client dropped");
		ctl_conn_close(conn);
		return;
	}
	ctl_conn_write(conn);
}

void ctl_conn_reply_fmt(struct ctl_conn *conn, enum ctl_status status,
			const char *fmt, ...)
{
	char *msg, *reply;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (len < 0)
		goto out_drop;
	len = asprintf(&reply, "%s%s\n", ctl_status_line[status], msg);
	free(msg);
	if (len < 0)
		goto out_drop;
	ctl_conn_reply(conn, reply, 0, (size_t)len);
	return;

out_drop:
	log_error("control socket: out of memory: client dropped");
	ctl_conn_close(conn);
}

/* Reads until the request's '\n', EOF, a full buffer, or EAGAIN. */
static void conn_read(struct ctl_conn *conn)
{
	for (;;) {
		size_t room = CTL_REQUEST_MAX - conn->req_len;
		char *start = conn->req + conn->req_len;
		char *nl;
		ssize_t n;

		n = recv(conn->fd, start, room, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ctl_conn_close(conn);
			return;
		}
		if (n == 0) {
			/*
			 * Nothing at all is a liveness probe (another knlbd's
			 * ctl_open, a monitoring check): no error, no reply.
			 */
			if (conn->req_len == 0)
				ctl_conn_close(conn);
			else
				ctl_bad_request(conn, "request truncated (end of input before the newline)");
			return;
		}
		conn->req_len += (size_t)n;
		nl = memchr(start, '\n', (size_t)n);
		if (nl) {
			*nl = '\0';
			ctl_handle_request(conn, conn->req, (size_t)(nl - conn->req));
			return;
		}
		if (conn->req_len == CTL_REQUEST_MAX) {
			char msg[64];

			snprintf(msg, sizeof(msg), "request too long (max %d bytes)",
				 CTL_REQUEST_MAX);
			ctl_bad_request(conn, msg);
			return;
		}
	}
}

static void on_conn(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ctl_conn *conn = arg;

	(void)loop;
	(void)fd;
	(void)events;
	/* Edge-triggered: read or write until EAGAIN, whatever woke us. */
	if (conn->replying)
		ctl_conn_write(conn);
	else
		conn_read(conn);
}

static void on_conn_timer(struct loop *loop, struct loop_timer *timer,
			  void *arg)
{
	struct ctl_conn *conn = arg;
	struct ctl *ctl = conn->ctl;

	(void)loop;
	(void)timer;
	ctl->stats.timeouts++;
	if (conn->stream) {
		log_info("control socket: client did not read its streamed reply for %llu ms (or past %u ms in all): dropped",
			 (unsigned long long)(ctl->reply_ns / NS_PER_MS),
			 CTL_STREAM_TIMEOUT_MS);
	} else if (conn->replying) {
		log_info("control socket: client did not read its reply within %llu ms: dropped",
			 (unsigned long long)(ctl->reply_ns / NS_PER_MS));
	} else {
		char msg[80];
		int n = snprintf(msg, sizeof(msg),
				 "ERROR\nno complete request within %llu ms\n",
				 (unsigned long long)(ctl->request_ns / NS_PER_MS));

		/* Best effort: the peer's queue is empty, a short line fits. */
		if (send(conn->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
			log_debug("control socket: timeout notice not sent: %s",
				  strerror(errno));
		ctl_drain_input(conn->fd);
	}
	ctl_conn_close(conn);
}

void ctl_conn_new(struct ctl *ctl, int fd)
{
	struct ctl_conn *conn = malloc(sizeof(*conn));
	int ret;

	if (!conn) {
		log_error("control socket: out of memory: client dropped");
		close(fd);
		return;
	}
	conn->ctl = ctl;
	conn->fd = fd;
	conn->replying = false;
	conn->req_len = 0;
	conn->reply = NULL;
	conn->reply_start = conn->reply_end = conn->reply_cap = 0;
	conn->stream = NULL;
	loop_timer_init(&conn->timer, on_conn_timer, conn);
	ret = loop_add_fd(ctl->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
			  on_conn, conn);
	if (ret == 0)
		ret = loop_timer_arm(ctl->loop, &conn->timer, ctl->request_ns);
	if (ret < 0) {
		log_error("control socket: client dropped: %s", strerror(-ret));
		loop_del_fd(ctl->loop, fd);
		close(fd);
		free(conn);
		return;
	}
	conn->prev = NULL;
	conn->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = conn;
	ctl->conns = conn;
	ctl->n_conns++;
	ctl->stats.connections++;
}

