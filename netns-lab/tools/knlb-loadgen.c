/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlb-loadgen: the lab's client.  One thread, one epoll loop, many
 * non-blocking sockets.
 *
 *   knlb-loadgen --tcp|--udp --target ADDR:PORT --count N
 *                [--concurrency C] [--source ADDR[,ADDR...]]
 *                [--source-range A-B] [--sport-base P] [--timeout-ms T]
 *                [--deadline-ms D] [--keepalive] [--hold-ms H [--ping-ms P]]
 *                [--ready-file F] [--per-conn] [--path P]
 *   knlb-loadgen --tcp|--udp --target ADDR:PORT --rate R
 *                (--duration-ms D | --count N) [same options]
 *   [--timeline]  (one line per flow; implied by --rate)
 *
 * TCP: N connections, each "GET / HTTP/1.1" + "Connection: close"; the
 * response body (first line) names the backend.  --keepalive: N requests
 * over C persistent connections instead.  --hold-ms H: every connection
 * gets one keep-alive answer, then holds for H ms (or until SIGUSR1), then
 * asks again on the same connection and checks the answer comes from the
 * same backend; --ready-file is written once every connection holds.
 * --ping-ms P (with --hold-ms): while holding, every connection also asks
 * every P ms (a live long-lived connection, not an idle one); an answer
 * from another backend than the first counts the connection as moved, a
 * reset or timeout as failed.
 * UDP: N datagrams, each from its own socket (own source port), each
 * waiting for one reply.
 *
 * --rate R: open flow i at start + i/R seconds (a new connection or socket
 * per request) for --duration-ms D (N = D * R / 1000 flows, fewer with
 * --count).  SIGUSR1 stops it early: no new flows, those under way finish.
 * With --ready-file, the file is written once the first flow has ended.
 * Output is line-buffered, so the timeline can be read while it runs.
 * --path P: the request asks for P (default /).
 *
 * Flow i uses source address i % S of the S given ones and, with
 * --sport-base P, source port P + i / S, so runs can repeat exactly the
 * same (address, port) choices.
 *
 * IPv6: the target is [ADDR]:PORT; sources are IPv6 addresses then, and a
 * --source-range A-B counts in the last 32 bits (2001:db8:c::100-2001:db8:c::11f);
 * conn lines print [ADDR]:PORT.  The Host header has the brackets too.
 *
 * Output, one fact per line, for scripts:
 *   total N / ok N / failed N / elapsed_ms N / rate_per_s N
 *   backend NAME COUNT            answers per backend
 *   source ADDR NAME COUNT        answers per (source address, backend)
 *   sources_split N               source addresses answered by >1 backend
 *   fail REASON COUNT             why flows failed
 *   held_ok N / held_failed N / held_moved N     (--hold-ms; per connection)
 *   held_pings N                  answers to --ping-ms requests
 *   conn ADDR:PORT NAME           (--per-conn; NAME "-" when it failed)
 * With --timeline (or --rate), first "start_unix_ms T" (CLOCK_REALTIME at
 * the start, ms with decimals, the clock of bash's EPOCHREALTIME), then
 * as each flow ends:
 *   flow SEQ START_MS RESULT CONNECT_MS DONE_MS
 *     START_MS   when connect() was called, ms since the start
 *     RESULT     the backend's name, or fail:REASON (REASON as below)
 *     CONNECT_MS connect() to established ("-" when it never was)
 *     DONE_MS    connect() to the answer or, for a failure, to the error:
 *                time-to-error (a reset shows ~0, a drop the timeout)
 *     SPORT      failed flows only: the local port ("-" when none was
 *                bound), to find the flow in the gateway's conntrack
 * and in the summary (times are START_MS of flows; -1 when none):
 *   first_fail_ms T / last_fail_ms T
 *   first_seen_ms NAME T / last_seen_ms NAME T     per backend
 *   tte_min_ms / tte_avg_ms / tte_max_ms T         failed flows' DONE_MS
 *   late_starts N      flows started >10 ms after their time (--rate)
 *   stopped_ms T       when SIGUSR1 stopped it (--rate; else absent)
 * Exit 0 when every flow succeeded (and none moved), 1 otherwise, 2 usage.
 */
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#include "lab_addr.h"

#define MAX_NAMES	64
#define NAME_LEN	64
#define BUF_LEN		4096
#define SIG_TAG		UINT32_MAX

enum fail_reason {
	F_REFUSED, F_CONNECT_TIMEOUT, F_CONNECT, F_BIND, F_SOCKET, F_RESET,
	F_TIMEOUT, F_EOF, F_BAD_RESPONSE, F_UDP_TIMEOUT, F_DEADLINE,
	F_NOT_STARTED, F_HTTP_STATUS, F_N
};

static const char *const fail_names[F_N] = {
	"connect_refused", "connect_timeout", "connect_error", "bind_error",
	"socket_error", "reset", "timeout", "eof", "bad_response",
	"udp_timeout", "deadline", "not_started", "http_status",
};

enum phase {
	P_FREE, P_CONNECTING, P_SENDING, P_READING, P_DRAINING, P_HOLDING,
	P_WAIT_UDP,
};

struct slot {
	enum phase phase;
	int fd;
	unsigned long job;
	unsigned reqs_left;	/* requests still to send on this connection */
	unsigned reqs_total;
	unsigned answered;	/* requests answered on this connection */
	int first_name;		/* index of the first answer's backend */
	bool in_hold;		/* answered once, holding (pings included) */
	bool moved;		/* an answer after the first came from another */
	uint64_t hold_end;	/* --hold-ms: when the hold ends by itself */
	uint64_t deadline;	/* of the current phase */
	uint64_t t0_us;		/* connect() called */
	uint64_t conn_us;	/* connected; 0 while not */
	size_t len;		/* bytes in buf */
	size_t sent;
	size_t req_len;
	char req[256];
	char buf[BUF_LEN];
};

struct opts {
	bool udp;
	union lab_sa target;
	unsigned long count;
	unsigned conc;
	union lab_sa *srcs;		/* the target's family, port 0 */
	size_t n_srcs;
	unsigned sport_base;
	unsigned timeout_ms;
	unsigned deadline_ms;
	bool keepalive;
	unsigned hold_ms;
	unsigned ping_ms;
	const char *ready_file;
	bool per_conn;
	const char *path;
	unsigned rate;		/* flows per second; 0: as fast as C allows */
	unsigned duration_ms;
	bool timeline;
	bool conc_given;
};

struct run {
	struct opts o;
	int ep;
	int sfd;
	struct slot *slots;
	unsigned long next_job;		/* next flow to start */
	unsigned long jobs;		/* flows (connections / datagrams) */
	unsigned long ok, failed;	/* requests */
	unsigned long fails[F_N];
	char names[MAX_NAMES][NAME_LEN];
	unsigned long name_count[MAX_NAMES];
	int n_names;
	uint32_t *src_counts;		/* [n_srcs][MAX_NAMES] */
	unsigned long held_ok, held_failed, held_moved, held_pings;
	unsigned long in_hold;		/* slots with in_hold set */
	unsigned long holding;		/* connections in P_HOLDING */
	bool ready_written;
	bool released;			/* SIGUSR1: end every hold now */
	int active;
	/* --timeline */
	uint64_t start_us;
	double first_seen[MAX_NAMES], last_seen[MAX_NAMES];	/* ms */
	double first_fail, last_fail;	/* ms; -1: none */
	double tte_min, tte_max, tte_sum;
	unsigned long n_tte;		/* failed flows with a timeline line */
	unsigned long late;
	double stopped;			/* ms; -1: ran its course */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * CLOCK_REALTIME (ms) at a fresh now_us(), stored in *mono_us: the
 * realtime clock read between two monotonic readings, the closest pair of
 * a few tries.  Read one after the other, a preemption between them (ms
 * on a loaded machine) would shift the whole timeline against the clocks
 * a script compares it with (bash's EPOCHREALTIME, `ip -ts monitor`).
 */
static double realtime_of(uint64_t *mono_us)
{
	uint64_t best = UINT64_MAX;
	double real_ms = 0;

	for (int i = 0; i < 16 && best > 20; i++) {
		struct timespec rt;
		uint64_t before = now_us(), after;

		clock_gettime(CLOCK_REALTIME, &rt);
		after = now_us();
		if (after - before < best) {
			best = after - before;
			*mono_us = before + best / 2;
			real_ms = (double)rt.tv_sec * 1000.0 + (double)rt.tv_nsec / 1e6;
		}
	}
	return real_ms;
}

/* Microseconds between two now_us() values as milliseconds. */
static double ms_between(uint64_t from, uint64_t to)
{
	return to > from ? (double)(to - from) / 1000.0 : 0.0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: knlb-loadgen --tcp|--udp --target ADDR:PORT --count N\n"
		"         [--concurrency C] [--source ADDR[,ADDR...]] [--source-range A-B]\n"
		"         [--sport-base P] [--timeout-ms T] [--deadline-ms D]\n"
		"         [--keepalive] [--hold-ms H [--ping-ms P]] [--ready-file F] [--per-conn]\n"
		"         [--path P] [--timeline]\n"
		"       knlb-loadgen --tcp|--udp --target ADDR:PORT --rate R\n"
		"         (--duration-ms D | --count N) [options as above]\n");
	exit(2);
}

static void fatal(const char *what)
{
	fprintf(stderr, "knlb-loadgen: %s: %s\n", what, strerror(errno));
	exit(2);
}

static unsigned long parse_ulong(const char *s, const char *what,
				 unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "knlb-loadgen: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static void parse_target(const char *s, union lab_sa *target)
{
	if (lab_addr_port_parse(s, target) == -1) {
		fprintf(stderr, "knlb-loadgen: bad target %s (ADDR:PORT or [IPv6]:PORT)\n", s);
		exit(2);
	}
}

/* Room for n more sources: one allocation per option, not per address. */
static void sources_reserve(struct opts *o, size_t n)
{
	union lab_sa *v = reallocarray(o->srcs, o->n_srcs + n, sizeof(*v));

	if (!v)
		fatal("reallocarray");
	o->srcs = v;
}

static void parse_sources(struct opts *o, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	size_t n = 1;

	if (!copy)
		fatal("strdup");
	for (const char *c = list; *c; c++)
		n += *c == ',';
	sources_reserve(o, n);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (lab_addr_parse(t, &o->srcs[o->n_srcs]) == -1) {
			fprintf(stderr, "knlb-loadgen: bad source %s\n", t);
			exit(2);
		}
		o->n_srcs++;
	}
	free(copy);
}

static void parse_source_range(struct opts *o, const char *range)
{
	char buf[2 * INET6_ADDRSTRLEN + 2];
	char *dash;
	union lab_sa a, b;
	long long n;

	if (strlen(range) >= sizeof(buf))
		usage();
	strcpy(buf, range);
	dash = strchr(buf, '-');
	if (!dash)
		usage();
	*dash = '\0';
	if (lab_addr_parse(buf, &a) == -1 || lab_addr_parse(dash + 1, &b) == -1 ||
	    (n = lab_addr_range_len(&a, &b)) < 1 || n > 65536) {
		fprintf(stderr, "knlb-loadgen: bad source range %s (at most 65536 addresses of one family; IPv6: equal but for the last 32 bits)\n",
			range);
		exit(2);
	}
	sources_reserve(o, (size_t)n);
	for (long long k = 0; k < n; k++) {
		o->srcs[o->n_srcs] = a;
		lab_addr_set_low32(&o->srcs[o->n_srcs], lab_addr_low32(&a) + (uint32_t)k);
		o->n_srcs++;
	}
}

static int name_index(struct run *r, const char *name)
{
	for (int i = 0; i < r->n_names; i++)
		if (strcmp(r->names[i], name) == 0)
			return i;
	if (r->n_names == MAX_NAMES)
		return MAX_NAMES - 1;	/* lumped; never happens in the lab */
	snprintf(r->names[r->n_names], NAME_LEN, "%s", name);
	return r->n_names++;
}

static size_t src_of(const struct run *r, unsigned long job)
{
	return r->o.n_srcs ? job % r->o.n_srcs : 0;
}

static void print_conn(struct run *r, struct slot *s, const char *name)
{
	union lab_sa local = { 0 };
	socklen_t len = sizeof(local);
	char addr[INET6_ADDRSTRLEN] = "", host[LAB_ADDR_STRLEN] = "0.0.0.0";
	unsigned port = 0;

	if (!r->o.per_conn)
		return;
	if (s->fd != -1 && getsockname(s->fd, &local.sa, &len) == 0 &&
	    (local.sa.sa_family == AF_INET || local.sa.sa_family == AF_INET6)) {
		port = lab_sa_port(&local);
		lab_addr_host(&local, host, sizeof(host));
		lab_addr_str(&local, addr, sizeof(addr));
	}
	if (port == 0 && r->o.sport_base && r->o.n_srcs)
		port = r->o.sport_base + (unsigned)(s->job / r->o.n_srcs);
	/* Not bound yet, or bound to the wildcard: the source it was given. */
	if ((!addr[0] || !strcmp(addr, "0.0.0.0") || !strcmp(addr, "::")) && r->o.n_srcs)
		lab_addr_host(&r->o.srcs[src_of(r, s->job)], host, sizeof(host));
	printf("conn %s:%u %s\n", host, port, name);
}

/* The socket's local port as text, "-" when it has none. */
static const char *local_port(int fd, char *buf, size_t len)
{
	union lab_sa local;
	socklen_t sl = sizeof(local);

	if (fd == -1 || getsockname(fd, &local.sa, &sl) == -1 ||
	    lab_sa_port(&local) == 0)
		return "-";
	snprintf(buf, len, "%u", lab_sa_port(&local));
	return buf;
}

/* One timeline line for the flow in s, which ended now with result. */
static void print_flow(struct run *r, struct slot *s, const char *result,
		       int name_idx, enum fail_reason why)
{
	uint64_t now = now_us();
	double start = ms_between(r->start_us, s->t0_us);
	double done = ms_between(s->t0_us, now);
	char conn[32] = "-", sport[8];

	if (!r->o.timeline)
		return;
	if (s->conn_us)
		snprintf(conn, sizeof(conn), "%.3f", ms_between(s->t0_us, s->conn_us));
	if (name_idx >= 0) {
		printf("flow %lu %.3f %s %s %.3f\n", s->job, start, result, conn, done);
		if (r->first_seen[name_idx] < 0 || start < r->first_seen[name_idx])
			r->first_seen[name_idx] = start;
		if (start > r->last_seen[name_idx])
			r->last_seen[name_idx] = start;
		return;
	}
	printf("flow %lu %.3f fail:%s %s %.3f %s\n", s->job, start,
	       fail_names[why], conn, done, local_port(s->fd, sport, sizeof(sport)));
	if (r->first_fail < 0 || start < r->first_fail)
		r->first_fail = start;
	if (start > r->last_fail)
		r->last_fail = start;
	if (r->tte_min < 0 || done < r->tte_min)
		r->tte_min = done;
	if (done > r->tte_max)
		r->tte_max = done;
	r->tte_sum += done;
	r->n_tte++;
}

static void tally_ok(struct run *r, struct slot *s, const char *name)
{
	int idx = name_index(r, name);

	if (r->o.hold_ms && s->answered > 0) {
		/* After the first: pings, then the final answer (no request
		 * left); each only compared with the first. */
		s->answered++;
		if (idx != s->first_name && !s->moved) {
			s->moved = true;
			r->held_moved++;
		}
		if (s->reqs_left == 0)
			r->held_ok++;
		else
			r->held_pings++;
		return;
	}
	r->ok++;
	r->name_count[idx]++;
	if (r->o.n_srcs)
		r->src_counts[src_of(r, s->job) * MAX_NAMES + (size_t)idx]++;
	if (s->answered == 0) {
		s->first_name = idx;
		print_conn(r, s, name);
		print_flow(r, s, name, idx, F_N);
	}
	s->answered++;
}

static void slot_release(struct run *r, struct slot *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	if (s->phase == P_HOLDING)
		r->holding--;
	if (s->in_hold)
		r->in_hold--;
	s->in_hold = false;
	s->phase = P_FREE;
	r->active--;
}

/* Fail whatever this slot still owed and free it. */
static void slot_fail(struct run *r, struct slot *s, enum fail_reason why)
{
	if (s->answered == 0) {
		print_conn(r, s, "-");
		print_flow(r, s, NULL, -1, why);
	}
	if (!r->o.hold_ms)
		r->failed += s->reqs_total - s->answered;
	else if (s->answered == 0)
		r->failed++;		/* hold mode counts connections */
	else
		r->held_failed++;
	r->fails[why]++;
	slot_release(r, s);
}

static void ep_set(struct run *r, struct slot *s, uint32_t events, int op)
{
	struct epoll_event ev = {
		.events = events,
		.data.u32 = (uint32_t)(s - r->slots),
	};

	if (epoll_ctl(r->ep, op, s->fd, &ev) == -1)
		fatal("epoll_ctl");
}

static void build_request(struct run *r, struct slot *s)
{
	bool last = s->reqs_left == 1;
	char host[LAB_ADDR_STRLEN];

	lab_addr_host(&r->o.target, host, sizeof(host));
	if (r->o.udp) {
		s->req_len = (size_t)snprintf(s->req, sizeof(s->req),
					      "knlb-loadgen %lu\n", s->job);
	} else {
		s->req_len = (size_t)snprintf(s->req, sizeof(s->req),
			"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: knlb-loadgen\r\n"
			"Connection: %s\r\n\r\n", r->o.path, host,
			last ? "close" : "keep-alive");
	}
	s->sent = 0;
}

static void start_phase(struct run *r, struct slot *s, enum phase p,
			unsigned timeout_ms)
{
	if (s->phase == P_HOLDING)
		r->holding--;
	s->phase = p;
	s->deadline = now_ms() + timeout_ms;
	if (p == P_HOLDING)
		r->holding++;
}

/* Open the socket for flow s->job.  Returns false when it failed. */
static bool open_flow(struct run *r, struct slot *s)
{
	const struct opts *o = &r->o;
	int one = 1;
	int type = o->udp ? SOCK_DGRAM : SOCK_STREAM;

	s->t0_us = now_us();
	s->conn_us = 0;
	s->fd = socket(o->target.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		slot_fail(r, s, F_SOCKET);
		return false;
	}
	if (o->n_srcs || o->sport_base) {
		union lab_sa local = { 0 };

		local.sa.sa_family = o->target.sa.sa_family;
		if (o->n_srcs)
			local = o->srcs[src_of(r, s->job)];
		if (o->sport_base) {
			unsigned long port = o->sport_base +
				s->job / (o->n_srcs ? o->n_srcs : 1);
			lab_sa_set_port(&local, (uint16_t)port);
			setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		} else if (!o->udp) {
			/* Let connect() pick the port per 4-tuple (IPv6
			 * sockets too: the option is the inet socket's). */
			setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT,
				   &one, sizeof(one));
		}
		if (bind(s->fd, &local.sa, lab_sa_len(&local)) == -1) {
			slot_fail(r, s, F_BIND);
			return false;
		}
	}
	if (!o->udp)
		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->len = 0;
	build_request(r, s);
	s->t0_us = now_us();
	if (connect(s->fd, &o->target.sa, lab_sa_len(&o->target)) == -1) {
		if (errno != EINPROGRESS) {
			slot_fail(r, s, errno == ECONNREFUSED ? F_REFUSED : F_CONNECT);
			return false;
		}
		start_phase(r, s, P_CONNECTING, o->timeout_ms);
		ep_set(r, s, EPOLLOUT, EPOLL_CTL_ADD);
		return true;
	}
	s->conn_us = now_us();
	if (o->udp) {
		if (send(s->fd, s->req, s->req_len, 0) == -1) {
			slot_fail(r, s, errno == ECONNREFUSED ? F_REFUSED : F_CONNECT);
			return false;
		}
		start_phase(r, s, P_WAIT_UDP, o->timeout_ms);
		ep_set(r, s, EPOLLIN, EPOLL_CTL_ADD);
		return true;
	}
	start_phase(r, s, P_SENDING, o->timeout_ms);
	ep_set(r, s, EPOLLOUT, EPOLL_CTL_ADD);
	return true;
}

/* With --rate: how many flows should have started by now (at most jobs). */
static unsigned long flows_due(const struct run *r, uint64_t now)
{
	unsigned long due;

	if (!r->o.rate)
		return r->jobs;
	due = (unsigned long)((now - r->start_us) * r->o.rate / 1000000) + 1;
	return due < r->jobs ? due : r->jobs;
}

/* With --rate: when flow job is due, in now_us() time. */
static uint64_t flow_due_us(const struct run *r, unsigned long job)
{
	return r->start_us + (uint64_t)job * 1000000 / r->o.rate;
}

static void start_flows(struct run *r)
{
	uint64_t now = now_us();
	unsigned long due = flows_due(r, now);

	for (unsigned i = 0; i < r->o.conc && r->next_job < due; i++) {
		struct slot *s = &r->slots[i];

		if (s->phase != P_FREE)
			continue;
		if (r->o.rate && now > flow_due_us(r, r->next_job) + 10000)
			r->late++;
		s->job = r->next_job++;
		s->answered = 0;
		s->first_name = -1;
		s->moved = false;
		if (r->o.hold_ms)
			s->reqs_total = 2;
		else if (r->o.keepalive)
			s->reqs_total = (unsigned)(r->o.count / r->jobs +
				(s->job < r->o.count % r->jobs ? 1 : 0));
		else
			s->reqs_total = 1;
		s->reqs_left = s->reqs_total;
		r->active++;
		open_flow(r, s);
	}
}

static void do_send(struct run *r, struct slot *s)
{
	while (s->sent < s->req_len) {
		ssize_t n = send(s->fd, s->req + s->sent, s->req_len - s->sent,
				 MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ep_set(r, s, EPOLLOUT, EPOLL_CTL_MOD);
				return;
			}
			if (errno == EINTR)
				continue;
			slot_fail(r, s, errno == ECONNRESET || errno == EPIPE ?
				  F_RESET : F_CONNECT);
			return;
		}
		s->sent += (size_t)n;
	}
	s->reqs_left--;
	start_phase(r, s, P_READING, r->o.timeout_ms);
	ep_set(r, s, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
}

static void on_connected(struct run *r, struct slot *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
		slot_fail(r, s, err == ECONNREFUSED ? F_REFUSED :
			  err == ETIMEDOUT ? F_CONNECT_TIMEOUT : F_CONNECT);
		return;
	}
	if (r->o.udp) {
		/* connect() on UDP never waits; kept for symmetry. */
		start_phase(r, s, P_WAIT_UDP, r->o.timeout_ms);
		ep_set(r, s, EPOLLIN, EPOLL_CTL_MOD);
		return;
	}
	s->conn_us = now_us();
	start_phase(r, s, P_SENDING, r->o.timeout_ms);
	do_send(r, s);
}

