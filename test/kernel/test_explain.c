/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl explain against the kernel: for many client addresses, the
 * backend explain predicts is the one a real TCP connection reaches.
 * Everything is on this netns' loopback: clients bind 198.51.100.0/22
 * (a local route), the VIP and four backends are local addresses, and
 * knlb's output nat chain DNATs the connections as it would a gateway's
 * own clients'.  A listener per backend tells which one accepted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(explain, .init = kt_enter_netns, .timeout = 120);

#define N_BACKENDS	4
#define SERVICE(key)	"[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n" \
			"scheduler = maglev\nhash_key = " key "\nhash_seed = 0x1234\n" \
			"backend = 10.0.0.11:8080 id=b0\nbackend = 10.0.0.12:8080 id=b1\n" \
			"backend = 10.0.0.13:8080 id=b2\nbackend = 10.0.0.14:8080 id=b3 weight=2\n"

struct lab {
	struct kt_knlbd d;
	int listen[N_BACKENDS];
};

/* A listening backend socket at a, non-blocking, in l->listen[b]. */
static void listen_at(struct lab *l, int b, const struct sockaddr *a, socklen_t len)
{
	int one = 1;

	l->listen[b] = socket(a->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cr_assert_geq(l->listen[b], 0);
	setsockopt(l->listen[b], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(l->listen[b], a, len), 0, "%s", strerror(errno));
	cr_assert_eq(listen(l->listen[b], 64), 0);
}

/* The addresses on lo, and a listener per backend. */
static void lab_net(struct lab *l)
{
	static const char *setup =
		"ip link set lo up && ip addr add 192.0.2.10/32 dev lo && "
		"ip addr add 10.0.0.11/32 dev lo && ip addr add 10.0.0.12/32 dev lo && "
		"ip addr add 10.0.0.13/32 dev lo && ip addr add 10.0.0.14/32 dev lo && "
		"ip route add local 198.51.100.0/22 dev lo";
	int status;
	char *out = kt_run(setup, &status);

	cr_assert_eq(status, 0, "%s", out);
	free(out);
	for (int b = 0; b < N_BACKENDS; b++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080),
					 .sin_addr.s_addr = htonl(0x0a00000b + (uint32_t)b) };

		listen_at(l, b, (struct sockaddr *)&a, sizeof(a));
	}
}

static void lab_close(struct lab *l)
{
	for (int b = 0; b < N_BACKENDS; b++)
		close(l->listen[b]);
}

/* The backend (0..3) a connection from 198.51.100.0/22 + host:port reaches. */
static int reached(struct lab *l, int host, uint16_t port)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(80),
				  .sin_addr.s_addr = htonl(0xc000020a) };
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(0xc6336400 + (uint32_t)host) };

	return kt_connect_reaches(l->listen, N_BACKENDS, (struct sockaddr *)&from, (struct sockaddr *)&to, sizeof(to));
}

/* The backend explain names for host:port (port 0: none given), -1 for none. */
static int predicted(struct lab *l, int host, uint16_t port)
{
	char req[128], *reply, *id;
	int b = -1;

	if (port)
		snprintf(req, sizeof(req), "explain web 198.51.%d.%d:%u --json",
			 100 + host / 256, host % 256, port);
	else
		snprintf(req, sizeof(req), "explain web 198.51.%d.%d --json",
			 100 + host / 256, host % 256);
	reply = kt_ctl(l->d.sock, req);
	cr_assert_not_null(reply);
	cr_assert(!strncmp(reply, "OK", 2), "%s: %s", req, reply);
	id = strstr(reply, "\"backend\":\"b");
	if (id)
		b = id[strlen("\"backend\":\"b")] - '0';
	free(reply);
	return b;
}

/* n clients from 198.51.100.1 up; each a port of its own when with_port. */
static void expect_agreement(struct lab *l, int n, bool with_port, int *per_backend)
{
	int wrong = 0, first_wrong = -1;

	for (int i = 1; i <= n; i++) {
		uint16_t port = with_port ? (uint16_t)(20000 + i * 7) : 0;
		int want = predicted(l, i, port);
		int got = reached(l, i, port ? port : (uint16_t)(30000 + i));

		if (want != got && wrong++ == 0)
			first_wrong = i;
		if (got >= 0)
			per_backend[got]++;
	}
	cr_expect_eq(wrong, 0, "%d of %d clients reached another backend than explain said (first: host %d)",
		     wrong, n, first_wrong);
}

Test(explain, src_ip_port_prediction_matches_1000_real_connections)
{
	struct lab l;
	int per[N_BACKENDS] = { 0 };

	lab_net(&l);
	kt_knlbd_start(&l.d, "explain", SERVICE("src-ip-port"));
	expect_agreement(&l, 1000, true, per);
	/* the clients spread (weights 1:1:1:2): every backend was reached */
	for (int b = 0; b < N_BACKENDS; b++)
		cr_expect_gt(per[b], 100, "backend b%d reached %d times", b, per[b]);
	cr_expect_gt(per[3], per[0], "b3 has twice b0's weight: %d vs %d", per[3], per[0]);
	kt_knlbd_stop(&l.d);
	lab_close(&l);
}

