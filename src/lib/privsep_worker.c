/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keeping a worker running: start it through the spawner, watch its
 * socket for its owner, and when it dies reap it, say how it ended and
 * start another with backoff.  Meanwhile its owner sees fd -1 and keeps
 * what it has (for health: every backend keeps its state).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/lib/privsep.h"

#define RESTART_FIRST_NS	1000000000ULL
#define RESTART_MAX_NS		30000000000ULL
/* A worker that lived this long gets the first delay again. */
#define RESTART_STABLE_NS	RESTART_MAX_NS
#define NAME_MAX_LEN		48

struct privsep_worker {
	struct loop *loop;
	struct privsep_spawner *spawner;
	unsigned int role;
	char name[NAME_MAX_LEN];
	const struct privsep_worker_ops *ops;
	void *arg;
	pid_t pid;			/* 0: none running */
	int fd;				/* -1: none */
	uint64_t started_ns;
	uint64_t backoff_ns;
	struct loop_timer restart_timer;
};

static void on_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct privsep_worker *w = arg;

	(void)loop;
	w->ops->readable(w, fd, events, w->arg);
}

static void worker_close(struct privsep_worker *w)
{
	if (w->fd >= 0) {
		loop_del_fd(w->loop, w->fd);
		close(w->fd);
	}
	w->fd = -1;
}

static void worker_kill(struct privsep_worker *w)
{
	worker_close(w);
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		privsep_reap(w->pid);
	}
	w->pid = 0;
}

static int worker_spawn(struct privsep_worker *w)
{
	int ret = privsep_spawn(w->spawner, w->role, &w->pid, &w->fd);

	if (ret < 0) {
		w->pid = 0;
		w->fd = -1;
		return ret;
	}
	ret = loop_add_fd(w->loop, w->fd, EPOLLIN, on_readable, w);
	if (ret == 0 && w->ops->started)
		ret = w->ops->started(w, w->fd, w->arg);
	if (ret < 0) {
		worker_kill(w);
		return ret;
	}
	w->started_ns = loop_now_ns();
	return 0;
}

static void restart_arm(struct privsep_worker *w)
{
	if (loop_timer_arm(w->loop, &w->restart_timer, w->backoff_ns) < 0)
		log_error("%s: cannot schedule its restart: out of memory", w->name);
	if (w->backoff_ns < RESTART_MAX_NS / 2)
		w->backoff_ns *= 2;
	else
		w->backoff_ns = RESTART_MAX_NS;
}

static void on_restart_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct privsep_worker *w = arg;
	int ret;

	(void)loop;
	(void)t;
	ret = worker_spawn(w);
	if (ret < 0) {
		log_error("%s: cannot restart it: %s; next try in %llu s", w->name,
			  strerror(-ret),
			  (unsigned long long)(w->backoff_ns / 1000000000ULL));
		restart_arm(w);
		return;
	}
	log_info("%s restarted as pid %d", w->name, (int)w->pid);
}

void privsep_worker_lost(struct privsep_worker *w, const char *why)
{
	char how[64];
	pid_t pid = w->pid;
	int status;

	if (pid <= 0)
		return;
	worker_close(w);
	if (why)
		kill(pid, SIGKILL);
	status = privsep_reap(pid);
	w->pid = 0;
	if (loop_now_ns() - w->started_ns >= RESTART_STABLE_NS)
		w->backoff_ns = RESTART_FIRST_NS;
	log_error("%s (pid %d) %s: %s; restarting in %llu s", w->name, (int)pid,
		  why ? why : "died",
		  status < 0 ? strerror(-status) :
			       privsep_status_text(status, how, sizeof(how)),
		  (unsigned long long)(w->backoff_ns / 1000000000ULL));
	restart_arm(w);
}

int privsep_worker_new(struct loop *loop, struct privsep_spawner *spawner,
		       unsigned int role, const char *name,
		       const struct privsep_worker_ops *ops, void *arg,
		       struct privsep_worker **out)
{
	struct privsep_worker *w = calloc(1, sizeof(*w));
	int ret;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->spawner = spawner;
	w->role = role;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->ops = ops;
	w->arg = arg;
	w->fd = -1;
	w->backoff_ns = RESTART_FIRST_NS;
	loop_timer_init(&w->restart_timer, on_restart_timer, w);
	ret = worker_spawn(w);
	if (ret < 0) {
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

void privsep_worker_free(struct privsep_worker *w)
{
	if (!w)
		return;
	loop_timer_cancel(w->loop, &w->restart_timer);
	worker_kill(w);
	free(w);
}

int privsep_worker_fd(const struct privsep_worker *w)
{
	return w->fd;
}

pid_t privsep_worker_pid(const struct privsep_worker *w)
{
	return w->pid;
}
