/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GET /metrics over HTTP, served by libmicrohttpd from the one event loop:
 * no thread.  MHD runs in its epoll mode without an internal thread; its
 * epoll fd is watched by our loop and MHD_run() is called when it is
 * readable, or when the loop timer armed from MHD_get_timeout() fires
 * (connection timeouts, work MHD left pending).  The listening socket is
 * ours, so a bad address or a port in use is reported as such.
 *
 * Hostile or broken clients (issue 13) must not take the endpoint away:
 *  - at most METRICS_MAX_CONNECTIONS at once and METRICS_PER_ADDRESS_LIMIT
 *    from one address (MHD closes the extra ones at once);
 *  - every request has METRICS_REQUEST_DEADLINE_S from accept (or from
 *    the previous answer on a kept-alive connection) to its answer sent,
 *    whatever it trickles: past it we shut the socket down and MHD closes
 *    it (its own timeout is an idle timeout, reset by every byte);
 *  - MHD takes its listening socket out of its epoll set at the limit (or
 *    when accept() runs out of descriptors) and puts it back only when it
 *    runs again, so we run it again after any run that closed a
 *    connection, and poll on a timer while clients wait in the backlog
 *    unaccepted; both cases are logged, at most once a minute.
 *
 * A scrape renders the whole exposition synchronously on the loop: for
 * 1000 backends and 65537 slots, 690 KB in 4-11 ms on the shared 2-core VM
 * (unit test metrics::render_at_scale --verbose), which delays the next
 * commit by as much; not worth a thread.
 *
 * knlbd itself runs this in its unprivileged metrics worker
 * (metrics_serve() with a snapshot function: metrics_worker.c), where the
 * rendering is knlbd's, asked for per scrape; metrics_open() serves and
 * renders in one process (tests).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "knlb/lib/addr.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/daemon/metrics.h"

#define METRICS_MAX_CONNECTIONS		16
#define METRICS_PER_ADDRESS_LIMIT	4
#define METRICS_REQUEST_DEADLINE_S	5
#define METRICS_STALL_RETRY_MS		100	/* backlog waiting, nothing accepted */
#define METRICS_STALL_WARN_MS		1000	/* ...for this long: say so */
#define METRICS_LOG_INTERVAL_S		60
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

#define NS_PER_MS	1000000ULL
#define NS_PER_S	1000000000ULL

/* One TCP connection MHD holds, from its accept to its close. */
struct metrics_conn {
	struct metrics_conn *prev, *next;
	struct metrics *m;
	int fd;
	uint64_t deadline_ns;	/* its current request must be answered by then */
	bool watched;		/* by our loop, for the peer's close */
	bool answering;		/* its request reached on_request */
	bool cut;		/* shut down by us; MHD closes it next */
};

/* A warning that may fire on every event: said once per interval. */
struct rate_log {
	uint64_t last_ns;	/* 0: never said */
	unsigned long suppressed;
};

struct metrics {
	struct loop *loop;
	const struct metrics_sources *src;	/* rendered here, or: */
	metrics_snapshot_fn snapshot;		/* asked of knlbd */
	void *snapshot_arg;
	struct MHD_Daemon *mhd;
	int epfd;			/* MHD's, watched by our loop */
	bool epfd_watched;		/* not while accept() fails: it would spin */
	uint64_t stalled_since_ns;	/* backlog waiting below the limit; 0: not */
	int listen_fd;			/* MHD's to close; we only poll it */
	struct loop_timer timer;
	uint16_t port;
	struct metrics_conn *conns;	/* what MHD holds open */
	unsigned int open;
	unsigned long closed;		/* ever: a change means a slot was freed */
	struct rate_log at_limit_log, stalled_log;
};

/*
 * "ADDR:PORT" into a socket address.  Port 0 (the kernel picks) is for
 * tests: the config refuses it, and addr_port_parse() wants 1..65535.
 */
