/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TCP probe sockets kept from one probe to the next (tcp and http).
 *
 * connect(AF_UNSPEC) resets an established connection (an RST, as
 * SO_LINGER 0 and close() sent) and leaves the socket ready to connect
 * again, with a fresh source port, still registered with the loop: no
 * socket(), SO_LINGER, EPOLL_CTL_ADD, EPOLL_CTL_DEL and close() per
 * probe.  The next connect() clears the socket's error.  A socket whose
 * probe did not end cleanly (refused, timed out, cancelled, reset by the
 * peer) is closed anyway: nothing of one probe may reach the next.
 *
 * Each socket is watched edge-triggered for in, out and read hang-up for
 * its whole life and its events go to the probe's kind (ops->event);
 * the events of an idle socket (its own reset) go nowhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check-int.h"

/* Idle sockets kept per family; more are closed when their probe ends. */
#define SOCK_IDLE_MAX	1024

struct check_sock {
	struct check_sock_pool *pool;
	int fd;
	struct check_probe *probe;	/* NULL: idle */
	bool reusable;			/* its probe ended cleanly */
	struct check_sock *next_idle;
};

struct check_sock_pool {
	struct checker *checker;
	struct check_sock *idle;
	size_t n_idle;
};

static void sock_on_event(struct loop *loop, int fd, uint32_t events,
			  void *arg)
{
	struct check_sock *cs = arg;

	(void)loop;
	(void)fd;
	if (cs->probe)
		cs->probe->ops->event(cs->probe, events);
}

static void sock_close(struct check_sock *cs)
{
	loop_del_fd(cs->pool->checker->loop, cs->fd);
	close(cs->fd);
	free(cs);
}

static struct check_sock_pool *pool_of(struct checker *checker, int family)
{
	struct check_sock_pool **slot = &checker->sock_pools[family == AF_INET6];

	if (!*slot) {
		*slot = calloc(1, sizeof(**slot));
		if (*slot)
			(*slot)->checker = checker;
	}
	return *slot;
}

static int sock_new(struct check_sock_pool *pool, int family,
		    struct check_sock **out)
{
	struct check_sock *cs = calloc(1, sizeof(*cs));
	int err;

	if (!cs)
		return -ENOMEM;
	cs->pool = pool;
	cs->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->fd == -1) {
		err = -errno;
		free(cs);
		return err;
	}
	err = loop_add_fd(pool->checker->loop, cs->fd,
			  EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, sock_on_event, cs);
	if (err < 0) {
		close(cs->fd);
		free(cs);
		return err;
	}
	*out = cs;
	return 0;
}

int check_sock_take(struct check_probe *probe, int family)
{
	struct check_sock_pool *pool = pool_of(probe->checker, family);
	struct check_sock *cs = NULL;
	int err;

	if (!pool)
		return -ENOMEM;
	if (pool->idle) {
		cs = pool->idle;
		pool->idle = cs->next_idle;
		pool->n_idle--;
	} else {
		err = sock_new(pool, family, &cs);
		if (err < 0)
			return err;
	}
	cs->probe = probe;
	cs->reusable = false;
	probe->sock = cs;
	probe->fd = cs->fd;
	return 0;
}

void check_sock_reusable(struct check_probe *probe)
{
	if (probe->sock)
		probe->sock->reusable = true;
}

void check_sock_release(struct check_probe *probe)
{
	static const struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	struct check_sock *cs = probe->sock;
	struct check_sock_pool *pool;

	if (!cs)
		return;
	probe->sock = NULL;
	probe->fd = -1;
	cs->probe = NULL;
	pool = cs->pool;
	if (connect(cs->fd, &unspec, sizeof(unspec)) == 0 && cs->reusable &&
	    pool->n_idle < SOCK_IDLE_MAX) {
		cs->next_idle = pool->idle;
		pool->idle = cs;
		pool->n_idle++;
		return;
	}
	sock_close(cs);
}

void check_sock_cleanup(struct checker *checker)
{
	for (size_t i = 0; i < 2; i++) {
		struct check_sock_pool *pool = checker->sock_pools[i];

		if (!pool)
			continue;
		while (pool->idle) {
			struct check_sock *cs = pool->idle;

			pool->idle = cs->next_idle;
			sock_close(cs);
		}
		free(pool);
		checker->sock_pools[i] = NULL;
	}
}
