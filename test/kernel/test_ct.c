/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Conntrack tracking against the real kernel: each test unshares a fresh
 * network namespace (so its conntrack table is empty and private), makes
 * entries with `conntrack -I` or libnetfilter_conntrack, and checks what
 * the ct module counts, lists and deletes, reading back with `conntrack -L`
 * where the kernel's own view is the evidence.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "knlb/lib/addr.h"
#include "knlb/ct/ct.h"
#include "knlb/ct/flowtab.h"
#include "knlb/lib/loop.h"
#include "kt.h"
#include "kt_ct.h"

/* A real knlb layout: service bits in the top byte, someone else's below. */
#define MASK 0xff000000u
#define SVC1 0x01000000u
#define SVC2 0x02000000u
#define FOREIGN 0x00000005u	/* another tool's mark, outside the mask */

TestSuite(ct, .init = kt_enter_netns, .timeout = 60);

struct tctx {
	struct loop *loop;
	struct flowtab *ft;
	struct ct *ct;
	struct loop_timer tick;
	uint64_t deadline;
	bool (*done)(struct tctx *t);
	bool timed_out;
	uint64_t want;			/* for the predicates */
	int drained;
	uint32_t drained_mark;
};

static struct knlb_addr v4(const char *text)
{
	struct knlb_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, text, &a.in), 1, "%s", text);
	return a;
}

static struct knlb_addr v6(const char *text)
{
	struct knlb_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, text, &a.in6), 1, "%s", text);
	return a;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int status;
	char *out;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s:\n%s", cmd, out);
	free(out);
}

/*
 * An established TCP entry client:sport -> 192.0.2.10:80 NATed to
 * backend:bport, as knlb's service chain leaves it.  `-u` goes before
 * `-m`: conntrack-tools 1.4.7 stores a later -u's value as the mark.
 */
static void ct_insert(const char *client, int sport, const char *backend,
		      int bport, uint32_t mark, const char *proto)
{
	sh("conntrack -I -p %s -s %s -d 192.0.2.10 --sport %d --dport 80 %s"
	   " -t 120 -u SEEN_REPLY -m %u --reply-src %s --reply-dst %s"
	   " --reply-port-src %d --reply-port-dst %d",
	   proto, client, sport, strcmp(proto, "tcp") ? "" : "--state ESTABLISHED",
	   mark, backend, client, bport, sport);
}

/* `conntrack -L` lists an entry from this client (the kernel's view). */
static bool ct_listed(const char *client)
{
	char cmd[256], *out, needle[64];
	int status;
	bool found;

	snprintf(cmd, sizeof(cmd), "conntrack -L -o extended 2>/dev/null");
	out = kt_run(cmd, &status);
	snprintf(needle, sizeof(needle), "src=%s ", client);
	found = strstr(out, needle) != NULL;
	free(out);
	return found;
}

static int ct_count_listed(void)
{
	int status, n = 0;
	char *out = kt_run("conntrack -L 2>/dev/null", &status);

	for (char *p = out; (p = strchr(p, '\n')); p++)
		n++;
	free(out);
	return n;
}

/* Bulk entries in established TCP state (kt_ct.h). */
static int lib_insert_raw(unsigned int first, unsigned int n, uint32_t mark,
			  in_addr_t backend, bool destroy, bool ack)
{
	return kt_ct_batch(first, n, mark, backend, TCP_CONNTRACK_ESTABLISHED,
			   destroy, ack);
}

static void lib_insert(unsigned int first, unsigned int n, uint32_t mark,
		       const char *backend, bool destroy)
{
	int err = lib_insert_raw(first, n, mark, v4(backend).in.s_addr, destroy, true);

	cr_assert_eq(err, 0, "%s %u flows: %s", destroy ? "deleting" : "creating",
		     n, strerror(-err));
}

static void on_tick(struct loop *loop, struct loop_timer *timer, void *arg)
{
	struct tctx *t = arg;

	if (t->done && t->done(t)) {
		loop_stop(loop);
		return;
	}
	if (loop_now_ns() > t->deadline) {
		t->timed_out = true;
		loop_stop(loop);
		return;
	}
	loop_timer_arm(loop, timer, 5 * 1000000ULL);
}

static void before_sleep(struct loop *loop, void *arg)
{
	struct tctx *t = arg;

	if (t->done && t->done(t))
		loop_stop(loop);
}

/* Run the loop until done(t) holds or ms pass; returns done(t). */
static bool run_until(struct tctx *t, bool (*done)(struct tctx *t), int ms)
{
	t->done = done;
	t->timed_out = false;
	t->deadline = loop_now_ns() + (uint64_t)ms * 1000000ULL;
	loop_timer_arm(t->loop, &t->tick, 5 * 1000000ULL);
	cr_assert_eq(loop_run(t->loop), 0);
	loop_timer_cancel(t->loop, &t->tick);
	t->done = NULL;
	return done(t);
}

static bool never(struct tctx *t)
{
	(void)t;
	return false;
}

/* Let anything still in flight arrive, then look. */
static void settle(struct tctx *t, int ms)
{
	run_until(t, never, ms);
}

static void on_drained(void *arg, uint32_t mark, const struct knlb_addr *addr,
		       uint16_t port, uint8_t proto)
{
	struct tctx *t = arg;

	(void)addr;
	(void)port;
	(void)proto;
	t->drained++;
	t->drained_mark = mark;
}

static void open_ct(struct tctx *t)
{
	char err[256] = "";
	int ret;

	memset(t, 0, sizeof(*t));
	cr_assert_eq(loop_new(&t->loop), 0);
	t->ft = flowtab_new();
	cr_assert_not_null(t->ft);
	flowtab_set_drained_fn(t->ft, on_drained, t);
	loop_timer_init(&t->tick, on_tick, t);
	loop_set_before_sleep(t->loop, before_sleep, t);
	ret = ct_open(t->loop, MASK, t->ft, &t->ct, err, sizeof(err));
	cr_assert_eq(ret, 0, "ct_open: %d %s", ret, err);
}

static void close_ct(struct tctx *t)
{
	ct_close(t->ct);
	flowtab_free(t->ft);
	loop_free(t->loop);
}

static struct flow_counts backend(struct tctx *t, uint32_t mark,
				  const char *addr, uint16_t port)
{
	struct knlb_addr a = v4(addr);
	struct flow_counts c;

	flowtab_backend_counts(t->ft, mark, &a, port, IPPROTO_TCP, &c);
	return c;
}

static struct flow_counts service(struct tctx *t, uint32_t mark)
{
	struct flow_counts c;

	flowtab_service_counts(t->ft, mark, &c);
	return c;
}

