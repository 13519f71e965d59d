/* SPDX-License-Identifier: GPL-2.0-or-later */
/* epoll event loop with deferred calls and a before-sleep hook; see include/knlb/lib/loop.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "knlb/lib/grow.h"
#include "knlb/lib/loop.h"

struct loop_watch {
	int fd;
	bool dead;		/* deleted; freed once the current batch is done */
	loop_fd_fn fn;
	void *arg;
	struct loop_watch *next;	/* in watches, or in dead once deleted */
	struct loop_watch *prev;	/* in watches only */
};

struct heap_entry {
	uint64_t deadline_ns;
	struct loop_timer *timer;
};

struct loop {
	int epfd;
	bool stopping;
	/*
	 * Live watches, and the same indexed by fd (epoll takes an fd once):
	 * a health prober adds and deletes thousands of sockets a second, so
	 * finding and unlinking a watch is O(1), not a walk of every watch.
	 */
	struct loop_watch *watches;
	struct loop_watch **by_fd;
	size_t by_fd_cap;
	struct loop_watch *dead;	/* deleted during this batch */
	loop_hook_fn before_sleep;
	void *before_sleep_arg;
	/* Deferred calls, first queued first; the pass counts their runs. */
	struct loop_defer *deferred, **deferred_tail;
	uint64_t pass;
	int timerfd;
	uint64_t timerfd_deadline;	/* what timerfd is armed for; 0 = disarmed */
	/*
	 * Min-heap on deadline_ns, each deadline kept beside its timer: a
	 * step down the heap compares entries of this array, not timers
	 * spread over every backend and probe (cache misses that made
	 * loop_timer_cancel() 5 % of knlbd at rest, docs/performance.md).
	 */
	struct heap_entry *heap;
	size_t n_timers, heap_cap;
};

uint64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void heap_set(struct loop *loop, size_t i, struct loop_timer *t)
{
	loop->heap[i] = (struct heap_entry){ t->deadline_ns, t };
	t->heap_index = i + 1;
}

/* Four children a node: half the depth of a binary heap, and the four
 * entries a step down compares share a cache line. */
#define HEAP_ARITY	4

static void heap_move(struct loop *loop, size_t to, size_t from)
{
	loop->heap[to] = loop->heap[from];
	loop->heap[to].timer->heap_index = to + 1;
}

static void heap_up(struct loop *loop, size_t i)
{
	struct heap_entry e = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / HEAP_ARITY;

		if (loop->heap[parent].deadline_ns <= e.deadline_ns)
			break;
		heap_move(loop, i, parent);
		i = parent;
	}
	loop->heap[i] = e;
	e.timer->heap_index = i + 1;
}

static void heap_down(struct loop *loop, size_t i)
{
	struct heap_entry e = loop->heap[i];

	for (;;) {
		size_t first = HEAP_ARITY * i + 1, last = first + HEAP_ARITY, min = first;

		if (first >= loop->n_timers)
			break;
		if (last > loop->n_timers)
			last = loop->n_timers;
		for (size_t c = first + 1; c < last; c++)
			if (loop->heap[c].deadline_ns < loop->heap[min].deadline_ns)
				min = c;
		if (e.deadline_ns <= loop->heap[min].deadline_ns)
			break;
		heap_move(loop, i, min);
		i = min;
	}
	loop->heap[i] = e;
	e.timer->heap_index = i + 1;
}

void loop_timer_init(struct loop_timer *timer, loop_timer_fn fn, void *arg)
{
	memset(timer, 0, sizeof(*timer));
	timer->fn = fn;
	timer->arg = arg;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *timer)
{
	size_t i;

	if (!timer->heap_index)
		return;
	i = timer->heap_index - 1;
	timer->heap_index = 0;
	if (--loop->n_timers == i)
		return;
	/* The last timer fills the hole and moves up or down, not both. */
	heap_move(loop, i, loop->n_timers);
	if (i > 0 && loop->heap[(i - 1) / HEAP_ARITY].deadline_ns > loop->heap[i].deadline_ns)
		heap_up(loop, i);
	else
		heap_down(loop, i);
}

int loop_timer_arm_at(struct loop *loop, struct loop_timer *timer,
		      uint64_t deadline_ns)
{
	loop_timer_cancel(loop, timer);
	if (grow(&loop->heap, &loop->heap_cap, loop->n_timers + 1,
		 sizeof(*loop->heap), 64) < 0)
		return -ENOMEM;
	timer->deadline_ns = deadline_ns;
	heap_set(loop, loop->n_timers++, timer);
	heap_up(loop, loop->n_timers - 1);
	return 0;
}

int loop_timer_arm(struct loop *loop, struct loop_timer *timer,
		   uint64_t delay_ns)
{
	return loop_timer_arm_at(loop, timer, loop_now_ns() + delay_ns);
}

size_t loop_timer_count(const struct loop *loop)
{
	return loop->n_timers;
}

