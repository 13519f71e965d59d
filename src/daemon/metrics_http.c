/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GET /metrics over HTTP, served by libmicrohttpd from the one event loop:
 * no thread.  MHD runs in its epoll mode without an internal thread; its
 * epoll fd is watched by our loop and MHD_run() is called when it is
 * readable, or when the loop timer armed from MHD_get_timeout() fires
 * (connection timeouts, work MHD left pending).  The listening socket is
 * ours, so a bad address or a port in use is reported as such.
 *
 * A scrape renders the whole exposition synchronously on the loop: for
 * 1000 backends and 65537 slots, 690 KB in 4-11 ms on the shared 2-core VM
 * (unit test metrics::render_at_scale --verbose), which delays the next
 * commit by as much; not worth a thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "knlb/lib/addr.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "knlb/daemon/metrics.h"

#define METRICS_MAX_CONNECTIONS	16
#define METRICS_TIMEOUT_S	10
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct loop *loop;
	const struct metrics_sources *src;
	struct MHD_Daemon *mhd;
	int epfd;			/* MHD's, watched by our loop */
	struct loop_timer timer;
	uint16_t port;
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

static enum MHD_Result reply_metrics(struct metrics *m,
				     struct MHD_Connection *conn)
{
	char *body = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&body, &len);
	int ret;

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

/* Run MHD, then arm the timer for whatever it wants done next. */
static void metrics_run(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(m->mhd);
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES) {
		if (loop_timer_arm(m->loop, &m->timer, (uint64_t)ms * 1000000ULL) < 0)
			log_warn("metrics: cannot arm timer: scrapes may stall until the next event");
	} else {
		loop_timer_cancel(m->loop, &m->timer);
	}
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

int metrics_open(struct loop *loop, const char *listen_on,
		 const struct metrics_sources *src, struct metrics **out,
		 char *err, size_t errlen)
{
	struct metrics *m;
	const union MHD_DaemonInfo *info;
	int fd, ret;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	m->loop = loop;
	m->src = src;
	m->epfd = -1;
	loop_timer_init(&m->timer, on_timer, m);
	fd = listen_socket(listen_on, &m->port, err, errlen);
	if (fd < 0) {
		ret = fd;
		goto out_free;
	}
	/* From here MHD owns fd and closes it in MHD_stop_daemon(). */
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
				  NULL, NULL, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned int)METRICS_MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned int)METRICS_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!m->mhd) {
		/* Whether MHD closed it on failure is not documented: ask. */
		if (fcntl(fd, F_GETFD) != -1)
			close(fd);
		snprintf(err, errlen, "metrics_listen %s: libmicrohttpd would not start",
			 listen_on);
		ret = -EIO;
		goto out_free;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		snprintf(err, errlen, "metrics_listen %s: libmicrohttpd has no epoll fd",
			 listen_on);
		ret = -EIO;
		goto out_stop;
	}
	ret = loop_add_fd(loop, info->epoll_fd, EPOLLIN, on_epoll_fd, m);
	if (ret < 0) {
		snprintf(err, errlen, "metrics_listen %s: watching it: %s",
			 listen_on, strerror(-ret));
		goto out_stop;
	}
	m->epfd = info->epoll_fd;
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
	if (m->epfd >= 0)
		loop_del_fd(m->loop, m->epfd);
	/* Closes the connections, MHD's epoll fd and the listening socket. */
	MHD_stop_daemon(m->mhd);
	free(m);
}

uint16_t metrics_port(const struct metrics *m)
{
	return m->port;
}
