/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HTTP probe, by hand: one GET on a fresh connection, judged
 * (http_response.c) as soon as the status line (and, with spec.body, the
 * body) is in, then a reset.  libcurl's multi interface did the same for
 * ~80 % of the prober's CPU at 10,000 backends every 2 s (bench: knlbd at
 * rest): its bookkeeping grows with the transfers in flight.  https stays
 * with curl (check_https.c), and so does the request it sends.
 *
 * Per probe: setsockopt (TCP_QUICKACK), connect, send, recv and the reset
 * (connect(AF_UNSPEC)) on a socket kept from the previous probe with its
 * epoll registration (check_sock.c; edge-triggered: in and out).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "check-int.h"
#include "knlb/health/http_response.h"
#include "knlb/lib/addr.h"

/* What is read at a time when only the status line matters. */
#define HTTP_STATUS_READ	512

struct http_probe {
	size_t req_len, req_sent;
	uint64_t sent_ns;		/* when the last request byte went */
	size_t len, cap;		/* response bytes read, buffer size */
	char req[2 * CHECK_TEXT_MAX + KNLB_ADDRSTRLEN + 128];
	char buf[];			/* cap bytes */
};

/*
 * Names and paths go into the request as they are: refuse what would
 * change its meaning there (a blank, a line break, a second header) or in
 * the Host header (a port, a path).
 */
static bool http_text_ok(const char *text, const char *forbidden)
{
	for (const char *c = text; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f ||
		    strchr(forbidden, *c))
			return false;
	return true;
}

/* As curl wrote it: HTTP/1.1, Host, User-Agent, Accept; then we close. */
static int http_request_build(struct check_probe *probe)
{
	const struct check_spec *spec = &probe->spec;
	struct http_probe *http = probe->http;
	const char *path = spec->path[0] ? spec->path : "/";
	char host[KNLB_ADDRSTRLEN];
	int n;

	if (!http_text_ok(path, "") ||
	    (spec->host[0] && !http_text_ok(spec->host, ":/?#@[]\\")))
		return -EINVAL;
	if (!spec->host[0])
		addr_port_format(&probe->addr, probe->port, host, sizeof(host));
	n = snprintf(http->req, sizeof(http->req),
		     "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " HTTP_USER_AGENT
		     "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
		     path[0] == '/' ? "" : "/", path,
		     spec->host[0] ? spec->host : host);
	if (n < 0 || (size_t)n >= sizeof(http->req))
		return -EINVAL;
	http->req_len = (size_t)n;
	return 0;
}

/* True when it ended the probe (which is then freed: touch it no more). */
static bool http_judge(struct check_probe *probe, bool eof)
{
	struct http_probe *http = probe->http;
	char reason[CHECK_REASON_MAX];

	switch (http_response_judge(&probe->spec, http->buf, http->len, eof,
				    reason, sizeof(reason))) {
	case HTTP_PASS:
		check_sock_reusable(probe);
		check_probe_done(probe, CHECK_OK, "%s", reason);
		return true;
	case HTTP_FAIL:
		check_sock_reusable(probe);	/* the backend's answer, not the socket's */
		check_probe_done(probe, CHECK_FAILED, "%s", reason);
		return true;
	case HTTP_NEED_MORE:
		break;
	}
	return false;
}

