/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd's side of the metrics worker: hand it the listening socket at
 * each start, and answer each ASK with the exposition rendered into a
 * sealed memfd.  The worker parsed scrapers' bytes and is trusted with
 * nothing: a message that is not exactly an ASK gets it killed, and
 * however fast it asks, knlbd renders at most RENDER_RATE times a second
 * (bursts of RENDER_BURST): past that the scrape gets a 503, and knlbd's
 * loop stays free for health and the kernel.  Every snapshot is rendered
 * for its scrape: none is stale.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knlb/daemon/metrics.h"
#include "knlb/daemon/metrics_link.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/lib/privsep.h"
#include "metrics_worker-int.h"

#define RENDER_RATE	20	/* a second, on average */
#define RENDER_BURST	20	/* METRICS_MAX_CONNECTIONS scrapes at once, and some */

struct metrics_link {
	struct loop *loop;
	const struct metrics_sources *src;
	int listen_fd;
	uint16_t port;
	struct privsep_worker *worker;
	double tokens;			/* renders allowed now */
	uint64_t tokens_ns;		/* when they were counted */
};

/* A token bucket: may knlbd render one more now? */
static bool render_allowed(struct metrics_link *l)
{
	uint64_t now = loop_now_ns();

	l->tokens += (double)(now - l->tokens_ns) / 1e9 * RENDER_RATE;
	if (l->tokens > RENDER_BURST)
		l->tokens = RENDER_BURST;
	l->tokens_ns = now;
	if (l->tokens < 1)
		return false;
	l->tokens -= 1;
	return true;
}

/* The exposition into a sealed memfd: its fd, or -errno. */
static int render(struct metrics_link *l, uint64_t *len)
{
	int fd = memfd_create("knlb-metrics", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int ret, wfd;
	struct stat st;
	FILE *f;

	if (fd == -1)
		return -errno;
	wfd = dup(fd);
	f = wfd >= 0 ? fdopen(wfd, "w") : NULL;
	if (!f) {
		ret = -errno;
		if (wfd >= 0)
			close(wfd);
		goto out_close;
	}
	ret = metrics_render(f, l->src);
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && fstat(fd, &st) == -1)
		ret = -errno;
	if (ret == 0 && (uint64_t)st.st_size > METRICS_SNAPSHOT_MAX)
		ret = -EFBIG;
	/* The worker reads it; it must not be able to change what it reads. */
	if (ret == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			      F_SEAL_WRITE | F_SEAL_SEAL) == -1)
		ret = -errno;
	if (ret < 0)
		goto out_close;
	*len = (uint64_t)st.st_size;
	return fd;

out_close:
	close(fd);
	return ret;
}

static void answer(struct metrics_link *l, int fd, uint64_t seq)
{
	struct metrics_msg msg = { .version = METRICS_MSG_VERSION,
				   .type = METRICS_MSG_SNAPSHOT, .seq = seq };
	int snap = render_allowed(l) ? render(l, &msg.len) : -EBUSY;

	if (snap < 0 && snap != -EBUSY)
		log_warn("metrics: rendering /metrics: %s", strerror(-snap));
	if (snap < 0)
		msg.err = snap;
	/* Full: the worker is not reading; it times the scrape out. */
	(void)privsep_send_fd(fd, &msg, sizeof(msg), snap);
	if (snap >= 0)
		close(snap);
}

static void on_readable(struct privsep_worker *w, int fd, uint32_t events,
			void *arg)
{
	struct metrics_link *l = arg;
	struct metrics_msg msg;
	int pass_fd;
	ssize_t n;

	while ((n = privsep_recv_fd(fd, &msg, sizeof(msg), &pass_fd)) > 0) {
		if (pass_fd >= 0)
			close(pass_fd);
		if (n != (ssize_t)sizeof(msg) || pass_fd >= 0 ||
		    msg.version != METRICS_MSG_VERSION || msg.type != METRICS_MSG_ASK) {
			log_error("metrics worker (pid %d) sent a message that is not a request (%zd bytes)",
				  (int)privsep_worker_pid(w), n);
			privsep_worker_lost(w, "killed");
			return;
		}
		answer(l, fd, msg.seq);
	}
	if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR) ||
	    (events & (EPOLLHUP | EPOLLERR)))
		privsep_worker_lost(w, NULL);
}

/* Each start: the listening socket, which knlbd keeps for the next. */
static int on_started(struct privsep_worker *w, int fd, void *arg)
{
	struct metrics_link *l = arg;
	struct metrics_msg msg = { .version = METRICS_MSG_VERSION,
				   .type = METRICS_MSG_LISTEN, .port = l->port };

	(void)w;
	return privsep_send_fd(fd, &msg, sizeof(msg), l->listen_fd);
}

static const struct privsep_worker_ops metrics_ops = {
	.readable = on_readable,
	.started = on_started,
};

int metrics_link_new(struct loop *loop, struct privsep_spawner *spawner,
		     unsigned int role, int listen_fd, uint16_t port,
		     const struct metrics_sources *src, struct metrics_link **out)
{
	struct metrics_link *l = calloc(1, sizeof(*l));
	int ret;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->src = src;
	l->listen_fd = listen_fd;
	l->port = port;
	l->tokens = RENDER_BURST;
	l->tokens_ns = loop_now_ns();
	ret = privsep_worker_new(loop, spawner, role, "metrics worker",
				 &metrics_ops, l, &l->worker);
	if (ret < 0) {
		free(l);
		return ret;
	}
	log_info("metrics: scrapes served by process %d, without privileges",
		 (int)privsep_worker_pid(l->worker));
	*out = l;
	return 0;
}

void metrics_link_free(struct metrics_link *l)
{
	if (!l)
		return;
	privsep_worker_free(l->worker);
	if (l->listen_fd >= 0)
		close(l->listen_fd);
	free(l);
}