#define expect_counts(c, a, o, cl) do {					\
		struct flow_counts c_ = (c);				\
		cr_expect(c_.active == (a) && c_.opened == (o) && c_.closed == (cl), \
			  "%s: active/opened/closed %llu/%llu/%llu, want %llu/%llu/%llu", \
			  #c, (unsigned long long)c_.active,		\
			  (unsigned long long)c_.opened,		\
			  (unsigned long long)c_.closed,		\
			  (unsigned long long)(a), (unsigned long long)(o), \
			  (unsigned long long)(cl));			\
	} while (0)

Test(ct, open_refuses_an_empty_mask)
{
	struct loop *loop;
	struct flowtab *ft = flowtab_new();
	struct ct *ct = NULL;
	char err[128] = "";

	cr_assert_eq(loop_new(&loop), 0);
	cr_expect_eq(ct_open(loop, 0, ft, &ct, err, sizeof(err)), -EINVAL);
	cr_expect_null(ct);
	cr_expect_neq(err[0], '\0', "says why");
	flowtab_free(ft);
	loop_free(loop);
}

/* Flows that exist before knlbd starts are counted, only knlb's. */
Test(ct, initial_dump_counts_existing_flows)
{
	struct tctx t;
	struct ct_stats st;

	ct_insert("10.1.1.1", 1001, "10.0.0.11", 8080, SVC1, "tcp");
	ct_insert("10.1.1.2", 1002, "10.0.0.11", 8080, SVC1, "tcp");
	ct_insert("10.1.1.3", 1003, "10.0.0.11", 8080, SVC1, "tcp");
	ct_insert("10.1.1.4", 1004, "10.0.0.12", 8080, SVC1, "tcp");
	ct_insert("10.1.1.5", 1005, "10.0.0.11", 8080, SVC2, "tcp");
	ct_insert("10.1.1.6", 1006, "10.0.0.11", 8080, SVC2 | FOREIGN, "tcp");
	ct_insert("10.1.1.7", 1007, "10.0.0.11", 8080, 0, "tcp");
	ct_insert("10.1.1.8", 1008, "10.0.0.11", 8080, FOREIGN, "tcp");
	cr_assert_eq(ct_count_listed(), 8);

	open_ct(&t);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.initial_flows, 6, "mark 0 and a foreign-only mark are not knlb's");
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 3, 3, 0);
	expect_counts(backend(&t, SVC1, "10.0.0.12", 8080), 1, 1, 0);
	/* Foreign bits beside the service bits do not hide the service. */
	expect_counts(backend(&t, SVC2, "10.0.0.11", 8080), 2, 2, 0);
	expect_counts(service(&t, SVC1), 4, 4, 0);
	expect_counts(service(&t, SVC2), 2, 2, 0);
	expect_counts(service(&t, FOREIGN), 0, 0, 0);
	cr_expect_eq(st.rcvbuf, 2 * (4 << 20), "4 MiB asked, the kernel doubles");
	cr_expect_not(st.resync_pending);
	close_ct(&t);
}

static bool news_reach_want(struct tctx *t)
{
	struct ct_stats st;

	ct_get_stats(t->ct, &st);
	return st.events_new >= t->want;
}

static bool destroys_reach_want(struct tctx *t)
{
	struct ct_stats st;

	ct_get_stats(t->ct, &st);
	return st.events_destroy >= t->want;
}

/*
 * The BPF filter drops flows of no service in the kernel: events_foreign
 * counts what reached userspace with (mark & mask) == 0, and stays 0.
 */
Test(ct, events_are_counted_and_others_filtered_in_the_kernel)
{
	struct tctx t;
	struct ct_stats st;

	open_ct(&t);
	ct_get_stats(t.ct, &st);
	cr_assert(st.kernel_filter, "BPF mark filter attached");
	cr_expect_not(st.events_disabled);

	ct_insert("10.1.1.1", 1001, "10.0.0.11", 8080, SVC1, "tcp");
	ct_insert("10.1.1.2", 1002, "10.0.0.11", 8080, 0, "tcp");
	ct_insert("10.1.1.3", 1003, "10.0.0.11", 8080, FOREIGN, "tcp");
	ct_insert("10.1.1.4", 1004, "10.0.0.12", 8080, SVC1, "tcp");
	ct_insert("10.1.1.5", 1005, "10.0.0.11", 8080, SVC2 | FOREIGN, "tcp");
	ct_insert("10.1.1.6", 1006, "10.0.0.11", 8080, 0xfe000000u, "tcp");
	t.want = 4;
	cr_assert(run_until(&t, news_reach_want, 5000), "4 NEW events within 5 s");
	settle(&t, 200);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_new, 4);
	cr_expect_eq(st.events_foreign, 0, "mark 0 / foreign marks reached userspace");
	cr_expect_eq(st.events_bad, 0);
	cr_expect_eq(st.overflows, 0);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 1, 1, 0);
	expect_counts(backend(&t, SVC1, "10.0.0.12", 8080), 1, 1, 0);
	expect_counts(service(&t, SVC2), 1, 1, 0);
	expect_counts(service(&t, 0xfe000000u), 1, 1, 0);

	/* DESTROY: of ours (counted) and of the filtered ones (never seen). */
	sh("conntrack -D -s 10.1.1.1");
	sh("conntrack -D -s 10.1.1.2");
	sh("conntrack -D -s 10.1.1.3");
	sh("conntrack -D -s 10.1.1.4");
	t.want = 2;
	cr_assert(run_until(&t, destroys_reach_want, 5000), "2 DESTROY events within 5 s");
	settle(&t, 200);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_destroy, 2);
	cr_expect_eq(st.events_foreign, 0);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 1, 1);
	expect_counts(service(&t, SVC1), 0, 2, 2);
	cr_expect_eq(t.drained, 2, "both SVC1 backends drained");
	cr_expect_eq(t.drained_mark, SVC1);
	close_ct(&t);
}

/*
 * Flush (SVC1, 10.0.0.11:8080, tcp): its three flows go; the same backend
 * address under SVC2, another port, another protocol, another backend,
 * an unmarked flow and a foreign-marked flow to that backend all stay.
 */
