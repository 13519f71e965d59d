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
 */

#define CTL_REQUEST_MAX		4096
#define CTL_MAX_ARGS		16
#define CTL_MAX_CLIENTS		64
#define CTL_REQUEST_TIMEOUT_MS	5000
#define CTL_REPLY_TIMEOUT_MS	10000
#define CTL_REPLY_MAX		(64u << 20)	/* bodies beyond are cut, with a note */

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
};

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
