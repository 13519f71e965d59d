/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlb-testsrv: the lab's backend.  One thread, one epoll loop.
 *
 *   knlb-testsrv --name NAME --tcp ADDR:PORT [--udp ADDR:PORT]
 *                [--count-file FILE] [--pid-file FILE] [--idle-ms MS]
 *                [--health-path PATH] [--fail-file FILE] [--log-health]
 *                [--delay-file FILE]
 *
 * TCP: answers every HTTP request with "HTTP/1.1 200 OK" and the body
 * "NAME\n".  Keep-alive unless the client sends "Connection: close" (or
 * speaks HTTP/1.0 without keep-alive); pipelined requests are answered in
 * order.  Connections idle for --idle-ms (default 10000) are closed.
 * HEAD gets the same headers without the body.
 * --health-path PATH: requests for PATH (query string ignored) are answered
 * "200 OK" with the body "ok\n", or "500 Internal Server Error" with the
 * body "fail\n" while --fail-file exists (checked on every request).  Other
 * paths keep answering 200 NAME, so a TCP connect and ordinary requests
 * still work while the health path fails.  --fail-file without
 * --health-path: every request is answered 500 while the file exists.
 * --log-health: one stderr line per health-path request answered,
 * "health UNIX_MS STATUS" (CLOCK_REALTIME, ms with decimals), to see when
 * the checker's probes come.
 * UDP: every datagram is answered with "NAME\n" followed by the datagram.
 * ADDR is A.B.C.D or [IPv6]; [::] listens on both families (one socket,
 * IPV6_V6ONLY off): the lab's backends are dual-stack that way.
 *
 * Counters (connections accepted, requests answered with 200 outside the
 * health path, datagrams answered, health-path requests and those answered
 * 500) are written to --count-file (stdout when absent) on SIGUSR1 and on
 * SIGTERM/SIGINT, after which the server exits.  The pid file is written
 * once every socket listens: its existence means "ready".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lab_addr.h"

#define REQ_MAX		8192	/* request headers larger than this: 400 + close */
#define OUT_MAX		16384
#define UDP_BATCH	64
#define UDP_MTU		2048

enum tag { TAG_LISTEN = 1, TAG_UDP, TAG_SIGNAL, TAG_TIMER, TAG_CONN };

struct conn {
	int fd;			/* -1 when the slot is free */
	uint64_t last_ms;
	size_t in_len;
	size_t out_len, out_off;
	bool closing;		/* close once out is flushed */
	char in[REQ_MAX];
	char out[OUT_MAX];
};

struct srv {
	const char *name;
	size_t name_len;
	const char *count_file;
	const char *health_path;	/* NULL: no health path */
	size_t health_path_len;
	const char *fail_file;		/* NULL: never fail */
	const char *delay_file;		/* NULL: health answers at once */
	bool log_health;
	uint64_t idle_ms;
	int ep;
	int lfd, ufd, sfd, tfd;
	struct conn **conns;	/* indexed by fd */
	size_t n_conns;		/* size of conns[] */
	size_t open;
	uint64_t tcp_conns, http_reqs, udp_dgrams, idle_closed;
	uint64_t health_reqs, fail_reqs;	/* health path; answered 500 */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	fprintf(stderr, "knlb-testsrv: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: knlb-testsrv --name NAME --tcp ADDR:PORT [--udp ADDR:PORT]   ([::]:PORT: both families)\n"
		"                    [--count-file FILE] [--pid-file FILE] [--idle-ms MS]\n"
		"                    [--health-path PATH] [--fail-file FILE] [--log-health]\n"
		"                    [--delay-file FILE]\n");
	exit(2);
}

static void ep_add(struct srv *s, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		die("epoll_ctl add");
}

static void ep_mod(struct srv *s, int fd, uint32_t events)
{
	struct epoll_event ev = {
		.events = events,
		.data.u64 = ((uint64_t)TAG_CONN << 32) | (uint32_t)fd,
	};

	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev) == -1)
		die("epoll_ctl mod");
}