Test(ct, flush_deletes_only_that_service_and_backend)
{
	static const struct {
		const char *client, *backend, *proto;
		int bport;
		uint32_t mark;
		bool goes;
	} flows[] = {
		{ "10.1.1.1", "10.0.0.11", "tcp", 8080, SVC1, true },
		{ "10.1.1.2", "10.0.0.11", "tcp", 8080, SVC1, true },
		{ "10.1.1.3", "10.0.0.11", "tcp", 8080, SVC1 | FOREIGN, true },
		{ "10.1.1.4", "10.0.0.11", "tcp", 8080, SVC2, false },
		{ "10.1.1.5", "10.0.0.12", "tcp", 8080, SVC1, false },
		{ "10.1.1.6", "10.0.0.11", "tcp", 9090, SVC1, false },
		{ "10.1.1.7", "10.0.0.11", "udp", 8080, SVC1, false },
		{ "10.1.1.8", "10.0.0.11", "tcp", 8080, 0, false },
		{ "10.1.1.9", "10.0.0.11", "tcp", 8080, FOREIGN, false },
		{ "10.1.1.10", "10.0.0.111", "tcp", 8080, SVC1, false },
	};
	const size_t n = sizeof(flows) / sizeof(flows[0]);
	struct knlb_addr a = v4("10.0.0.11");
	struct tctx t;
	size_t deleted = 99;
	int ret;

	for (size_t i = 0; i < n; i++)
		ct_insert(flows[i].client, 2000 + (int)i, flows[i].backend,
			  flows[i].bport, flows[i].mark, flows[i].proto);
	open_ct(&t);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 3, 3, 0);

	ret = ct_flush_backend(t.ct, SVC1, &a, 8080, IPPROTO_TCP, &deleted);
	cr_assert_eq(ret, 0, "ct_flush_backend: %s", strerror(-ret));
	cr_expect_eq(deleted, 3);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(ct_listed(flows[i].client), !flows[i].goes,
			     "%s %s by the flush", flows[i].client,
			     flows[i].goes ? "survived" : "was deleted");
	cr_expect_eq(ct_count_listed(), (int)n - 3);

	/* The DESTROY events bring the counts down and drain the backend. */
	/* The flush corrects the counts itself (DESTROY events may never come). */
	settle(&t, 100);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 3, 3);
	expect_counts(backend(&t, SVC2, "10.0.0.11", 8080), 1, 1, 0);
	cr_expect_eq(t.drained, 1);

	/* Nothing left to flush is not an error. */
	ret = ct_flush_backend(t.ct, SVC1, &a, 8080, IPPROTO_TCP, &deleted);
	cr_expect_eq(ret, 0);
	cr_expect_eq(deleted, 0);
	cr_expect_eq(ct_count_listed(), (int)n - 3);

	cr_expect_eq(ct_flush_backend(t.ct, 0, &a, 8080, IPPROTO_TCP, NULL), -EINVAL,
		     "mark 0 would be every unmarked flow");
	cr_expect_eq(ct_flush_backend(t.ct, FOREIGN, &a, 8080, IPPROTO_TCP, NULL), -EINVAL);
	cr_expect_eq(ct_flush_backend(t.ct, SVC1, &a, 0, IPPROTO_TCP, NULL), -EINVAL);
	cr_expect_eq(ct_flush_backend(t.ct, SVC1, &a, 8080, IPPROTO_ICMP, NULL),
		     -EPROTONOSUPPORT);
	cr_expect_eq(ct_count_listed(), (int)n - 3);
	close_ct(&t);
}

/* A flush of many entries goes out in several chunks of deletes. */
Test(ct, flush_of_a_thousand_flows)
{
	struct knlb_addr a = v4("10.0.0.11");
	struct tctx t;
	size_t deleted = 0;

	lib_insert(0, 1000, SVC1, "10.0.0.11", false);
	lib_insert(1000, 100, SVC2, "10.0.0.11", false);
	open_ct(&t);
	expect_counts(service(&t, SVC1), 1000, 1000, 0);
	cr_assert_eq(ct_flush_backend(t.ct, SVC1, &a, 8080, IPPROTO_TCP, &deleted), 0);
	cr_expect_eq(deleted, 1000);
	cr_expect_eq(ct_count_listed(), 100);
	settle(&t, 100);
	expect_counts(service(&t, SVC1), 0, 1000, 1000);
	expect_counts(service(&t, SVC2), 100, 100, 0);
	close_ct(&t);
}

Test(ct, ipv6_flows_are_counted_and_flushed)
{
	struct knlb_addr b = v6("2001:db8:1::11");
	struct flow_counts c;
	struct tctx t;
	size_t deleted = 0;

	sh("conntrack -I -p tcp -s 2001:db8:2::1 -d 2001:db8::10 --sport 1001"
	   " --dport 80 --state ESTABLISHED -t 120 -u SEEN_REPLY -m %u"
	   " --reply-src 2001:db8:1::11 --reply-dst 2001:db8:2::1"
	   " --reply-port-src 8080 --reply-port-dst 1001", SVC1);
	sh("conntrack -I -p tcp -s 2001:db8:2::2 -d 2001:db8::10 --sport 1002"
	   " --dport 80 --state ESTABLISHED -t 120 -u SEEN_REPLY -m %u"
	   " --reply-src 2001:db8:1::11 --reply-dst 2001:db8:2::2"
	   " --reply-port-src 8080 --reply-port-dst 1002", SVC2);
	ct_insert("10.1.1.1", 1001, "10.0.0.11", 8080, SVC1, "tcp");
	open_ct(&t);
	flowtab_backend_counts(t.ft, SVC1, &b, 8080, IPPROTO_TCP, &c);
	expect_counts(c, 1, 1, 0);
	expect_counts(service(&t, SVC1), 2, 2, 0);
	cr_assert_eq(ct_flush_backend(t.ct, SVC1, &b, 8080, IPPROTO_TCP, &deleted), 0);
	cr_expect_eq(deleted, 1);
	cr_expect_not(ct_listed("2001:db8:2::1"));
	cr_expect(ct_listed("2001:db8:2::2"));
	cr_expect(ct_listed("10.1.1.1"));
	settle(&t, 100);
	flowtab_backend_counts(t.ft, SVC1, &b, 8080, IPPROTO_TCP, &c);
	expect_counts(c, 0, 1, 1);
	close_ct(&t);
}

struct listing {
	int n;
	struct ct_flow flows[16];
};

static void collect(const struct ct_flow *f, void *arg)
{
	struct listing *l = arg;

	if (l->n < 16)
		l->flows[l->n] = *f;
	l->n++;
}

static const struct ct_flow *find_client(const struct listing *l,
					 const char *client)
{
	struct knlb_addr c = v4(client);

	for (int i = 0; i < l->n && i < 16; i++)
		if (l->flows[i].client.in.s_addr == c.in.s_addr)
			return &l->flows[i];
	return NULL;
}

