/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Probe lifecycle: start, deadline, cancel, and the one place a result is
 * reported (probe_finish()).  What a probe does on the wire lives in
 * check_tcp.c, check_udp.c and check_http.c.
 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check-int.h"

/*
 * curl_global_init() is not reference counted by curl; count checkers so
 * the last one to go releases it and a leak checker sees nothing left.
 */
static unsigned int curl_users;

static int curl_acquire(void)
{
	if (curl_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	curl_users++;
	return 0;
}

static void curl_release(void)
{
	if (--curl_users == 0)
		curl_global_cleanup();
}

static const struct check_ops *kind_ops(const struct checker *checker,
				       enum check_kind kind, int family)
{
	if (kind == CHECK_TCP && check_syn_serves(checker, family))
		return &check_syn_ops;
	if (checker->remote && kind != CHECK_NONE)
		return &check_remote_ops;
	switch (kind) {
	case CHECK_TCP:
		return &check_tcp_ops;
	case CHECK_UDP:
		return &check_udp_ops;
	case CHECK_HTTP:
		return &check_http_ops;
	case CHECK_HTTPS:
		return &check_https_ops;
	case CHECK_NONE:
		break;
	}
	return NULL;
}

int checker_new(struct loop *loop, struct checker **out)
{
	struct checker *checker = calloc(1, sizeof(*checker));
	int err;

	if (!checker)
		return -ENOMEM;
	checker->loop = loop;
	err = curl_acquire();
	if (err < 0)
		goto out_free;
	err = check_https_init(checker);
	if (err < 0)
		goto out_release;
	*out = checker;
	return 0;

out_release:
	curl_release();
out_free:
	free(checker);
	return err;
}

int checker_new_remote(struct loop *loop, struct privsep_spawner *spawner,
		       unsigned int role, struct checker **out)
{
	struct checker *checker = calloc(1, sizeof(*checker));
	int err;

	if (!checker)
		return -ENOMEM;
	checker->loop = loop;
	err = prober_link_new(checker, spawner, role, &checker->remote);
	if (err < 0) {
		free(checker);
		return err;
	}
	*out = checker;
	return 0;
}

/* Take the probe out of the checker and free what its kind holds. */
static void probe_release(struct check_probe *probe)
{
	struct checker *checker = probe->checker;

	loop_timer_cancel(checker->loop, &probe->timer);
	probe->ops->stop(probe);
	if (probe->prev)
		probe->prev->next = probe->next;
	else
		checker->probes = probe->next;
	if (probe->next)
		probe->next->prev = probe->prev;
	probe->prev = probe->next = NULL;
	checker->n_running--;
}

/*
 * Every result goes through here.  The probe leaves the checker before
 * its callback runs, so the callback may start or cancel other probes,
 * and cancelling this one is recognised (finishing) and ignored.
 */
static void probe_finish(struct check_probe *probe)
{
	probe->result.latency_ms =
		(double)(loop_now_ns() - probe->start_ns) / 1e6;
	probe_release(probe);
	probe->finishing = true;
	probe->done(&probe->result, probe->arg);
	free(probe);
}

static void probe_on_timer(struct loop *loop, struct loop_timer *timer,
			   void *arg)
{
	struct check_probe *probe = arg;

	(void)loop;
	(void)timer;
	if (probe->deferred)
		probe_finish(probe);
	else
		probe->ops->timeout(probe);
}

static void result_set(struct check_probe *probe, enum check_status status,
		       const char *fmt, va_list ap)
{
	probe->result.status = status;
	vsnprintf(probe->result.reason, sizeof(probe->result.reason), fmt, ap);
}

/*
 * The timer is armed from start to finish, so re-arming it takes the slot
 * it already has in the loop's heap: no allocation, no failure.  The first
 * result set wins; a later one (curl completing after a local failure was
 * already noted) does not overwrite it.
 */
static void probe_defer(struct check_probe *probe)
{
	probe->deferred = true;
	loop_timer_arm(probe->checker->loop, &probe->timer, 0);
}

void check_probe_done(struct check_probe *probe, enum check_status status,
		      const char *fmt, ...)
{
	va_list ap;

	if (!probe->deferred) {
		va_start(ap, fmt);
		result_set(probe, status, fmt, ap);
		va_end(ap);
	}
	/* The contract: never call back from inside checker_start(). */
	if (probe->starting)
		probe_defer(probe);
	else
		probe_finish(probe);
}

void check_probe_done_later(struct check_probe *probe,
			    enum check_status status, const char *fmt, ...)
{
	va_list ap;

	if (probe->deferred)
		return;
	va_start(ap, fmt);
	result_set(probe, status, fmt, ap);
	va_end(ap);
	probe_defer(probe);
}

/*
 * spec is copied, so the caller may free or reload its configuration
 * while the probe runs.  A zero timeout or a kind without a probe is
 * -EINVAL.
 */
int checker_start(struct checker *checker, const struct check_spec *spec,
		  const struct knlb_addr *addr, uint16_t port,
		  check_done_fn done, void *arg, struct check_probe **out)
{
	const struct check_ops *ops = kind_ops(checker, spec->kind, addr->family);
	struct check_probe *probe;
	int err;

	if (!ops || !spec->timeout_ns || !done || !port)
		return -EINVAL;
	if (addr->family != AF_INET && addr->family != AF_INET6)
		return -EAFNOSUPPORT;
	probe = calloc(1, sizeof(*probe));
	if (!probe)
		return -ENOMEM;
	probe->checker = checker;
	probe->ops = ops;
	probe->spec = *spec;
	probe->addr = *addr;
	probe->port = port;
	probe->done = done;
	probe->arg = arg;
	probe->fd = -1;
	probe->start_ns = loop_now_ns();
	loop_timer_init(&probe->timer, probe_on_timer, probe);
	err = loop_timer_arm_at(checker->loop, &probe->timer,
				probe->start_ns + spec->timeout_ns *
				(ops->queued ? 2 : 1) + ops->deadline_slack_ns);
	if (err < 0)
		goto out_free;

	probe->next = checker->probes;
	if (probe->next)
		probe->next->prev = probe;
	checker->probes = probe;
	checker->n_running++;

	probe->starting = true;
	err = ops->start(probe);
	probe->starting = false;
	if (err < 0) {
		probe_release(probe);
		goto out_free;
	}
	if (out)
		*out = probe;
	return 0;

out_free:
	free(probe);
	return err;
}

/* Not for the probe whose callback is running: that one is ignored. */
void checker_cancel(struct checker *checker, struct check_probe *probe)
{
	(void)checker;
	if (!probe || probe->finishing)
		return;
	probe_release(probe);
	free(probe);
}

/* Not from a done callback: the checker is in use up the stack. */
void checker_free(struct checker *checker)
{
	if (!checker)
		return;
	while (checker->probes)
		checker_cancel(checker, checker->probes);
	if (checker->remote) {
		prober_link_free(checker->remote);
		checker->remote = NULL;
	} else {
		check_https_cleanup(checker);
		curl_release();
	}
	check_sock_cleanup(checker);
	check_syn_cleanup(checker);
	free(checker);
}

size_t checker_running(const struct checker *checker)
{
	return checker->n_running;
}

bool check_errno_is_local(int err)
{
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
	case EADDRNOTAVAIL:	/* no free local port or source address */
	case EAGAIN:		/* connect(): no free local port */
		return true;
	default:
		return false;
	}
}

