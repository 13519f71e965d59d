/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How many conntrack events per second the ct module absorbs without
 * loss, what it costs the daemon's CPU, and how long its dumps take.
 * Not a test: it only prints.  Needs root; runs in a private network
 * namespace so the host's conntrack table is never touched.
 *
 * Event intake: a forked child creates marked entries through ctnetlink
 * (the same message as nfct_query(NFCT_Q_CREATE), built with
 * nfct_nlmsg_build() and sent 1 ms worth at a time), closes each one 25 ms
 * later as a TCP connection does (an update to FIN_WAIT, which the update
 * socket's kernel filter must drop, then one to TIME_WAIT, which it must
 * let through) and deletes it 50 ms after its creation.  So every entry is
 * one NEW, one closing and one DESTROY event reaching knlb, plus one
 * update the kernel drops.  "noclose" as the third argument leaves the
 * updates out (the load before the update socket existed).  The parent
 * runs the event loop with ct_open() as knlbd does, from fresh 4 MiB
 * buffers per step.  The rate rises until the kernel reports ENOBUFS or
 * events go missing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "knlb/ct/ct.h"
#include "knlb/ct/flowtab.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"

#define MASK 0xff000000u
#define SVC1 0x01000000u
#define SVC2 0x02000000u
#define STEP_MS 1500
#define LIFETIME_TICKS 50	/* ms an entry lives before its delete */
#define CLOSE_TICKS 25		/* ms before its FIN_WAIT and TIME_WAIT updates */
#define MAX_PER_TICK 1024

struct producer_report {
	uint64_t created, closed, destroyed, errors;
	uint64_t half_closed;		/* FIN_WAIT updates: must not reach us */
	uint64_t elapsed_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* This process only: the producer child is not counted. */
static void cpu_s(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Whether the producer sends the FIN_WAIT and TIME_WAIT updates. */
static bool with_closes = true;

/* Entry i: 10.3.x.y:port -> 192.0.2.10:80, DNATed to 10.0.0.11:8080. */
static void put_entry(struct nf_conntrack *c, uint32_t i, uint32_t mark,
		      uint8_t state)
{
	uint32_t client = htonl(0x0a030000u + i / 60000);
	uint16_t sport = htons((uint16_t)(1024 + i % 60000));

	nfct_set_attr_u8(c, ATTR_L3PROTO, AF_INET);
	nfct_set_attr_u8(c, ATTR_REPL_L3PROTO, AF_INET);
	nfct_set_attr_u8(c, ATTR_L4PROTO, IPPROTO_TCP);
	nfct_set_attr_u8(c, ATTR_REPL_L4PROTO, IPPROTO_TCP);
	nfct_set_attr_u32(c, ATTR_IPV4_SRC, client);
	nfct_set_attr_u32(c, ATTR_IPV4_DST, htonl(0xc000020a));
	nfct_set_attr_u16(c, ATTR_PORT_SRC, sport);
	nfct_set_attr_u16(c, ATTR_PORT_DST, htons(80));
	nfct_set_attr_u32(c, ATTR_REPL_IPV4_SRC, htonl(0x0a00000b));
	nfct_set_attr_u32(c, ATTR_REPL_IPV4_DST, client);
	nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(8080));
	nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, sport);
	nfct_set_attr_u8(c, ATTR_TCP_STATE, state);
	nfct_set_attr_u32(c, ATTR_TIMEOUT, 300);
	nfct_set_attr_u32(c, ATTR_MARK, mark);
}

enum op { OP_CREATE, OP_FIN_WAIT, OP_TIME_WAIT, OP_DELETE };

/*
 * Append one create, update (a NEW without NLM_F_CREATE: the kernel
 * changes the entry and reports an UPDATE) or delete.  No NLM_F_ACK:
 * success is silent and errors still come back, so the producer pays no
 * ACK per entry.
 */
static size_t put_msg(char *buf, struct nf_conntrack *c, uint32_t i,
		      uint32_t mark, enum op op)
{
	static const uint8_t state[] = {
		[OP_CREATE] = TCP_CONNTRACK_ESTABLISHED,
		[OP_FIN_WAIT] = TCP_CONNTRACK_FIN_WAIT,
		[OP_TIME_WAIT] = TCP_CONNTRACK_TIME_WAIT,
		[OP_DELETE] = TCP_CONNTRACK_TIME_WAIT,
	};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) |
			  (op == OP_DELETE ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW);
	nlh->nlmsg_flags = NLM_F_REQUEST |
			   (op == OP_CREATE ? NLM_F_CREATE | NLM_F_EXCL : 0);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	put_entry(c, i, mark, state[op]);
	nfct_nlmsg_build(nlh, c);
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