static int listen_parse(const char *text, struct sockaddr_storage *ss,
			socklen_t *len)
{
	char buf[KNLB_ADDRSTRLEN];
	struct knlb_addr a;
	uint16_t port;
	size_t n = strlen(text);

	if (addr_port_parse(text, &a, &port) < 0) {
		if (n < 2 || n >= sizeof(buf) || strcmp(text + n - 2, ":0") != 0)
			return -EINVAL;
		memcpy(buf, text, n + 1);
		buf[n - 1] = '1';
		if (addr_port_parse(buf, &a, &port) < 0)
			return -EINVAL;
		port = 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (a.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = a.in;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a.in6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
	}
	return 0;
}

/* A bound, listening, non-blocking socket; -errno with err filled. */
static int listen_socket(const char *listen_on, uint16_t *port, char *err,
			 size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, ret;

	if (listen_parse(listen_on, &ss, &len) < 0) {
		snprintf(err, errlen,
			 "metrics_listen %s: not ADDR:PORT or [IPV6]:PORT",
			 listen_on);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto out_err;
	/* A restart must not wait for the last scrape's TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto out_close;
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		goto out_close;
	if (listen(fd, METRICS_MAX_CONNECTIONS) == -1)
		goto out_close;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		goto out_close;
	*port = ntohs(ss.ss_family == AF_INET ?
		      ((struct sockaddr_in *)&ss)->sin_port :
		      ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;

out_close:
	ret = -errno;
	close(fd);
	errno = -ret;
out_err:
	ret = -errno;
	snprintf(err, errlen, "metrics_listen %s: %s", listen_on, strerror(errno));
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     char *body, size_t len, const char *type,
			     const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	/* MUST_FREE: MHD free()s body, which open_memstream/strdup made. */
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    (allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn,
				  unsigned int status, const char *text,
				  const char *allow)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return reply(conn, status, body, strlen(body),
		     "text/plain; charset=utf-8", allow);
}

/* The worker's way: knlbd rendered it into fd. */
static enum MHD_Result reply_snapshot(struct metrics *m,
				      struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;
	int fd, err = m->snapshot(m->snapshot_arg, &fd, &len);

	if (err < 0) {
		log_warn("metrics: no snapshot from knlbd: %s", strerror(-err));
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "metrics unavailable, try again\n", NULL);
	}
	/* MHD reads it with pread()/sendfile() and closes it. */
	resp = MHD_create_response_from_fd((uint64_t)len, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    METRICS_CONTENT_TYPE) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_metrics(struct metrics *m,
				     struct MHD_Connection *conn)
{
	char *body = NULL;
	size_t len = 0;
	FILE *mem;
	int ret;

	if (m->snapshot)
		return reply_snapshot(m, conn);
	mem = open_memstream(&body, &len);
	if (!mem)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory\n", NULL);
	ret = metrics_render(mem, m->src);
	if (fclose(mem) != 0 && ret == 0)
		ret = -ENOMEM;
	if (ret < 0) {
		log_warn("metrics: rendering /metrics: %s", strerror(-ret));
		free(body);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "rendering failed\n", NULL);
	}
	return reply(conn, MHD_HTTP_OK, body, len, METRICS_CONTENT_TYPE, NULL);
}

/*
 * Answered on the first call, before any request body is read: nothing
 * here takes a body, and a POST gets its 405 without uploading.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct metrics *m = cls;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct metrics_conn *c = info ? info->socket_context : NULL;

	if (c)
		c->answering = true;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
				  "not found: knlbd serves /metrics only\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed: GET or HEAD\n", "GET, HEAD");
	/* MHD sends the headers alone for HEAD. */
	return reply_metrics(m, conn);
}

/* MHD's own messages are about clients; debug level keeps scrapers quiet. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("metrics: %s", buf);
}

/* True when the warning is due; then *suppressed says how many were not. */
static bool rate_log_due(struct rate_log *rl, uint64_t now, unsigned long *suppressed)
{
	if (rl->last_ns && now - rl->last_ns < METRICS_LOG_INTERVAL_S * NS_PER_S) {
		rl->suppressed++;
		return false;
	}
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->last_ns = now;
	return true;
}

static void metrics_run(struct metrics *m);

/*
 * The client closed (or half-closed) its side.  MHD 0.9.75 does not see a
 * FIN on a connection still sending its request until something else
 * wakes it (a new connection, a timeout): at the connection limit nothing
 * does.  A request that never reached on_request cannot be answered any
 * more: shut it down, which MHD does see.  One that did gets its answer.
 */
static void on_peer_closed(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct metrics_conn *c = arg;
	struct metrics *m = c->m;

	(void)events;
	loop_del_fd(loop, fd);
	c->watched = false;
	if (!c->answering && !c->cut) {
		shutdown(fd, SHUT_RDWR);
		c->cut = true;
	}
	metrics_run(m);	/* may free c */
}

