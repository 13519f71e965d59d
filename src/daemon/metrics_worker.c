/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics worker: serves /metrics (libmicrohttpd, every hardening of
 * metrics_http.c) on the listening socket knlbd hands it, with no
 * capability and not as root, and asks knlbd for the rendered text at each
 * scrape.  Scrapers' bytes are parsed here and nowhere else.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knlb/daemon/metrics.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/lib/privsep.h"
#include "knlb/daemon/metrics_link.h"
#include "metrics_worker-int.h"

/* knlbd renders in milliseconds; past this the scrape gets a 503. */
#define SNAPSHOT_TIMEOUT_MS	3000
#define LISTEN_TIMEOUT_MS	10000

struct worker {
	struct loop *loop;
	int fd;
	uint64_t seq;
};

/* The next message from knlbd within timeout_ms; its length or -errno. */
static ssize_t recv_within(int fd, struct metrics_msg *msg, int *pass_fd,
			   int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);

	*pass_fd = -1;
	if (n == 0)
		return -ETIMEDOUT;
	if (n == -1)
		return -errno;
	return privsep_recv_fd(fd, msg, sizeof(*msg), pass_fd);
}

/* A metrics_snapshot_fn: ask, and wait for this ask's answer. */
static int ask_snapshot(void *arg, int *out_fd, size_t *out_len)
{
	struct worker *w = arg;
	struct metrics_msg msg = { .version = METRICS_MSG_VERSION,
				   .type = METRICS_MSG_ASK, .seq = ++w->seq };
	uint64_t deadline = loop_now_ns() + SNAPSHOT_TIMEOUT_MS * 1000000ULL;
	int ret = privsep_send_fd(w->fd, &msg, sizeof(msg), -1);

	if (ret < 0)
		return ret;
	for (;;) {
		uint64_t now = loop_now_ns();
		struct stat st;
		ssize_t n;
		int fd;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = recv_within(w->fd, &msg, &fd, (int)((deadline - now) / 1000000ULL) + 1);
		if (n == -EAGAIN || n == -ETIMEDOUT)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE : (int)n;
		if (n != (ssize_t)sizeof(msg) || msg.version != METRICS_MSG_VERSION ||
		    msg.type != METRICS_MSG_SNAPSHOT || msg.seq != w->seq) {
			if (fd >= 0)
				close(fd);	/* an answer we gave up on */
			continue;
		}
		if (msg.err < 0 || fd < 0) {
			if (fd >= 0)
				close(fd);
			return msg.err < 0 ? msg.err : -EPROTO;
		}
		if (fstat(fd, &st) == -1 || (uint64_t)st.st_size != msg.len ||
		    msg.len > METRICS_SNAPSHOT_MAX) {
			close(fd);
			return -EPROTO;
		}
		*out_fd = fd;
		*out_len = (size_t)msg.len;
		return 0;
	}
}

/* Between scrapes: knlbd gone (EOF), or a late answer to drop. */
static void on_knlbd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct metrics_msg msg;
	ssize_t n;
	int pass_fd;

	(void)arg;
	while ((n = privsep_recv_fd(fd, &msg, sizeof(msg), &pass_fd)) > 0)
		if (pass_fd >= 0)
			close(pass_fd);
	if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR) ||
	    (events & (EPOLLHUP | EPOLLERR)))
		loop_stop(loop);
}

int metrics_worker_main(int fd)
{
	struct worker w = { .fd = fd };
	struct metrics_msg msg;
	struct metrics *m = NULL;
	char err[256] = "";
	int listen_fd, ret;
	ssize_t n;

	n = recv_within(fd, &msg, &listen_fd, LISTEN_TIMEOUT_MS);
	if (n != (ssize_t)sizeof(msg) || msg.version != METRICS_MSG_VERSION ||
	    msg.type != METRICS_MSG_LISTEN || listen_fd < 0 || msg.port > UINT16_MAX) {
		log_error("metrics worker: no listening socket from knlbd");
		return 1;
	}
	ret = loop_new(&w.loop);
	if (ret == 0)
		ret = metrics_serve(w.loop, listen_fd, (uint16_t)msg.port, ask_snapshot,
				    &w, &m, err, sizeof(err));
	else
		close(listen_fd);
	if (ret == 0)
		ret = loop_add_fd(w.loop, fd, EPOLLIN, on_knlbd, &w);
	if (ret == 0)
		ret = loop_run(w.loop);
	if (ret < 0)
		log_error("metrics worker: %s", err[0] ? err : strerror(-ret));
	metrics_close(m);
	loop_free(w.loop);
	return ret < 0 ? 1 : 0;
}