static int open_socket(const union lab_sa *sa, int type)
{
	int one = 1, zero = 0;
	int fd = socket(sa->sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		die("SO_REUSEADDR");
	/* Not left to net.ipv6.bindv6only: [::] must take IPv4 too. */
	if (sa->sa.sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == -1)
		die("IPV6_V6ONLY");
	if (bind(fd, &sa->sa, lab_sa_len(sa)) == -1)
		die("bind");
	if (type == SOCK_STREAM && listen(fd, 4096) == -1)
		die("listen");
	return fd;
}

static void write_counts(const struct srv *s)
{
	char tmp[4096];
	FILE *f = stdout;

	if (s->count_file) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", s->count_file);
		f = fopen(tmp, "w");
		if (!f) {
			fprintf(stderr, "knlb-testsrv: %s: %s\n", tmp, strerror(errno));
			return;
		}
	}
	fprintf(f, "name %s\ntcp_connections %llu\nhttp_requests %llu\n"
		"udp_datagrams %llu\nidle_closed %llu\nopen_connections %zu\n"
		"health_requests %llu\nfailed_requests %llu\n",
		s->name, (unsigned long long)s->tcp_conns,
		(unsigned long long)s->http_reqs,
		(unsigned long long)s->udp_dgrams,
		(unsigned long long)s->idle_closed, s->open,
		(unsigned long long)s->health_reqs,
		(unsigned long long)s->fail_reqs);
	if (s->count_file) {
		if (fclose(f) != 0 || rename(tmp, s->count_file) == -1)
			fprintf(stderr, "knlb-testsrv: %s: %s\n", s->count_file,
				strerror(errno));
	} else {
		fflush(f);
	}
}

static void conn_close(struct srv *s, struct conn *c)
{
	close(c->fd);	/* also removes it from the epoll set */
	c->fd = -1;
	s->open--;
}

/* Send what is queued.  Returns false when the connection was closed. */
static bool conn_flush(struct srv *s, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ep_mod(s, c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
				return true;
			}
			if (errno == EINTR)
				continue;
			conn_close(s, c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	if (c->closing) {
		/* Half-close so the client sees EOF after the body; the fd is
		 * closed when the client's FIN (or RST) arrives, or when idle. */
		shutdown(c->fd, SHUT_WR);
		ep_mod(s, c->fd, EPOLLIN | EPOLLRDHUP);
		return true;
	}
	ep_mod(s, c->fd, EPOLLIN | EPOLLRDHUP);
	return true;
}

/* Case-insensitive search for a header token within [p, end). */
static bool has_token(const char *p, const char *end, const char *tok)
{
	size_t n = strlen(tok);

	for (; p + n <= end; p++)
		if (strncasecmp(p, tok, n) == 0)
			return true;
	return false;
}

/* What one request gets: status and body. */
struct answer {
	int status;
	const char *body;	/* without the final newline */
	size_t body_len;
	bool head;		/* HEAD: headers only */
	bool health;		/* for the health path */
};

static const char *status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 500: return "Internal Server Error";
	default: return "Bad Request";
	}
}

static void queue_response(struct srv *s, struct conn *c, bool keep,
			   const struct answer *a)
{
	int n;

	n = snprintf(c->out + c->out_len, OUT_MAX - c->out_len,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: %s\r\n\r\n%.*s%s",
		     a->status, status_reason(a->status), a->body_len + 1,
		     keep ? "keep-alive" : "close",
		     a->head ? 0 : (int)a->body_len, a->body, a->head ? "" : "\n");
	if (n < 0 || (size_t)n >= OUT_MAX - c->out_len) {
		c->closing = true;	/* client pipelines too much: stop here */
		return;
	}
	c->out_len += (size_t)n;
	if (a->health && s->log_health) {
		struct timespec rt;

		clock_gettime(CLOCK_REALTIME, &rt);
		fprintf(stderr, "health %.3f %d\n",
			(double)rt.tv_sec * 1000.0 + (double)rt.tv_nsec / 1e6,
			a->status);
	}
	if (a->health)
		s->health_reqs++;
	if (a->status == 500)
		s->fail_reqs++;
	else if (a->status == 200 && !a->health)
		s->http_reqs++;
	if (!keep)
		c->closing = true;
}

