/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check = tcp from raw sockets: the half-open probe.  What a tcp probe
 * proves is the backend's SYN-ACK (check_tcp.c holds its last ACK back
 * and resets), so the SYN can as well come from a raw socket, with the
 * answers of every probe read from that one socket: no socket, connect(),
 * epoll registration or reset per probe.  The kernel resets each SYN-ACK
 * itself, because the source port is held by a TCP socket that is bound
 * and never listens.  The bench priced the packets alone at a third of a
 * connect()-based probe (docs/performance.md, "Half-open probes, priced").
 *
 * Raw sockets need CAP_NET_RAW: checker_open_raw() runs while knlbd still
 * has it, and without it tcp probes keep using connect().  They run in
 * knlbd itself, not in the unprivileged prober: the prober parses HTTP
 * and TLS from the network and must not hold a raw socket, while an answer
 * here is 40 bytes read at fixed offsets (syn_segment.c, fuzzed).
 *
 * An answer is a probe's when it acknowledges the probe's sequence number
 * (random, 32 bits, unique among the probes in flight) and comes from the
 * probe's address and port to the held port.  ICMP errors are not read:
 * an unreachable backend times out where connect() would have failed at
 * once ("connect timeout" rather than "no route to host"); a local
 * routing failure is still reported when the SYN is sent.
 *
 * The SYNs of the probes started in one pass of the loop go at its end,
 * one sendmmsg() per family (syn_send.c): the probe's deadline runs from
 * its start, a few microseconds earlier.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "knlb/health/syn_segment.h"
#include "knlb/lib/addr.h"
#include "check-int.h"
#include "syn_send-int.h"
#include "syn_source-int.h"

#define SYN_BATCH		32
/*
 * Source ports held per family, and a probe's chosen at random among
 * them: a backend that still holds the half-open state of an earlier probe
 * from the same port (its SYN-ACK was lost: it retransmits it, and answers
 * a new SYN from that port with a bare ACK) would lose the next probe
 * too.  One port made every probe of a backend the same 4-tuple.
 */
#define SYN_PORTS		64
#define SYN_RECV_LEN		128	/* IPv4 header with options + TCP header */
#define SRC_CACHE_NS		(30 * 1000000000ULL)

/* One family's sockets: the raw one that sends and reads, the held ports. */
struct syn_family {
	int raw;
	int hold[SYN_PORTS];		/* bound to base + i, never listening */
	uint16_t base;			/* host order */
	int route;			/* UDP socket: the source towards an address */
	bool watched;
	struct syn_queue queue;		/* the SYNs of this pass, not yet sent */
};

struct syn_engine {
	struct syn_family fam[2];	/* KNLB_FAMILY_IPV4, KNLB_FAMILY_IPV6 */
	struct check_probe **buckets;	/* by sequence number; chained */
	size_t nbuckets, n;
	uint64_t rng;
	struct syn_sources sources;	/* IPv4 */
	struct loop_defer flush;	/* sends the queues at the end of the pass */
};

static size_t fam_index(int family)
{
	return family == AF_INET6 ? KNLB_FAMILY_IPV6 : KNLB_FAMILY_IPV4;
}

/* splitmix64: fast, and seeded from getrandom(): off the path, a sequence
 * number is not guessed. */
static uint32_t next_random(struct syn_engine *e)
{
	uint64_t z = (e->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)(z ^ (z >> 31));
}

static struct check_probe **bucket_of(struct syn_engine *e, uint32_t seq)
{
	return &e->buckets[seq & (e->nbuckets - 1)];
}

static struct check_probe *probe_by_seq(struct syn_engine *e, uint32_t seq)
{
	struct check_probe *p;

	if (!e->nbuckets)
		return NULL;
	for (p = *bucket_of(e, seq); p; p = p->syn_next)
		if (p->syn_seq == seq)
			return p;
	return NULL;
}

/* At least as many buckets as probes in flight: chains stay short. */
static int grow_buckets(struct syn_engine *e)
{
	size_t n = e->nbuckets ? e->nbuckets * 2 : 256;
	struct check_probe **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < e->nbuckets; i++) {
		struct check_probe *p = e->buckets[i], *next;

		for (; p; p = next) {
			next = p->syn_next;
			p->syn_next = b[p->syn_seq & (n - 1)];
			b[p->syn_seq & (n - 1)] = p;
		}
	}
	free(e->buckets);
	e->buckets = b;
	e->nbuckets = n;
	return 0;
}

