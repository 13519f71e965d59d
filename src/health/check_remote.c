/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's side of the prober process: a probe kind that sends the
 * probe to the prober and finishes it with the result that comes back,
 * and the link itself (the worker's restarts are privsep_worker's).
 *
 * A probe in flight holds a slot; the request names (slot, generation)
 * and so does the reply.  A reply is used only if it parses, its slot is
 * in range and busy and its generation matches: a late reply for a probe
 * cancelled by a reload finds a new generation and is dropped.  A reply
 * that does not parse means the prober is broken or not ours any more: it
 * is killed and restarted.  While there is no prober, probes end as local
 * errors, which change no backend's state: the kernel keeps what it has.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check-int.h"
#include "knlb/health/probe_msg.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/lib/privsep.h"

/*
 * On top of two timeouts (the most a request waits in the prober's queue,
 * then the probe's own): the round trip and the batching on both sides.
 */
#define REMOTE_SLACK_NS		2000000000ULL
#define NO_SLOT			UINT32_MAX
/* See on_started(). */
#define REQUEST_SNDBUF		(8 * 1024 * 1024)
/*
 * Requests wait this long to go out together: one wakeup of the prober
 * for many probes instead of one each (10,000 backends at 2 s are 5,000
 * probes a second), at the price of a few milliseconds per probe.  The
 * prober batches its replies the same way.
 */
#define FLUSH_DELAY_NS		5000000ULL

struct remote_slot {
	struct check_probe *probe;	/* NULL: free */
	uint32_t gen;
	uint32_t next_free;
};

/* A request waiting for the flush: built then, if its probe is still on. */
struct queued {
	uint32_t slot, gen;
};

struct prober_link {
	struct checker *checker;
	struct privsep_worker *worker;
	struct remote_slot *slots;
	size_t n_slots, slots_cap;
	uint32_t free_head;
	struct queued *queue;
	size_t n_queued, queue_cap;
	struct loop_timer flush_timer;
};

static int slot_take(struct prober_link *l, struct check_probe *probe,
		     uint32_t *out)
{
	uint32_t s = l->free_head;

	if (s == NO_SLOT) {
		if (l->n_slots >= NO_SLOT)
			return -ENOMEM;
		if (grow(&l->slots, &l->slots_cap, l->n_slots + 1,
			 sizeof(*l->slots), 64) < 0)
			return -ENOMEM;
		s = (uint32_t)l->n_slots++;
		l->slots[s] = (struct remote_slot){ .next_free = NO_SLOT };
	} else {
		l->free_head = l->slots[s].next_free;
	}
	l->slots[s].probe = probe;
	*out = s;
	return 0;
}

static void slot_put(struct prober_link *l, uint32_t s)
{
	l->slots[s].probe = NULL;
	l->slots[s].gen++;
	l->slots[s].next_free = l->free_head;
	l->free_head = s;
}

/*
 * Replies come in batches of up to PROBE_MSG_BATCH per recvmmsg(): at
 * 10,000 backends every 2 s one syscall per reply was a good part of what
 * the daemon spent at rest.
 */
static void on_readable(struct privsep_worker *w, int fd, uint32_t events,
			void *arg)
{
	struct prober_link *l = arg;
	/* one byte more than a reply each: a longer message shows */
	static char bufs[PROBE_MSG_BATCH][sizeof(struct probe_reply) + 1];
	struct mmsghdr msgs[PROBE_MSG_BATCH];
	struct iovec iov[PROBE_MSG_BATCH];
	int n;

	for (;;) {
		probe_msg_batch(msgs, iov, bufs, sizeof(bufs[0]), PROBE_MSG_BATCH);
		n = recvmmsg(fd, msgs, PROBE_MSG_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			struct remote_slot *slot;
			struct probe_reply r;
			size_t len = msgs[i].msg_len;
			int ret = probe_reply_parse(bufs[i], len,
						    (uint32_t)l->n_slots, &r);

			/* The prober never sends an empty message: EOF. */
			if (len == 0) {
				privsep_worker_lost(w, NULL);
				return;
			}
			if (ret < 0) {
				log_error("health prober (pid %d) sent a message that is not a valid result (%zu bytes: %s)",
					  (int)privsep_worker_pid(w), len, strerror(-ret));
				privsep_worker_lost(w, "killed");
				return;
			}
			slot = &l->slots[r.slot];
			if (!slot->probe || slot->gen != r.gen)
				continue;	/* cancelled since it was sent */
			check_probe_done(slot->probe, (enum check_status)r.status,
					 "%s", r.reason);
			if (privsep_worker_fd(w) != fd)
				return;		/* a callback changed the link */
		}
	}
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR) ||
	    (events & (EPOLLHUP | EPOLLERR)))
		privsep_worker_lost(w, NULL);
}

