/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's side of the prober process: a probe kind that sends the
 * probe to the prober and finishes it with the result that comes back,
 * and the link itself (start, death, restart with backoff).
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

#define RESTART_FIRST_NS	1000000000ULL
#define RESTART_MAX_NS		30000000000ULL
/* A prober that lived this long gets the first delay again. */
#define RESTART_STABLE_NS	RESTART_MAX_NS
/* On top of the kind's own deadline: the round trip and the prober's queue. */
#define REMOTE_SLACK_NS		2000000000ULL
#define NO_SLOT			UINT32_MAX
/*
 * Requests queued toward the prober (about 2.3 KB each in the kernel's
 * accounting): the default buffer holds ~90, less than one loop
 * iteration's burst with thousands of backends, and a full buffer fails
 * the probe as "busy".  CAP_NET_ADMIN lets knlbd pass net.core.wmem_max.
 */
#define REQUEST_SNDBUF		(8 * 1024 * 1024)

struct remote_slot {
	struct check_probe *probe;	/* NULL: free */
	uint32_t gen;
	uint32_t next_free;
};

struct prober_link {
	struct checker *checker;
	struct privsep_spawner *spawner;
	unsigned int role;
	pid_t pid;			/* 0: none running */
	int fd;				/* -1: none */
	uint64_t started_ns;
	uint64_t backoff_ns;
	struct loop_timer restart_timer;
	struct remote_slot *slots;
	size_t n_slots, slots_cap;
	uint32_t free_head;
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

static void link_close(struct prober_link *l)
{
	if (l->fd >= 0) {
		loop_del_fd(l->checker->loop, l->fd);
		close(l->fd);
	}
	l->fd = -1;
}

static void on_readable(struct loop *loop, int fd, uint32_t events, void *arg);

static int link_spawn(struct prober_link *l)
{
	int ret = privsep_spawn(l->spawner, l->role, &l->pid, &l->fd);

	if (ret < 0) {
		l->pid = 0;
		l->fd = -1;
		return ret;
	}
	if (setsockopt(l->fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){ REQUEST_SNDBUF },
		       sizeof(int)) == -1)
		(void)setsockopt(l->fd, SOL_SOCKET, SO_SNDBUF, &(int){ REQUEST_SNDBUF },
				 sizeof(int));
	ret = loop_add_fd(l->checker->loop, l->fd, EPOLLIN, on_readable, l);
	if (ret < 0) {
		close(l->fd);
		l->fd = -1;
		kill(l->pid, SIGKILL);
		privsep_reap(l->pid);
		l->pid = 0;
		return ret;
	}
	l->started_ns = loop_now_ns();
	return 0;
}

static void restart_arm(struct prober_link *l)
{
	if (loop_timer_arm(l->checker->loop, &l->restart_timer, l->backoff_ns) < 0)
		log_error("health prober: cannot schedule its restart: out of memory");
	if (l->backoff_ns < RESTART_MAX_NS / 2)
		l->backoff_ns *= 2;
	else
		l->backoff_ns = RESTART_MAX_NS;
}

static void on_restart_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct prober_link *l = arg;
	int ret;

	(void)loop;
	(void)t;
	ret = link_spawn(l);
	if (ret < 0) {
		log_error("health prober: cannot restart it: %s; next try in %llu s",
			  strerror(-ret),
			  (unsigned long long)(l->backoff_ns / 1000000000ULL));
		restart_arm(l);
		return;
	}
	log_info("health prober restarted as pid %d", (int)l->pid);
}

/*
 * The prober is gone (EOF) or must go (it lied): reap it, say how it
 * ended, start another later.  Probes in flight end at their deadlines as
 * local errors.
 */
static void link_lost(struct prober_link *l, const char *why)
{
	char how[64];
	pid_t pid = l->pid;
	int status;

	link_close(l);
	if (why)
		kill(pid, SIGKILL);
	status = privsep_reap(pid);
	l->pid = 0;
	if (loop_now_ns() - l->started_ns >= RESTART_STABLE_NS)
		l->backoff_ns = RESTART_FIRST_NS;
	log_error("health prober (pid %d) %s: %s; restarting in %llu s",
		  (int)pid, why ? why : "died",
		  status < 0 ? strerror(-status) :
			       privsep_status_text(status, how, sizeof(how)),
		  (unsigned long long)(l->backoff_ns / 1000000000ULL));
	restart_arm(l);
}

static void on_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct prober_link *l = arg;
	struct probe_reply r;
	char buf[sizeof(r) + 1];	/* one byte more: a longer message shows */
	ssize_t n;

	(void)loop;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		struct remote_slot *slot;
		int ret = probe_reply_parse(buf, (size_t)n, (uint32_t)l->n_slots, &r);

		if (ret < 0) {
			log_error("health prober (pid %d) sent a message that is not a valid result (%zd bytes: %s)",
				  (int)l->pid, n, strerror(-ret));
			link_lost(l, "killed");
			return;
		}
		slot = &l->slots[r.slot];
		if (!slot->probe || slot->gen != r.gen)
			continue;	/* cancelled since it was sent */
		check_probe_done(slot->probe, (enum check_status)r.status, "%s",
				 r.reason);
		if (l->fd != fd)
			return;		/* a callback changed the link */
	}
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR) ||
	    (events & (EPOLLHUP | EPOLLERR)))
		link_lost(l, NULL);
}

int prober_link_new(struct checker *checker, struct privsep_spawner *spawner,
		    unsigned int role, struct prober_link **out)
{
	struct prober_link *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->checker = checker;
	l->spawner = spawner;
	l->role = role;
	l->fd = -1;
	l->free_head = NO_SLOT;
	l->backoff_ns = RESTART_FIRST_NS;
	loop_timer_init(&l->restart_timer, on_restart_timer, l);
	ret = link_spawn(l);
	if (ret < 0) {
		free(l);
		return ret;
	}
	log_info("health probes run in process %d, without privileges", (int)l->pid);
	*out = l;
	return 0;
}

/* Probes are cancelled first (checker_free()): no slot is busy here. */
void prober_link_free(struct prober_link *l)
{
	pid_t pid;

	if (!l)
		return;
	pid = l->pid;
	loop_timer_cancel(l->checker->loop, &l->restart_timer);
	link_close(l);
	if (pid > 0) {
		kill(pid, SIGKILL);
		privsep_reap(pid);
	}
	free(l->slots);
	free(l);
}

static int remote_start(struct check_probe *probe)
{
	struct prober_link *l = probe->checker->remote;
	struct probe_request req;
	uint32_t s;
	int ret;

	probe->remote_slot = NO_SLOT;
	if (l->fd < 0) {
		check_probe_done(probe, CHECK_LOCAL_ERROR, "health prober not running");
		return 0;
	}
	ret = slot_take(l, probe, &s);
	if (ret < 0)
		return ret;
	memset(&req, 0, sizeof(req));
	req.version = PROBE_MSG_VERSION;
	req.type = PROBE_MSG_REQUEST;
	req.slot = s;
	req.gen = l->slots[s].gen;
	req.addr = probe->addr;
	req.port = probe->port;
	req.deadline_ns = probe->start_ns + probe->spec.timeout_ns;
	req.spec = probe->spec;
	if (send(l->fd, &req, sizeof(req), MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		ret = errno;
		slot_put(l, s);
		/* Full: the prober is behind; gone: its EOF is on the way. */
		check_probe_done(probe, CHECK_LOCAL_ERROR, "health prober: %s",
				 ret == EAGAIN ? "busy" : strerror(ret));
		return 0;
	}
	probe->remote_slot = s;
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
};
