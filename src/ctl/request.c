/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A control request's framing: the line split into words, the handler run
 * on them with an in-memory stream, and what it wrote made into a reply:
 * the status line, the body ended by a '\n', a body over CTL_REPLY_MAX
 * cut at a line with a note.  A handler that started a stream hands its
 * reply to stream.c instead.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/ctl/request.h"
#include "knlb/ctl/server.h"
#include "knlb/lib/log.h"
#include "server-int.h"

/* The most a reply buffer holds: status, capped body, the note line. */
#define REPLY_BUF_MAX		(STATUS_RESERVE + (size_t)CTL_REPLY_MAX + 128)

/*
 * Where the handler's FILE writes: a growing buffer that keeps at most
 * CTL_REPLY_MAX bytes of body and only counts the rest, so a runaway body
 * costs counting, not memory.  STATUS_RESERVE bytes are kept free in front.
 * It grows by hand rather than with grow(): its doubling stops at
 * REPLY_BUF_MAX (grow() would take a 64 MiB body to a 128 MiB buffer), the
 * byte count cannot overflow below that ceiling, and the tail appends of
 * reply_buf_append (the cut note, a final newline) are a few bytes each,
 * made once per reply, where doubling would only waste memory.
 */
struct reply_buf {
	char *data;
	size_t len, cap;	/* len includes STATUS_RESERVE */
	size_t dropped;		/* body bytes beyond CTL_REPLY_MAX */
	bool oom;
};

static ssize_t reply_buf_write(void *cookie, const char *buf, size_t size)
{
	struct reply_buf *rb = cookie;
	size_t room = STATUS_RESERVE + (size_t)CTL_REPLY_MAX - rb->len;
	size_t take = size < room ? size : room;

	if (rb->len + take > rb->cap) {
		size_t cap = rb->cap;
		char *data;

		while (cap < rb->len + take)
			cap *= 2;
		/* Doubling past the cap would allocate 128 MiB for 64. */
		if (cap > REPLY_BUF_MAX)
			cap = REPLY_BUF_MAX;
		data = realloc(rb->data, cap);
		if (!data) {
			rb->oom = true;
			return 0;	/* fopencookie: 0 is an error */
		}
		rb->data = data;
		rb->cap = cap;
	}
	memcpy(rb->data + rb->len, buf, take);
	rb->len += take;
	rb->dropped += size - take;
	return (ssize_t)size;
}

static int reply_buf_append(struct reply_buf *rb, const char *s, size_t n)
{
	if (rb->len + n > rb->cap) {
		char *data = realloc(rb->data, rb->len + n);

		if (!data)
			return -ENOMEM;
		rb->data = data;
		rb->cap = rb->len + n;
	}
	memcpy(rb->data + rb->len, s, n);
	rb->len += n;
	return 0;
}

void ctl_bad_request(struct ctl_conn *conn, const char *why)
{
	conn->ctl->stats.bad_requests++;
	log_debug("control socket: bad request: %s", why);
	ctl_conn_reply_fmt(conn, CTL_ERROR, "%s", why);
}

/*
 * Runs the handler on argv with a capped in-memory stream and turns what
 * it wrote into the reply: the status line goes into the reserved room in
 * front, a body that does not end its last line gets a '\n' (so a client
 * can tell a whole body from a cut connection), and a body over
 * CTL_REPLY_MAX ends at its last whole line plus a note, with OK made
 * WARN because the reply is incomplete.
 */
static void run_handler(struct ctl_conn *conn, int argc, char **argv)
{
	static const cookie_io_functions_t io = { .write = reply_buf_write };
	struct ctl *ctl = conn->ctl;
	struct reply_buf rb = { 0 };
	enum ctl_status status;
	size_t slen;
	FILE *out;

	rb.cap = 4096;
	rb.len = STATUS_RESERVE;
	rb.data = malloc(rb.cap);
	out = rb.data ? fopencookie(&rb, "w", io) : NULL;
	if (!out) {
		free(rb.data);
		ctl_conn_reply_fmt(conn, CTL_ERROR, "out of memory");
		return;
	}
	ctl->stats.requests++;
	ctl->handling = conn;
	status = ctl->fn(ctl->arg, argc, argv, out);
	ctl->handling = NULL;
	if (fclose(out) != 0 || rb.oom) {
		free(rb.data);
		if (conn->stream)
			ctl_stream_free(conn);
		log_error("control socket: %s: out of memory writing the reply", argv[0]);
		ctl_conn_reply_fmt(conn, CTL_ERROR, "out of memory writing the reply");
		return;
	}
	if ((unsigned)status > CTL_ERROR)
		status = CTL_ERROR;
	if (conn->stream) {
		/* What it wrote before is the start of the body; the rest streams. */
		if (status == CTL_OK && !rb.dropped) {
			ctl_stream_run(conn, rb.data, rb.len, rb.cap);
			return;
		}
		ctl_stream_free(conn);
	}
	if (rb.dropped) {
		char note[128];
		size_t body = rb.len - STATUS_RESERVE;
		char *nl = memrchr(rb.data + STATUS_RESERVE, '\n', body);
		size_t keep = nl ? (size_t)(nl + 1 - rb.data) : STATUS_RESERVE;
		int n;

		rb.dropped += rb.len - keep;
		rb.len = keep;
		n = snprintf(note, sizeof(note),
			     "... reply cut at %u bytes: %zu more bytes not sent\n",
			     CTL_REPLY_MAX, rb.dropped);
		if (reply_buf_append(&rb, note, (size_t)n) < 0)
			rb.len = keep;	/* the body is still whole lines */
		if (status == CTL_OK)
			status = CTL_WARN;
		log_warn("control socket: %s: reply cut at %u bytes (%zu more)",
			 argv[0], CTL_REPLY_MAX, rb.dropped);
	} else if (rb.len > STATUS_RESERVE && rb.data[rb.len - 1] != '\n' &&
		   reply_buf_append(&rb, "\n", 1) < 0) {
		free(rb.data);
		ctl_conn_reply_fmt(conn, CTL_ERROR, "out of memory writing the reply");
		return;
	}
	slen = strlen(ctl_status_line[status]);
	memcpy(rb.data + STATUS_RESERVE - slen, ctl_status_line[status], slen);
	ctl_conn_reply(conn, rb.data, STATUS_RESERVE - slen, rb.len);
}

/* line is the request without its '\n', NUL-terminated in place. */
void ctl_handle_request(struct ctl_conn *conn, char *line, size_t len)
{
	char *argv[CTL_MAX_ARGS + 1];
	char err[64];
	int argc;

	if (ctl_request_split(line, len, argv, &argc, err, sizeof(err)) < 0) {
		ctl_bad_request(conn, err);
		return;
	}
	log_debug("control socket: request '%s' (%d words)", argv[0], argc);
	run_handler(conn, argc, argv);
}