static void unlink_probe(struct syn_engine *e, struct check_probe *probe)
{
	struct check_probe **pp;

	if (!probe->syn_linked)
		return;
	for (pp = bucket_of(e, probe->syn_seq); *pp; pp = &(*pp)->syn_next) {
		if (*pp == probe) {
			*pp = probe->syn_next;
			break;
		}
	}
	probe->syn_next = NULL;
	probe->syn_linked = false;
	e->n--;
}

/*
 * The source the kernel picks towards dst (connect() on a UDP socket sends
 * nothing), kept SRC_CACHE_NS.  0 or -errno (no route: -ENETUNREACH...).
 */
static int source_v4(struct syn_engine *e, struct in_addr dst, struct in_addr *src)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr = dst };
	socklen_t len = sizeof(sin);
	uint64_t now = loop_now_ns();
	int route = e->fam[KNLB_FAMILY_IPV4].route;
	struct syn_source *s = syn_sources_slot(&e->sources, dst);

	if (!s)
		return -ENOMEM;
	if (s->used && s->expires_ns > now) {
		*src = s->src;
		return 0;
	}
	if (connect(route, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(route, (struct sockaddr *)&sin, &len) == -1)
		return -errno;
	s->dst = dst;
	s->src = sin.sin_addr;
	s->expires_ns = now + SRC_CACHE_NS;
	syn_sources_used(&e->sources, s);
	*src = sin.sin_addr;
	return 0;
}

static void handle_answer(struct syn_engine *e, int family, const uint8_t *buf,
			  size_t len, const struct sockaddr_in6 *from6)
{
	const struct syn_family *f = &e->fam[fam_index(family)];
	struct syn_answer a;
	struct check_probe *probe;

	if (syn_answer_parse(family, buf, len, from6 ? &from6->sin6_addr : NULL, &a) < 0)
		return;
	probe = probe_by_seq(e, a.ack - 1);	/* a SYN's answer acknowledges seq + 1 */
	if (!probe || a.to_port != f->base + probe->syn_seq % SYN_PORTS ||
	    probe->addr.family != family ||
	    !addr_equal(&probe->addr, &a.from) || probe->port != a.from_port)
		return;
	if (a.kind == SYN_ANSWER_ACCEPT)
		check_probe_done(probe, CHECK_OK, "connected");
	else
		check_probe_done(probe, CHECK_FAILED, "connect refused");
}