Test(ct, list_reports_tuples_state_timeout_age_and_counters)
{
	struct knlb_addr b11 = v4("10.0.0.11");
	struct listing l = { 0 };
	const struct ct_flow *f;
	struct tctx t;
	char buf[KNLB_ADDRSTRLEN];

	sh("sysctl -qw net.netfilter.nf_conntrack_acct=1");
	sh("sysctl -qw net.netfilter.nf_conntrack_timestamp=1");
	ct_insert("10.1.1.1", 1001, "10.0.0.11", 8080, SVC1, "tcp");
	ct_insert("10.1.1.2", 1002, "10.0.0.12", 8080, SVC1, "tcp");
	ct_insert("10.1.1.3", 1003, "10.0.0.11", 8080, SVC2 | FOREIGN, "udp");
	ct_insert("10.1.1.4", 1004, "10.0.0.11", 8080, 0, "tcp");
	sh("sysctl -qw net.netfilter.nf_conntrack_acct=0");
	sh("sysctl -qw net.netfilter.nf_conntrack_timestamp=0");
	ct_insert("10.1.1.5", 1005, "10.0.0.11", 9090, SVC1, "tcp");
	open_ct(&t);

	cr_assert_eq(ct_list(t.ct, 0, NULL, 0, collect, &l), 4);
	cr_assert_eq(l.n, 4, "every service's flows, not the unmarked one");
	f = find_client(&l, "10.1.1.1");
	cr_assert_not_null(f);
	cr_expect_eq(f->mark, SVC1);
	cr_expect_eq(f->proto, IPPROTO_TCP);
	cr_expect_eq(f->client_port, 1001);
	cr_expect_str_eq(addr_format(&f->vip, buf, sizeof(buf)), "192.0.2.10");
	cr_expect_eq(f->vip_port, 80);
	cr_expect_str_eq(addr_format(&f->backend, buf, sizeof(buf)), "10.0.0.11");
	cr_expect_eq(f->backend_port, 8080);
	cr_expect_str_eq(addr_format(&f->reply_dst, buf, sizeof(buf)), "10.1.1.1");
	cr_expect_str_eq(f->state, "ESTABLISHED");
	cr_expect(f->timeout_s > 100 && f->timeout_s <= 120, "timeout %lld",
		  (long long)f->timeout_s);
	cr_expect(f->age_s >= 0 && f->age_s < 30, "age %lld", (long long)f->age_s);
	cr_expect(f->has_counters, "nf_conntrack_acct was on at creation");
	cr_expect_eq(f->orig_packets + f->reply_packets, 0, "no packet went through");
	cr_expect(f->status & IPS_SEEN_REPLY);

	f = find_client(&l, "10.1.1.3");
	cr_assert_not_null(f);
	cr_expect_eq(f->mark, SVC2);
	cr_expect_eq(f->ct_mark, SVC2 | FOREIGN);
	cr_expect_eq(f->proto, IPPROTO_UDP);
	cr_expect_str_eq(f->state, "");

	f = find_client(&l, "10.1.1.5");
	cr_assert_not_null(f);
	cr_expect_eq(f->age_s, -1, "no timestamp extension");
	cr_expect_not(f->has_counters, "no accounting extension");

	/* One service, filtered by the kernel. */
	memset(&l, 0, sizeof(l));
	cr_expect_eq(ct_list(t.ct, SVC1, NULL, 0, collect, &l), 3);
	/* One backend, any port, then one port. */
	memset(&l, 0, sizeof(l));
	cr_expect_eq(ct_list(t.ct, SVC1, &b11, 0, collect, &l), 2);
	memset(&l, 0, sizeof(l));
	cr_expect_eq(ct_list(t.ct, SVC1, &b11, 8080, collect, &l), 1);
	cr_expect_not_null(find_client(&l, "10.1.1.1"));
	memset(&l, 0, sizeof(l));
	cr_expect_eq(ct_list(t.ct, 0, &b11, 0, collect, &l), 3);
	cr_expect_eq(ct_list(t.ct, FOREIGN, NULL, 0, collect, &l), -EINVAL);
	close_ct(&t);
}

static bool resynced_to_want(struct tctx *t)
{
	struct ct_stats st;
	struct flow_counts c;

	ct_get_stats(t->ct, &st);
	flowtab_service_counts(t->ft, SVC1, &c);
	return st.overflows > 0 && !st.resync_pending && c.active == t->want;
}

/*
 * Lost events: with the receive buffer at its minimum, a burst of 5000
 * NEW and 1000 DESTROY events queued without reading overflows it.  The
 * reader must notice (ENOBUFS), grow the buffer and resync from a dump
 * so the counts are exact again.
 */
Test(ct, overflow_is_detected_and_resync_makes_counts_exact)
{
	struct tctx t;
	struct ct_stats st;
	struct flowtab_stats fst;
	struct flow_counts c;
	int small;

	open_ct(&t);
	cr_assert_eq(ct_set_rcvbuf(t.ct, 0), 0);
	ct_get_stats(t.ct, &st);
	small = st.rcvbuf;
	cr_expect_lt(small, 16384, "buffer at the minimum: %d", small);

	lib_insert(0, 5000, SVC1, "10.0.0.11", false);
	lib_insert(0, 1000, SVC1, "10.0.0.11", true);
	cr_expect_eq(ct_count_listed(), 4000);

	t.want = 4000;
	cr_assert(run_until(&t, resynced_to_want, 15000),
		  "overflow seen and counts resynced within 15 s");
	settle(&t, 300);
	ct_get_stats(t.ct, &st);
	flowtab_get_stats(t.ft, &fst);
	cr_expect_geq(st.overflows, 1);
	cr_expect_geq(st.resyncs, 1);
	cr_expect_gt(st.rcvbuf, small, "buffer grew after the overflow");
	cr_expect_lt(st.events_new, 5000, "some NEW events were really lost");
	cr_expect_not(st.resync_pending);
	flowtab_service_counts(t.ft, SVC1, &c);
	cr_expect_eq(c.active, 4000, "active %llu", (unsigned long long)c.active);
	cr_expect_eq(c.opened - c.closed, 4000);
	cr_expect_eq(fst.flows, 4000);
	cr_expect_eq(ct_list(t.ct, SVC1, NULL, 0, collect, &(struct listing){ 0 }), 4000);

	/* Afterwards events flow normally again into exact counts. */
	lib_insert(0, 1000, SVC1, "10.0.0.11", false);
	t.want = 5000;
	cr_assert(run_until(&t, resynced_to_want, 5000));
	flowtab_service_counts(t.ft, SVC1, &c);
	cr_expect_eq(c.active, 5000);
	close_ct(&t);
}

/* An explicit resync with nothing lost corrects nothing. */
Test(ct, resync_without_loss_changes_nothing)
{
	struct tctx t;
	struct ct_stats st;

	lib_insert(0, 300, SVC1, "10.0.0.11", false);
	open_ct(&t);
	lib_insert(300, 200, SVC2, "10.0.0.12", false);
	t.want = 200;
	cr_assert(run_until(&t, news_reach_want, 5000));
	cr_assert_eq(ct_resync(t.ct), 0);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.resyncs, 1);
	cr_expect_eq(st.last_resync_opened + st.last_resync_closed +
		     st.last_resync_moved, 0);
	expect_counts(service(&t, SVC1), 300, 300, 0);
	expect_counts(service(&t, SVC2), 200, 200, 0);
	close_ct(&t);
}

struct producer {
	pid_t pid;
	int status;
	bool done;
};

static bool settled_empty(struct tctx *t)
{
	struct ct_stats st;
	struct producer *p = (struct producer *)(uintptr_t)t->want;

	if (!p->done && waitpid(p->pid, &p->status, WNOHANG) == p->pid)
		p->done = true;
	ct_get_stats(t->ct, &st);
	return p->done && !st.resync_pending;
}