/* Point the timerfd at the earliest deadline, touching it only on change. */
static void timerfd_sync(struct loop *loop)
{
	uint64_t want = loop->n_timers ? loop->heap[0].deadline_ns : 0;
	struct itimerspec its = { 0 };

	if (want == loop->timerfd_deadline)
		return;
	if (want) {
		its.it_value.tv_sec = (time_t)(want / 1000000000ULL);
		its.it_value.tv_nsec = (long)(want % 1000000000ULL);
	}
	/* A deadline in the past fires at once: TFD_TIMER_ABSTIME semantics. */
	if (timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		loop->timerfd_deadline = want;
}

static void run_expired_timers(struct loop *loop)
{
	uint64_t now = loop_now_ns();

	/* Bounded: timers re-armed for "now" by their callbacks wait a turn. */
	for (size_t budget = loop->n_timers; budget && loop->n_timers &&
	     loop->heap[0].deadline_ns <= now && !loop->stopping; budget--) {
		struct loop_timer *t = loop->heap[0].timer;

		loop_timer_cancel(loop, t);
		t->fn(loop, t, t->arg);
	}
}

static void on_timerfd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t expirations;

	(void)events;
	(void)arg;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	loop->timerfd_deadline = 0;
	run_expired_timers(loop);
}

int loop_new(struct loop **out)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	int err;

	if (!loop)
		return -ENOMEM;
	loop->timerfd = -1;
	loop->deferred_tail = &loop->deferred;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd == -1)
		goto fail;
	loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (loop->timerfd == -1)
		goto fail;
	err = loop_add_fd(loop, loop->timerfd, EPOLLIN, on_timerfd, NULL);
	if (err < 0) {
		errno = -err;
		goto fail;
	}
	*out = loop;
	return 0;

fail:
	err = -errno;
	loop_free(loop);
	return err;
}

static void free_list(struct loop_watch *w)
{
	while (w) {
		struct loop_watch *next = w->next;

		free(w);
		w = next;
	}
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	free_list(loop->watches);
	free_list(loop->dead);
	free(loop->by_fd);
	if (loop->timerfd >= 0)
		close(loop->timerfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->heap);
	free(loop);
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
		void *arg)
{
	struct epoll_event ev = { .events = events };
	struct loop_watch *w;

	if (fd < 0)
		return -EBADF;
	if (grow(&loop->by_fd, &loop->by_fd_cap, (size_t)fd + 1,
		 sizeof(*loop->by_fd), 64) < 0)
		return -ENOMEM;
	w = calloc(1, sizeof(*w));
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
	if (w->next)
		w->next->prev = w;
	loop->watches = w;
	loop->by_fd[fd] = w;
	return 0;
}

/*
 * A callback may delete any watch, including one whose event is still
 * pending in the current epoll batch: move it to the dead list, free it
 * after the batch.
 */
int loop_del_fd(struct loop *loop, int fd)
{
	struct loop_watch *w;

	if (fd < 0 || (size_t)fd >= loop->by_fd_cap || !loop->by_fd[fd])
		return -ENOENT;
	w = loop->by_fd[fd];
	loop->by_fd[fd] = NULL;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->dead = true;
	if (w->prev)
		w->prev->next = w->next;
	else
		loop->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = NULL;
	w->next = loop->dead;
	loop->dead = w;
	return 0;
}

static void loop_reap(struct loop *loop)
{
	free_list(loop->dead);
	loop->dead = NULL;
}

void loop_set_before_sleep(struct loop *loop, loop_hook_fn fn, void *arg)
{
	loop->before_sleep = fn;
	loop->before_sleep_arg = arg;
}

void loop_defer_init(struct loop_defer *d, loop_hook_fn fn, void *arg)
{
	memset(d, 0, sizeof(*d));
	d->fn = fn;
	d->arg = arg;
}

void loop_defer(struct loop *loop, struct loop_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->pass = loop->pass;
	d->next = NULL;
	*loop->deferred_tail = d;
	loop->deferred_tail = &d->next;
}

void loop_defer_cancel(struct loop *loop, struct loop_defer *d)
{
	struct loop_defer **pp;

	if (!d->queued)
		return;
	for (pp = &loop->deferred; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	if (loop->deferred_tail == &d->next)
		loop->deferred_tail = pp;
	d->next = NULL;
	d->queued = false;
}

/*
 * The calls queued before this pass's run, each taken off the queue
 * before it is called: a call may queue, cancel or free any other.  Those
 * it queues carry the new pass and wait for the next run.
 */
static void run_deferred(struct loop *loop)
{
	uint64_t pass = loop->pass++;

	while (loop->deferred && loop->deferred->pass == pass) {
		struct loop_defer *d = loop->deferred;

		loop_defer_cancel(loop, d);
		d->fn(loop, d->arg);
	}
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

		run_deferred(loop);
		if (loop->stopping)
			break;
		if (loop->before_sleep)
			loop->before_sleep(loop, loop->before_sleep_arg);
		if (loop->stopping)
			break;
		timerfd_sync(loop);
		/* Calls queued since their run go at once, not after a sleep. */
		n = epoll_wait(loop->epfd, events, 32, loop->deferred ? 0 : -1);
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
