/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * persistence = DURATION against the kernel, with real TCP connections on
 * this netns' loopback (as test_explain.c): clients bind 198.51.100.0/22,
 * the VIP and the backends are local addresses, knlb's output nat chain
 * DNATs them.  Under wrr (numgen inc) a client's connections would
 * alternate between backends; with persistence they stay on the first
 * one, across slot changes, reloads and restarts, until their backend
 * leaves the table: then its entries go in the same transaction.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

/* The knlbd a failed assertion left running: stopped by the suite's fini. */
static pid_t running = -1;

static void stop_leftover(void)
{
	if (running > 0)
		kt_stop_knlbd(running);
	running = -1;
}

TestSuite(persist, .init = kt_enter_netns, .fini = stop_leftover, .timeout = 120);

#define N_BACKENDS	3
#define N_CLIENTS	24
#define BACKENDS	"backend = 10.0.0.11:8080 id=b0\nbackend = 10.0.0.12:8080 id=b1\n"
#define SERVICE		"[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n" \
			"scheduler = wrr\ntable_size = 7\npersistence = 10m\n"

struct lab {
	struct kt_knlbd d;
	int listen[N_BACKENDS];
};

static void lab_net(struct lab *l)
{
	static const char *setup =
		"ip link set lo up && ip addr add 192.0.2.10/32 dev lo && "
		"ip addr add 10.0.0.11/32 dev lo && ip addr add 10.0.0.12/32 dev lo && "
		"ip addr add 10.0.0.13/32 dev lo && "
		"ip route add local 198.51.100.0/22 dev lo";
	int status, one = 1;
	char *out = kt_run(setup, &status);

	cr_assert_eq(status, 0, "%s", out);
	free(out);
	for (int b = 0; b < N_BACKENDS; b++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080),
					 .sin_addr.s_addr = htonl(0x0a00000b + (uint32_t)b) };

		l->listen[b] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		cr_assert_geq(l->listen[b], 0);
		setsockopt(l->listen[b], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		cr_assert_eq(bind(l->listen[b], (struct sockaddr *)&a, sizeof(a)), 0,
			     "%s", strerror(errno));
		cr_assert_eq(listen(l->listen[b], 64), 0);
	}
}

static void lab_close(struct lab *l)
{
	for (int b = 0; b < N_BACKENDS; b++)
		close(l->listen[b]);
}

/* The backend (0..2) a new connection from 198.51.100.<host> reaches. */
static int reached(struct lab *l, int host)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(80),
				  .sin_addr.s_addr = htonl(0xc000020a) };
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(0xc6336400 + (uint32_t)host) };

	return kt_connect_reaches(l->listen, N_BACKENDS, (struct sockaddr *)&from, (struct sockaddr *)&to,
			    sizeof(to));
}

