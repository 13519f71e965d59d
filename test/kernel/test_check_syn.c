/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check = tcp from raw sockets (src/health/check_syn.c), in a netns of
 * its own: a listening port is up and its application never sees a
 * connection, a closed port is refused, a backend whose SYN-ACKs are lost
 * times out; IPv4 and IPv6; many probes in flight at once each get their
 * own answer; and a checker that has no raw socket still probes with
 * connect().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <criterion/criterion.h>

#include "knlb/health/check.h"
#include "knlb/lib/loop.h"
#include "kt.h"
#include "../unit/check-test.h"

TestSuite(check_syn, .init = kt_enter_netns, .timeout = 60);

static void up_lo(void)
{
	int status;

	free(kt_run("ip link set lo up", &status));
	cr_assert_eq(status, 0);
}

/* A TCP socket of family listening (or only bound) on loopback: fd, *port. */
static int port_on(int family, bool listening, uint16_t *port)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(family, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	if (family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0, "bind: %s", strerror(errno));
	if (listening)
		cr_assert_eq(listen(fd, 128), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
					   ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static struct knlb_addr loopback(int family)
{
	struct knlb_addr a = { .family = (sa_family_t)family };

	if (family == AF_INET6)
		a.in6 = in6addr_loopback;
	else
		a.in.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* lo up, a loop and a checker on it, with raw sockets when raw. */
static struct checker *checker_up(struct loop **loop, bool raw)
{
	struct checker *c;

	up_lo();
	cr_assert_eq(loop_new(loop), 0);
	cr_assert_eq(checker_new(*loop, &c), 0);
	if (raw)
		cr_assert_eq(checker_open_raw(c), 0, "raw sockets (root in a netns)");
	return c;
}

/* One probe of addr:port on checker, run to its result. */
static struct check_result probe_once(struct loop *loop, struct checker *c,
				      const struct knlb_addr *addr, uint16_t port,
				      uint64_t timeout_ms)
{
	struct check_spec spec = check_test_spec(CHECK_TCP, timeout_ms);
	int pending = 1;
	struct check_outcome o = { .pending = &pending, .loop = loop };

	cr_assert_eq(checker_start(c, &spec, addr, port, check_outcome_done, &o, NULL), 0);
	check_loop_run(loop, timeout_ms + 2000);
	cr_assert_eq(o.calls, 1);
	return o.res;
}

/*
 * rounds probes each of a listening and a closed port on family's
 * loopback, with raw sockets when raw: up "connected", refused "connect
 * refused"; half-open (raw) leaves nothing in the accept queue.
 */
static void live_and_closed(int family, bool raw, int rounds)
{
	struct loop *loop;
	struct checker *c;
	struct knlb_addr lo = loopback(family);
	uint16_t live, closed;
	int lfd, cfd;
	struct check_result r;

	c = checker_up(&loop, raw);
	lfd = port_on(family, true, &live);
	cfd = port_on(family, false, &closed);

	for (int i = 0; i < rounds; i++) {
		r = probe_once(loop, c, &lo, live, 1000);
		cr_expect_eq(r.status, CHECK_OK, "live, probe %d: %s", i, r.reason);
		cr_expect_str_eq(r.reason, "connected");
		r = probe_once(loop, c, &lo, closed, 1000);
		cr_expect_eq(r.status, CHECK_FAILED, "closed, probe %d: %s", i, r.reason);
		cr_expect_str_eq(r.reason, "connect refused");
	}
	/* Half-open: the kernel reset every SYN-ACK, nothing was accepted. */
	if (raw)
		cr_expect_eq(poll(&(struct pollfd){ .fd = lfd, .events = POLLIN }, 1, 100), 0,
			     "a probe's connection reached accept()");
	checker_free(c);
	loop_free(loop);
	close(lfd);
	close(cfd);
}

Test(check_syn, ipv4_live_is_up_closed_is_refused_nothing_accepted)
{
	live_and_closed(AF_INET, true, 5);
}

Test(check_syn, ipv6_live_is_up_closed_is_refused_nothing_accepted)
{
	live_and_closed(AF_INET6, true, 5);
}

Test(check_syn, lost_syn_acks_time_out)
{
	struct loop *loop;
	struct checker *c;
	struct knlb_addr lo = loopback(AF_INET);
	uint16_t live;
	char cmd[256];
	int lfd, status;
	struct check_result r;

	c = checker_up(&loop, true);
	lfd = port_on(AF_INET, true, &live);
	/* The SYN reaches the listener; its SYN-ACK is dropped on the way in,
	 * before any raw socket sees it. */
	snprintf(cmd, sizeof(cmd),
		 "nft add table inet t && nft 'add chain inet t in { type filter hook input priority 0; }' && "
		 "nft add rule inet t in tcp sport %u tcp flags syn,ack drop", live);
	free(kt_run(cmd, &status));
	cr_assert_eq(status, 0);
	r = probe_once(loop, c, &lo, live, 200);
	cr_expect_eq(r.status, CHECK_FAILED, "%s", r.reason);
	cr_expect_str_eq(r.reason, "connect timeout");
	cr_expect_geq(r.latency_ms, 190.0);
	free(kt_run("nft delete table inet t", &status));
	/* The listener still holds the lost probe's half-open state; a probe
	 * from that same source port (1 in 64) is answered with a bare ACK,
	 * which our kernel resets, clearing it: at most one more is lost. */
	int ok = 0;
	for (int i = 0; i < 3; i++)
		ok += probe_once(loop, c, &lo, live, 1000).status == CHECK_OK;
	cr_expect_geq(ok, 2, "after the rule went: %d of 3 probes up", ok);
	checker_free(c);
	loop_free(loop);
	close(lfd);
}

/* 64 ports, every other one listening, 4 probes each in flight at once:
 * 256 probes, each answered as its own port is. */
Test(check_syn, many_probes_in_flight_each_get_their_own_answer)
{
	enum { PORTS = 64, EACH = 4 };
	struct loop *loop;
	struct checker *c;
	struct knlb_addr lo = loopback(AF_INET);
	struct check_spec spec = check_test_spec(CHECK_TCP, 2000);
	static struct check_outcome o[PORTS][EACH];
	uint16_t port[PORTS];
	int fd[PORTS], pending = PORTS * EACH;

	c = checker_up(&loop, true);
	for (int i = 0; i < PORTS; i++)
		fd[i] = port_on(AF_INET, i % 2 == 0, &port[i]);
	for (int k = 0; k < EACH; k++)
		for (int i = 0; i < PORTS; i++) {
			o[i][k] = (struct check_outcome){ .pending = &pending, .loop = loop };
			cr_assert_eq(checker_start(c, &spec, &lo, port[i], check_outcome_done, &o[i][k], NULL), 0);
		}
	cr_expect_eq(checker_running(c), PORTS * EACH);
	check_loop_run(loop, 5000);
	for (int i = 0; i < PORTS; i++)
		for (int k = 0; k < EACH; k++) {
			cr_expect_eq(o[i][k].calls, 1);
			cr_expect_eq(o[i][k].res.status, i % 2 == 0 ? CHECK_OK : CHECK_FAILED,
				     "port %d probe %d: %s", i, k, o[i][k].res.reason);
		}
	checker_free(c);
	loop_free(loop);
	for (int i = 0; i < PORTS; i++)
		close(fd[i]);
}

/* Without checker_open_raw() (no CAP_NET_RAW), tcp is connect() as before. */
Test(check_syn, without_raw_sockets_tcp_still_connects)
{
	live_and_closed(AF_INET, false, 1);
}

/*
 * The SYNs of probes started together go in one sendmmsg(); one the
 * kernel refuses (an nftables output rule drops it: EPERM) fails its own
 * probe, as its sendmsg() did, and the probes queued before and after it
 * are sent and answered.
 */
Test(check_syn, a_refused_syn_fails_its_probe_alone)
{
	enum { PORTS = 6, REFUSED = 2 };
	struct loop *loop;
	struct checker *c;
	struct knlb_addr lo = loopback(AF_INET);
	struct check_spec spec = check_test_spec(CHECK_TCP, 1000);
	static struct check_outcome o[PORTS];
	uint16_t port[PORTS];
	int fd[PORTS], pending = PORTS, status;
	char cmd[256];

	c = checker_up(&loop, true);
	for (int i = 0; i < PORTS; i++)
		fd[i] = port_on(AF_INET, true, &port[i]);
	snprintf(cmd, sizeof(cmd),
		 "nft add table inet t && nft 'add chain inet t out { type filter hook output priority 0; }' && "
		 "nft add rule inet t out tcp dport %u drop", port[REFUSED]);
	free(kt_run(cmd, &status));
	cr_assert_eq(status, 0);
	for (int i = 0; i < PORTS; i++) {
		o[i] = (struct check_outcome){ .pending = &pending, .loop = loop };
		cr_assert_eq(checker_start(c, &spec, &lo, port[i], check_outcome_done, &o[i], NULL), 0);
	}
	check_loop_run(loop, 3000);
	for (int i = 0; i < PORTS; i++) {
		cr_expect_eq(o[i].calls, 1);
		if (i == REFUSED) {
			cr_expect_eq(o[i].res.status, CHECK_FAILED, "%s", o[i].res.reason);
			cr_expect_str_eq(o[i].res.reason, "send: Operation not permitted");
		} else {
			cr_expect_eq(o[i].res.status, CHECK_OK, "port %d: %s", i, o[i].res.reason);
		}
	}
	free(kt_run("nft delete table inet t", &status));
	checker_free(c);
	loop_free(loop);
	for (int i = 0; i < PORTS; i++)
		close(fd[i]);
}