static uint64_t drain_errors(struct mnl_socket *nl, char *buf, size_t len)
{
	uint64_t errors = 0;
	ssize_t n;

	while ((n = recv(mnl_socket_get_fd(nl), buf, len, MSG_DONTWAIT)) > 0) {
		const struct nlmsghdr *nlh = (const void *)buf;
		int left = (int)n;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if (nlh->nlmsg_type == NLMSG_ERROR)
				errors++;
	}
	return errors;
}

/*
 * Send the messages in buf, cut at message boundaries into sendmsg()s
 * below the socket's send buffer (larger ones fail with EMSGSIZE).
 */
static int send_all(struct mnl_socket *nl, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = 0;

		while (off + chunk < len && chunk < 64 * 1024) {
			const struct nlmsghdr *nlh = (const void *)(buf + off + chunk);

			chunk += NLMSG_ALIGN(nlh->nlmsg_len);
		}
		if (mnl_socket_sendto(nl, buf + off, chunk) == -1)
			return -errno;
		off += chunk;
	}
	return 0;
}

/*
 * per_tick creates each millisecond tick for ms milliseconds of wall
 * time, each entry closed CLOSE_TICKS and deleted LIFETIME_TICKS ticks
 * after its creation, at the same pace.  A producer that falls behind
 * sends back to back.  Reports on fd.
 */
static int produce(int fd, unsigned int per_tick, unsigned int ms,
		   uint32_t base)
{
	static char buf[4 * MAX_PER_TICK * 256], rbuf[65536];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nf_conntrack *c = nfct_new();
	struct producer_report rep = { 0 };
	unsigned int made = 0, shut = 0, gone = 0; /* ticks created, closed, deleted */
	uint64_t start, next, stop;
	int big = 8 << 20;

	if (!nl || !c || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1)
		return 1;
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &big,
		   sizeof(big));
	start = next = now_ns();
	stop = start + (uint64_t)ms * 1000000ULL;
	for (unsigned int t = 0;; t++) {
		bool creating = now_ns() < stop;
		size_t len = 0;

		if (!creating && gone == made)
			break;
		if (creating) {
			for (unsigned int k = 0; k < per_tick; k++)
				len += put_msg(buf + len, c, base + made * per_tick + k,
					       SVC1, OP_CREATE);
			made++;
			rep.created += per_tick;
		}
		if (with_closes && shut < made &&
		    (t >= shut + CLOSE_TICKS || !creating)) {
			for (unsigned int k = 0; k < per_tick; k++) {
				len += put_msg(buf + len, c, base + shut * per_tick + k,
					       SVC1, OP_FIN_WAIT);
				len += put_msg(buf + len, c, base + shut * per_tick + k,
					       SVC1, OP_TIME_WAIT);
			}
			shut++;
			rep.half_closed += per_tick;
			rep.closed += per_tick;
		}
		if (gone < (with_closes ? shut : made) &&
		    (t >= gone + LIFETIME_TICKS || !creating)) {
			for (unsigned int k = 0; k < per_tick; k++)
				len += put_msg(buf + len, c, base + gone * per_tick + k,
					       SVC1, OP_DELETE);
			gone++;
			rep.destroyed += per_tick;
		}
		if (send_all(nl, buf, len) < 0)
			rep.errors++;
		rep.errors += drain_errors(nl, rbuf, sizeof(rbuf));
		next += 1000000;
		if (now_ns() < next) {
			struct timespec ts = {
				.tv_sec = (time_t)(next / 1000000000ULL),
				.tv_nsec = (long)(next % 1000000000ULL),
			};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
	}
	rep.elapsed_ns = now_ns() - start;
	usleep(20000);
	rep.errors += drain_errors(nl, rbuf, sizeof(rbuf));
	if (write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		return 1;
	nfct_destroy(c);
	mnl_socket_close(nl);
	return 0;
}

struct step {
	struct loop *loop;
	struct ct *ct;
	int pipe_rd;
	bool child_done;
	uint64_t quiet_until;	/* stop once the child is done and this passed */
	struct loop_timer tick;
	struct producer_report rep;
};

static void on_pipe(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct step *s = arg;

	(void)events;
	if (read(fd, &s->rep, sizeof(s->rep)) != (ssize_t)sizeof(s->rep))
		memset(&s->rep, 0, sizeof(s->rep));
	loop_del_fd(loop, fd);
	s->child_done = true;
	/* Let the last events in flight arrive. */
	s->quiet_until = now_ns() + 300 * 1000000ULL;
}

static void on_tick(struct loop *loop, struct loop_timer *timer, void *arg)
{
	struct step *s = arg;

	if (s->child_done && now_ns() > s->quiet_until) {
		struct ct_stats st;

		/* After a loss, wait (up to 5 s more) for the resync. */
		ct_get_stats(s->ct, &st);
		if (!st.resync_pending ||
		    now_ns() > s->quiet_until + 5000 * 1000000ULL) {
			loop_stop(loop);
			return;
		}
	}
	loop_timer_arm(loop, timer, 10 * 1000000ULL);
}

struct result {
	double target, offered, absorbed, user_per_k, sys_per_k;
	uint64_t sent, got, overflows, errors;
	uint64_t half_closed, leaked;	/* FIN_WAIT updates sent, reaching us */
	uint64_t left_active;	/* every entry was deleted: should be 0 */
	bool lossless;
};

/* Event buffer to start each step with, bytes; 0 = ct_open()'s default. */
static int start_rcvbuf;

static int run_step(unsigned int per_tick, uint32_t base, struct result *r)
{
	struct step s = { 0 };
	struct flowtab *ft = flowtab_new();
	struct ct_stats st;
	char err[256] = "";
	int fds[2], status;
	double u0, s0, u1, s1;
	pid_t pid;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!ft || loop_new(&s.loop) < 0 || pipe(fds) == -1)
		return -1;
	ret = ct_open(s.loop, MASK, ft, &s.ct, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "ct_open: %s\n", err);
		return -1;
	}
	if (start_rcvbuf)
		ct_set_rcvbuf(s.ct, start_rcvbuf);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		_exit(produce(fds[1], per_tick, STEP_MS, base));
	}
	close(fds[1]);
	s.pipe_rd = fds[0];
	loop_add_fd(s.loop, fds[0], EPOLLIN, on_pipe, &s);
	loop_timer_init(&s.tick, on_tick, &s);
	loop_timer_arm(s.loop, &s.tick, 10 * 1000000ULL);
	cpu_s(&u0, &s0);
	loop_run(s.loop);
	cpu_s(&u1, &s1);
	waitpid(pid, &status, 0);

	ct_get_stats(s.ct, &st);
	r->target = per_tick * (with_closes ? 3 : 2) * 1000.0;
	r->sent = s.rep.created + s.rep.closed + s.rep.destroyed;
	r->half_closed = s.rep.half_closed;
	r->leaked = st.updates_other;
	r->errors = s.rep.errors;
	r->offered = s.rep.elapsed_ns ? (double)r->sent * 1e9 / (double)s.rep.elapsed_ns : 0;
	r->got = st.events_new + st.events_closing + st.events_destroy;
	r->absorbed = s.rep.elapsed_ns ? (double)r->got * 1e9 / (double)s.rep.elapsed_ns : 0;
	r->overflows = st.overflows;
	if (r->got) {
		r->user_per_k = (u1 - u0) * 1e3 / ((double)r->got / 1000.0);
		r->sys_per_k = (s1 - s0) * 1e3 / ((double)r->got / 1000.0);
	}
	r->lossless = st.overflows == 0 && r->got == r->sent && r->errors == 0 &&
		      r->leaked == 0;
	{
		struct flow_counts c;

		flowtab_service_counts(ft, SVC1, &c);
		r->left_active = c.active;
	}

	loop_timer_cancel(s.loop, &s.tick);
	ct_close(s.ct);
	close(fds[0]);
	loop_free(s.loop);
	flowtab_free(ft);
	return 0;
}