/* MHD accepted or closed a connection: keep our list and deadlines. */
static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct metrics *m = cls;
	struct metrics_conn *c = *socket_context;
	const union MHD_ConnectionInfo *info;
	unsigned long suppressed;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		m->open--;
		m->closed++;
		if (!c)
			return;
		if (c->watched)
			loop_del_fd(m->loop, c->fd);
		if (c->prev)
			c->prev->next = c->next;
		else
			m->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		free(c);
		*socket_context = NULL;
		return;
	}
	m->open++;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c = calloc(1, sizeof(*c));
	if (!c || !info) {
		/* No deadline to keep: not served at all rather than unbounded. */
		free(c);
		if (info)
			shutdown(info->connect_fd, SHUT_RDWR);
		return;
	}
	c->m = m;
	c->fd = info->connect_fd;
	c->watched = loop_add_fd(m->loop, c->fd, EPOLLRDHUP, on_peer_closed, c) == 0;
	c->deadline_ns = loop_now_ns() + METRICS_REQUEST_DEADLINE_S * NS_PER_S;
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	*socket_context = c;
	if (m->open >= METRICS_MAX_CONNECTIONS &&
	    rate_log_due(&m->at_limit_log, loop_now_ns(), &suppressed))
		log_warn("metrics: %u connections open, the limit: new scrapes wait in the "
			 "backlog; a request not answered %d s after it started is cut "
			 "(%lu more times since the last warning)",
			 m->open, METRICS_REQUEST_DEADLINE_S, suppressed);
}

/* A request answered: the next one on a kept-alive connection gets its own time. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	const union MHD_ConnectionInfo *info;
	struct metrics_conn *c;

	(void)cls;
	(void)req_cls;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		return;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	c = info ? info->socket_context : NULL;
	if (c) {
		c->answering = false;
		c->deadline_ns = loop_now_ns() + METRICS_REQUEST_DEADLINE_S * NS_PER_S;
	}
}

/*
 * Shut down every connection past its deadline: MHD sees it as the
 * client's close on its next run.  Returns how many; *next_ns is the
 * earliest deadline still ahead (unchanged when there is none).
 */
static unsigned int cut_overdue(struct metrics *m, uint64_t now, uint64_t *next_ns)
{
	unsigned int n = 0;

	for (struct metrics_conn *c = m->conns; c; c = c->next) {
		if (c->cut)
			continue;
		if (now >= c->deadline_ns) {
			shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
			n++;
		} else if (c->deadline_ns < *next_ns) {
			*next_ns = c->deadline_ns;
		}
	}
	if (n)
		log_debug("metrics: closed %u connection%s that did not finish a request in %d s",
			  n, n == 1 ? "" : "s", METRICS_REQUEST_DEADLINE_S);
	return n;
}

static void on_epoll_fd(struct loop *loop, int fd, uint32_t events, void *arg);

/* Clients wait in the listening socket's backlog. */
static bool backlog_waiting(const struct metrics *m)
{
	struct pollfd pfd = { .fd = m->listen_fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/*
 * Below the connection limit with clients in the backlog after a run:
 * MHD accepts a burst over a few runs, so that alone means nothing.  For
 * a second on end, accept() fails (out of descriptors, most likely) or
 * MHD holds its listening socket out: stop watching MHD's epoll fd, which
 * would wake us in a busy loop, retry on the timer, and say why, once a
 * minute.
 */
static void note_stalled(struct metrics *m, bool stalled, uint64_t now)
{
	unsigned long suppressed;
	int probe;

	if (!stalled) {
		m->stalled_since_ns = 0;
		if (!m->epfd_watched &&
		    loop_add_fd(m->loop, m->epfd, EPOLLIN, on_epoll_fd, m) == 0)
			m->epfd_watched = true;
		return;
	}
	if (!m->stalled_since_ns)
		m->stalled_since_ns = now;
	if (now - m->stalled_since_ns < METRICS_STALL_WARN_MS * NS_PER_MS)
		return;
	if (m->epfd_watched) {
		loop_del_fd(m->loop, m->epfd);
		m->epfd_watched = false;
	}
	if (!rate_log_due(&m->stalled_log, now, &suppressed))
		return;
	/* The likely cause, seen from here: can this process open a descriptor? */
	probe = fcntl(m->listen_fd, F_DUPFD_CLOEXEC, 0);
	if (probe == -1)
		log_warn("metrics: cannot accept scrapes: %s (%u connections open); "
			 "retrying every %d ms (%lu more times since the last warning)",
			 strerror(errno), m->open, METRICS_STALL_RETRY_MS, suppressed);
	else
		log_warn("metrics: scrapes wait unaccepted below the connection limit "
			 "(%u open); retrying every %d ms (%lu more times since the last warning)",
			 m->open, METRICS_STALL_RETRY_MS, suppressed);
	if (probe != -1)
		close(probe);
}

/*
 * Run MHD until a run frees no slot and cuts nothing (a slot freed in a
 * run puts the listening socket back only in the next one), then arm the
 * timer for the earliest of: what MHD wants, the next request deadline,
 * a retry while the backlog waits unaccepted.
 */
static void metrics_run(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;
	uint64_t now, next_ns = UINT64_MAX;
	bool stalled;

	for (int i = 0; i < 4; i++) {
		unsigned long closed = m->closed;
		unsigned int cut;

		MHD_run(m->mhd);
		cut = cut_overdue(m, loop_now_ns(), &next_ns);
		if (!cut && m->closed == closed)
			break;
		next_ns = UINT64_MAX;
	}
	now = loop_now_ns();
	stalled = m->open < METRICS_MAX_CONNECTIONS && backlog_waiting(m);
	note_stalled(m, stalled, now);
	if (stalled && now + METRICS_STALL_RETRY_MS * NS_PER_MS < next_ns)
		next_ns = now + METRICS_STALL_RETRY_MS * NS_PER_MS;
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES && now + (uint64_t)ms * NS_PER_MS < next_ns)
		next_ns = now + (uint64_t)ms * NS_PER_MS;
	if (next_ns == UINT64_MAX) {
		loop_timer_cancel(m->loop, &m->timer);
		return;
	}
	if (loop_timer_arm_at(m->loop, &m->timer, next_ns) < 0)
		log_warn("metrics: cannot arm timer: scrapes may stall until the next event");
}

static void on_epoll_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	metrics_run(arg);
}

