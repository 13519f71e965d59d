/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the pieces of the control socket server share (the API is
 * include/knlb/ctl/server.h):
 *   listen.c   the socket: bind, stale sockets, accept, the client limit
 *   conn.c     one connection's I/O: read the request, write the reply,
 *              deadlines
 *   request.c  a request line -> words -> the handler -> a whole reply
 *   stream.c   replies produced piece by piece from the loop, with
 *              backpressure and a limit on how many run at once
 */
#ifndef KNLB_CTL_SERVER_INT_H
#define KNLB_CTL_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "knlb/ctl/server.h"
#include "knlb/lib/loop.h"

#define NS_PER_MS		1000000ULL
/* Room in front of the body for the longest status line, "ERROR\n". */
#define STATUS_RESERVE		6

struct ctl_stream;

struct ctl_conn {
	struct ctl *ctl;
	int fd;
	struct loop_timer timer;	/* request, then reply deadline */
	struct ctl_conn *prev, *next;
	bool replying;
	size_t req_len;
	char req[CTL_REQUEST_MAX];
	char *reply;			/* status line + body; owned */
	size_t reply_start, reply_end;	/* what is left to send */
	size_t reply_cap;		/* allocated bytes of reply */
	struct ctl_stream *stream;	/* a streamed reply, or NULL */
};

struct ctl {
	struct loop *loop;
	int fd;
	bool listening;			/* fd is on the loop */
	struct loop_timer accept_timer;	/* resumes accepting after a pause */
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	dev_t dev;			/* of the socket file we bound, so   */
	ino_t ino;			/* ctl_close unlinks only our own    */
	ctl_handler_fn fn;
	void *arg;
	struct ctl_conn *conns;
	size_t n_conns;
	struct ctl_conn *handling;	/* whose handler runs now, or NULL */
	unsigned n_streams;		/* connections with a stream */
	uint64_t request_ns, reply_ns;
	struct ctl_stats stats;
};

extern const char *const ctl_status_line[];

/* ---- conn.c ---- */

void ctl_conn_new(struct ctl *ctl, int fd);
void ctl_conn_close(struct ctl_conn *conn);
/* Sends what the socket takes; closes once all is sent or the peer is gone. */
void ctl_conn_write(struct ctl_conn *conn);
/* Takes ownership of data (status line at start, body after it). */
void ctl_conn_reply(struct ctl_conn *conn, char *data, size_t start, size_t end);
/* A short reply built here, printf-style. */
void ctl_conn_reply_fmt(struct ctl_conn *conn, enum ctl_status status,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Reads and drops what the peer still sent (bounded), so it sees EOF, not a reset. */
void ctl_drain_input(int fd);

/* ---- request.c ---- */

/* line is the request without its '\n', NUL-terminated in place. */
void ctl_handle_request(struct ctl_conn *conn, char *line, size_t len);
void ctl_bad_request(struct ctl_conn *conn, const char *why);

/* ---- stream.c ---- */

/*
 * After the handler of conn started a stream and returned OK: what it
 * wrote so far (data, len bytes, STATUS_RESERVE bytes free in front, cap
 * allocated; owned from now on) begins the body, and the producer runs
 * from the loop.
 */
void ctl_stream_run(struct ctl_conn *conn, char *data, size_t len, size_t cap);
/* conn_write sent bytes (maybe 0) of a streamed reply; may close conn. */
void ctl_stream_sent(struct ctl_conn *conn, size_t sent);
/*
 * Stops the producer and releases it and the stream (from ctl_conn_close,
 * or unused when the handler failed after starting it).
 */
void ctl_stream_free(struct ctl_conn *conn);

#endif