/*
 * The kernel reports ENOBUFS once per congestion episode: after the first
 * drop it stays silent until the reader has emptied the queue.  So a
 * resync that starts while the queue is still full misses the drops that
 * come after its dump began.  Here: 30000 NEW events into a buffer that
 * holds about half (ENOBUFS, congested); then a child deletes all 30000
 * entries as fast as ctnetlink takes them while the loop reads, more
 * than one read budget queued.  Every entry is gone at the end, so the
 * counts must read 0.
 */
#define BURST 30000

Test(ct, counts_are_exact_after_loss_under_a_concurrent_burst)
{
	struct producer p = { 0 };
	struct tctx t;
	struct ct_stats st;
	struct flowtab_stats fst;
	struct flow_counts c;

	open_ct(&t);
	cr_assert_eq(ct_set_rcvbuf(t.ct, 8 << 20), 0);
	lib_insert(0, BURST, SVC1, "10.0.0.11", false);
	p.pid = fork();
	cr_assert_neq(p.pid, -1);
	if (p.pid == 0)
		/* Without ACKs: as fast as ctnetlink takes them. */
		_exit(lib_insert_raw(0, BURST, SVC1, htonl(0x0a00000b), true,
				     false) ? 1 : 0);
	t.want = (uintptr_t)&p;
	cr_assert(run_until(&t, settled_empty, 30000), "producer done and resynced");
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "producer failed");
	settle(&t, 200);
	cr_assert(run_until(&t, settled_empty, 5000));
	ct_get_stats(t.ct, &st);
	flowtab_get_stats(t.ft, &fst);
	flowtab_service_counts(t.ft, SVC1, &c);
	cr_expect_gt(st.overflows, 0, "the burst overflowed the buffer");
	cr_expect_eq(ct_count_listed(), 0);
	cr_expect_eq(c.active, 0, "active %llu after %llu overflows, %llu resyncs",
		     (unsigned long long)c.active, (unsigned long long)st.overflows,
		     (unsigned long long)st.resyncs);
	cr_expect_eq(fst.flows, 0);
	close_ct(&t);
}

/* --- real TCP connections through a marked DNAT --- */

/*
 * What knlb's service chain does, on the output hook so that the test's
 * own sockets are the clients: 192.0.2.10:80 -> 10.0.0.11:8080, ct mark
 * SVC1.  Both addresses live on lo, inside this test's netns.
 */
static void dnat_setup(void)
{
	sh("ip link set lo up && ip addr add 192.0.2.10/32 dev lo &&"
	   " ip addr add 10.0.0.11/32 dev lo && nft add table ip ct_test &&"
	   " nft 'add chain ip ct_test out { type nat hook output priority -100; policy accept; }' &&"
	   " nft add rule ip ct_test out ip daddr 192.0.2.10 meta l4proto '{ tcp, udp }'"
	   " th dport 80 ct mark set 0x01000000 dnat to 10.0.0.11:8080");
}

static int bound_socket(int type, const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, type, 0), one = 1;

	cr_assert_neq(fd, -1);
	cr_assert_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "bind %s:%d: %s",
		     addr, port, strerror(errno));
	return fd;
}

static void connect_to(int fd, const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	cr_assert_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
		     "connect %s:%d: %s", addr, port, strerror(errno));
}

/* One TCP connection client -> VIP, accepted by the backend, one byte each way. */
struct conn {
	int client, server;
};

static struct conn tcp_open(int listener)
{
	struct conn c;
	char b;

	c.client = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_neq(c.client, -1);
	connect_to(c.client, "192.0.2.10", 80);
	c.server = accept(listener, NULL, NULL);
	cr_assert_neq(c.server, -1, "accept: %s", strerror(errno));
	cr_assert_eq(write(c.client, "q", 1), 1);
	cr_assert_eq(read(c.server, &b, 1), 1);
	cr_assert_eq(write(c.server, "a", 1), 1);
	cr_assert_eq(read(c.client, &b, 1), 1);
	return c;
}

/* Client FIN first, then the backend's: the entry goes to TIME_WAIT. */
static void tcp_close(struct conn *c)
{
	char b;

	cr_assert_eq(close(c->client), 0);
	cr_assert_eq(read(c->server, &b, 1), 0, "backend sees the client's FIN");
	cr_assert_eq(close(c->server), 0);
}

/* The client aborts (SO_LINGER 0 sends an RST): the entry goes to CLOSE. */
static void tcp_reset(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	cr_assert_eq(setsockopt(c->client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	cr_assert_eq(close(c->client), 0);
	close(c->server);
}

static bool active_reaches_want(struct tctx *t)
{
	struct flow_counts c;

	flowtab_service_counts(t->ft, SVC1, &c);
	return c.active == t->want;
}

static bool closings_reach_want(struct tctx *t)
{
	struct ct_stats st;

	ct_get_stats(t->ct, &st);
	return st.events_closing >= t->want;
}

/* Lines of `conntrack -L` (the kernel's view) with this text in them. */
static int ct_lines_with(const char *args, const char *text)
{
	char cmd[256], *out;
	int status, n = 0;

	snprintf(cmd, sizeof(cmd), "conntrack -L %s 2>/dev/null", args);
	out = kt_run(cmd, &status);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, text))
			n++;
	free(out);
	return n;
}

/*
 * Every UPDATE the kernel sends, unfiltered, to count what knlb's filter
 * kept away: per TCP state, and how many carried no TCP state at all.
 */
struct raw_updates {
	struct mnl_socket *nl;
	int per_state[TCP_CONNTRACK_MAX + 1];
	int stateless, total;
};

static void raw_updates_open(struct raw_updates *r)
{
	memset(r, 0, sizeof(*r));
	r->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK);
	cr_assert_not_null(r->nl);
	cr_assert_eq(mnl_socket_bind(r->nl, NF_NETLINK_CONNTRACK_UPDATE,
				     MNL_SOCKET_AUTOPID), 0);
}

static void raw_updates_read(struct raw_updates *r)
{
	static char buf[65536];
	struct nf_conntrack *c = nfct_new();
	ssize_t n;

	cr_assert_not_null(c);
	while ((n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf))) > 0) {
		const struct nlmsghdr *nlh = (const void *)buf;
		int left = (int)n;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			nfct_set_attr_u8(c, ATTR_TCP_STATE, 0);
			nfct_attr_unset(c, ATTR_TCP_STATE);
			if (nfct_nlmsg_parse(nlh, c) < 0)
				continue;
			r->total++;
			if (nfct_attr_is_set(c, ATTR_TCP_STATE) &&
			    nfct_get_attr_u8(c, ATTR_TCP_STATE) <= TCP_CONNTRACK_MAX)
				r->per_state[nfct_get_attr_u8(c, ATTR_TCP_STATE)]++;
			else
				r->stateless++;
		}
	}
	nfct_destroy(c);
}