void check_probe_fail_errno(struct check_probe *probe, const char *op,
			    const char *refused, const char *timed_out,
			    int err)
{
	const char *reason = NULL;

	switch (err) {
	case ECONNREFUSED:
		reason = refused;
		break;
	case ETIMEDOUT:
		reason = timed_out;
		break;
	case EHOSTUNREACH:
		reason = "no route to host";
		break;
	case ENETUNREACH:
		reason = "network unreachable";
		break;
	}
	if (reason)
		check_probe_done(probe, CHECK_FAILED, "%s", reason);
	else
		check_probe_done(probe, check_errno_is_local(err) ?
					CHECK_LOCAL_ERROR : CHECK_FAILED,
				 "%s: %s", op, strerror(err));
}

int check_probe_watch_fd(struct check_probe *probe, uint32_t events,
			 loop_fd_fn fn)
{
	int err = loop_add_fd(probe->checker->loop, probe->fd, events, fn, probe);

	if (err < 0)
		return err;
	probe->fd_watched = true;
	return 0;
}

void check_probe_delay_ack(int fd)
{
	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 0 }, sizeof(int));
}

void check_probe_close_fd(struct check_probe *probe)
{
	/* Unwatch before close: the loop finds watches by fd number. */
	if (probe->fd_watched)
		loop_del_fd(probe->checker->loop, probe->fd);
	probe->fd_watched = false;
	if (probe->fd >= 0)
		close(probe->fd);
	probe->fd = -1;
}

socklen_t check_probe_sockaddr(const struct check_probe *probe,
			       struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (probe->addr.family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = probe->addr.in6;
		sin6->sin6_port = htons(probe->port);
		return sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = probe->addr.in;
		sin->sin_port = htons(probe->port);
		return sizeof(*sin);
	}
}