/* Elements of map (in table inet knlb) whose listing contains needle. */
static int count_in_map(const char *map, const char *needle)
{
	char cmd[96], *out, *p;
	int status, n = 0;

	snprintf(cmd, sizeof(cmd), "nft list map inet knlb %s", map);
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s", out);
	for (p = out; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(out);
	return n;
}

/* Entries of web_persist pointing at backend b (10.0.0.11 + b). */
static int entries_of(int b)
{
	char needle[32];

	snprintf(needle, sizeof(needle), ": 10.0.0.%d . 8080", 11 + b);
	return count_in_map("web_persist", needle);
}

static void ctl_ok(struct lab *l, const char *req)
{
	char *reply = kt_ctl(l->d.sock, req);

	cr_assert(reply && !strncmp(reply, "OK", 2), "%s: %s", req, reply);
	free(reply);
}

/* knlbctl status --json counts what nft lists, per backend. */
static void expect_status_counts(struct lab *l, const int *per)
{
	char *reply = kt_ctl(l->d.sock, "status web --json"), want[64];

	cr_assert(reply && !strncmp(reply, "OK", 2), "%s", reply);
	for (int b = 0; b < 2; b++) {
		const char *at = strstr(reply, b ? "\"id\":\"b1\"" : "\"id\":\"b0\"");

		snprintf(want, sizeof(want), "\"persistence_entries\":%d,", per[b]);
		cr_assert_not_null(at, "%s", reply);
		cr_expect(strstr(at, want), "b%d: no %s in %s", b, want, reply);
	}
	cr_expect(strstr(reply, "\"persistence_s\":600"), "%s", reply);
	free(reply);
}

/* knlbctl explain names each client's persisted backend. */
static void expect_explained(struct lab *l, const int *first)
{
	for (int i = 1; i <= N_CLIENTS; i++) {
		char req[64], want[64], *reply;

		snprintf(req, sizeof(req), "explain web 198.51.100.%d --json", i);
		reply = kt_ctl(l->d.sock, req);
		snprintf(want, sizeof(want), "\"persistence\":{\"backend\":\"b%d\"", first[i]);
		cr_expect(reply && strstr(reply, want), "%s: no %s in %s", req, want, reply);
		free(reply);
	}
}

/* Every client still reaches first[host]; -1 entries are not checked. */
static void expect_sticky(struct lab *l, const int *first, const char *when)
{
	int moved = 0;

	for (int i = 1; i <= N_CLIENTS; i++)
		if (first[i] >= 0)
			moved += reached(l, i) != first[i];
	cr_expect_eq(moved, 0, "%s: %d of %d clients changed backend", when, moved,
		     N_CLIENTS);
}

Test(persist, entries_follow_connections_weights_reloads_restarts_and_transitions)
{
	struct lab l;
	int first[N_CLIENTS + 1], per[N_BACKENDS] = { 0 };

	lab_net(&l);
	kt_knlbd_start(&l.d, "persist", SERVICE BACKENDS);
	running = l.d.pid;

	/* First connections spread over both; the next three stick. */
	for (int i = 1; i <= N_CLIENTS; i++) {
		first[i] = reached(&l, i);
		per[first[i]]++;
	}
	first[0] = -1;
	cr_expect(per[0] > 0 && per[1] > 0, "wrr spread %d/%d", per[0], per[1]);
	for (int k = 0; k < 3; k++)
		expect_sticky(&l, first, "repeated connections");
	cr_expect_eq(entries_of(0), per[0], "b0: %d entries for %d clients", entries_of(0), per[0]);
	cr_expect_eq(entries_of(1), per[1], "b1: %d entries for %d clients", entries_of(1), per[1]);
	expect_status_counts(&l, per);
	expect_explained(&l, first);

	/* A weight change rewrites slots, no backend leaves: nothing purged. */
	ctl_ok(&l, "weight web b0 5");
	expect_sticky(&l, first, "after a weight change");
	cr_expect_eq(entries_of(0) + entries_of(1), N_CLIENTS);

	/* A reload adding a backend: deltas only, entries untouched. */
	kt_knlbd_write_conf(&l.d, SERVICE BACKENDS "backend = 10.0.0.13:8080 id=b2\n");
	ctl_ok(&l, "reload");
	expect_sticky(&l, first, "after a reload adding a backend");
	cr_expect_eq(entries_of(0) + entries_of(1), N_CLIENTS);

	/* A restart replaces the whole table: the entries are carried over. */
	kt_knlbd_stop(&l.d);
	running = -1;
	kt_knlbd_start(&l.d, "persist", SERVICE BACKENDS "backend = 10.0.0.13:8080 id=b2\n");
	running = l.d.pid;
	cr_expect(kt_wait_for_log(l.d.log, "entries carried over", 100),
		  "%s", kt_read_file(l.d.log));
	cr_expect_eq(entries_of(0), per[0], "after restart: %d", entries_of(0));
	cr_expect_eq(entries_of(1), per[1], "after restart: %d", entries_of(1));
	expect_sticky(&l, first, "after a restart");

	/* b1 leaves the table: its entries go, b0's stay; its clients move. */
	ctl_ok(&l, "disable web b1");
	cr_expect(kt_wait_for_log(l.d.log, "persistence entries purged", 2000),
		  "%s", kt_read_file(l.d.log));
	cr_expect_eq(entries_of(1), 0, "b1 kept %d entries", entries_of(1));
	cr_expect_eq(entries_of(0), per[0]);
	for (int i = 1; i <= N_CLIENTS; i++) {
		int now = reached(&l, i);

		cr_expect_neq(now, 1, "client %d still reaches the disabled b1", i);
		if (first[i] == 0)
			cr_expect_eq(now, 0, "client %d left b0", i);
	}

	/* drain ends persistence too (docs/configuration.md): b0's go. */
	ctl_ok(&l, "drain web b0");
	cr_expect_eq(entries_of(0), 0, "drained b0 kept %d entries", entries_of(0));
	for (int i = 1; i <= N_CLIENTS; i++)
		cr_expect_eq(reached(&l, i), 2, "client %d", i);
	cr_expect_eq(entries_of(2), N_CLIENTS, "every client is b2's now");
	kt_knlbd_stop(&l.d);
	running = -1;
	lab_close(&l);
}

/* A backend removed by a reload: its entries go in the reload's transaction. */
Test(persist, a_backend_removed_by_reload_loses_its_entries)
{
	struct lab l;
	int per[N_BACKENDS] = { 0 };

	lab_net(&l);
	kt_knlbd_start(&l.d, "persist", SERVICE BACKENDS);
	running = l.d.pid;
	for (int i = 1; i <= N_CLIENTS; i++)
		per[reached(&l, i)]++;
	cr_expect_eq(entries_of(1), per[1]);
	kt_knlbd_write_conf(&l.d, SERVICE "backend = 10.0.0.11:8080 id=b0\n");
	ctl_ok(&l, "reload");
	cr_expect_eq(entries_of(1), 0, "removed b1 kept %d entries", entries_of(1));
	cr_expect_eq(entries_of(0), per[0]);
	for (int i = 1; i <= N_CLIENTS; i++)
		cr_expect_eq(reached(&l, i), 0);
	kt_knlbd_stop(&l.d);
	running = -1;
	lab_close(&l);
}

/* ---- IPv6: a dual-stack service's IPv6 map, apart from the IPv4 one ---- */

#define N_CLIENTS6	12
#define SERVICE6	"[service web]\nvip = 192.0.2.10\nvip = 2001:db8:2::10\nport = 80\n" \
			"check = none\nscheduler = wrr\ntable_size = 7\npersistence = 10m\n" \
			"backend = 10.0.0.11:8080 id=b0\n" \
			"backend = [2001:db8:3::11]:8080 id=v0\nbackend = [2001:db8:3::12]:8080 id=v1\n"

static struct sockaddr_in6 sin6_of(const char *prefix, unsigned host, uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	char text[64];

	snprintf(text, sizeof(text), "%s%x", prefix, host);
	cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1, "%s", text);
	return a;
}