static double ms_between(uint64_t from_ns, uint64_t to_ns)
{
	return (double)(to_ns - from_ns) / 1e6;
}

/*
 * Three real connections to one backend.  A closed one stops counting as
 * active within 200 ms of its close, while conntrack still holds its
 * entry in TIME_WAIT for minutes; the backend drains when the last one
 * closes, not at the DESTROYs; the DESTROYs (forced with conntrack -D)
 * then change no count.  Of all the UPDATEs the kernel sent for these
 * flows, only the TIME_WAIT ones reached knlb's socket.
 */
Test(ct, closed_tcp_connection_stops_counting_at_time_wait)
{
	struct raw_updates raw;
	struct ct_stats st;
	struct flowtab_stats fst;
	struct conn c[3];
	struct tctx t;
	uint64_t t0;
	double took;
	int listener, others = 0;

	dnat_setup();
	raw_updates_open(&raw);
	open_ct(&t);
	ct_get_stats(t.ct, &st);
	cr_assert(st.update_filter, "BPF mark+state filter attached to the update socket");
	listener = bound_socket(SOCK_STREAM, "10.0.0.11", 8080);
	cr_assert_eq(listen(listener, 8), 0);
	for (int i = 0; i < 3; i++)
		c[i] = tcp_open(listener);
	t.want = 3;
	cr_assert(run_until(&t, news_reach_want, 5000), "3 NEW events within 5 s");
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 3, 3, 0);

	tcp_close(&c[0]);
	tcp_close(&c[1]);
	t.want = 1;
	cr_assert(run_until(&t, active_reaches_want, 2000), "2 closes seen within 2 s");
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 1, 3, 2);
	cr_expect_eq(t.drained, 0, "one connection is still open");

	t0 = loop_now_ns();
	tcp_close(&c[2]);
	t.want = 0;
	cr_assert(run_until(&t, active_reaches_want, 2000), "last close seen within 2 s");
	took = ms_between(t0, loop_now_ns());
	cr_log_info("close -> active 0 and drained in %.2f ms", took);
	cr_expect_lt(took, 200.0, "active reached 0 %.1f ms after the close", took);
	cr_expect_eq(t.drained, 1, "drained at the last close");
	cr_expect_eq(t.drained_mark, SVC1);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 3, 3);
	/* The kernel's view: all three entries are still there, in TIME_WAIT. */
	cr_expect_eq(ct_lines_with("-p tcp", "TIME_WAIT"), 3,
		     "conntrack -L shows the 3 entries in TIME_WAIT");
	cr_expect_eq(ct_lines_with("-p tcp", "mark=16777216"), 3);
	flowtab_get_stats(t.ft, &fst);
	cr_expect_eq(fst.flows, 3, "kept until their DESTROY");
	cr_expect_eq(fst.ending, 3);

	settle(&t, 100);
	ct_get_stats(t.ct, &st);
	raw_updates_read(&raw);
	for (int s = 0; s <= TCP_CONNTRACK_MAX; s++)
		if (s != TCP_CONNTRACK_TIME_WAIT && s != TCP_CONNTRACK_CLOSE)
			others += raw.per_state[s];
	cr_log_info("kernel sent %d updates (%d TIME_WAIT, %d in other states, %d without a state); knlb read %llu",
		    raw.total, raw.per_state[TCP_CONNTRACK_TIME_WAIT], others, raw.stateless,
		    (unsigned long long)(st.events_closing + st.updates_other));
	cr_expect_eq(raw.per_state[TCP_CONNTRACK_TIME_WAIT], 3);
	cr_expect_geq(others, 3 * 3, "SYN_RECV, ESTABLISHED, FIN_WAIT, ... per flow: %d", others);
	cr_expect_eq(st.events_closing, 3, "one closing update per flow reached userspace");
	cr_expect_eq(st.updates_other, (uint64_t)raw.stateless,
		     "only updates without a TCP state pass the kernel filter");
	cr_expect_eq(st.closings_unknown, 0);

	/* DESTROY now rather than in 120 s: nothing counts twice. */
	sh("conntrack -D -p tcp --orig-dst 192.0.2.10");
	t.want = 3;
	cr_assert(run_until(&t, destroys_reach_want, 5000), "3 DESTROY events within 5 s");
	settle(&t, 100);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 3, 3);
	expect_counts(service(&t, SVC1), 0, 3, 3);
	cr_expect_eq(t.drained, 1, "the DESTROYs drain nothing again");
	flowtab_get_stats(t.ft, &fst);
	cr_expect_eq(fst.flows, 0);
	cr_expect_eq(fst.ending, 0);
	cr_expect_eq(fst.unknown_destroys, 0);
	close(listener);
	mnl_socket_close(raw.nl);
	close_ct(&t);
}

/* A listener on the backend, n connections through the VIP, news NEW events read. */
static int open_conns(struct tctx *t, struct conn *c, int n, uint64_t news)
{
	int listener = bound_socket(SOCK_STREAM, "10.0.0.11", 8080);

	cr_assert_eq(listen(listener, 8), 0);
	for (int i = 0; i < n; i++)
		c[i] = tcp_open(listener);
	t->want = news;
	cr_assert(run_until(t, news_reach_want, 5000), "%llu NEW events within 5 s",
		  (unsigned long long)news);
	return listener;
}

/*
 * Issue 15, ct_closing = needed: while knlb does not subscribe to UPDATE,
 * a closed connection counts active until its DESTROY (no closing is
 * read); subscribing again resyncs from a dump, which ends the flows in
 * TIME_WAIT at once, and later closings are followed as before.
 */
Test(ct, closings_not_followed_count_until_resync_ends_them)
{
	struct ct_stats st;
	struct conn c[3];
	struct tctx t;
	int listener;

	dnat_setup();
	open_ct(&t);
	ct_get_stats(t.ct, &st);
	cr_assert(st.closing_updates, "ct_open() follows closings");
	cr_assert_eq(ct_set_closing_updates(t.ct, false), 0);
	ct_get_stats(t.ct, &st);
	cr_assert(!st.closing_updates);
	listener = open_conns(&t, c, 3, 3);
	tcp_close(&c[0]);
	tcp_close(&c[1]);
	settle(&t, 300);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_closing, 0, "no closing update read while not subscribed");
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 3, 3, 0);
	cr_expect_eq(ct_lines_with("-p tcp", "TIME_WAIT"), 2);

	/* As a drain starts: subscribe, then the dump ends the two closed ones. */
	cr_assert_eq(ct_set_closing_updates(t.ct, true), 0);
	ct_get_stats(t.ct, &st);
	cr_expect(st.closing_updates);
	cr_expect_eq(st.resyncs, 1, "subscribing resyncs at once");
	cr_expect_eq(st.last_resync_ended, 2);
	cr_expect(!st.resync_pending);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 1, 3, 2);

	tcp_close(&c[2]);
	t.want = 0;
	cr_assert(run_until(&t, active_reaches_want, 2000), "the last close seen within 2 s");
	cr_expect_eq(t.drained, 1);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_closing, 1);
	cr_expect_eq(st.closings_unknown, 0);
	close(listener);
	close_ct(&t);
}