/*
 * Requests queued toward the prober (about 2.3 KB each in the kernel's
 * accounting): the default buffer holds ~90, less than one loop
 * iteration's burst with thousands of backends, and a full buffer fails
 * the probe as "busy".  CAP_NET_ADMIN lets knlbd pass net.core.wmem_max.
 */
static int on_started(struct privsep_worker *w, int fd, void *arg)
{
	(void)w;
	(void)arg;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){ REQUEST_SNDBUF },
		       sizeof(int)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ REQUEST_SNDBUF },
				 sizeof(int));
	return 0;
}

static const struct privsep_worker_ops prober_ops = {
	.readable = on_readable,
	.started = on_started,
};

static void on_flush_timer(struct loop *loop, struct loop_timer *t, void *arg);

int prober_link_new(struct checker *checker, struct privsep_spawner *spawner,
		    unsigned int role, struct prober_link **out)
{
	struct prober_link *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->checker = checker;
	l->free_head = NO_SLOT;
	loop_timer_init(&l->flush_timer, on_flush_timer, l);
	ret = privsep_worker_new(checker->loop, spawner, role, "health prober",
				 &prober_ops, l, &l->worker);
	if (ret < 0) {
		free(l);
		return ret;
	}
	log_info("health probes run in process %d, without privileges",
		 (int)privsep_worker_pid(l->worker));
	*out = l;
	return 0;
}

/* Probes are cancelled first (checker_free()): no slot is busy here. */
void prober_link_free(struct prober_link *l)
{
	if (!l)
		return;
	loop_timer_cancel(l->checker->loop, &l->flush_timer);
	privsep_worker_free(l->worker);
	free(l->queue);
	free(l->slots);
	free(l);
}

/* Build the request for slot s into req. */
static void request_build(struct prober_link *l, uint32_t s,
			  struct probe_request *req)
{
	const struct check_probe *probe = l->slots[s].probe;

	memset(req, 0, sizeof(*req));
	req->version = PROBE_MSG_VERSION;
	req->type = PROBE_MSG_REQUEST;
	req->slot = s;
	req->gen = l->slots[s].gen;
	req->addr = probe->addr;
	req->port = probe->port;
	/* It must start within one timeout; then it has its whole timeout. */
	req->deadline_ns = loop_now_ns() + probe->spec.timeout_ns;
	req->spec = probe->spec;
}

/*
 * Send up to PROBE_MSG_BATCH requests in one sendmmsg(): how many went,
 * and in *err what stopped the rest (EAGAIN: the prober's buffer is full;
 * ECHILD: no prober).
 */