/*
 * Parse one complete response in s->buf.  Returns 1 with the body's first
 * line in name, 0 when more bytes are needed, -1 when it is malformed.
 */
static int parse_response(struct slot *s, char *name, size_t name_len,
			  size_t *consumed, bool *bad_status)
{
	char *hend = memmem(s->buf, s->len, "\r\n\r\n", 4);
	char *cl, *body, *nl;
	size_t hlen, blen;

	if (!hend)
		return s->len == BUF_LEN ? -1 : 0;
	*hend = '\0';
	if (strncmp(s->buf, "HTTP/1.", 7) != 0)
		return -1;
	if (strncmp(s->buf + 8, " 200", 4) != 0) {
		*bad_status = s->buf[8] == ' ';
		return -1;
	}
	cl = strcasestr(s->buf, "\r\ncontent-length:");
	if (!cl)
		return -1;
	blen = strtoul(cl + 17, NULL, 10);
	*hend = '\r';
	hlen = (size_t)(hend - s->buf) + 4;
	if (blen == 0 || blen >= NAME_LEN || hlen + blen > BUF_LEN)
		return -1;
	if (s->len < hlen + blen)
		return 0;
	body = s->buf + hlen;
	nl = memchr(body, '\n', blen);
	snprintf(name, name_len, "%.*s", (int)(nl ? (size_t)(nl - body) : blen), body);
	*consumed = hlen + blen;
	return 1;
}