/* One UDP request/response and a second request (ASSURED) to the VIP:port. */
static void udp_exchange(int port)
{
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	int server = bound_socket(SOCK_DGRAM, "10.0.0.11", 8080);
	int client = socket(AF_INET, SOCK_DGRAM, 0);
	char b;

	connect_to(client, "192.0.2.10", port);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(write(client, "q", 1), 1);
		cr_assert_eq(recvfrom(server, &b, 1, 0, (struct sockaddr *)&from, &len), 1);
		cr_assert_eq(sendto(server, "a", 1, 0, (struct sockaddr *)&from, len), 1);
		cr_assert_eq(read(client, &b, 1), 1);
	}
	close(client);
	close(server);
}

/*
 * The VIP and a backend on lo, and a nat output chain sending UDP to
 * 192.0.2.10:80 (no event mask) and :81 (`ct event set new,destroy`) to
 * 10.0.0.11:8080, both with mark 0x01000000.
 */
static void udp_dnat_with_and_without_mask(void)
{
	sh("ip link set lo up && ip addr add 192.0.2.10/32 dev lo &&"
	   " ip addr add 10.0.0.11/32 dev lo && nft add table ip ct_test &&"
	   " nft 'add chain ip ct_test out { type nat hook output priority -100; policy accept; }' &&"
	   " nft add rule ip ct_test out ip daddr 192.0.2.10 meta l4proto udp"
	   " th dport 80 ct mark set 0x01000000 dnat to 10.0.0.11:8080 &&"
	   " nft add rule ip ct_test out ip daddr 192.0.2.10 meta l4proto udp"
	   " th dport 81 ct mark set 0x01000000 ct event set new,destroy dnat to 10.0.0.11:8080");
}

/*
 * Issue 15, ct_events = lean.  The kernel sends a UDP flow's REPLY and
 * ASSURED updates to any UPDATE listener; with `ct event set new,destroy`
 * in its rule (port 81), none.  For TCP, `new,destroy,protoinfo` still
 * brings the closing to knlb.
 */
Test(ct, lean_event_mask_keeps_closings_and_drops_the_rest)
{
	struct raw_updates raw;
	struct ct_stats st;
	struct conn c[2];
	struct tctx t;
	int listener, full;

	udp_dnat_with_and_without_mask();
	sh("nft add rule ip ct_test out ip daddr 192.0.2.10 meta l4proto tcp"
	   " th dport 80 ct mark set 0x01000000 ct event set new,destroy,protoinfo dnat to 10.0.0.11:8080");
	raw_updates_open(&raw);
	open_ct(&t);

	udp_exchange(80);
	raw_updates_read(&raw);
	full = raw.total;
	cr_log_info("UDP flow, no mask: %d updates", full);
	cr_expect_geq(full, 1, "a REPLY/ASSURED update without a mask: %d", full);
	udp_exchange(81);
	raw_updates_read(&raw);
	cr_expect_eq(raw.total - full, 0, "UDP flow under new,destroy: %d updates", raw.total - full);

	listener = open_conns(&t, c, 2, 4);	/* and the 2 UDP flows' */
	tcp_close(&c[0]);
	tcp_close(&c[1]);
	t.want = 2;
	cr_assert(run_until(&t, closings_reach_want, 2000), "2 closes seen within 2 s");
	settle(&t, 100);
	raw_updates_read(&raw);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(raw.per_state[TCP_CONNTRACK_TIME_WAIT], 2);
	cr_expect_eq(st.events_closing, 2);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 2, 2);
	close(listener);
	mnl_socket_close(raw.nl);
	close_ct(&t);
}

/* An RST ends the connection too: CLOSE state, same rule. */
Test(ct, reset_tcp_connection_stops_counting_at_close)
{
	struct ct_stats st;
	struct conn c;
	struct tctx t;
	int listener;

	dnat_setup();
	open_ct(&t);
	listener = bound_socket(SOCK_STREAM, "10.0.0.11", 8080);
	cr_assert_eq(listen(listener, 8), 0);
	c = tcp_open(listener);
	t.want = 1;
	cr_assert(run_until(&t, news_reach_want, 5000));
	tcp_reset(&c);
	t.want = 1;
	cr_assert(run_until(&t, closings_reach_want, 2000), "closing update within 2 s");
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 1, 1);
	cr_expect_eq(ct_lines_with("-p tcp", "CLOSE "), 1, "conntrack -L shows it in CLOSE");
	cr_expect_eq(t.drained, 1);
	sh("conntrack -D -p tcp --orig-dst 192.0.2.10");
	t.want = 1;
	cr_assert(run_until(&t, destroys_reach_want, 5000));
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 1, 1);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.closings_unknown, 0);
	close(listener);
	close_ct(&t);
}

/*
 * A resync knows the state: a flow whose closing update was not read is
 * not active after the dump, and one first seen by the dump in TIME_WAIT
 * counts opened and closed, never active.  (An entry created while no
 * listener existed may send no events at all with nf_conntrack_events=2:
 * for it the dump is the only source.)
 */
Test(ct, resync_counts_time_wait_entries_as_ended)
{
	struct flowtab_stats fst;
	struct ct_stats st;
	struct conn c;
	struct tctx t;
	int listener;

	dnat_setup();
	listener = bound_socket(SOCK_STREAM, "10.0.0.11", 8080);
	cr_assert_eq(listen(listener, 8), 0);
	/* Opened and closed before knlb starts: the initial dump sees TIME_WAIT. */
	c = tcp_open(listener);
	tcp_close(&c);
	open_ct(&t);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 1, 1);
	cr_expect_eq(t.drained, 0, "never active, so never drained");
	c = tcp_open(listener);
	t.want = 1;
	cr_assert(run_until(&t, news_reach_want, 5000));
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 1, 2, 1);
	/* Closed while the update socket is not read: the dump tells first. */
	tcp_close(&c);
	cr_assert_eq(ct_resync(t.ct), 0);
	flowtab_get_stats(t.ft, &fst);
	cr_expect_eq(fst.last_resync.ended, 1);
	cr_expect_eq(fst.last_resync.opened + fst.last_resync.closed, 0);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 2, 2);
	cr_expect_eq(t.drained, 1);
	/* The update, read late, is a duplicate: it changes nothing. */
	t.want = 1;
	cr_assert(run_until(&t, closings_reach_want, 2000), "the closing update within 2 s");
	settle(&t, 50);
	ct_get_stats(t.ct, &st);
	flowtab_get_stats(t.ft, &fst);
	cr_expect_eq(st.events_closing, 1);
	cr_expect_eq(fst.duplicate_closings, 1);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 2, 2);
	cr_expect_eq(t.drained, 1);
	close(listener);
	close_ct(&t);
}

