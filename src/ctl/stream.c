/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Streamed replies (see include/knlb/ctl/server.h): the body of a costly
 * command produced piece by piece from the loop instead of whole inside
 * its handler, so health checks, commits and conntrack events never wait
 * behind it, and paused while the client's unsent bytes are over
 * CTL_STREAM_HIGH, so its memory is bounded however long the body and
 * however slow the reader.
 *
 * The unsent bytes live in the connection's reply buffer.  Until the body
 * is complete or CTL_STREAM_HIGH of it is ready nothing is sent, so the
 * status line can still say how it ended (a short listing whose dump
 * fails is an ERROR as before); after that the status line has gone out
 * as OK and a failure can only cut the body short.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "knlb/ctl/server.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "server-int.h"

struct ctl_stream {
	struct ctl_conn *conn;
	int fd;				/* the producer's */
	bool watching;			/* fd is on the loop */
	const struct ctl_stream_ops *ops;
	void *state;			/* NULL once released */
	FILE *out;			/* writes append to conn->reply */
	bool committed;			/* the status line is in front: sending */
	bool ended;			/* the body is complete */
	bool oom;
	char last;			/* the body's last byte so far */
	uint64_t deadline_ns;		/* CTL_STREAM_TIMEOUT_MS after the start */
};

static size_t unsent(const struct ctl_conn *conn)
{
	return conn->reply_end - conn->reply_start;
}

/* The FILE's write: appends to the connection's buffer. */
static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct ctl_stream *s = cookie;
	struct ctl_conn *conn = s->conn;

	if (!conn)
		return (ssize_t)size;	/* closing: nobody will read it */
	/* Sent bytes in front are dead: move the rest down when they dominate. */
	if (s->committed && conn->reply_start > unsent(conn)) {
		memmove(conn->reply, conn->reply + conn->reply_start, unsent(conn));
		conn->reply_end -= conn->reply_start;
		conn->reply_start = 0;
	}
	if (grow(&conn->reply, &conn->reply_cap, conn->reply_end + size, 1,
		 4096) < 0) {
		s->oom = true;
		return 0;		/* fopencookie: 0 is an error */
	}
	memcpy(conn->reply + conn->reply_end, buf, size);
	conn->reply_end += size;
	if (size)
		s->last = buf[size - 1];
	return (ssize_t)size;
}

static void unwatch(struct ctl_stream *s)
{
	if (s->watching)
		loop_del_fd(s->conn->ctl->loop, s->fd);
	s->watching = false;
}

static void release_producer(struct ctl_stream *s)
{
	if (s->conn)
		unwatch(s);
	if (s->state)
		s->ops->release(s->state);
	s->state = NULL;
}

/* The status line into the reserved room in front: sending may begin. */
static void commit(struct ctl_stream *s, enum ctl_status status)
{
	struct ctl_conn *conn = s->conn;
	size_t slen = strlen(ctl_status_line[status]);

	memcpy(conn->reply + STATUS_RESERVE - slen, ctl_status_line[status], slen);
	conn->reply_start = STATUS_RESERVE - slen;
	s->committed = true;
}

/*
 * The body is complete.  Before the status line went out: it says how it
 * ended, and a body gets its final '\n' as any reply.  After: OK was
 * sent, so a failure drops the final '\n' and the client sees a reply
 * cut short.
 */
static void finish(struct ctl_stream *s, enum ctl_status status)
{
	struct ctl_conn *conn = s->conn;

	s->ended = true;
	release_producer(s);
	if (s->oom) {
		log_error("control socket: out of memory streaming a reply");
		status = CTL_ERROR;
	}
	if ((unsigned)status > CTL_ERROR)
		status = CTL_ERROR;
	if (!s->committed) {
		if (s->last && s->last != '\n')
			stream_write(s, "\n", 1);
		commit(s, status);
	} else if (status == CTL_OK) {
		if (s->last != '\n')
			stream_write(s, "\n", 1);
	} else {
		log_warn("control socket: a streamed reply failed after its OK was sent: cut short");
		if (unsent(conn) && conn->reply[conn->reply_end - 1] == '\n')
			conn->reply_end--;
	}
}