/* listen[0], listen[1]: the two IPv6 backends; listen[2]: IPv4's b0. */
static void lab_net6(struct lab *l)
{
	char cmd[2048];
	size_t off;
	int status, one = 1;
	char *out;

	off = (size_t)snprintf(cmd, sizeof(cmd),
			       "ip link set lo up && ip addr add 192.0.2.10/32 dev lo && "
			       "ip addr add 10.0.0.11/32 dev lo && "
			       "ip route add local 198.51.100.0/22 dev lo && "
			       "ip addr add 2001:db8:2::10/128 dev lo nodad && "
			       "ip addr add 2001:db8:3::11/128 dev lo nodad && "
			       "ip addr add 2001:db8:3::12/128 dev lo nodad");
	for (unsigned h = 1; h <= N_CLIENTS6; h++)
		off += (size_t)snprintf(cmd + off, sizeof(cmd) - off,
					" && ip addr add 2001:db8:1::%x/128 dev lo nodad", h);
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s", out);
	free(out);
	for (int b = 0; b < N_BACKENDS; b++) {
		struct sockaddr_in6 a6 = sin6_of("2001:db8:3::", 0x11 + (unsigned)b, 8080);
		struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(8080),
					  .sin_addr.s_addr = htonl(0x0a00000b) };
		struct sockaddr *a = b < 2 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
		socklen_t len = b < 2 ? sizeof(a6) : sizeof(a4);

		l->listen[b] = socket(a->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		cr_assert_geq(l->listen[b], 0);
		setsockopt(l->listen[b], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		cr_assert_eq(bind(l->listen[b], a, len), 0, "%s", strerror(errno));
		cr_assert_eq(listen(l->listen[b], 64), 0);
	}
}

static int reached6(struct lab *l, unsigned host)
{
	struct sockaddr_in6 to = sin6_of("2001:db8:2::", 0x10, 80);
	struct sockaddr_in6 from = sin6_of("2001:db8:1::", host, 0);

	return kt_connect_reaches(l->listen, N_BACKENDS, (struct sockaddr *)&from, (struct sockaddr *)&to, sizeof(to));
}

Test(persist, ipv6_clients_stick_and_lose_only_their_backends_entries)
{
	struct lab l;
	int first[N_CLIENTS6 + 1], per[2] = { 0 }, moved = 0;

	lab_net6(&l);
	kt_knlbd_start(&l.d, "persist6", SERVICE6);
	running = l.d.pid;
	for (unsigned h = 1; h <= N_CLIENTS6; h++) {
		first[h] = reached6(&l, h);
		cr_assert(first[h] == 0 || first[h] == 1, "client %u reached %d", h, first[h]);
		per[first[h]]++;
	}
	cr_expect(per[0] > 0 && per[1] > 0, "wrr spread %d/%d", per[0], per[1]);
	for (unsigned h = 1; h <= N_CLIENTS6; h++)
		moved += reached6(&l, h) != first[h];
	cr_expect_eq(moved, 0, "%d of %d IPv6 clients changed backend", moved, N_CLIENTS6);
	cr_expect_eq(count_in_map("web_persist6", ": 2001:db8:3::11 . 8080"), per[0]);
	cr_expect_eq(count_in_map("web_persist6", ": 2001:db8:3::12 . 8080"), per[1]);
	/* an IPv4 client in the IPv4 map, beside them */
	cr_expect_eq(reached(&l, 1), 2);
	cr_expect_eq(count_in_map("web_persist", ": 10.0.0.11 . 8080"), 1);

	ctl_ok(&l, "disable web v1");
	cr_expect_eq(count_in_map("web_persist6", ": 2001:db8:3::12 . 8080"), 0);
	cr_expect_eq(count_in_map("web_persist6", ": 2001:db8:3::11 . 8080"), per[0]);
	cr_expect_eq(count_in_map("web_persist", ": 10.0.0.11 . 8080"), 1,
		     "the IPv4 map is untouched");
	for (unsigned h = 1; h <= N_CLIENTS6; h++)
		cr_expect_eq(reached6(&l, h), 0, "client %u", h);
	kt_knlbd_stop(&l.d);
	running = -1;
	lab_close(&l);
}