/*
 * UDP has no close: the flow stays active after both sockets are gone,
 * until its DESTROY.  Its updates (reply seen, assured) never reach us.
 */
Test(ct, udp_flow_stays_active_until_destroy)
{
	struct ct_stats st;
	struct tctx t;
	char b;
	int server, client;
	struct sockaddr_in from;
	socklen_t len = sizeof(from);

	dnat_setup();
	open_ct(&t);
	server = bound_socket(SOCK_DGRAM, "10.0.0.11", 8080);
	client = socket(AF_INET, SOCK_DGRAM, 0);
	connect_to(client, "192.0.2.10", 80);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(write(client, "q", 1), 1);
		cr_assert_eq(recvfrom(server, &b, 1, 0, (struct sockaddr *)&from, &len), 1);
		cr_assert_eq(sendto(server, "a", 1, 0, (struct sockaddr *)&from, len), 1);
		cr_assert_eq(read(client, &b, 1), 1);
	}
	close(client);
	close(server);
	t.want = 1;
	cr_assert(run_until(&t, news_reach_want, 5000));
	settle(&t, 300);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_closing + st.updates_other, 0,
		     "UDP updates are dropped in the kernel");
	{
		struct knlb_addr a = v4("10.0.0.11");
		struct flow_counts c;

		flowtab_backend_counts(t.ft, SVC1, &a, 8080, IPPROTO_UDP, &c);
		expect_counts(c, 1, 1, 0);
		cr_expect_eq(ct_lines_with("-p udp", "mark=16777216"), 1, "the entry lives on");
		sh("conntrack -D -p udp --orig-dst 192.0.2.10");
		t.want = 1;
		cr_assert(run_until(&t, destroys_reach_want, 5000));
		flowtab_backend_counts(t.ft, SVC1, &a, 8080, IPPROTO_UDP, &c);
		expect_counts(c, 0, 1, 1);
	}
	cr_expect_eq(t.drained, 1);
	close_ct(&t);
}

/*
 * The case: 30 connections opened and closed cleanly while knlb
 * was not reading, so each flow's NEW and its closing update wait on two
 * sockets that are read in no fixed order.  Once read, none is active
 * (while conntrack still holds all 30 in TIME_WAIT), none is unknown.
 */
Test(ct, thirty_connections_closed_before_reading_are_not_active)
{
	struct flowtab_stats fst;
	struct ct_stats st;
	struct tctx t;
	int listener;

	dnat_setup();
	open_ct(&t);
	listener = bound_socket(SOCK_STREAM, "10.0.0.11", 8080);
	cr_assert_eq(listen(listener, 64), 0);
	for (int i = 0; i < 30; i++) {
		struct conn c = tcp_open(listener);

		tcp_close(&c);
	}
	t.want = 30;
	cr_assert(run_until(&t, closings_reach_want, 5000), "30 closing updates within 5 s");
	settle(&t, 100);
	ct_get_stats(t.ct, &st);
	flowtab_get_stats(t.ft, &fst);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 30, 30);
	cr_expect_eq(st.events_new, 30);
	cr_expect_eq(st.events_closing, 30);
	cr_expect_eq(st.closings_unknown, 0);
	cr_expect_eq(st.overflows, 0);
	cr_expect_eq(fst.ending, 30);
	cr_expect_eq(ct_lines_with("-p tcp", "TIME_WAIT"), 30);
	cr_expect_eq(t.drained, 1);
	close(listener);
	close_ct(&t);
}

/*
 * A client reconnecting from the same port while the old entry is in
 * TIME_WAIT: the kernel deletes that entry on the new SYN and creates a
 * new one (DESTROY, then NEW), so the reconnection is a new active flow
 * and the old one is not counted closed twice.  Here the backend closes
 * first, so the client's port is free again at once.
 */
Test(ct, reconnect_from_a_time_wait_port_is_a_new_flow)
{
	struct flowtab_stats fst;
	struct conn c;
	struct tctx t;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int listener, port;
	char b;

	dnat_setup();
	open_ct(&t);
	listener = bound_socket(SOCK_STREAM, "10.0.0.11", 8080);
	cr_assert_eq(listen(listener, 8), 0);
	c = tcp_open(listener);
	cr_assert_eq(getsockname(c.client, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	/* Backend FIN first, then the client's. */
	cr_assert_eq(close(c.server), 0);
	cr_assert_eq(read(c.client, &b, 1), 0);
	cr_assert_eq(close(c.client), 0);
	t.want = 1;
	cr_assert(run_until(&t, closings_reach_want, 2000));
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 1, 1);
	cr_assert_eq(ct_lines_with("-p tcp", "TIME_WAIT"), 1);

	c.client = bound_socket(SOCK_STREAM, "192.0.2.10", port);
	connect_to(c.client, "192.0.2.10", 80);
	c.server = accept(listener, NULL, NULL);
	cr_assert_neq(c.server, -1);
	t.want = 2;
	cr_assert(run_until(&t, news_reach_want, 2000), "a NEW for the reconnection");
	settle(&t, 100);
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 1, 2, 1);
	cr_expect_eq(ct_lines_with("-p tcp", "ESTABLISHED"), 1);
	cr_expect_eq(ct_lines_with("-p tcp", "TIME_WAIT"), 0, "the old entry was replaced");
	flowtab_get_stats(t.ft, &fst);
	cr_expect_eq(fst.flows, 1);
	cr_expect_eq(fst.ending, 0);
	tcp_close(&c);
	t.want = 0;
	cr_assert(run_until(&t, active_reaches_want, 2000));
	expect_counts(backend(&t, SVC1, "10.0.0.11", 8080), 0, 2, 2);
	close(listener);
	close_ct(&t);
}

/*
 * nf_conntrack_events = 0 in the namespace: the kernel gives an entry an
 * event extension only when its rule sets an event mask, so knlb's flows
 * (ct_events = lean: `ct event set new,destroy` for UDP) still make their
 * NEW and DESTROY, and a flow without a mask makes none.
 */
Test(ct, events_off_in_the_namespace_leave_knlbs_masked_flows_theirs)
{
	struct ct_stats st;
	struct tctx t;

	kt_set_sysctl("net/netfilter/nf_conntrack_events", "0");
	udp_dnat_with_and_without_mask();
	open_ct(&t);
	udp_exchange(80);
	udp_exchange(81);
	settle(&t, 200);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_new, 1, "the masked flow's NEW only: %llu",
		     (unsigned long long)st.events_new);
	sh("conntrack -D -p udp");
	settle(&t, 200);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_destroy, 1, "the masked flow's DESTROY only: %llu",
		     (unsigned long long)st.events_destroy);
	close_ct(&t);
}