static void after_answer(struct run *r, struct slot *s)
{
	if (s->reqs_left == 0) {
		/* Wait for the server's FIN so the server, not us, holds
		 * TIME_WAIT: the same source port can be used again at once. */
		start_phase(r, s, P_DRAINING, r->o.timeout_ms < 1000 ? r->o.timeout_ms : 1000);
		return;
	}
	if (r->o.hold_ms && !r->released && (s->answered == 1 || r->o.ping_ms)) {
		uint64_t now = now_ms();

		if (s->answered == 1) {
			s->hold_end = now + r->o.hold_ms;
			s->in_hold = true;
			r->in_hold++;
		}
		if (now < s->hold_end) {
			uint64_t left = s->hold_end - now;

			start_phase(r, s, P_HOLDING, r->o.ping_ms && r->o.ping_ms < left ?
				    r->o.ping_ms : (unsigned)left);
			ep_set(r, s, EPOLLRDHUP, EPOLL_CTL_MOD);
			return;
		}
	}
	build_request(r, s);
	start_phase(r, s, P_SENDING, r->o.timeout_ms);
	do_send(r, s);
}

static void do_read(struct run *r, struct slot *s)
{
	for (;;) {
		ssize_t n;

		if (s->phase == P_DRAINING) {
			char sink[512];

			n = recv(s->fd, sink, sizeof(sink), 0);
			if (n > 0)
				continue;
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			slot_release(r, s);	/* EOF or error: done */
			return;
		}
		n = recv(s->fd, s->buf + s->len, BUF_LEN - s->len, 0);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			slot_fail(r, s, errno == ECONNRESET ? F_RESET :
				  errno == ECONNREFUSED ? F_REFUSED : F_CONNECT);
			return;
		}
		if (n == 0) {
			slot_fail(r, s, F_EOF);
			return;
		}
		s->len += (size_t)n;
		if (r->o.udp) {
			char *nl = memchr(s->buf, '\n', s->len);
			char name[NAME_LEN];

			if (!nl) {
				slot_fail(r, s, F_BAD_RESPONSE);
				return;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(nl - s->buf), s->buf);
			tally_ok(r, s, name);
			slot_release(r, s);
			return;
		}
		for (;;) {
			char name[NAME_LEN];
			size_t used = 0;
			bool bad_status = false;
			int rc = parse_response(s, name, sizeof(name), &used,
						&bad_status);

			if (rc == 0)
				break;
			if (rc < 0) {
				slot_fail(r, s, bad_status ? F_HTTP_STATUS :
					  F_BAD_RESPONSE);
				return;
			}
			tally_ok(r, s, name);
			memmove(s->buf, s->buf + used, s->len - used);
			s->len -= used;
			after_answer(r, s);
			if (s->phase != P_READING)
				return;
		}
	}
}