/*
 * --delay-file: while FILE exists, a health-path answer waits the
 * milliseconds FILE holds (at most 1000), blocking the whole server as a
 * slow host would: the lab's stand-in for `tc netem delay` where the
 * kernel has no sch_netem.
 */
static void delay_health(const struct srv *s)
{
	FILE *f = s->delay_file ? fopen(s->delay_file, "r") : NULL;
	unsigned ms = 0;

	if (!f)
		return;
	if (fscanf(f, "%u", &ms) == 1 && ms > 0 && ms <= 1000)
		usleep(ms * 1000);
	fclose(f);
}

/*
 * Decide the answer to the request line at req (len bytes, up to and
 * without "\r\n"): 200 NAME, or on the health path 200 ok / 500 fail.
 */
static void choose_answer(struct srv *s, const char *req, size_t len,
			  struct answer *a)
{
	const char *path = memchr(req, ' ', len), *pend;
	bool failing, health = false;
	struct stat st;

	a->head = len >= 5 && memcmp(req, "HEAD ", 5) == 0;
	if (path) {
		path++;
		pend = path;
		while (pend < req + len && *pend != ' ' && *pend != '?')
			pend++;
		health = s->health_path &&
			 (size_t)(pend - path) == s->health_path_len &&
			 memcmp(path, s->health_path, s->health_path_len) == 0;
	}
	if (health)
		delay_health(s);
	failing = s->fail_file && (health || !s->health_path) &&
		  stat(s->fail_file, &st) == 0;
	if (failing)
		*a = (struct answer){ 500, "fail", 4, a->head, health };
	else if (health)
		*a = (struct answer){ 200, "ok", 2, a->head, true };
	else
		*a = (struct answer){ 200, s->name, s->name_len, a->head, false };
}

/* Answer every complete request in the input buffer. */
static void conn_parse(struct srv *s, struct conn *c)
{
	while (!c->closing) {
		char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		size_t req_len;
		bool keep, http10;
		char *eol;
		struct answer a;

		if (!end) {
			if (c->in_len == REQ_MAX) {
				struct answer bad = { 400, s->name, s->name_len, false, false };

				queue_response(s, c, false, &bad);
			}
			return;
		}
		req_len = (size_t)(end - c->in) + 4;
		eol = memchr(c->in, '\n', req_len);
		http10 = eol && eol - c->in >= 9 &&
			 memcmp(eol - 9, "HTTP/1.0", 8) == 0;
		if (http10)
			keep = has_token(c->in, end, "connection: keep-alive");
		else
			keep = !has_token(c->in, end, "connection: close");
		choose_answer(s, c->in, eol ? (size_t)(eol - c->in) : req_len, &a);
		queue_response(s, c, keep, &a);
		memmove(c->in, c->in + req_len, c->in_len - req_len);
		c->in_len -= req_len;
	}
}

static void conn_read(struct srv *s, struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->in_len == REQ_MAX) {
			conn_parse(s, c);
			if (c->in_len == REQ_MAX || c->closing)
				break;
		}
		n = recv(c->fd, c->in + c->in_len, REQ_MAX - c->in_len, 0);
		if (n == 0) {
			/* Peer finished.  Whatever is queued is best-effort. */
			conn_parse(s, c);
			if (c->out_len && !conn_flush(s, c))
				return;	/* already closed */
			conn_close(s, c);
			return;
		}
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			conn_close(s, c);
			return;
		}
		c->in_len += (size_t)n;
		c->last_ms = now_ms();
		if (c->closing) {
			c->in_len = 0;	/* after Connection: close, ignore */
			continue;
		}
	}
	conn_parse(s, c);
	if (c->out_len)
		conn_flush(s, c);
}