Test(explain, src_ip_and_5tuple_and_a_drain_agree_with_the_kernel)
{
	struct lab l;
	int per[N_BACKENDS] = { 0 };
	char *reply;

	lab_net(&l);
	kt_knlbd_start(&l.d, "explain", SERVICE("src-ip"));
	expect_agreement(&l, 300, false, per);
	/* drained: explain and the kernel both leave b3 */
	reply = kt_ctl(l.d.sock, "drain web b3");
	cr_assert(reply && !strncmp(reply, "OK", 2), "%s", reply);
	free(reply);
	memset(per, 0, sizeof(per));
	expect_agreement(&l, 300, false, per);
	cr_expect_eq(per[3], 0);
	kt_knlbd_stop(&l.d);

	kt_knlbd_start(&l.d, "explain", SERVICE("5-tuple"));
	expect_agreement(&l, 300, true, per);
	kt_knlbd_stop(&l.d);
	lab_close(&l);
}

/* ---- IPv6: the same through the service's IPv6 slot map ---- */

#define SERVICE6 "[service web]\nvip = 2001:db8:2::10\nport = 80\ncheck = none\n" \
		 "scheduler = maglev\nhash_key = src-ip-port\nhash_seed = 0x1234\n" \
		 "backend = [2001:db8:3::11]:8080 id=b0\nbackend = [2001:db8:3::12]:8080 id=b1\n" \
		 "backend = [2001:db8:3::13]:8080 id=b2\nbackend = [2001:db8:3::14]:8080 id=b3 weight=2\n"
#define N_CLIENTS6	300

static struct sockaddr_in6 sin6_of(const char *prefix, unsigned host, uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	char text[64];

	snprintf(text, sizeof(text), "%s%x", prefix, host);
	cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1, "%s", text);
	return a;
}

static void lab_net6(struct lab *l)
{
	char cmd[256];
	int status;
	char *out;
	FILE *f = fopen("/tmp/knlb-kt-explain6.batch", "w");

	cr_assert_not_null(f);
	fputs("link set lo up\naddr add 2001:db8:2::10/128 dev lo nodad\n", f);
	for (int b = 0; b < N_BACKENDS; b++)
		fprintf(f, "addr add 2001:db8:3::%x/128 dev lo nodad\n", 0x11 + b);
	for (unsigned h = 1; h <= N_CLIENTS6; h++)
		fprintf(f, "addr add 2001:db8:1::%x/128 dev lo nodad\n", h);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "ip -batch /tmp/knlb-kt-explain6.batch && rm /tmp/knlb-kt-explain6.batch");
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s", out);
	free(out);
	for (int b = 0; b < N_BACKENDS; b++) {
		struct sockaddr_in6 a = sin6_of("2001:db8:3::", 0x11 + (unsigned)b, 8080);

		listen_at(l, b, (struct sockaddr *)&a, sizeof(a));
	}
}

static int reached6(struct lab *l, unsigned host, uint16_t port)
{
	struct sockaddr_in6 to = sin6_of("2001:db8:2::", 0x10, 80);
	struct sockaddr_in6 from = sin6_of("2001:db8:1::", host, port);

	return kt_connect_reaches(l->listen, N_BACKENDS, (struct sockaddr *)&from, (struct sockaddr *)&to, sizeof(to));
}

Test(explain, ipv6_prediction_matches_real_connections)
{
	struct lab l;
	int per[N_BACKENDS] = { 0 }, wrong = 0, first_wrong = -1;

	lab_net6(&l);
	kt_knlbd_start(&l.d, "explain6", SERVICE6);
	for (unsigned h = 1; h <= N_CLIENTS6; h++) {
		uint16_t port = (uint16_t)(20000 + h * 7);
		char req[128], *reply, *id;
		int want = -1, got;

		snprintf(req, sizeof(req), "explain web [2001:db8:1::%x]:%u --json", h, port);
		reply = kt_ctl(l.d.sock, req);
		cr_assert(reply && !strncmp(reply, "OK", 2), "%s: %s", req, reply);
		id = strstr(reply, "\"backend\":\"b");
		if (id)
			want = id[strlen("\"backend\":\"b")] - '0';
		free(reply);
		got = reached6(&l, h, port);
		if (got >= 0)
			per[got]++;
		if (want != got && wrong++ == 0)
			first_wrong = (int)h;
	}
	cr_expect_eq(wrong, 0, "%d of %d IPv6 clients reached another backend than explain said (first: ::%x)",
		     wrong, N_CLIENTS6, first_wrong);
	for (int b = 0; b < N_BACKENDS; b++)
		cr_expect_gt(per[b], 20, "backend b%d reached %d times", b, per[b]);
	kt_knlbd_stop(&l.d);
	lab_close(&l);
}