static void on_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct syn_engine *e = arg;
	int family = fd == e->fam[KNLB_FAMILY_IPV6].raw ? AF_INET6 : AF_INET;
	uint8_t buf[SYN_BATCH][SYN_RECV_LEN];
	struct sockaddr_in6 from[SYN_BATCH];
	struct iovec iov[SYN_BATCH];
	struct mmsghdr msgs[SYN_BATCH];
	int n;

	(void)loop;
	(void)events;
	/* Bounded: one batch per wakeup at most SYN_BATCH times, then the
	 * loop serves the rest of knlbd and comes back. */
	for (int round = 0; round < SYN_BATCH; round++) {
		for (int i = 0; i < SYN_BATCH; i++) {
			iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
			msgs[i] = (struct mmsghdr){ .msg_hdr = {
				.msg_name = &from[i], .msg_namelen = sizeof(from[i]),
				.msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		n = recvmmsg(fd, msgs, SYN_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++)
			handle_answer(e, family, buf[i], msgs[i].msg_len,
				      family == AF_INET6 ? &from[i] : NULL);
		if (n < SYN_BATCH)
			return;
	}
}

/* Forget the source towards an IPv4 address that went away with it. */
static void source_forget(struct syn_engine *e, struct in_addr dst)
{
	struct syn_source *s = syn_sources_slot(&e->sources, dst);

	if (s)
		s->expires_ns = 0;
}

/*
 * The probe's SYN was not sent (syn_send.c): what sendmsg() failing in
 * syn_start() did, when the SYN was sent from there.  An error of ours
 * (no buffer space) made checker_start() fail, which the health state
 * machine recorded as a local error named by strerror(): the same result,
 * reported now.
 */
static void send_failed(void *owner, int err, void *arg)
{
	struct check_probe *probe = owner;
	struct syn_engine *e = arg;

	unlink_probe(e, probe);
	/* The source went away with its address: look it up again. */
	if (probe->addr.family == AF_INET && (err == EINVAL || err == EADDRNOTAVAIL))
		source_forget(e, probe->addr.in);
	if (check_errno_is_local(err) && err != EADDRNOTAVAIL)
		check_probe_done(probe, CHECK_LOCAL_ERROR, "%s", strerror(err));
	else
		check_probe_fail_errno(probe, "send", "connect refused",
				       "connect timeout", err);
}

static void on_flush(struct loop *loop, void *arg)
{
	struct syn_engine *e = arg;

	(void)loop;
	for (int i = 0; i < KNLB_FAMILIES; i++)
		if (e->fam[i].queue.n)
			syn_queue_flush(&e->fam[i].queue, e->fam[i].raw, sendmmsg,
					send_failed, e);
}

static int syn_start(struct check_probe *probe)
{
	struct syn_engine *e = probe->checker->syn;
	struct syn_family *f = &e->fam[fam_index(probe->addr.family)];
	struct knlb_addr src = { .family = probe->addr.family };
	struct syn_send *send;
	uint32_t seq;
	int err;

	if (f->raw < 0)
		return -EAFNOSUPPORT;
	if (e->n >= e->nbuckets && (err = grow_buckets(e)) < 0)
		return err;
	do
		seq = next_random(e);
	while (probe_by_seq(e, seq));
	if (probe->addr.family == AF_INET) {
		err = source_v4(e, probe->addr.in, &src.in);
		if (err < 0) {
			check_probe_fail_errno(probe, "send", NULL, NULL, -err);
			return 0;
		}
	}
	send = syn_queue_add(&f->queue, probe, &probe->syn_queued);
	if (!send)
		return -ENOMEM;
	/* The raw socket's "port" is the protocol: 0 takes the socket's. */
	if (probe->addr.family == AF_INET6) {
		send->dst.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6,
						       .sin6_addr = probe->addr.in6 };
	} else {
		send->dst.in = (struct sockaddr_in){ .sin_family = AF_INET,
						     .sin_addr = probe->addr.in };
		send->src = src.in;
	}
	/* IPv6: the kernel fills the checksum in (IPV6_CHECKSUM). */
	syn_segment_build(&src, (uint16_t)(f->base + seq % SYN_PORTS), &probe->addr,
			  probe->port, seq, send->seg);
	if (probe->addr.family == AF_INET6)
		send->seg[16] = send->seg[17] = 0;
	probe->syn_seq = seq;
	probe->syn_next = *bucket_of(e, seq);
	*bucket_of(e, seq) = probe;
	probe->syn_linked = true;
	e->n++;
	loop_defer(probe->checker->loop, &e->flush);
	return 0;
}

static void syn_timeout(struct check_probe *probe)
{
	check_probe_done(probe, CHECK_FAILED, "connect timeout");
}

static void syn_stop(struct check_probe *probe)
{
	struct syn_engine *e = probe->checker->syn;

	unlink_probe(e, probe);
	syn_queue_drop(&e->fam[fam_index(probe->addr.family)].queue, &probe->syn_queued);
}

const struct check_ops check_syn_ops = {
	.start = syn_start,
	.timeout = syn_timeout,
	.stop = syn_stop,
};

/* Only TCP segments to the held ports reach the socket. */
static int attach_filter(int fd, int family, uint16_t base)
{
	struct sock_filter v4[] = {
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),		/* X = IP header length */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),		/* destination port */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base + SYN_PORTS, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SYN_RECV_LEN),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	/* An IPv6 raw socket's data starts at the TCP header. */
	struct sock_filter v6[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, base + SYN_PORTS, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SYN_RECV_LEN),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = family == AF_INET6 ?
		(struct sock_fprog){ sizeof(v6) / sizeof(v6[0]), v6 } :
		(struct sock_fprog){ sizeof(v4) / sizeof(v4[0]), v4 };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == -1)
		return -errno;
	return 0;
}

static void init_family(struct syn_family *f)
{
	*f = (struct syn_family){ .raw = -1, .route = -1 };
	for (int i = 0; i < SYN_PORTS; i++)
		f->hold[i] = -1;
}