/* n entries, half SVC1 and half SVC2, 1024 per sendmsg with ACKs off. */
static int fill(uint32_t n)
{
	static char buf[1024 * 256], rbuf[65536];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nf_conntrack *c = nfct_new();
	uint64_t errors = 0;

	if (!nl || !c || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1)
		return -1;
	for (uint32_t i = 0; i < n;) {
		size_t len = 0;

		for (int k = 0; k < 1024 && i < n; k++, i++)
			len += put_msg(buf + len, c, 1000000 + i,
				       i % 2 ? SVC2 : SVC1, OP_CREATE);
		send_all(nl, buf, len);
		errors += drain_errors(nl, rbuf, sizeof(rbuf));
	}
	nfct_destroy(c);
	mnl_socket_close(nl);
	return errors ? -1 : 0;
}

static void count_flow(const struct ct_flow *f, void *arg)
{
	(void)f;
	++*(long *)arg;
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static void dump_times(uint32_t n)
{
	struct flowtab *ft = flowtab_new();
	struct loop *loop;
	struct ct *ct;
	char err[256];
	long seen = 0, got;
	uint64_t t0;
	double t_open, t_resync, t_list_all, t_list_one, t_list_none;

	if (!ft || loop_new(&loop) < 0)
		return;
	t0 = now_ns();
	if (fill(n) < 0) {
		printf("dump: could not create %u entries (nf_conntrack_max?)\n", n);
		goto out;
	}
	printf("\ndumps over %u entries (half service 1, half service 2), created in %.0f ms\n",
	       n, ms_since(t0));
	t0 = now_ns();
	if (ct_open(loop, MASK, ft, &ct, err, sizeof(err)) < 0) {
		printf("ct_open: %s\n", err);
		goto out;
	}
	t_open = ms_since(t0);
	t0 = now_ns();
	ct_resync(ct);
	t_resync = ms_since(t0);
	t0 = now_ns();
	got = ct_list(ct, 0, NULL, 0, count_flow, &seen);
	t_list_all = ms_since(t0);
	seen = 0;
	t0 = now_ns();
	got = ct_list(ct, SVC1, NULL, 0, count_flow, &seen);
	t_list_one = ms_since(t0);
	/* What the kernel's walk alone costs: a mark nothing carries. */
	t0 = now_ns();
	ct_list(ct, 0x7f000000u, NULL, 0, count_flow, &seen);
	t_list_none = ms_since(t0);
	printf("  ct_open (initial dump into an empty flowtab)  %8.1f ms\n", t_open);
	printf("  ct_resync (full dump, nothing to correct)     %8.1f ms\n", t_resync);
	printf("  ct_list every service (userspace filter)      %8.1f ms\n", t_list_all);
	printf("  ct_list one service (kernel mark filter)      %8.1f ms  (%ld entries)\n",
	       t_list_one, got);
	printf("  ct_list a mark no entry has (kernel walk only) %8.1f ms\n", t_list_none);
	ct_close(ct);
out:
	loop_free(loop);
	flowtab_free(ft);
}

int main(int argc, char **argv)
{
	static const unsigned int per_tick[] = { 5, 10, 25, 50, 75, 100, 150, 200, 300, 400 };
	struct result r, best = { 0 };
	uint32_t n_dump = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 200000;
	uint32_t base = 0;
	int lossy = 0;
	double first_loss = 0;
	char buffer[32] = "4 MiB (ct_open default)";

	if (argc > 2 && atoi(argv[2]) > 0) {
		start_rcvbuf = atoi(argv[2]) << 20;
		snprintf(buffer, sizeof(buffer), "%d MiB", atoi(argv[2]));
	}
	if (argc > 3 && strcmp(argv[3], "noclose") == 0)
		with_closes = false;

	if (geteuid() != 0) {
		fprintf(stderr, "bench-ct: needs root (a private netns, ctnetlink)\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) == -1) {
		perror("unshare(CLONE_NEWNET)");
		return 1;
	}
	/* Overflow warnings are the measurement here, not news. */
	log_set_level(LOG_LEVEL_ERROR);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("conntrack event intake, %d ms per step, each entry = %s, buffers %s at start\n",
	       STEP_MS, with_closes ? "NEW + TIME_WAIT update + DESTROY (+ a FIN_WAIT update the kernel drops)" :
	       "NEW + DESTROY", buffer);
	printf("%10s %10s %10s %9s %8s %7s %19s %s\n", "target/s", "offered/s",
	       "absorbed/s", "events", "lost", "ENOBUFS", "cpu ms/1k ev usr+sys",
	       "counts after");
	for (size_t i = 0; i < sizeof(per_tick) / sizeof(per_tick[0]); i++) {
		if (run_step(per_tick[i], base, &r) < 0)
			return 1;
		base += (uint32_t)(r.sent / 2) + 1;
		printf("%10.0f %10.0f %10.0f %9llu %8lld %7llu %8.3f+%-8.3f %-8s  %s",
		       r.target, r.offered, r.absorbed, (unsigned long long)r.sent,
		       (long long)r.sent - (long long)r.got,
		       (unsigned long long)r.overflows, r.user_per_k, r.sys_per_k,
		       r.left_active ? "WRONG" : "exact",
		       r.lossless ? "lossless" : r.errors ? "producer errors" :
		       r.leaked ? "FILTER LEAKED" : "LOSS");
		if (with_closes)
			printf("  (%llu FIN_WAIT updates, %llu reached us)",
			       (unsigned long long)r.half_closed,
			       (unsigned long long)r.leaked);
		printf("\n");
		/* Only rates below the first loss count as absorbed. */
		if (r.lossless && !lossy && r.absorbed > best.absorbed)
			best = r;
		if (!r.lossless && !lossy++)
			first_loss = r.offered;
		/* One more step past the first loss shows whether it was noise. */
		if (lossy == 2)
			break;
	}
	printf("highest rate with no loss at or below it: %.0f events/s, %.3f ms CPU per 1000 events\n",
	       best.absorbed, best.user_per_k + best.sys_per_k);
	if (first_loss > 0)
		printf("first loss with %.0f events/s offered\n", first_loss);
	printf("(user/sys split is tick-sampled; their sum is exact.  A producer that falls\n"
	       " behind sends back to back, so offered/s is the rate it managed.  \"counts\n"
	       " after\": every entry was deleted, so the flowtab must read 0 active once\n"
	       " any resync is done.)\n");
	dump_times(n_dump);
	return 0;
}
