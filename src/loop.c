/* SPDX-License-Identifier: GPL-2.0-or-later */
/* epoll event loop with a before-sleep hook; see include/knlb/loop.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "knlb/loop.h"

struct loop_watch {
	int fd;
	bool dead;		/* deleted; freed once the current batch is done */
	loop_fd_fn fn;
	void *arg;
	struct loop_watch *next;
};

struct loop {
	int epfd;
	bool stopping;
	struct loop_watch *watches;
	loop_hook_fn before_sleep;
	void *before_sleep_arg;
};

int loop_new(struct loop **out)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd == -1) {
		int err = -errno;

		free(loop);
		return err;
	}
	*out = loop;
	return 0;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	while (loop->watches) {
		struct loop_watch *w = loop->watches;

		loop->watches = w->next;
		free(w);
	}
	close(loop->epfd);
	free(loop);
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
		void *arg)
{
	struct loop_watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

/*
 * A callback may delete any watch, including one whose event is still
 * pending in the current epoll batch: mark it, free it after the batch.
 */
int loop_del_fd(struct loop *loop, int fd)
{
	for (struct loop_watch *w = loop->watches; w; w = w->next) {
		if (w->fd != fd || w->dead)
			continue;
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		w->dead = true;
		return 0;
	}
	return -ENOENT;
}

static void loop_reap(struct loop *loop)
{
	struct loop_watch **p = &loop->watches;

	while (*p) {
		struct loop_watch *w = *p;

		if (w->dead) {
			*p = w->next;
			free(w);
		} else {
			p = &w->next;
		}
	}
}

void loop_set_before_sleep(struct loop *loop, loop_hook_fn fn, void *arg)
{
	loop->before_sleep = fn;
	loop->before_sleep_arg = arg;
}

void loop_stop(struct loop *loop)
{
	loop->stopping = true;
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[32];

	loop->stopping = false;
	while (!loop->stopping) {
		int n;

		if (loop->before_sleep)
			loop->before_sleep(loop, loop->before_sleep_arg);
		if (loop->stopping)
			break;
		n = epoll_wait(loop->epfd, events, 32, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stopping; i++) {
			struct loop_watch *w = events[i].data.ptr;

			if (!w->dead)
				w->fn(loop, w->fd, events[i].events, w->arg);
		}
		loop_reap(loop);
	}
	return 0;
}