static void close_family(struct checker *checker, struct syn_family *f)
{
	if (f->watched)
		loop_del_fd(checker->loop, f->raw);
	if (f->raw >= 0)
		close(f->raw);
	for (int i = 0; i < SYN_PORTS; i++)
		if (f->hold[i] >= 0)
			close(f->hold[i]);
	if (f->route >= 0)
		close(f->route);
	syn_queue_free(&f->queue);
	init_family(f);
}

static int bind_port(int family, uint16_t port)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					     sizeof(struct sockaddr_in);
	int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -errno;
	if (family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	if ((family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * SYN_PORTS consecutive ports (the socket filter tests a range): the first
 * one the kernel's choice, the rest bound after it; taken ones start over
 * elsewhere, a few times.
 */
static int hold_ports(struct syn_family *f, int family)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = bind_port(family, 0), i;

		if (fd < 0)
			return fd;
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
			close(fd);
			return -errno;
		}
		f->base = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						     ((struct sockaddr_in *)&ss)->sin_port);
		f->hold[0] = fd;
		for (i = 1; i < SYN_PORTS && f->base + i <= 65535; i++) {
			f->hold[i] = bind_port(family, (uint16_t)(f->base + i));
			if (f->hold[i] < 0)
				break;
		}
		if (i == SYN_PORTS)
			return 0;
		for (int k = 0; k < SYN_PORTS; k++) {
			if (f->hold[k] >= 0)
				close(f->hold[k]);
			f->hold[k] = -1;
		}
	}
	return -EADDRINUSE;
}

/* The held ports first, then the raw socket filtered to them. */
static int open_family(struct checker *checker, struct syn_family *f, int family)
{
	int ret = hold_ports(f, family);

	if (ret < 0)
		return ret;
	f->raw = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (f->raw == -1)
		return -errno;
	ret = attach_filter(f->raw, family, f->base);
	if (ret < 0)
		return ret;
	if (family == AF_INET6) {
		int offset = 16;	/* the TCP checksum's */

		if (setsockopt(f->raw, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof(offset)) == -1)
			return -errno;
	} else {
		f->route = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (f->route == -1)
			return -errno;
	}
	ret = loop_add_fd(checker->loop, f->raw, EPOLLIN, on_readable, checker->syn);
	f->watched = ret == 0;
	return ret;
}

int checker_open_raw(struct checker *checker)
{
	struct syn_engine *e;
	int ret;

	if (checker->syn)
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (int i = 0; i < KNLB_FAMILIES; i++)
		init_family(&e->fam[i]);
	loop_defer_init(&e->flush, on_flush, e);
	if (getrandom(&e->rng, sizeof(e->rng), 0) != sizeof(e->rng)) {
		ret = -EIO;
		goto fail;
	}
	checker->syn = e;
	ret = open_family(checker, &e->fam[KNLB_FAMILY_IPV4], AF_INET);
	if (ret < 0)
		goto fail;
	/* A host without IPv6 still probes IPv4 from raw sockets. */
	ret = open_family(checker, &e->fam[KNLB_FAMILY_IPV6], AF_INET6);
	if (ret == -EAFNOSUPPORT) {
		close_family(checker, &e->fam[KNLB_FAMILY_IPV6]);
		ret = 0;
	}
	if (ret < 0)
		goto fail;
	return 0;

fail:
	checker->syn = NULL;
	for (int i = 0; i < KNLB_FAMILIES; i++)
		close_family(checker, &e->fam[i]);
	free(e);
	return ret;
}

bool check_syn_serves(const struct checker *checker, int family)
{
	return checker->syn && checker->syn->fam[fam_index(family)].raw >= 0;
}

void checker_raw_ports(const struct checker *checker, int family,
		       uint16_t *first, uint16_t *count)
{
	*first = *count = 0;
	if (!check_syn_serves(checker, family))
		return;
	*first = checker->syn->fam[fam_index(family)].base;
	*count = SYN_PORTS;
}

/* After every probe is cancelled. */
void check_syn_cleanup(struct checker *checker)
{
	struct syn_engine *e = checker->syn;

	if (!e)
		return;
	loop_defer_cancel(checker->loop, &e->flush);
	for (int i = 0; i < KNLB_FAMILIES; i++)
		close_family(checker, &e->fam[i]);
	free(e->buckets);
	syn_sources_free(&e->sources);
	free(e);
	checker->syn = NULL;
}