static void end_hold(struct run *r, struct slot *s)
{
	/* A ping: the final request is still owed after it. */
	if (r->o.ping_ms && !r->released && now_ms() < s->hold_end)
		s->reqs_left++;
	build_request(r, s);
	start_phase(r, s, P_SENDING, r->o.timeout_ms);
	do_send(r, s);
}

static void check_timeouts(struct run *r, uint64_t now)
{
	for (unsigned i = 0; i < r->o.conc; i++) {
		struct slot *s = &r->slots[i];

		if (s->phase == P_FREE)
			continue;
		if (s->phase == P_HOLDING && r->released) {
			end_hold(r, s);
			continue;
		}
		if (now < s->deadline)
			continue;
		switch (s->phase) {
		case P_CONNECTING: slot_fail(r, s, F_CONNECT_TIMEOUT); break;
		case P_WAIT_UDP: slot_fail(r, s, F_UDP_TIMEOUT); break;
		case P_DRAINING: slot_release(r, s); break;
		case P_HOLDING: end_hold(r, s); break;
		default: slot_fail(r, s, F_TIMEOUT); break;
		}
	}
}

static void maybe_ready(struct run *r)
{
	FILE *f;

	if (r->ready_written)
		return;
	if (r->o.rate) {
		if (r->ok + r->failed == 0)
			return;
	} else if (!r->o.hold_ms || r->next_job < r->jobs ||
		   r->in_hold != (unsigned long)r->active) {
		return;
	}
	r->ready_written = true;
	if (r->o.hold_ms)
		fprintf(stderr, "knlb-loadgen: holding %lu connections\n", r->in_hold);
	if (!r->o.ready_file)
		return;
	f = fopen(r->o.ready_file, "w");
	if (!f)
		fatal(r->o.ready_file);
	if (r->o.hold_ms)
		fprintf(f, "holding %lu\n", r->in_hold);
	else
		fprintf(f, "running\n");
	fclose(f);
}

