/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HEALTH_CHECK_INT_H
#define KNLB_HEALTH_CHECK_INT_H

/*
 * What check.c shares with the per-kind probe files (check_tcp.c,
 * check_udp.c, check_http.c) and nobody else: the probe and checker
 * structures and the two ways a kind reports a result.
 */

#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "knlb/lib/addr-t.h"
#include "knlb/health/check.h"
#include "knlb/lib/loop.h"

struct check_probe;

struct check_ops {
	/*
	 * Begin the probe: 0, or -errno when our side cannot (socket(),
	 * memory).  Must not report a result directly; check_probe_done()
	 * called from here is delivered from the loop instead.
	 */
	int (*start)(struct check_probe *probe);
	/* The probe's deadline passed without a result. */
	void (*timeout)(struct check_probe *probe);
	/* Release what start() took, also when start() failed half-way. */
	void (*stop)(struct check_probe *probe);
	/*
	 * Added to spec.timeout_ns for the probe's deadline: nonzero when the
	 * kind enforces the timeout itself and ours is only a backstop.
	 */
	uint64_t deadline_slack_ns;
	/* Events of the probe's kept socket (check_sock_take()). */
	void (*event)(struct check_probe *probe, uint32_t events);
	/*
	 * The kind may wait up to one timeout in a queue before the timeout
	 * proper begins (remote: the prober's queue), so the deadline is two
	 * timeouts (and the slack) from the start.
	 */
	bool queued;
};

extern const struct check_ops check_tcp_ops;
extern const struct check_ops check_udp_ops;
extern const struct check_ops check_http_ops;	/* by hand, check_http.c */
extern const struct check_ops check_https_ops;	/* libcurl, check_https.c */
/* tcp from raw sockets, in this process, once checker_open_raw() succeeded */
extern const struct check_ops check_syn_ops;
/* Every kind, run by the unprivileged prober process (check_remote.c). */
extern const struct check_ops check_remote_ops;

struct prober_link;
struct privsep_spawner;

struct http_probe;
struct https_probe;
struct check_sock;
struct check_sock_pool;

struct check_probe {
	struct checker *checker;
	struct check_probe *prev, *next;	/* checker->probes */
	const struct check_ops *ops;
	struct check_spec spec;		/* copy: the config may be reloaded */
	struct knlb_addr addr;
	uint16_t port;			/* resolved: spec.port or the backend's */
	check_done_fn done;
	void *arg;
	uint64_t start_ns;
	/*
	 * Armed for the whole life of the probe (its deadline), so re-arming
	 * it for a deferred result reuses its heap slot and cannot fail.
	 */
	struct loop_timer timer;
	bool starting;		/* inside checker_start(): results wait */
	bool deferred;		/* result is set; the timer delivers it */
	bool finishing;		/* callback running; cancel is a no-op */
	struct check_result result;
	/* tcp, udp */
	int fd;			/* -1 when none */
	bool fd_watched;
	/* tcp, http: the kept socket fd belongs to (check_sock.c) */
	struct check_sock *sock;
	/* http */
	struct http_probe *http;
	/* https */
	struct https_probe *https;
	/* remote: its slot in the prober link */
	uint32_t remote_slot;
	/* tcp from a raw socket (check_syn.c): in flight by sequence number */
	uint32_t syn_seq;
	struct check_probe *syn_next;
	bool syn_linked;
	uint32_t syn_queued;	/* index + 1 in the pass's send queue; 0: sent */
};

struct checker {
	struct loop *loop;
	struct check_probe *probes;
	size_t n_running;
	/* https: every transfer in one multi handle, driven by the loop */
	CURLM *multi;
	struct loop_timer curl_timer;
	/* Set: every probe runs in the prober process, none here. */
	struct prober_link *remote;
	/* tcp, http: idle probe sockets, IPv4 and IPv6 (check_sock.c) */
	struct check_sock_pool *sock_pools[2];
	/* tcp from raw sockets (check_syn.c); NULL: connect() */
	struct syn_engine *syn;
};

/*
 * The probe ended: set its result and report it now, or, while the probe
 * is still being started, from the loop's next iteration.  The probe is
 * freed on return unless delivery was deferred.
 */
void check_probe_done(struct check_probe *probe, enum check_status status,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same, always delivered from the loop (callers inside curl's callbacks). */
void check_probe_done_later(struct check_probe *probe,
			    enum check_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Errors that say something about us, not the backend: CHECK_LOCAL_ERROR. */
bool check_errno_is_local(int err);

/*
 * The probe failed with errno err during op ("connect", "send", "recv"):
 * report it.  What the network answered is named: ECONNREFUSED as
 * refused and ETIMEDOUT as timed_out (each as this kind of probe words
 * it; NULL: not named), no route, network unreachable.  Anything else is
 * "OP: strerror", a CHECK_LOCAL_ERROR when check_errno_is_local().
 */
void check_probe_fail_errno(struct check_probe *probe, const char *op,
			    const char *refused, const char *timed_out,
			    int err);

/* The probe's destination as a sockaddr for socket()/connect(). */
socklen_t check_probe_sockaddr(const struct check_probe *probe,
			       struct sockaddr_storage *ss);

/* Watch probe->fd in the loop; check_probe_close_fd() undoes it. */
int check_probe_watch_fd(struct check_probe *probe, uint32_t events,
			 loop_fd_fn fn);

/*
 * Before connect(): hold the handshake's last ACK back (TCP_QUICKACK
 * off), so it goes with our first data, or never when we close first.
 * Best effort.
 */
void check_probe_delay_ack(int fd);

/* The stop() of the fd-based kinds: unwatch and close probe->fd. */
void check_probe_close_fd(struct check_probe *probe);

/* Start the prober process for checker (remote) and stop it. */
int prober_link_new(struct checker *checker, struct privsep_spawner *spawner,
		    unsigned int role, struct prober_link **out);
void prober_link_free(struct prober_link *link);

/*
 * Kept TCP probe sockets (check_sock.c).  take: probe->fd is a socket of
 * family, watched, its events going to probe->ops->event; 0 or -errno.
 * reusable: the probe ended cleanly, its socket may serve the next one.
 * release (a kind's stop()): reset the connection, keep or close the
 * socket.  cleanup: close the idle ones (none may be in use).
 */
int check_sock_take(struct check_probe *probe, int family);
void check_sock_reusable(struct check_probe *probe);
void check_sock_release(struct check_probe *probe);
void check_sock_cleanup(struct checker *checker);

/* Whether check_syn.c sends the tcp probes of family; its teardown. */
bool check_syn_serves(const struct checker *checker, int family);
void check_syn_cleanup(struct checker *checker);

/* Set up and tear down the checker's curl multi handle (https). */
int check_https_init(struct checker *checker);
void check_https_cleanup(struct checker *checker);

/* Body bytes examined for spec.body (http and https). */
#define HTTP_BODY_MAX	(16 * 1024)
#define HTTP_USER_AGENT	"knlb-health/0.1"

#endif
