/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The prober process's side: read probe requests, run them with an
 * ordinary (local) checker, send each result back.  It trusts the daemon,
 * which forked it; it is the daemon that does not trust it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "knlb/health/check.h"
#include "knlb/health/probe_msg.h"
#include "knlb/health/prober.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"

/* Replies wait this long to go out together: one wakeup of knlbd for many. */
#define FLUSH_DELAY_NS	5000000ULL

struct prober {
	struct loop *loop;
	struct checker *checker;
	int fd;
	struct probe_reply *replies;	/* waiting for the flush */
	size_t n_replies, replies_cap;
	struct loop_timer flush_timer;
};

/* One per probe in flight: what to name in the reply. */
struct prober_probe {
	struct prober *p;
	uint32_t slot, gen;
};

/*
 * Never blocks: a daemon busy elsewhere (a large table rewrite takes
 * tens of milliseconds, a starved one seconds) must not stop the probes
 * in flight here, or their answers go unread until they time out and the
 * stall feeds itself.  What the socket cannot take now waits in
 * p->replies and the flush timer tries again; the daemon gone is our EOF
 * on the next read.  PROBE_MSG_BATCH replies a syscall.
 */
static void flush(struct prober *p)
{
	struct mmsghdr msgs[PROBE_MSG_BATCH];
	struct iovec iov[PROBE_MSG_BATCH];
	size_t done = 0;

	while (done < p->n_replies) {
		size_t k = p->n_replies - done;
		int ret;

		if (k > PROBE_MSG_BATCH)
			k = PROBE_MSG_BATCH;
		probe_msg_batch(msgs, iov, &p->replies[done],
				sizeof(p->replies[0]), k);
		ret = sendmmsg(p->fd, msgs, (unsigned int)k, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (ret == -1 && errno == EINTR)
			continue;
		if (ret == -1 && (errno == EAGAIN || errno == ENOBUFS))
			break;			/* full: the rest waits */
		if (ret == -1) {
			done = p->n_replies;	/* the daemon is gone */
			break;
		}
		done += (size_t)ret;
	}
	memmove(p->replies, p->replies + done,
		(p->n_replies - done) * sizeof(*p->replies));
	p->n_replies -= done;
	if (p->n_replies && !loop_timer_armed(&p->flush_timer))
		(void)loop_timer_arm(p->loop, &p->flush_timer, FLUSH_DELAY_NS);
}

static void on_flush_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	flush(arg);
}

static void reply_send(struct prober *p, uint32_t slot, uint32_t gen,
		       enum check_status status, const char *reason)
{
	struct probe_reply r = {
		.version = PROBE_MSG_VERSION, .type = PROBE_MSG_REPLY,
		.slot = slot, .gen = gen, .status = (uint32_t)status,
	};

	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	if (grow(&p->replies, &p->replies_cap, p->n_replies + 1,
		 sizeof(*p->replies), 256) < 0) {
		flush(p);	/* no memory to wait: send what waits, then this */
		while (send(p->fd, &r, sizeof(r), MSG_NOSIGNAL) == -1 && errno == EINTR)
			;
		return;
	}
	p->replies[p->n_replies++] = r;
	if (!loop_timer_armed(&p->flush_timer) &&
	    loop_timer_arm(p->loop, &p->flush_timer, FLUSH_DELAY_NS) < 0)
		flush(p);
}

static void on_done(const struct check_result *res, void *arg)
{
	struct prober_probe *pp = arg;

	reply_send(pp->p, pp->slot, pp->gen, res->status, res->reason);
	free(pp);
}

static void run_request(struct prober *p, const struct probe_request *req)
{
	struct prober_probe *pp;
	struct check_spec spec = req->spec;
	int ret;

	if (probe_request_timeout(req, loop_now_ns(), &spec.timeout_ns) < 0) {
		reply_send(p, req->slot, req->gen, CHECK_LOCAL_ERROR,
			   "health prober behind: probe expired before it ran");
		return;
	}
	pp = malloc(sizeof(*pp));
	if (!pp) {
		reply_send(p, req->slot, req->gen, CHECK_LOCAL_ERROR, "prober: out of memory");
		return;
	}
	*pp = (struct prober_probe){ .p = p, .slot = req->slot, .gen = req->gen };
	ret = checker_start(p->checker, &spec, &req->addr, req->port,
			    on_done, pp, NULL);
	if (ret < 0) {
		free(pp);
		reply_send(p, req->slot, req->gen, CHECK_LOCAL_ERROR, strerror(-ret));
	}
}

/* A request as read: checked, terminated, then run. */
static bool request_take(struct prober *p, struct probe_request *req,
			 size_t n)
{
	if (n != sizeof(*req) || req->version != PROBE_MSG_VERSION ||
	    req->type != PROBE_MSG_REQUEST ||
	    req->spec.send_len > sizeof(req->spec.send) ||
	    req->spec.expect_reply_len > sizeof(req->spec.expect_reply)) {
		log_error("health prober: malformed request (%zu bytes): exiting", n);
		return false;
	}
	req->spec.path[sizeof(req->spec.path) - 1] = '\0';
	req->spec.host[sizeof(req->spec.host) - 1] = '\0';
	req->spec.body[sizeof(req->spec.body) - 1] = '\0';
	run_request(p, req);
	return true;
}

static void on_request(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct prober *p = arg;
	static struct probe_request reqs[PROBE_MSG_BATCH];
	struct mmsghdr msgs[PROBE_MSG_BATCH];
	struct iovec iov[PROBE_MSG_BATCH];
	int n;

	/* Everything queued, PROBE_MSG_BATCH a syscall: one wakeup for many. */
	for (;;) {
		probe_msg_batch(msgs, iov, reqs, sizeof(reqs[0]), PROBE_MSG_BATCH);
		n = recvmmsg(fd, msgs, PROBE_MSG_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			/* The daemon never sends an empty message: EOF. */
			if (msgs[i].msg_len == 0 ||
			    !request_take(p, &reqs[i], msgs[i].msg_len)) {
				loop_stop(loop);
				return;
			}
		}
	}
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR) ||
	    (events & (EPOLLHUP | EPOLLERR)))
		loop_stop(loop);	/* the daemon is gone or closed us */
}

int prober_main(int fd)
{
	struct prober p = { .fd = fd };
	int ret;

	loop_timer_init(&p.flush_timer, on_flush_timer, &p);
	ret = loop_new(&p.loop);
	if (ret == 0)
		ret = checker_new(p.loop, &p.checker);
	if (ret == 0)
		ret = loop_add_fd(p.loop, fd, EPOLLIN, on_request, &p);
	if (ret == 0)
		ret = loop_run(p.loop);
	if (ret < 0)
		log_error("health prober: %s", strerror(-ret));
	/* Probes still running are cancelled: their replies would go nowhere. */
	checker_free(p.checker);
	if (p.loop)
		loop_timer_cancel(p.loop, &p.flush_timer);
	loop_free(p.loop);
	free(p.replies);
	return ret < 0 ? 1 : 0;
}
