/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the control socket tests (test_ctl.c, test_knlbctl.c):
 * a real ctl server on its own loop in a thread of the test process, with a
 * socket in a fresh mkdtemp directory, and a test handler:
 *
 *   echo ARGS...   OK, each word on its own line
 *   warn           WARN, "careful"
 *   err            ERROR, "failed: ARGS..."
 *   nonl           OK, a body without its final newline
 *   empty          OK, no body
 *   big N          OK, N bytes in lines of 64
 *   stats          OK, the server's ctl_stats, one "name value" a line
 *
 * and knlbctl's daemon commands (status, flows, drain, enable, disable,
 * weight, reload, render), for the client's tests:
 *
 *   any argument "refuse"   ERROR, "refused: COMMAND"
 *   first argument
 *     "degraded"            WARN, "service degraded: backend b2 down"
 *     "silent"              OK, no body
 *     "big"                 OK, 100000 lines "flow NNNNNN" (1.2 MB)
 *   otherwise               OK, "got: WORDS..." (what the client sent)
 *
 *   status --json           services "drainy" and "stuck", as knlbd shapes them
 *   status drainy --json    b1 draining with 2, 1, then 0 active flows; b2
 *   status stuck --json     b1 draining with 3 active flows, always
 *
 *   anything else  ERROR, "unknown command 'NAME'"
 *
 * The handler records each request's words (joined by '|') so tests can
 * check what a client sent.
 */
#ifndef KNLB_TEST_CTL_TEST_H
#define KNLB_TEST_CTL_TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "knlb/ctl/server.h"

struct test_server {
	char dir[64];			/* mkdtemp; removed by server_stop */
	char path[128];			/* dir/knlb.sock */
	struct loop *loop;
	struct ctl *ctl;
	int stop_pipe[2];
	pthread_t thread;
	int loop_ret;
	char last_request[CTL_REQUEST_MAX];	/* written on the loop thread */
	int polls;			/* status drainy|stuck --json answered */
};

/* Starts a server; request_ms/reply_ms 0 keeps the defaults. */
void server_start(struct test_server *s, unsigned request_ms, unsigned reply_ms);
/* Stops the loop, closes the server, checks the socket file is gone. */
void server_stop(struct test_server *s);

/* Connected, blocking, with 20 s receive/send timeouts as a safety net. */
int client_connect(const char *path);
void client_send(int fd, const void *data, size_t len);
/*
 * Reads to EOF into a NUL-terminated buffer the caller frees; *len gets
 * its length.  Returns 0, or the -errno that ended the read early.
 */
int client_read_all(int fd, char **out, size_t *len);
/* connect, send line (as given), read everything, close: the reply. */
char *client_request(const char *path, const char *line);

#endif