static void do_accept(struct srv *s)
{
	for (int i = 0; i < 256; i++) {
		int one = 1;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "knlb-testsrv: accept: %s\n",
					strerror(errno));
			return;	/* EAGAIN, or an error the next round retries */
		}
		if ((size_t)fd >= s->n_conns) {
			fprintf(stderr, "knlb-testsrv: fd %d beyond table\n", fd);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = s->conns[fd];
		if (!c) {
			c = malloc(sizeof(*c));
			if (!c)
				die("malloc");
			s->conns[fd] = c;
		}
		c->fd = fd;
		c->in_len = c->out_len = c->out_off = 0;
		c->closing = false;
		c->last_ms = now_ms();
		s->open++;
		s->tcp_conns++;
		ep_add(s, fd, EPOLLIN | EPOLLRDHUP,
		       ((uint64_t)TAG_CONN << 32) | (uint32_t)fd);
	}
}

static void do_udp(struct srv *s)
{
	static char bufs[UDP_BATCH][UDP_MTU];
	static char replies[UDP_BATCH][UDP_MTU + 80];
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec iin[UDP_BATCH], iout[UDP_BATCH];
	union lab_sa peers[UDP_BATCH];

	for (int round = 0; round < 64; round++) {
		int n, sent;

		memset(in, 0, sizeof(in));
		for (int i = 0; i < UDP_BATCH; i++) {
			iin[i].iov_base = bufs[i];
			iin[i].iov_len = UDP_MTU;
			in[i].msg_hdr.msg_iov = &iin[i];
			in[i].msg_hdr.msg_iovlen = 1;
			in[i].msg_hdr.msg_name = &peers[i];
			in[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		}
		n = recvmmsg(s->ufd, in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		memset(out, 0, sizeof(out));
		for (int i = 0; i < n; i++) {
			size_t len = in[i].msg_len;

			memcpy(replies[i], s->name, s->name_len);
			replies[i][s->name_len] = '\n';
			memcpy(replies[i] + s->name_len + 1, bufs[i], len);
			iout[i].iov_base = replies[i];
			iout[i].iov_len = s->name_len + 1 + len;
			out[i].msg_hdr.msg_iov = &iout[i];
			out[i].msg_hdr.msg_iovlen = 1;
			out[i].msg_hdr.msg_name = &peers[i];
			out[i].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
		}
		for (sent = 0; sent < n;) {
			int k = sendmmsg(s->ufd, out + sent, (unsigned)(n - sent), 0);
			if (k <= 0)
				break;	/* a reply lost is a client timeout */
			sent += k;
		}
		s->udp_dgrams += (uint64_t)sent;
	}
}

static void sweep_idle(struct srv *s)
{
	uint64_t now = now_ms();

	for (size_t fd = 0; fd < s->n_conns; fd++) {
		struct conn *c = s->conns[fd];

		if (c && c->fd != -1 && now - c->last_ms > s->idle_ms) {
			conn_close(s, c);
			s->idle_closed++;
		}
	}
}

/* Returns false when the server should exit. */
static bool do_signal(struct srv *s)
{
	struct signalfd_siginfo si;

	while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
		write_counts(s);
		if (si.ssi_signo != SIGUSR1)
			return false;
	}
	return true;
}

static void free_conns(struct srv *s)
{
	for (size_t fd = 0; fd < s->n_conns; fd++) {
		if (s->conns[fd] && s->conns[fd]->fd != -1)
			close(s->conns[fd]->fd);
		free(s->conns[fd]);
	}
	free(s->conns);
	s->conns = NULL;
}

static void write_pid_file(const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		die(path);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "tcp", required_argument, NULL, 't' },
		{ "udp", required_argument, NULL, 'u' },
		{ "count-file", required_argument, NULL, 'c' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "health-path", required_argument, NULL, 'H' },
		{ "fail-file", required_argument, NULL, 'F' },
		{ "delay-file", required_argument, NULL, 'D' },
		{ "log-health", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct srv s = { .idle_ms = 10000, .lfd = -1, .ufd = -1 };
	const char *tcp = NULL, *udp = NULL, *pid_file = NULL;
	union lab_sa sin;
	struct rlimit rl;
	sigset_t mask;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': s.name = optarg; break;
		case 't': tcp = optarg; break;
		case 'u': udp = optarg; break;
		case 'c': s.count_file = optarg; break;
		case 'p': pid_file = optarg; break;
		case 'i': s.idle_ms = strtoull(optarg, NULL, 10); break;
		case 'H': s.health_path = optarg; break;
		case 'F': s.fail_file = optarg; break;
		case 'D': s.delay_file = optarg; break;
		case 'L': s.log_health = true; break;
		default: usage();
		}
	}
	if (!s.name || !tcp || optind != argc)
		usage();
	s.name_len = strlen(s.name);
	if (s.name_len == 0 || s.name_len > 200 || strchr(s.name, '\n'))
		usage();
	if (s.health_path) {
		s.health_path_len = strlen(s.health_path);
		if (s.health_path[0] != '/' || strpbrk(s.health_path, " ?\r\n"))
			usage();
	}

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit");
	s.n_conns = rl.rlim_cur > 1048576 ? 1048576 : (size_t)rl.rlim_cur;
	s.conns = calloc(s.n_conns, sizeof(*s.conns));
	if (!s.conns)
		die("calloc");

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		die("sigprocmask");
	signal(SIGPIPE, SIG_IGN);

	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep == -1)
		die("epoll_create1");
	s.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sfd == -1)
		die("signalfd");
	ep_add(&s, s.sfd, EPOLLIN, (uint64_t)TAG_SIGNAL << 32);

	s.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s.tfd == -1)
		die("timerfd_create");
	{
		uint64_t tick = s.idle_ms / 4 ? s.idle_ms / 4 : 1;
		struct itimerspec its = {
			.it_interval = { (time_t)(tick / 1000), (long)(tick % 1000) * 1000000 },
			.it_value = { (time_t)(tick / 1000), (long)(tick % 1000) * 1000000 },
		};
		if (timerfd_settime(s.tfd, 0, &its, NULL) == -1)
			die("timerfd_settime");
	}
	ep_add(&s, s.tfd, EPOLLIN, (uint64_t)TAG_TIMER << 32);

	if (lab_addr_port_parse(tcp, &sin) == -1) {
		fprintf(stderr, "knlb-testsrv: bad --tcp %s\n", tcp);
		return 2;
	}
	s.lfd = open_socket(&sin, SOCK_STREAM);
	ep_add(&s, s.lfd, EPOLLIN, (uint64_t)TAG_LISTEN << 32);
	if (udp) {
		int rcv = 4 << 20;

		if (lab_addr_port_parse(udp, &sin) == -1) {
			fprintf(stderr, "knlb-testsrv: bad --udp %s\n", udp);
			return 2;
		}
		s.ufd = open_socket(&sin, SOCK_DGRAM);
		setsockopt(s.ufd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		ep_add(&s, s.ufd, EPOLLIN, (uint64_t)TAG_UDP << 32);
	}
	if (pid_file)
		write_pid_file(pid_file);
	fprintf(stderr, "knlb-testsrv %s: listening tcp %s%s%s\n", s.name, tcp,
		udp ? " udp " : "", udp ? udp : "");

	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(s.ep, evs, 256, -1);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			uint32_t tag = (uint32_t)(evs[i].data.u64 >> 32);
			int fd = (int)(uint32_t)evs[i].data.u64;
			struct conn *c;

			switch (tag) {
			case TAG_LISTEN:
				do_accept(&s);
				break;
			case TAG_UDP:
				do_udp(&s);
				break;
			case TAG_SIGNAL:
				if (!do_signal(&s)) {
					free_conns(&s);
					return 0;
				}
				break;
			case TAG_TIMER: {
				uint64_t ticks;

				if (read(s.tfd, &ticks, sizeof(ticks)) > 0)
					sweep_idle(&s);
				break;
			}
			case TAG_CONN:
				c = s.conns[fd];
				if (!c || c->fd != fd)
					break;	/* closed earlier in this batch */
				if (evs[i].events & EPOLLERR) {
					conn_close(&s, c);
					break;
				}
				if (evs[i].events & EPOLLOUT) {
					if (!conn_flush(&s, c))
						break;
				}
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
					conn_read(&s, c);
				break;
			}
		}
	}
}