/* Ready bytes to the client, or more from the producer. */
static void push(struct ctl_stream *s)
{
	struct ctl_conn *conn = s->conn;

	if (!s->committed && unsent(conn) >= CTL_STREAM_HIGH)
		commit(s, CTL_OK);
	if (!s->ended && unsent(conn) >= CTL_STREAM_HIGH)
		unwatch(s);		/* backpressure: ctl_stream_sent resumes */
	if (s->committed)
		ctl_conn_write(conn);	/* may close conn, and free s */
}

static void on_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ctl_stream *s = arg;
	enum ctl_status status = CTL_ERROR;
	int more;

	(void)loop;
	(void)fd;
	(void)events;
	more = s->ops->produce(s->state, s->out, &status);
	if (fflush(s->out) != 0)
		s->oom = true;
	if (!more || s->oom)
		finish(s, status);
	push(s);
}

static int watch(struct ctl_stream *s)
{
	int ret = loop_add_fd(s->conn->ctl->loop, s->fd, EPOLLIN, on_ready, s);

	s->watching = ret == 0;
	return ret;
}

int ctl_stream_begin(struct ctl *ctl, int fd, const struct ctl_stream_ops *ops,
		     void *state)
{
	struct ctl_conn *conn = ctl->handling;
	struct ctl_stream *s;

	if (!conn || conn->stream)
		return -EINVAL;
	if (ctl->n_streams >= CTL_MAX_STREAMS) {
		ctl->stats.busy++;
		return -EBUSY;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->conn = conn;
	s->fd = fd;
	s->ops = ops;
	s->state = state;
	conn->stream = s;
	ctl->n_streams++;
	ctl->stats.streams++;
	return 0;
}

unsigned ctl_streams_running(const struct ctl *ctl)
{
	return ctl->n_streams;
}

void ctl_stream_run(struct ctl_conn *conn, char *data, size_t len, size_t cap)
{
	static const cookie_io_functions_t io = { .write = stream_write };
	struct ctl_stream *s = conn->stream;
	struct ctl *ctl = conn->ctl;
	int ret;

	conn->replying = true;
	conn->reply = data;
	conn->reply_start = 0;
	conn->reply_end = len;
	conn->reply_cap = cap;
	if (len > STATUS_RESERVE)
		s->last = data[len - 1];
	s->deadline_ns = loop_now_ns() + CTL_STREAM_TIMEOUT_MS * NS_PER_MS;
	s->out = fopencookie(s, "w", io);
	ret = s->out ? watch(s) : -ENOMEM;
	if (ret == 0)
		ret = loop_timer_arm(ctl->loop, &conn->timer, ctl->reply_ns);
	if (ret < 0) {
		log_error("control socket: starting a streamed reply: %s; client dropped",
			  strerror(-ret));
		ctl_conn_close(conn);
	}
}

void ctl_stream_sent(struct ctl_conn *conn, size_t sent)
{
	struct ctl_stream *s = conn->stream;
	struct ctl *ctl = conn->ctl;

	if (!unsent(conn)) {
		if (s->ended) {
			ctl_drain_input(conn->fd);
			ctl_conn_close(conn);
			return;
		}
		conn->reply_start = conn->reply_end = 0;
	}
	if (sent) {
		/* The deadline is for a stall; the whole stream has its own. */
		uint64_t at = loop_now_ns() + ctl->reply_ns;

		if (at > s->deadline_ns)
			at = s->deadline_ns;
		loop_timer_arm_at(ctl->loop, &conn->timer, at);
	}
	if (!s->ended && !s->watching && unsent(conn) < CTL_STREAM_LOW &&
	    watch(s) < 0) {
		log_error("control socket: resuming a streamed reply: out of memory; client dropped");
		ctl_conn_close(conn);
	}
}

/* Frees the stream; conn keeps its buffer (the caller frees it). */
void ctl_stream_free(struct ctl_conn *conn)
{
	struct ctl_stream *s = conn->stream;

	release_producer(s);
	s->conn = NULL;			/* what fclose flushes goes nowhere */
	if (s->out)
		fclose(s->out);
	conn->stream = NULL;
	conn->ctl->n_streams--;
	free(s);
}