static void report(struct run *r, uint64_t elapsed)
{
	unsigned long split = 0;

	printf("total %lu\nok %lu\nfailed %lu\nelapsed_ms %llu\nrate_per_s %llu\n",
	       r->o.hold_ms ? r->jobs : r->o.count, r->ok, r->failed,
	       (unsigned long long)elapsed,
	       (unsigned long long)(elapsed ? r->ok * 1000ULL / elapsed : r->ok));
	for (int i = 0; i < r->n_names; i++)
		printf("backend %s %lu\n", r->names[i],
		       r->name_count[i]);
	for (size_t s = 0; s < r->o.n_srcs; s++) {
		char addr[INET6_ADDRSTRLEN];
		int seen = 0;

		lab_addr_str(&r->o.srcs[s], addr, sizeof(addr));
		for (int i = 0; i < r->n_names; i++) {
			uint32_t c = r->src_counts[s * MAX_NAMES + (size_t)i];

			if (c) {
				printf("source %s %s %u\n", addr, r->names[i], c);
				seen++;
			}
		}
		if (seen > 1)
			split++;
	}
	printf("sources_split %lu\n", split);
	for (int i = 0; i < F_N; i++)
		if (r->fails[i])
			printf("fail %s %lu\n", fail_names[i], r->fails[i]);
	if (r->o.hold_ms)
		printf("held_ok %lu\nheld_failed %lu\nheld_moved %lu\nheld_pings %lu\n",
		       r->held_ok, r->held_failed, r->held_moved, r->held_pings);
	if (!r->o.timeline)
		return;
	printf("first_fail_ms %.3f\nlast_fail_ms %.3f\n", r->first_fail,
	       r->last_fail);
	for (int i = 0; i < r->n_names; i++)
		printf("first_seen_ms %s %.3f\nlast_seen_ms %s %.3f\n",
		       r->names[i], r->first_seen[i], r->names[i], r->last_seen[i]);
	printf("tte_min_ms %.3f\ntte_avg_ms %.3f\ntte_max_ms %.3f\n",
	       r->tte_min, r->n_tte ? r->tte_sum / (double)r->n_tte : -1.0,
	       r->tte_max);
	if (r->o.rate)
		printf("late_starts %lu\n", r->late);
	if (r->stopped >= 0)
		printf("stopped_ms %.3f\n", r->stopped);
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "tcp", no_argument, NULL, 'T' },
		{ "udp", no_argument, NULL, 'U' },
		{ "target", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "source", required_argument, NULL, 's' },
		{ "source-range", required_argument, NULL, 'r' },
		{ "sport-base", required_argument, NULL, 'p' },
		{ "timeout-ms", required_argument, NULL, 'o' },
		{ "deadline-ms", required_argument, NULL, 'd' },
		{ "keepalive", no_argument, NULL, 'k' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "ping-ms", required_argument, NULL, 'I' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "per-conn", no_argument, NULL, 'P' },
		{ "path", required_argument, NULL, 'a' },
		{ "rate", required_argument, NULL, 'A' },
		{ "duration-ms", required_argument, NULL, 'D' },
		{ "timeline", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_target = false, have_proto = false;
	int opt;

	o->conc = 64;
	o->timeout_ms = 2000;
	o->path = "/";
	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 'T': o->udp = false; have_proto = true; break;
		case 'U': o->udp = true; have_proto = true; break;
		case 't': parse_target(optarg, &o->target); have_target = true; break;
		case 'n': o->count = parse_ulong(optarg, "count", 100000000); break;
		case 'c':
			o->conc = (unsigned)parse_ulong(optarg, "concurrency", 60000);
			o->conc_given = true;
			break;
		case 's': parse_sources(o, optarg); break;
		case 'r': parse_source_range(o, optarg); break;
		case 'p': o->sport_base = (unsigned)parse_ulong(optarg, "sport-base", 65535); break;
		case 'o': o->timeout_ms = (unsigned)parse_ulong(optarg, "timeout-ms", 600000); break;
		case 'd': o->deadline_ms = (unsigned)parse_ulong(optarg, "deadline-ms", 3600000); break;
		case 'k': o->keepalive = true; break;
		case 'H': o->hold_ms = (unsigned)parse_ulong(optarg, "hold-ms", 3600000); break;
		case 'I': o->ping_ms = (unsigned)parse_ulong(optarg, "ping-ms", 3600000); break;
		case 'R': o->ready_file = optarg; break;
		case 'P': o->per_conn = true; break;
		case 'a':
			if (optarg[0] != '/' || strpbrk(optarg, " \r\n") ||
			    strlen(optarg) > 128)
				usage();
			o->path = optarg;
			break;
		case 'A': o->rate = (unsigned)parse_ulong(optarg, "rate", 100000); break;
		case 'D': o->duration_ms = (unsigned)parse_ulong(optarg, "duration-ms", 3600000); break;
		case 'L': o->timeline = true; break;
		default: usage();
		}
	}
	if (o->duration_ms && !o->rate) {
		fprintf(stderr, "knlb-loadgen: --duration-ms needs --rate\n");
		exit(2);
	}
	if (o->rate) {
		unsigned long n = (unsigned long)o->duration_ms * o->rate / 1000;

		if (!o->duration_ms && !o->count) {
			fprintf(stderr, "knlb-loadgen: --rate needs --duration-ms or --count\n");
			exit(2);
		}
		if (o->duration_ms && (o->count == 0 || n < o->count))
			o->count = n;
		o->timeline = true;
		if (!o->conc_given) {
			/* Enough slots for every flow that may be under way:
			 * each lasts up to the timeout plus the drain (1 s). */
			unsigned long c = (unsigned long)o->rate *
				(o->timeout_ms + 1000) / 1000 + 16;

			o->conc = c > 60000 ? 60000 : (unsigned)c;
		}
		if (o->deadline_ms == 0)
			o->deadline_ms = (unsigned)(o->count * 1000 / o->rate) +
				o->timeout_ms + 5000;
	}
	if (!have_target || !have_proto || o->count == 0 || o->conc == 0 || optind != argc)
		usage();
	for (size_t i = 0; i < o->n_srcs; i++) {
		if (o->srcs[i].sa.sa_family != o->target.sa.sa_family) {
			char a[INET6_ADDRSTRLEN];

			fprintf(stderr, "knlb-loadgen: source %s is not of the target's family\n",
				lab_addr_str(&o->srcs[i], a, sizeof(a)));
			exit(2);
		}
	}
	if ((o->timeline || o->rate) && (o->keepalive || o->hold_ms)) {
		fprintf(stderr, "knlb-loadgen: --rate/--timeline exclude --keepalive and --hold-ms\n");
		exit(2);
	}
	if (o->udp && (o->keepalive || o->hold_ms)) {
		fprintf(stderr, "knlb-loadgen: --keepalive/--hold-ms are TCP only\n");
		exit(2);
	}
	if (o->keepalive && o->hold_ms) {
		fprintf(stderr, "knlb-loadgen: --keepalive and --hold-ms exclude each other\n");
		exit(2);
	}
	if (o->ping_ms && !o->hold_ms) {
		fprintf(stderr, "knlb-loadgen: --ping-ms needs --hold-ms\n");
		exit(2);
	}
	if (o->hold_ms && o->conc < o->count)
		o->conc = (unsigned)o->count;	/* every connection holds at once */
	if (!o->keepalive && o->conc > o->count)
		o->conc = (unsigned)o->count;
	if (o->sport_base) {
		unsigned long per = o->n_srcs ? o->n_srcs : 1;
		unsigned long flows = o->keepalive ? o->conc : o->count;

		if (o->sport_base + (flows - 1) / per > 65535) {
			fprintf(stderr, "knlb-loadgen: --sport-base %u + %lu flows exceeds 65535\n",
				o->sport_base, flows);
			exit(2);
		}
	}
	if (o->deadline_ms == 0)
		o->deadline_ms = 60000 + o->hold_ms;
}