/* Send what is left of the request: false when the probe ended. */
static bool http_send(struct check_probe *probe)
{
	struct http_probe *http = probe->http;

	while (http->req_sent < http->req_len) {
		ssize_t n = send(probe->fd, http->req + http->req_sent,
				 http->req_len - http->req_sent, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return true;	/* the next EPOLLOUT edge */
		if (n == -1) {
			check_probe_fail_errno(probe, "send", "connect refused",
					       "timeout", errno);
			return false;
		}
		http->req_sent += (size_t)n;
	}
	http->sent_ns = loop_now_ns();
	return true;
}

/*
 * Read everything there is (edge-triggered) and judge it after each read:
 * a verdict ends the probe without waiting for the backend to close.
 * True when the probe ended (it is freed then).
 */
static bool http_read(struct check_probe *probe)
{
	struct http_probe *http = probe->http;

	for (;;) {
		ssize_t n;

		if (http->len == http->cap)
			return http_judge(probe, true);	/* nothing more will be read */
		n = recv(probe->fd, http->buf + http->len, http->cap - http->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return false;
		if (n == 0 || (n == -1 && errno == ECONNRESET && http->len))
			return http_judge(probe, true);
		if (n == -1) {
			check_probe_fail_errno(probe, "recv", "connect refused",
					       "timeout", errno);
			return true;
		}
		http->len += (size_t)n;
		if (http_judge(probe, false))
			return true;
	}
}

/* The handshake failed: report why, true; false when no error is pending. */
static bool http_connect_error(struct check_probe *probe)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(probe->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (!err)
		return false;
	check_probe_fail_errno(probe, "connect", "connect refused", "timeout", err);
	return true;
}

/* As http_connect_error(), and a hang-up with no error is a close. */
static void http_connect_failed(struct check_probe *probe)
{
	if (!http_connect_error(probe))
		check_probe_done(probe, CHECK_FAILED, "connection closed");
}

static void http_event(struct check_probe *probe, uint32_t events)
{
	struct http_probe *http = probe->http;

	if (http->req_sent < http->req_len) {
		if ((events & (EPOLLERR | EPOLLHUP)) && http_connect_error(probe))
			return;
		if (!(events & EPOLLOUT) || !http_send(probe))
			return;
	}
	if (http->req_sent == http->req_len &&
	    (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		http_read(probe);
}

static int http_start(struct check_probe *probe)
{
	struct sockaddr_storage ss;
	socklen_t slen = check_probe_sockaddr(probe, &ss);
	size_t cap = probe->spec.body[0] ? HTTP_RESPONSE_RAW_MAX : HTTP_STATUS_READ;
	struct http_probe *http = malloc(sizeof(*http) + cap);
	int err;

	if (!http)
		return -ENOMEM;
	http->req_sent = http->len = 0;
	http->cap = cap;
	probe->http = http;
	err = http_request_build(probe);
	if (err < 0)
		return err;
	err = check_sock_take(probe, ss.ss_family);
	if (err < 0) {
		/* Our side, not the backend's: a result, as curl gave it. */
		check_probe_done(probe, CHECK_LOCAL_ERROR, "socket: %s", strerror(-err));
		return 0;
	}
	check_probe_delay_ack(probe->fd);	/* the ACK goes with the request */
	if (connect(probe->fd, (struct sockaddr *)&ss, slen) == -1 &&
	    errno != EINPROGRESS) {
		check_probe_fail_errno(probe, "connect", "connect refused", "timeout",
				       errno);
	}
	return 0;
}

/*
 * How late our side sent the request, in ns: the time from the start to
 * the last byte sent, less the handshake's round trip as the kernel
 * measured it (TCP_INFO; none known: all of it).  Only the request needs
 * us: the handshake and the answer are the kernel's, whenever we run.
 */
static uint64_t http_send_delay_ns(const struct check_probe *probe)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t took = probe->http->sent_ns - probe->start_ns, rtt = 0;

	if (getsockopt(probe->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
		rtt = (uint64_t)ti.tcpi_rtt * 1000;
	return took > rtt ? took - rtt : 0;
}

/*
 * The deadline passed without a verdict.  A prober that got the CPU late
 * (a loaded host) may find the answer already read by the kernel: judge
 * that first.  Then whose timeout it is: the backend's when it did not
 * complete the handshake in time, or had the request for its whole
 * timeout; ours (a local error, no state change) when the handshake was
 * done but we did not send the request until more than a quarter of the
 * timeout had gone.  Counting our lateness as the backend's turned a
 * starved prober into thousands of false DOWNs (bench: knlbd at rest).
 */
static void http_timeout(struct check_probe *probe)
{
	struct http_probe *http = probe->http;
	struct pollfd pfd = { .fd = probe->fd, .events = POLLOUT };
	uint64_t late_ns;

	if (probe->fd < 0) {
		check_probe_done(probe, CHECK_FAILED, "timeout");
		return;
	}
	if (http->req_sent == http->req_len) {
		if (http_read(probe))
			return;
		late_ns = http_send_delay_ns(probe);
	} else if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP))) {
		http_connect_failed(probe);
		return;
	} else {
		/* Connected and never sent: ours; no handshake: the backend's. */
		late_ns = pfd.revents & POLLOUT ? loop_now_ns() - probe->start_ns : 0;
	}
	if (late_ns > probe->spec.timeout_ns / 4)
		check_probe_done(probe, CHECK_LOCAL_ERROR,
				 "timeout not counted: the request went %llu ms late (prober busy)",
				 (unsigned long long)(late_ns / 1000000));
	else
		check_probe_done(probe, CHECK_FAILED, "timeout");
}

static void http_stop(struct check_probe *probe)
{
	check_sock_release(probe);
	free(probe->http);
	probe->http = NULL;
}

const struct check_ops check_http_ops = {
	.start = http_start,
	.timeout = http_timeout,
	.stop = http_stop,
	.event = http_event,
};
