/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Health probes against servers made here, on 127.0.0.1 only: TCP
 * listeners, a UDP responder and a small HTTP server, the last two served
 * from the same loop as the probes, so no thread and no timing guesswork.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "knlb/health/check.h"
#include "knlb/lib/loop.h"

#define MS 1000000ULL

/*
 * Every duration below is multiplied by KNLB_TEST_TIME_SCALE (default 1)
 * so the same tests can run under valgrind, where the first TLS
 * handshake alone takes longer than a 300 ms probe timeout.
 */
static double g_scale = 1.0;
#define T(ms)	((ms) * g_scale)		/* milliseconds, scaled */
#define NS(ms)	((uint64_t)(T(ms) * MS))	/* the same in nanoseconds */

static struct loop *g_loop;
static struct checker *g_checker;
static int g_pending;		/* callbacks still expected; 0 stops the loop */
static bool g_in_start;		/* inside checker_start() right now */
static bool g_called_in_start;

struct outcome {
	int calls;
	struct check_result res;
};

static void on_done(const struct check_result *res, void *arg)
{
	struct outcome *o = arg;

	if (g_in_start)
		g_called_in_start = true;
	o->calls++;
	o->res = *res;
	if (--g_pending == 0)
		loop_stop(g_loop);
}

static void on_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	*(bool *)arg = true;
	loop_stop(loop);
}

/* Run until every expected callback came, or fail after limit_ms. */
static void run(uint64_t limit_ms)
{
	struct loop_timer guard;
	bool fired = false;

	loop_timer_init(&guard, on_guard, &fired);
	cr_assert_eq(loop_timer_arm(g_loop, &guard, NS(limit_ms)), 0);
	cr_assert_eq(loop_run(g_loop), 0);
	loop_timer_cancel(g_loop, &guard);
	cr_assert(!fired, "%d probe(s) still without a result after %llu ms",
		  g_pending, (unsigned long long)limit_ms);
}

/* Run for a fixed time, whatever happens. */
static void run_for(uint64_t ms)
{
	struct loop_timer guard;
	bool fired = false;

	loop_timer_init(&guard, on_guard, &fired);
	cr_assert_eq(loop_timer_arm(g_loop, &guard, NS(ms)), 0);
	cr_assert_eq(loop_run(g_loop), 0);
	loop_timer_cancel(g_loop, &guard);
}

static bool (*g_until)(void);

static void until_hook(struct loop *loop, void *arg)
{
	(void)arg;
	if (g_until())
		loop_stop(loop);
}

/* Run until cond() holds, checked once per loop iteration. */
static void run_until(bool (*cond)(void), uint64_t limit_ms)
{
	g_until = cond;
	loop_set_before_sleep(g_loop, until_hook, NULL);
	run_for(limit_ms);
	loop_set_before_sleep(g_loop, NULL, NULL);
	cr_assert(cond(), "condition not reached in %llu ms",
		  (unsigned long long)limit_ms);
}

/* Servers and probes use 127.0.0.1, or ::1 when a test says so. */
static sa_family_t g_family = AF_INET;

static struct knlb_addr loopback(void)
{
	struct knlb_addr a = { .family = g_family };