static size_t requests_send(struct prober_link *l, int fd,
			    const uint32_t *slots, size_t n, int *err)
{
	static struct probe_request reqs[PROBE_MSG_BATCH];
	struct mmsghdr msgs[PROBE_MSG_BATCH];
	struct iovec iov[PROBE_MSG_BATCH];
	size_t sent = 0;
	int ret;

	*err = 0;
	if (fd < 0) {
		*err = ECHILD;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		request_build(l, slots[i], &reqs[i]);
	probe_msg_batch(msgs, iov, reqs, sizeof(reqs[0]), n);
	while (sent < n) {
		ret = sendmmsg(fd, msgs + sent, (unsigned int)(n - sent),
			       MSG_DONTWAIT | MSG_NOSIGNAL);
		if (ret == -1) {
			if (errno == EINTR)
				continue;
			*err = errno;
			break;
		}
		sent += (size_t)ret;
	}
	return sent;
}

/*
 * Everything queued goes out, PROBE_MSG_BATCH requests a syscall; a
 * request that cannot (the prober's buffer full, or no prober) ends its
 * probe as a local error.  A probe cancelled while queued (a reload) is
 * skipped: its slot changed generation.  The callbacks of failed probes
 * run after each batch and may queue or cancel probes: the next batch is
 * built after them.
 */
static void flush(struct prober_link *l)
{
	size_t n = l->n_queued, i = 0;

	while (i < n) {
		uint32_t batch[PROBE_MSG_BATCH];
		size_t k = 0, sent;
		int err;

		for (; i < n && k < PROBE_MSG_BATCH; i++) {
			struct queued q = l->queue[i];

			if (l->slots[q.slot].probe && l->slots[q.slot].gen == q.gen)
				batch[k++] = q.slot;
		}
		sent = requests_send(l, privsep_worker_fd(l->worker), batch, k, &err);
		for (size_t j = sent; j < k; j++) {
			struct check_probe *probe = l->slots[batch[j]].probe;

			/* Full: the prober is behind; gone: its EOF is on the way. */
			if (probe)
				check_probe_done(probe, CHECK_LOCAL_ERROR,
						 "health prober %s",
						 err == EAGAIN ? "busy" : err == ECHILD ?
						 "not running" : strerror(err));
		}
	}
	/* Probes started by the callbacks above wait for the next flush. */
	memmove(l->queue, l->queue + n, (l->n_queued - n) * sizeof(*l->queue));
	l->n_queued -= n;
	if (l->n_queued &&
	    loop_timer_arm(l->checker->loop, &l->flush_timer, FLUSH_DELAY_NS) < 0)
		flush(l);
}

static void on_flush_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	flush(arg);
}

static int remote_start(struct check_probe *probe)
{
	struct prober_link *l = probe->checker->remote;
	uint32_t s;
	int ret;

	probe->remote_slot = NO_SLOT;
	if (privsep_worker_fd(l->worker) < 0) {
		check_probe_done(probe, CHECK_LOCAL_ERROR, "health prober not running");
		return 0;
	}
	ret = slot_take(l, probe, &s);
	if (ret < 0)
		return ret;
	if (grow(&l->queue, &l->queue_cap, l->n_queued + 1, sizeof(*l->queue), 256) < 0) {
		slot_put(l, s);
		return -ENOMEM;
	}
	l->queue[l->n_queued++] = (struct queued){ .slot = s, .gen = l->slots[s].gen };
	probe->remote_slot = s;
	if (!loop_timer_armed(&l->flush_timer) &&
	    loop_timer_arm(l->checker->loop, &l->flush_timer, FLUSH_DELAY_NS) < 0) {
		/* No timer: send now; a failure is delivered from the loop. */
		int err;

		requests_send(l, privsep_worker_fd(l->worker), &s, 1, &err);
		l->n_queued--;
		if (err)
			check_probe_done(probe, CHECK_LOCAL_ERROR, "health prober: %s",
					 strerror(err));
	}
	return 0;
}

static void remote_timeout(struct check_probe *probe)
{
	check_probe_done(probe, CHECK_LOCAL_ERROR, "no answer from the health prober");
}

static void remote_stop(struct check_probe *probe)
{
	struct prober_link *l = probe->checker->remote;
	uint32_t s = probe->remote_slot;

	if (s < l->n_slots && l->slots[s].probe == probe)
		slot_put(l, s);
	probe->remote_slot = NO_SLOT;
}

const struct check_ops check_remote_ops = {
	.start = remote_start,
	.timeout = remote_timeout,
	.stop = remote_stop,
	.deadline_slack_ns = REMOTE_SLACK_NS,
	.queued = true,
};
