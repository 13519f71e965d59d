/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CTL_H
#define KNLB_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The control socket: a Unix stream socket served from the one event loop.
 * Holds no state of its own beyond the connections; what a command means
 * is the handler's business (src/daemon/ctl_commands.c).  Protocol, in full in
 * docs/control-protocol.md:
 *
 *   request  one line of text, at most CTL_REQUEST_MAX bytes including the
 *            '\n': words separated by blanks ("status web --json").
 *   reply    a status line, "OK", "WARN" or "ERROR", then the body, then
 *            the server closes the connection.  One request per connection.
 *
 * The server never blocks: reads and writes are non-blocking, a client
 * that sends nothing complete within CTL_REQUEST_TIMEOUT_MS, or does not
 * read its reply within CTL_REPLY_TIMEOUT_MS, is dropped.  An oversized,
 * truncated (EOF before '\n') or non-text request gets an ERROR reply and
 * the connection is closed.  At most CTL_MAX_CLIENTS connections at once;
 * one more gets "ERROR too many clients" and is closed.
 *
 * Costly replies (a flows listing: megabytes, and a conntrack dump behind
 * them) are streamed: the handler starts a stream (ctl_stream_begin) and
 * the server then asks its producer for the body piece by piece from the
 * loop, each piece a bounded amount of work, and only while the client's
 * unsent bytes stay under CTL_STREAM_HIGH: a client that does not read
 * stops its producer (backpressure), so a listing costs at most about
 * 1 MiB whatever its length.  At most CTL_MAX_STREAMS streams at once, in
 * all about CTL_MAX_STREAMS MiB; ctl_stream_begin says -EBUSY beyond.
 * The status line waits until the body is complete or CTL_STREAM_HIGH
 * bytes of it are ready; a producer that fails after it was sent (as OK)
 * ends the body without its final newline: a reply cut short.
 */

#define CTL_REQUEST_MAX		4096
#define CTL_MAX_ARGS		16
#define CTL_MAX_CLIENTS		64
#define CTL_REQUEST_TIMEOUT_MS	5000
#define CTL_REPLY_TIMEOUT_MS	10000
#define CTL_REPLY_MAX		(64u << 20)	/* bodies beyond are cut, with a note */
#define CTL_MAX_STREAMS		2		/* streamed replies at once */
#define CTL_STREAM_HIGH		(512u << 10)	/* unsent bytes that pause the producer */
#define CTL_STREAM_LOW		(128u << 10)	/* ... and that resume it */
/* A stream's whole life; the reply timeout applies to each stall in it. */
#define CTL_STREAM_TIMEOUT_MS	60000

enum ctl_status {
	CTL_OK,		/* knlbctl exits 0 */
	CTL_WARN,	/* done, but something needs attention: knlbctl exits 4 */
	CTL_ERROR,	/* refused or failed; body says why: knlbctl exits 1 */
};

struct loop;
struct ctl;

/*
 * Handles one request.  argv[0] is the command; argc >= 1 and <= CTL_MAX_ARGS.
 * Writes the body to out (an in-memory stream the server owns) and returns
 * the status line to send.  Runs on the loop, synchronously, so it must be
 * short; it must not call ctl_close() (a reload that moves the socket
 * does that after the handler returned, e.g. from a zero-delay timer).
 */
typedef enum ctl_status (*ctl_handler_fn)(void *arg, int argc, char **argv,
					  FILE *out);

struct ctl_stats {
	uint64_t connections;	/* accepted and served (not the rejected) */
	uint64_t requests;	/* complete requests handed to the handler */
	uint64_t bad_requests;	/* oversized, truncated, not text, too many words */
	uint64_t rejected;	/* over CTL_MAX_CLIENTS */
	uint64_t timeouts;	/* dropped for not sending / not reading */
	uint64_t streams;	/* streamed replies started */
	uint64_t busy;		/* streams refused: CTL_MAX_STREAMS running */
};

/*
 * A streamed reply's producer.  produce() appends the next piece of the
 * body to out: a bounded amount of work that never blocks (a few netlink
 * datagrams); the server calls it when fd is readable and the client has
 * room.  It returns 1 while more is to come, or 0 with *status set once
 * the body is complete (CTL_ERROR: it failed, the reason written last).
 * release() frees state; called exactly once, when the body is complete
 * or the client is gone, never from inside produce().
 */
struct ctl_stream_ops {
	int (*produce)(void *state, FILE *out, enum ctl_status *status);
	void (*release)(void *state);
};

/*
 * From inside a handler: make this request's reply a stream produced
 * from fd's readiness by ops.  On 0 the server owns state (released even
 * if the handler then returns an error, which is sent as usual); what the
 * handler wrote to its out begins the body.  -EBUSY: CTL_MAX_STREAMS run
 * already (the handler says so and returns CTL_ERROR); -EINVAL: not
 * inside a handler, or a second stream; -ENOMEM.  On error state stays
 * the caller's.
 */
int ctl_stream_begin(struct ctl *ctl, int fd, const struct ctl_stream_ops *ops,
		     void *state);
/* Streams running now (for the busy message and tests). */
unsigned ctl_streams_running(const struct ctl *ctl);

/*
 * Listen on path (mode 0600, parent directory created 0755 if missing).
 * A stale socket file (nobody accepts on it) is replaced; a live one is
 * -EADDRINUSE with err saying another knlbd runs there.  Returns 0 or
 * -errno with err filled.
 */
int ctl_open(struct loop *loop, const char *path, ctl_handler_fn fn, void *arg,
	     struct ctl **out, char *err, size_t errlen);
/* Closes every connection and the listener, and unlinks the socket file. */
void ctl_close(struct ctl *ctl);
void ctl_get_stats(const struct ctl *ctl, struct ctl_stats *out);
/*
 * For tests: request and reply timeouts of connections accepted from now
 * on (defaults CTL_REQUEST_TIMEOUT_MS, CTL_REPLY_TIMEOUT_MS).
 */
void ctl_set_timeouts(struct ctl *ctl, unsigned request_ms, unsigned reply_ms);

#endif