	if (g_family == AF_INET6)
		a.in6 = in6addr_loopback;
	else
		a.in.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static void expect_status_range(struct check_spec *spec, long lo, long hi)
{
	for (long s = lo; s <= hi; s++) {
		long bit = s - CHECK_STATUS_MIN;

		spec->expect_status[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
}

static struct check_spec spec_of(enum check_kind kind, uint64_t timeout_ms)
{
	struct check_spec spec = { .kind = kind, .timeout_ns = NS(timeout_ms) };

	strcpy(spec.path, "/");
	expect_status_range(&spec, 200, 399);
	return spec;
}

static struct check_probe *start_at(const struct check_spec *spec,
				    const struct knlb_addr *addr,
				    uint16_t port, struct outcome *o)
{
	struct check_probe *probe = NULL;
	int err;

	g_in_start = true;
	err = checker_start(g_checker, spec, addr, port, on_done, o, &probe);
	g_in_start = false;
	cr_assert_eq(err, 0, "checker_start: %s", strerror(-err));
	cr_assert_not_null(probe);
	cr_assert_eq(o->calls, 0, "callback ran inside checker_start()");
	g_pending++;
	return probe;
}

static struct check_probe *start(const struct check_spec *spec, uint16_t port,
				 struct outcome *o)
{
	struct knlb_addr a = loopback();

	return start_at(spec, &a, port, o);
}

static void expect_result(const struct outcome *o, enum check_status status,
			  const char *reason)
{
	cr_expect_eq(o->calls, 1, "callback ran %d times", o->calls);
	cr_expect_eq(o->res.status, status, "status %d, want %d (reason \"%s\")",
		     o->res.status, status, o->res.reason);
	cr_expect_str_eq(o->res.reason, reason);
	cr_expect_gt(o->res.latency_ms, 0.0);
}

static void setup(void)
{
	const char *scale = getenv("KNLB_TEST_TIME_SCALE");

	if (scale && atof(scale) >= 1.0)
		g_scale = atof(scale);
	cr_assert_eq(loop_new(&g_loop), 0);
	cr_assert_eq(checker_new(g_loop, &g_checker), 0);
	g_pending = 0;
	g_called_in_start = false;
}

static void server_teardown(void);

static void teardown(void)
{
	cr_expect(!g_called_in_start, "a callback ran inside checker_start()");
	cr_expect_eq(checker_running(g_checker), 0, "probes left running");
	checker_free(g_checker);
	g_checker = NULL;
	server_teardown();
	loop_free(g_loop);
	g_loop = NULL;
}

TestSuite(check, .init = setup, .fini = teardown, .timeout = 10);

/* ---- sockets on the loopback ---- */

static int bound_socket(int type, uint16_t *port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr *sa = (struct sockaddr *)&sin;
	socklen_t len = sizeof(sin);
	int fd = socket(g_family, type | SOCK_CLOEXEC, 0);

	cr_assert_neq(fd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (g_family == AF_INET6) {
		sin6.sin6_addr = in6addr_loopback;
		sa = (struct sockaddr *)&sin6;
		len = sizeof(sin6);
	}
	cr_assert_eq(bind(fd, sa, len), 0);
	cr_assert_eq(getsockname(fd, sa, &len), 0);
	*port = ntohs(g_family == AF_INET6 ? sin6.sin6_port : sin.sin_port);
	return fd;
}

static int tcp_listener(int backlog, uint16_t *port)
{
	int fd = bound_socket(SOCK_STREAM, port);

	cr_assert_eq(listen(fd, backlog), 0);
	return fd;
}

/* A port that was just free: nothing listens there. */
static uint16_t closed_port(int type)
{
	uint16_t port;

	close(bound_socket(type, &port));
	return port;
}

/*
 * A listener whose accept queue is full: the kernel drops further SYNs
 * (it does not answer with a reset), so a connect() there times out.
 * Clients are added until one stays unanswered for 100 ms; they are kept
 * open in fillers[] until the test ends.
 */
static int full_listener(uint16_t *port, int fillers[4])
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int lfd = tcp_listener(0, port);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(*port);
	for (int i = 0; i < 4; i++) {
		struct pollfd pfd = { .events = POLLOUT };

		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		cr_assert_neq(fillers[i], -1);
		connect(fillers[i], (struct sockaddr *)&sin, sizeof(sin));
		pfd.fd = fillers[i];
		if (poll(&pfd, 1, 100) == 0) {
			for (int j = i + 1; j < 4; j++)
				fillers[j] = -1;
			return lfd;
		}
	}
	cr_assert_fail("accept queue of a backlog-0 listener never filled");
	return -1;
}

/* ---- a UDP responder on the loop ---- */

static struct udp_server {
	int fd;
	uint16_t port;
	const char *reply;	/* NULL: stay silent */
	int datagrams;
	char last[64];
	ssize_t last_len;
} g_udp = { .fd = -1 };

static void udp_on_read(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct udp_server *srv = arg;
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);

	(void)loop;
	(void)events;
	srv->last_len = recvfrom(fd, srv->last, sizeof(srv->last), 0,
				 (struct sockaddr *)&from, &len);
	if (srv->last_len < 0)
		return;
	srv->datagrams++;
	if (srv->reply)
		sendto(fd, srv->reply, strlen(srv->reply), 0,
		       (struct sockaddr *)&from, len);
}

static void udp_server_start(const char *reply)
{
	g_udp.fd = bound_socket(SOCK_DGRAM, &g_udp.port);
	g_udp.reply = reply;
	cr_assert_eq(loop_add_fd(g_loop, g_udp.fd, EPOLLIN, udp_on_read, &g_udp), 0);
}

/* ---- an HTTP server on the loop ---- */

#define HTTP_CONNS 512

struct http_conn {
	int fd;
	size_t len;
	char buf[4096];
};

static struct http_server {
	int fd;
	uint16_t port;
	int requests;
	char last[4096];	/* the last request's head */
	size_t big_sent;	/* bytes of /big's body written */
	struct http_conn *conns[HTTP_CONNS];
} g_http = { .fd = -1 };

static void http_conn_close(struct http_conn *c)
{
	for (int i = 0; i < HTTP_CONNS; i++)
		if (g_http.conns[i] == c)
			g_http.conns[i] = NULL;
	loop_del_fd(g_loop, c->fd);
	close(c->fd);
	free(c);
}

static void http_send(struct http_conn *c, int status, const char *extra,
		      const char *body)
{
	char resp[1024];
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n%s",
			 status, strlen(body), extra, body);

	cr_assert_eq(write(c->fd, resp, (size_t)n), n);
}

/* Headers promise 1 MiB; what fits in the socket now is sent, never the rest. */
static void http_send_big(struct http_conn *c)
{
	static const char head[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\nneedle ";
	static char chunk[4096];
	ssize_t n;

	memset(chunk, 'x', sizeof(chunk));
	cr_assert_eq(write(c->fd, head, sizeof(head) - 1), (ssize_t)sizeof(head) - 1);
	g_http.big_sent = 7;
	while (g_http.big_sent < 64 * 1024 &&
	       (n = send(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0)
		g_http.big_sent += (size_t)n;
}

/* /slow: the status line in two parts, the second after 100 ms. */
static struct {
	struct http_conn *conn;
	struct loop_timer timer;
} g_slow;

static void http_slow_rest(struct loop *loop, struct loop_timer *t, void *arg)
{
	static const char rest[] = "00 OK\r\nContent-Length: 0\r\n\r\n";

	(void)loop;
	(void)t;
	(void)arg;
	cr_assert_eq(write(g_slow.conn->fd, rest, sizeof(rest) - 1), (ssize_t)sizeof(rest) - 1);
	http_conn_close(g_slow.conn);
	g_slow.conn = NULL;
}

static void http_write(struct http_conn *c, const char *text)
{
	cr_assert_eq(write(c->fd, text, strlen(text)), (ssize_t)strlen(text));
}

static bool http_route(struct http_conn *c)
{
	const char *req = c->buf;

	if (strncmp(req, "GET /ok ", 8) == 0)
		http_send(c, 200, "", "all ok\n");
	else if (strncmp(req, "GET /fail ", 10) == 0)
		http_send(c, 500, "", "oops\n");
	else if (strncmp(req, "GET /nocontent ", 15) == 0)
		http_send(c, 204, "", "");
	else if (strncmp(req, "GET /host ", 10) == 0)
		http_send(c, strstr(req, "\r\nHost: svc.example\r\n") ? 200 : 421,
			  "", "host\n");
	else if (strncmp(req, "GET /big ", 9) == 0)
		http_send_big(c);
	else if (strncmp(req, "GET /hang ", 10) == 0)
		return false;	/* never answer; the client gives up */
	else if (strncmp(req, "GET /empty ", 11) == 0)
		;		/* close without a word */
	else if (strncmp(req, "GET /truncated ", 15) == 0)
		http_write(c, "HTTP/1.1 20");
	else if (strncmp(req, "GET /chunked ", 13) == 0)
		http_write(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "3\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n");
	else if (strncmp(req, "GET /slow ", 10) == 0) {
		http_write(c, "HTTP/1.1 2");
		g_slow.conn = c;
		loop_timer_init(&g_slow.timer, http_slow_rest, NULL);
		cr_assert_eq(loop_timer_arm(g_loop, &g_slow.timer, NS(100)), 0);
		return false;
	}
	else
		http_send(c, 404, "", "no\n");
	return true;
}

static void http_on_conn(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct http_conn *c = arg;
	ssize_t n;

	(void)loop;
	(void)events;
	n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		http_conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	/* A TLS ClientHello is not a request: answer as a plain server would. */
	if (!isupper((unsigned char)c->buf[0])) {
		http_send(c, 400, "", "");
		http_conn_close(c);
		return;
	}
	if (!strstr(c->buf, "\r\n\r\n"))
		return;
	g_http.requests++;
	memcpy(g_http.last, c->buf, c->len + 1);
	if (http_route(c))
		http_conn_close(c);
}

static void http_on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct http_conn *c;
	int cfd, i;

	(void)events;
	(void)arg;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd == -1)
		return;
	c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->fd = cfd;
	for (i = 0; i < HTTP_CONNS && g_http.conns[i]; i++)
		;
	cr_assert_lt(i, HTTP_CONNS);
	g_http.conns[i] = c;
	cr_assert_eq(loop_add_fd(loop, cfd, EPOLLIN, http_on_conn, c), 0);
}

static void http_server_start(void)
{
	g_http.fd = tcp_listener(512, &g_http.port);
	cr_assert_eq(loop_add_fd(g_loop, g_http.fd, EPOLLIN, http_on_accept, NULL), 0);
}

static void server_teardown(void)
{
	for (int i = 0; i < HTTP_CONNS; i++)
		if (g_http.conns[i])
			http_conn_close(g_http.conns[i]);
	if (g_http.fd >= 0)
		close(g_http.fd);
	g_http.fd = -1;
	if (g_udp.fd >= 0)
		close(g_udp.fd);
	g_udp.fd = -1;
}

static struct check_spec http_spec(const char *path)
{
	struct check_spec spec = spec_of(CHECK_HTTP, 300);

	strcpy(spec.path, path);
	return spec;
}

/* ---- tcp ---- */

Test(check, tcp_connect_ok)
{
	struct check_spec spec = spec_of(CHECK_TCP, 300);
	struct outcome o = { 0 };
	uint16_t port;
	int lfd = tcp_listener(8, &port);

	start(&spec, port, &o);
	cr_expect_eq(checker_running(g_checker), 1);
	run(2000);
	expect_result(&o, CHECK_OK, "connected");
	cr_expect_lt(o.res.latency_ms, T(300));
	cr_log_info("loopback tcp probe: %.3f ms", o.res.latency_ms);
	close(lfd);
}

/*
 * The backend's kernel answers the SYN and its application is never
 * woken: the handshake's last ACK is held back and the probe resets the
 * half-open connection, so nothing reaches the accept queue (as HAProxy's
 * layer-4 checks).  With a full handshake accept() would return it.
 */
Test(check, tcp_probe_leaves_nothing_to_accept)
{
	struct check_spec spec = spec_of(CHECK_TCP, 300);
	struct outcome o = { 0 };
	uint16_t port;
	int lfd = tcp_listener(8, &port), cfd;

	start(&spec, port, &o);
	run(2000);
	expect_result(&o, CHECK_OK, "connected");
	usleep(50 * 1000);	/* any late ACK or reset is processed */
	cr_assert_eq(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
	cfd = accept4(lfd, NULL, NULL, 0);
	cr_expect_eq(cfd, -1, "the probe's connection reached the application");
	cr_expect_eq(errno, EAGAIN);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

/* The checker probes the port it is given; spec->port is health's to resolve. */
Test(check, tcp_probes_the_port_it_is_given)
{
	struct check_spec spec = spec_of(CHECK_TCP, 300);
	struct outcome o = { 0 };
	uint16_t port;
	int lfd = tcp_listener(8, &port);

	spec.port = closed_port(SOCK_STREAM);
	start(&spec, port, &o);
	run(2000);
	expect_result(&o, CHECK_OK, "connected");
	close(lfd);
}

Test(check, tcp_refused)
{
	struct check_spec spec = spec_of(CHECK_TCP, 300);
	struct outcome o = { 0 };

	start(&spec, closed_port(SOCK_STREAM), &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "connect refused");
	cr_expect_lt(o.res.latency_ms, T(300), "a reset is not a timeout");
}

/*
 * connect() fails synchronously here, inside checker_start(): the kernel
 * refuses TCP to a broadcast route before it builds a SYN, so nothing
 * leaves the host.  The result must still come from the loop.
 */
Test(check, tcp_synchronous_failure_is_reported_from_the_loop)
{
	struct check_spec spec = spec_of(CHECK_TCP, 300);
	struct knlb_addr bcast = { .family = AF_INET };
	struct outcome o = { 0 };

	bcast.in.s_addr = htonl(INADDR_BROADCAST);
	start_at(&spec, &bcast, 80, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "network unreachable");
}

Test(check, tcp_timeout)
{
	struct check_spec spec = spec_of(CHECK_TCP, 200);
	struct outcome o = { 0 };
	int fillers[4];
	uint16_t port;
	int lfd = full_listener(&port, fillers);

	start(&spec, port, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "connect timeout");
	cr_expect_geq(o.res.latency_ms, T(200) - 1);
	cr_expect_lt(o.res.latency_ms, T(600));
	for (int i = 0; i < 4 && fillers[i] >= 0; i++)
		close(fillers[i]);
	close(lfd);
}

/* ---- udp ---- */

Test(check, udp_reply_matches)
{
	struct check_spec spec = spec_of(CHECK_UDP, 300);
	struct outcome o = { 0 };

	udp_server_start("PONG from server");
	memcpy(spec.send, "PING", 4);
	spec.send_len = 4;
	memcpy(spec.expect_reply, "PONG", 4);
	spec.expect_reply_len = 4;
	start(&spec, g_udp.port, &o);
	run(2000);
	expect_result(&o, CHECK_OK, "reply");
	cr_expect_eq(g_udp.datagrams, 1);
	cr_expect_eq(g_udp.last_len, 4);
	cr_expect_eq(memcmp(g_udp.last, "PING", 4), 0);
}

Test(check, udp_empty_datagram_any_reply)
{
	struct check_spec spec = spec_of(CHECK_UDP, 300);
	struct outcome o = { 0 };

	udp_server_start("x");
	start(&spec, g_udp.port, &o);
	run(2000);
	expect_result(&o, CHECK_OK, "reply");
	cr_expect_eq(g_udp.datagrams, 1);
	cr_expect_eq(g_udp.last_len, 0, "an empty datagram was sent");
}

Test(check, udp_reply_mismatch)
{
	struct check_spec spec = spec_of(CHECK_UDP, 300);
	struct outcome o = { 0 };

	udp_server_start("NOPE");
	memcpy(spec.expect_reply, "PONG", 4);
	spec.expect_reply_len = 4;
	start(&spec, g_udp.port, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "unexpected reply");
}

Test(check, udp_reply_shorter_than_expected)
{
	struct check_spec spec = spec_of(CHECK_UDP, 300);
	struct outcome o = { 0 };

	udp_server_start("PO");
	memcpy(spec.expect_reply, "PONG", 4);
	spec.expect_reply_len = 4;
	start(&spec, g_udp.port, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "unexpected reply");
}

Test(check, udp_no_reply)
{
	struct check_spec spec = spec_of(CHECK_UDP, 200);
	struct outcome o = { 0 };

	udp_server_start(NULL);
	start(&spec, g_udp.port, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "no reply");
	cr_expect_eq(g_udp.datagrams, 1, "the probe reached the server");
	cr_expect_geq(o.res.latency_ms, T(200) - 1);
	cr_expect_lt(o.res.latency_ms, T(600));
}

Test(check, udp_port_unreachable)
{
	struct check_spec spec = spec_of(CHECK_UDP, 300);
	struct outcome o = { 0 };

	start(&spec, closed_port(SOCK_DGRAM), &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "port unreachable");
	cr_expect_lt(o.res.latency_ms, T(300), "ICMP, not a timeout");
}

/* ---- http ---- */

Test(check, http_200_ok)
{
	struct check_spec spec = http_spec("/ok");
	struct outcome o = { 0 };

	http_server_start();
	start(&spec, g_http.port, &o);
	run(2000);
	expect_result(&o, CHECK_OK, "status 200");
	cr_expect_lt(o.res.latency_ms, T(300));
	cr_log_info("loopback http probe: %.3f ms", o.res.latency_ms);
	cr_expect_eq(g_http.requests, 1);
	cr_expect(strncmp(g_http.last, "GET /ok HTTP/1.1\r\n", 18) == 0,
		  "request: %s", g_http.last);
	cr_expect(strstr(g_http.last, "\r\nUser-Agent: knlb-health/0.1\r\n"),
		  "request: %s", g_http.last);
}

Test(check, http_500_fails)
{
	struct check_spec spec = http_spec("/fail");
	struct outcome o = { 0 };

	http_server_start();
	start(&spec, g_http.port, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "status 500");
}

Test(check, http_expected_status_set)
{
	struct check_spec any2xx = http_spec("/nocontent");
	struct check_spec only200 = http_spec("/nocontent");
	struct outcome a = { 0 }, b = { 0 };

	memset(any2xx.expect_status, 0, sizeof(any2xx.expect_status));
	expect_status_range(&any2xx, 200, 299);
	memset(only200.expect_status, 0, sizeof(only200.expect_status));
	expect_status_range(&only200, 200, 200);
	http_server_start();
	start(&any2xx, g_http.port, &a);
	start(&only200, g_http.port, &b);
	run(2000);
	expect_result(&a, CHECK_OK, "status 204");
	expect_result(&b, CHECK_FAILED, "status 204");
}

Test(check, http_body_substring)
{
	struct check_spec has = http_spec("/ok");
	struct check_spec lacks = http_spec("/ok");
	struct outcome a = { 0 }, b = { 0 };

	strcpy(has.body, "ok");
	strcpy(lacks.body, "ready");
	http_server_start();
	start(&has, g_http.port, &a);
	start(&lacks, g_http.port, &b);
	run(2000);
	expect_result(&a, CHECK_OK, "status 200");
	expect_result(&b, CHECK_FAILED, "body does not contain \"ready\"");
}

/*
 * The body promises 1 MiB and stalls after the first 64 KiB at most: the
 * probe must stop reading at its cap and judge on what it has, not wait
 * for the deadline.
 */
Test(check, http_body_is_capped)
{
	struct check_spec spec = http_spec("/big");
	struct outcome o = { 0 };

	strcpy(spec.body, "needle");
	http_server_start();
	start(&spec, g_http.port, &o);
	run(2000);
	cr_assert_gt(g_http.big_sent, 16 * 1024 + 7, "server sent only %zu bytes",
		     g_http.big_sent);
	expect_result(&o, CHECK_OK, "status 200");
	cr_expect_lt(o.res.latency_ms, T(300));
}

Test(check, http_host_header)
{
	struct check_spec named = http_spec("/host");
	struct check_spec bare = http_spec("/host");
	struct outcome a = { 0 }, b = { 0 };

	strcpy(named.host, "svc.example");
	http_server_start();
	start(&named, g_http.port, &a);
	run(2000);
	expect_result(&a, CHECK_OK, "status 200");
	cr_expect(strstr(g_http.last, "\r\nHost: svc.example\r\n"),
		  "request: %s", g_http.last);

	start(&bare, g_http.port, &b);
	run(2000);
	expect_result(&b, CHECK_FAILED, "status 421");
	cr_expect(strstr(g_http.last, "\r\nHost: 127.0.0.1:"), "request: %s",
		  g_http.last);
}

Test(check, http_rejects_a_host_that_would_change_the_url)
{
	struct check_spec spec = http_spec("/ok");
	struct knlb_addr a = loopback();
	struct check_probe *probe = NULL;

	strcpy(spec.host, "svc.example/evil");
	cr_expect_eq(checker_start(g_checker, &spec, &a, 80, on_done, NULL, &probe),
		     -EINVAL);
	strcpy(spec.host, "svc.example\r\nX-Evil: 1");
	cr_expect_eq(checker_start(g_checker, &spec, &a, 80, on_done, NULL, &probe),
		     -EINVAL);
	cr_expect_null(probe);
}

Test(check, http_refused)
{
	struct check_spec spec = http_spec("/ok");
	struct outcome o = { 0 };

	start(&spec, closed_port(SOCK_STREAM), &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "connect refused");
}

Test(check, http_timeout)
{
	struct check_spec spec = http_spec("/hang");
	struct outcome o = { 0 };

	spec.timeout_ns = NS(200);
	http_server_start();
	start(&spec, g_http.port, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "timeout");
	cr_expect_geq(o.res.latency_ms, T(200) - 1);
	cr_expect_lt(o.res.latency_ms, T(600));
}

/* The status line in two parts, 100 ms apart: read on, then judge. */
Test(check, http_slow_status_line)
{
	struct check_spec spec = http_spec("/slow");
	struct outcome o = { 0 };

	http_server_start();
	start(&spec, g_http.port, &o);
	run(2000);
	expect_result(&o, CHECK_OK, "status 200");
	cr_expect_geq(o.res.latency_ms, T(100) - 1);
}

Test(check, http_empty_and_truncated_replies_fail)
{
	struct check_spec empty = http_spec("/empty");
	struct check_spec truncated = http_spec("/truncated");
	struct outcome a = { 0 }, b = { 0 };

	http_server_start();
	start(&empty, g_http.port, &a);
	start(&truncated, g_http.port, &b);
	run(2000);
	expect_result(&a, CHECK_FAILED, "empty reply");
	expect_result(&b, CHECK_FAILED, "incomplete response");
	cr_expect_lt(a.res.latency_ms, T(300), "a close, not a timeout");
	cr_expect_lt(b.res.latency_ms, T(300), "a close, not a timeout");
}

Test(check, http_chunked_body_substring)
{
	struct check_spec spec = http_spec("/chunked");
	struct outcome o = { 0 };

	strcpy(spec.body, "ready");
	http_server_start();
	start(&spec, g_http.port, &o);
	run(2000);
	expect_result(&o, CHECK_OK, "status 200");
}

Test(check, https_against_plain_http_fails_in_time)
{
	struct check_spec spec = http_spec("/ok");
	struct outcome o = { 0 };

	spec.kind = CHECK_HTTPS;
	http_server_start();
	start(&spec, g_http.port, &o);
	run(2000);
	expect_result(&o, CHECK_FAILED, "TLS handshake failed");
	cr_expect_lt(o.res.latency_ms, T(300));
	cr_expect_eq(g_http.requests, 0, "no plain request was made");
}

/* URLs and curl's CONNECT_TO want IPv6 literals in brackets. */
Test(check, ipv6_tcp_and_http)
{
	struct check_spec tcp = spec_of(CHECK_TCP, 300);
	struct check_spec bare = http_spec("/ok");
	struct check_spec named = http_spec("/host");
	struct outcome a = { 0 }, b = { 0 }, c = { 0 };
	int probe_fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 lo = { .sin6_family = AF_INET6 };

	lo.sin6_addr = in6addr_loopback;
	if (probe_fd == -1 || bind(probe_fd, (struct sockaddr *)&lo, sizeof(lo)) == -1)
		cr_skip_test("no IPv6 loopback here");
	close(probe_fd);
	g_family = AF_INET6;
	strcpy(named.host, "svc.example");
	http_server_start();
	start(&tcp, g_http.port, &a);
	start(&bare, g_http.port, &b);
	start(&named, g_http.port, &c);
	run(2000);
	expect_result(&a, CHECK_OK, "connected");
	expect_result(&b, CHECK_OK, "status 200");
	expect_result(&c, CHECK_OK, "status 200");
	cr_expect_eq(g_http.requests, 2);
}

/* ---- lifecycle ---- */

/*
 * Out of descriptors, in a child so the limit stays there.  tcp and udp
 * need their socket at start: checker_start() returns -EMFILE.  http's
 * socket is opened later by curl: the result is CHECK_LOCAL_ERROR.
 */
static int emfile_child(void)
{
	struct check_spec tcp = spec_of(CHECK_TCP, 300);
	struct check_spec udp = spec_of(CHECK_UDP, 300);
	struct check_spec http = spec_of(CHECK_HTTP, 300);
	struct knlb_addr a = loopback();
	struct check_probe *probe;
	struct outcome o = { 0 };
	struct rlimit old, low;
	int fd, rc = 0;

	/* The fixture's copies, inherited: ours to free, not to use. */
	checker_free(g_checker);
	loop_free(g_loop);
	if (loop_new(&g_loop) || checker_new(g_loop, &g_checker))
		return 10;
	fd = open("/dev/null", O_RDONLY);
	if (fd == -1 || getrlimit(RLIMIT_NOFILE, &old))
		return 11;
	close(fd);
	low = old;
	low.rlim_cur = (rlim_t)fd;	/* the lowest free descriptor is now out of reach */
	if (setrlimit(RLIMIT_NOFILE, &low))
		return 12;
	if (checker_start(g_checker, &tcp, &a, 9, on_done, &o, &probe) != -EMFILE)
		rc = 1;
	else if (checker_start(g_checker, &udp, &a, 9, on_done, &o, &probe) != -EMFILE)
		rc = 2;
	else if (checker_start(g_checker, &http, &a, 9, on_done, &o, &probe) != 0)
		rc = 3;
	if (rc == 0) {
		struct loop_timer guard;
		bool fired = false;

		g_pending = 1;
		loop_timer_init(&guard, on_guard, &fired);
		loop_timer_arm(g_loop, &guard, NS(2000));
		loop_run(g_loop);
		loop_timer_cancel(g_loop, &guard);
		if (o.calls != 1)
			rc = 4;
		else if (o.res.status != CHECK_LOCAL_ERROR)
			rc = 5;
		else if (strcmp(o.res.reason, "socket: Too many open files") != 0)
			rc = 6;
	}
	if (checker_running(g_checker) != 0)
		rc = 7;
	setrlimit(RLIMIT_NOFILE, &old);
	checker_free(g_checker);
	loop_free(g_loop);
	return rc;
}

Test(check, out_of_descriptors)
{
	static const char *const what[] = {
		"ok", "tcp start did not return -EMFILE",
		"udp start did not return -EMFILE", "http start failed",
		"http callback did not run once", "http result is not CHECK_LOCAL_ERROR",
		"http reason is not \"socket: Too many open files\"",
		"probes left running",
	};
	int status;
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(emfile_child());
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died (status %#x)", status);
	status = WEXITSTATUS(status);
	cr_expect_eq(status, 0, "child: %s (%d)",
		     status < 8 ? what[status] : "setup failed", status);
}

static void on_count(const struct check_result *res, void *arg)
{
	(void)res;
	(*(int *)arg)++;
}

static int *g_cancel_calls;

static bool http_sent_and_refused_reported(void)
{
	return g_http.requests == 1 && *g_cancel_calls == 1;
}

/* Cancelled probes of every kind, one with its result already pending. */
Test(check, cancel_means_no_callback)
{
	struct check_spec tcp = spec_of(CHECK_TCP, 200);
	struct check_spec http = http_spec("/hang");
	struct check_spec udp = spec_of(CHECK_UDP, 200);
	struct check_probe *p[4];
	struct knlb_addr a = loopback();
	int fillers[4], calls = 0;
	uint16_t port;
	int lfd = full_listener(&port, fillers);

	http_server_start();
	udp_server_start(NULL);
	http.timeout_ns = NS(200);
	cr_assert_eq(checker_start(g_checker, &tcp, &a, port, on_count, &calls, &p[0]), 0);
	cr_assert_eq(checker_start(g_checker, &tcp, &a, closed_port(SOCK_STREAM),
				   on_count, &calls, &p[1]), 0);
	cr_assert_eq(checker_start(g_checker, &http, &a, g_http.port, on_count,
				   &calls, &p[2]), 0);
	cr_assert_eq(checker_start(g_checker, &udp, &a, g_udp.port, on_count,
				   &calls, &p[3]), 0);
	cr_expect_eq(checker_running(g_checker), 4);
	/* The http probe has sent its request, the refused one has reported. */
	g_cancel_calls = &calls;
	run_until(http_sent_and_refused_reported, 2000);
	cr_expect_eq(checker_running(g_checker), 3);
	checker_cancel(g_checker, p[0]);
	checker_cancel(g_checker, p[2]);
	checker_cancel(g_checker, p[3]);
	cr_expect_eq(checker_running(g_checker), 0);
	run_for(400);
	cr_expect_eq(calls, 1, "a cancelled probe called back");

	/* Cancelled while its synchronous failure waits for the loop. */
	{
		struct knlb_addr bcast = { .family = AF_INET };
		struct check_probe *q;

		bcast.in.s_addr = htonl(INADDR_BROADCAST);
		cr_assert_eq(checker_start(g_checker, &tcp, &bcast, 80, on_count,
					   &calls, &q), 0);
		checker_cancel(g_checker, q);
		run_for(50);
		cr_expect_eq(calls, 1, "a cancelled pending result was delivered");
	}
	for (int i = 0; i < 4 && fillers[i] >= 0; i++)
		close(fillers[i]);
	close(lfd);
}

/* Probes left running when the checker goes: freed, never called. */
Test(check, free_with_probes_running)
{
	struct check_spec tcp = spec_of(CHECK_TCP, 200);
	struct check_spec http = http_spec("/hang");
	struct knlb_addr a = loopback();
	struct check_probe *p;
	int calls = 0;

	http_server_start();
	cr_assert_eq(checker_start(g_checker, &tcp, &a, g_http.port, on_count,
				   &calls, &p), 0);
	cr_assert_eq(checker_start(g_checker, &http, &a, g_http.port, on_count,
				   &calls, &p), 0);
	run_for(50);
	checker_free(g_checker);
	cr_assert_eq(checker_new(g_loop, &g_checker), 0);
	run_for(300);
	cr_expect_eq(calls, 1, "only the tcp probe, done before the free");
}

/*
 * A callback that starts and cancels other probes, and cancels itself,
 * while curl is between completions.
 */
static struct reentry {
	struct check_probe *victim_tcp, *victim_http, *self;
	struct outcome first, late_tcp, late_http;
	int victim_calls;
} g_re;

/* Should a victim outlive its cancel, count it and forget the pointer. */
static void on_victim(const struct check_result *res, void *arg)
{
	(void)res;
	*(struct check_probe **)arg = NULL;
	g_re.victim_calls++;
}

static void on_first(const struct check_result *res, void *arg)
{
	struct check_spec tcp = spec_of(CHECK_TCP, 300);
	struct check_spec http = http_spec("/ok");

	(void)arg;
	g_re.first.calls++;
	g_re.first.res = *res;
	g_pending--;
	checker_cancel(g_checker, g_re.victim_tcp);
	checker_cancel(g_checker, g_re.victim_http);
	checker_cancel(g_checker, g_re.self);
	start(&tcp, g_http.port, &g_re.late_tcp);
	start(&http, g_http.port, &g_re.late_http);
}

Test(check, callback_may_start_and_cancel_probes)
{
	struct check_spec first = http_spec("/ok");
	struct check_spec hang = http_spec("/hang");
	struct check_spec tcp = spec_of(CHECK_TCP, 1000);
	struct knlb_addr a = loopback();
	int fillers[4];
	uint16_t port;
	int lfd = full_listener(&port, fillers);

	/* Victims outlast the first probe by far, and are waited past below. */
	hang.timeout_ns = NS(1000);
	http_server_start();
	cr_assert_eq(checker_start(g_checker, &tcp, &a, port, on_victim,
				   &g_re.victim_tcp, &g_re.victim_tcp), 0);
	cr_assert_eq(checker_start(g_checker, &hang, &a, g_http.port, on_victim,
				   &g_re.victim_http, &g_re.victim_http), 0);
	cr_assert_eq(checker_start(g_checker, &first, &a, g_http.port, on_first,
				   NULL, &g_re.self), 0);
	g_pending++;
	run(2000);
	expect_result(&g_re.first, CHECK_OK, "status 200");
	expect_result(&g_re.late_tcp, CHECK_OK, "connected");
	expect_result(&g_re.late_http, CHECK_OK, "status 200");
	run_for(1100);
	cr_expect_eq(g_re.victim_calls, 0, "a probe cancelled from a callback called back");
	for (int i = 0; i < 4 && fillers[i] >= 0; i++)
		close(fillers[i]);
	close(lfd);
}

Test(check, many_probes_at_once)
{
	enum { N_TCP = 200, N_HTTP = 50 };
	struct check_spec tcp = spec_of(CHECK_TCP, 1000);
	struct check_spec http = http_spec("/ok");
	static struct outcome o[N_TCP + N_HTTP];
	uint16_t port;
	int lfd = tcp_listener(N_TCP + 16, &port);

	http.timeout_ns = NS(1000);
	http_server_start();
	for (int i = 0; i < N_TCP; i++)
		start(&tcp, port, &o[i]);
	for (int i = 0; i < N_HTTP; i++)
		start(&http, g_http.port, &o[N_TCP + i]);
	cr_expect_eq(checker_running(g_checker), N_TCP + N_HTTP);
	run(3000);
	for (int i = 0; i < N_TCP + N_HTTP; i++) {
		cr_expect_eq(o[i].calls, 1, "probe %d: %d calls", i, o[i].calls);
		cr_expect_eq(o[i].res.status, CHECK_OK, "probe %d: %s", i,
			     o[i].res.reason);
	}
	cr_expect_eq(g_http.requests, N_HTTP);
	close(lfd);
}

Test(check, start_rejects_what_it_cannot_probe)
{
	struct check_spec none = spec_of(CHECK_NONE, 300);
	struct check_spec zero = spec_of(CHECK_TCP, 0);
	struct check_spec tcp = spec_of(CHECK_TCP, 300);
	struct knlb_addr a = loopback();
	struct knlb_addr unset = { 0 };
	struct check_probe *p;

	cr_expect_eq(checker_start(g_checker, &none, &a, 80, on_done, NULL, &p), -EINVAL);
	cr_expect_eq(checker_start(g_checker, &zero, &a, 80, on_done, NULL, &p), -EINVAL);
	cr_expect_eq(checker_start(g_checker, &tcp, &a, 0, on_done, NULL, &p), -EINVAL);
	cr_expect_eq(checker_start(g_checker, &tcp, &unset, 80, on_done, NULL, &p),
		     -EAFNOSUPPORT);
	cr_expect_eq(checker_running(g_checker), 0);
}