static void on_timer(struct loop *loop, struct loop_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	metrics_run(arg);
}

int metrics_listen_open(const char *listen_on, uint16_t *port, char *err,
			size_t errlen)
{
	return listen_socket(listen_on, port, err, errlen);
}

int metrics_open(struct loop *loop, const char *listen_on,
		 const struct metrics_sources *src, struct metrics **out,
		 char *err, size_t errlen)
{
	uint16_t port;
	int fd, ret;

	*out = NULL;
	fd = listen_socket(listen_on, &port, err, errlen);
	if (fd < 0)
		return fd;
	ret = metrics_serve(loop, fd, port, NULL, NULL, out, err, errlen);
	if (ret == 0)
		(*out)->src = src;
	return ret;
}

/* A fd that MHD did not take is closed here, so the caller never has to. */
int metrics_serve(struct loop *loop, int fd, uint16_t port,
		  metrics_snapshot_fn snapshot, void *arg, struct metrics **out,
		  char *err, size_t errlen)
{
	struct metrics *m;
	const union MHD_DaemonInfo *info;
	int ret;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		snprintf(err, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	m->loop = loop;
	m->snapshot = snapshot;
	m->snapshot_arg = arg;
	m->epfd = -1;
	m->listen_fd = -1;
	m->port = port;
	loop_timer_init(&m->timer, on_timer, m);
	/* From here MHD owns fd and closes it in MHD_stop_daemon(). */
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
				  NULL, NULL, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned int)METRICS_MAX_CONNECTIONS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				  (unsigned int)METRICS_PER_ADDRESS_LIMIT,
				  /* idle timeout: a backstop behind the deadline */
				  MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned int)METRICS_REQUEST_DEADLINE_S,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, m,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
				  MHD_OPTION_END);
	if (!m->mhd) {
		/* Whether MHD closed it on failure is not documented: ask. */
		if (fcntl(fd, F_GETFD) != -1)
			close(fd);
		snprintf(err, errlen, "metrics on port %u: libmicrohttpd would not start",
			 (unsigned int)port);
		ret = -EIO;
		goto out_free;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		snprintf(err, errlen, "metrics on port %u: libmicrohttpd has no epoll fd",
			 (unsigned int)port);
		ret = -EIO;
		goto out_stop;
	}
	ret = loop_add_fd(loop, info->epoll_fd, EPOLLIN, on_epoll_fd, m);
	if (ret < 0) {
		snprintf(err, errlen, "metrics on port %u: watching it: %s",
			 (unsigned int)port, strerror(-ret));
		goto out_stop;
	}
	m->epfd = info->epoll_fd;
	m->epfd_watched = true;
	m->listen_fd = fd;
	*out = m;
	return 0;

out_stop:
	MHD_stop_daemon(m->mhd);
out_free:
	free(m);
	return ret;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	loop_timer_cancel(m->loop, &m->timer);
	if (m->epfd_watched)
		loop_del_fd(m->loop, m->epfd);
	/* Closes the connections, MHD's epoll fd and the listening socket. */
	MHD_stop_daemon(m->mhd);
	/* MHD reports every close on the way; in case one was not: */
	while (m->conns) {
		struct metrics_conn *c = m->conns;

		m->conns = c->next;
		free(c);
	}
	free(m);
}

uint16_t metrics_port(const struct metrics *m)
{
	return m->port;
}