int main(int argc, char **argv)
{
	struct run r = {
		.sfd = -1, .first_fail = -1, .last_fail = -1,
		.tte_min = -1, .tte_max = -1, .stopped = -1,
	};
	struct rlimit rl;
	sigset_t mask;
	uint64_t start, stop;

	parse_args(&r.o, argc, argv);
	if (r.o.keepalive) {
		if (r.o.conc > r.o.count)
			r.o.conc = (unsigned)r.o.count;
		r.jobs = r.o.conc;
	} else {
		r.jobs = r.o.count;
	}

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	r.slots = calloc(r.o.conc, sizeof(*r.slots));
	if (r.o.n_srcs)
		r.src_counts = calloc(r.o.n_srcs * MAX_NAMES, sizeof(*r.src_counts));
	if (!r.slots || (r.o.n_srcs && !r.src_counts))
		fatal("calloc");
	for (unsigned i = 0; i < r.o.conc; i++)
		r.slots[i].fd = -1;
	for (int i = 0; i < MAX_NAMES; i++)
		r.first_seen[i] = r.last_seen[i] = -1;

	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep == -1)
		fatal("epoll_create1");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	r.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r.sfd == -1)
		fatal("signalfd");
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = SIG_TAG };

		if (epoll_ctl(r.ep, EPOLL_CTL_ADD, r.sfd, &ev) == -1)
			fatal("epoll_ctl");
	}

	start = now_ms();
	stop = start + r.o.deadline_ms;
	r.start_us = now_us();
	if (r.o.timeline) {
		double start_unix_ms = realtime_of(&r.start_us);

		/* Line by line, so a script can follow the timeline. */
		setvbuf(stdout, NULL, _IOLBF, 0);
		printf("start_unix_ms %.3f\n", start_unix_ms);
	}
	start_flows(&r);
	while (r.active > 0 || r.next_job < r.jobs) {
		struct epoll_event evs[512];
		uint64_t now = now_ms();
		int n;

		int wait_ms = 20;

		if (now >= stop)
			break;
		if (r.o.rate && r.next_job < r.jobs) {
			uint64_t due = flow_due_us(&r, r.next_job), t = now_us();

			wait_ms = due <= t ? 0 : (int)((due - t + 999) / 1000);
			if (wait_ms > 20)
				wait_ms = 20;
		}
		n = epoll_wait(r.ep, evs, 512, wait_ms);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct slot *s;

			if (evs[i].data.u32 == SIG_TAG) {
				struct signalfd_siginfo si;

				while (read(r.sfd, &si, sizeof(si)) == sizeof(si))
					r.released = true;
				if (r.o.rate && r.stopped < 0) {
					/* Stop: no new flows; count what started. */
					r.stopped = ms_between(r.start_us, now_us());
					r.jobs = r.o.count = r.next_job;
				}
				continue;
			}
			s = &r.slots[evs[i].data.u32];
			if (s->phase == P_FREE)
				continue;
			switch (s->phase) {
			case P_CONNECTING:
				on_connected(&r, s);
				break;
			case P_SENDING:
				do_send(&r, s);
				break;
			case P_HOLDING:
				/* The server closed or reset a held connection. */
				slot_fail(&r, s, evs[i].events & EPOLLERR ? F_RESET : F_EOF);
				break;
			default:
				do_read(&r, s);
				break;
			}
		}
		check_timeouts(&r, now_ms());
		maybe_ready(&r);
		start_flows(&r);
	}
	/* Deadline: whatever is still open or unstarted failed. */
	for (unsigned i = 0; i < r.o.conc; i++)
		if (r.slots[i].phase != P_FREE)
			slot_fail(&r, &r.slots[i], F_DEADLINE);
	if (r.next_job < r.jobs) {
		unsigned long left = r.jobs - r.next_job;

		if (r.o.hold_ms || r.o.rate)
			r.failed += left;
		else
			r.failed = r.o.count - r.ok;
		r.fails[F_NOT_STARTED] += left;
	}
	report(&r, now_ms() - start);
	fflush(stdout);
	close(r.sfd);
	close(r.ep);
	free(r.slots);
	free(r.src_counts);
	free(r.o.srcs);
	return r.failed || r.held_moved || r.held_failed ? 1 : 0;
}
