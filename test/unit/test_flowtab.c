/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flow counting and reconciliation, fed with synthetic conntrack events:
 * what the operator reads (active/opened/closed per backend and service)
 * must be exact after duplicates, unknown destroys, lost events and
 * resyncs, and the drained callback must fire exactly at zero.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>

#include "knlb/ct/flowtab.h"

#define SVC1 0x01000000u
#define SVC2 0x02000000u

static struct knlb_addr v4(const char *text)
{
	struct knlb_addr a;

	/* Garbage in the unused union bytes must not matter. */
	memset(&a, 0xa5, sizeof(a));
	a.family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, text, &a.in), 1);
	return a;
}

static const char *const backends[] = { "10.0.0.11", "10.0.0.12", "10.0.0.13" };

/* Client 10.1.x.y:port, conntrack id, to backend b:8080 of service mark. */
static struct flow mkflow(uint32_t id, uint32_t client, uint16_t port,
			  uint32_t mark, int b)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.id = id;
	f.key.proto = IPPROTO_TCP;
	f.key.src_port = port;
	f.key.src.family = AF_INET;
	f.key.src.in.s_addr = htonl(0x0a010000u | (client & 0xffff));
	f.mark = mark;
	f.backend = v4(backends[b]);
	f.backend_port = 8080;
	return f;
}

static struct flow_counts backend_counts(struct flowtab *ft, uint32_t mark,
					 int b)
{
	struct knlb_addr a = v4(backends[b]);
	struct flow_counts c;

	flowtab_backend_counts(ft, mark, &a, 8080, IPPROTO_TCP, &c);
	return c;
}

static struct flow_counts service_counts(struct flowtab *ft, uint32_t mark)
{
	struct flow_counts c;

	flowtab_service_counts(ft, mark, &c);
	return c;
}

#define expect_counts(c, a, o, cl) do {					\
		struct flow_counts c_ = (c);				\
		cr_expect_eq(c_.active, (a), "active %llu, want %llu",	\
			     (unsigned long long)c_.active, (unsigned long long)(a)); \
		cr_expect_eq(c_.opened, (o), "opened %llu, want %llu",	\
			     (unsigned long long)c_.opened, (unsigned long long)(o)); \
		cr_expect_eq(c_.closed, (cl), "closed %llu, want %llu",	\
			     (unsigned long long)c_.closed, (unsigned long long)(cl)); \
	} while (0)

struct drain_log {
	int calls;
	uint32_t mark;
	struct knlb_addr addr;
	uint16_t port;
	uint8_t proto;
};

static void on_drained(void *arg, uint32_t mark, const struct knlb_addr *addr,
		       uint16_t port, uint8_t proto)
{
	struct drain_log *log = arg;

	log->calls++;
	log->mark = mark;
	log->addr = *addr;
	log->port = port;
	log->proto = proto;
}

Test(flowtab, new_and_destroy_count_per_backend_and_service)
{
	struct flowtab *ft = flowtab_new();
	struct flow f[5] = {
		mkflow(1, 1, 1001, SVC1, 0),
		mkflow(2, 2, 1002, SVC1, 0),
		mkflow(3, 3, 1003, SVC1, 1),
		mkflow(4, 4, 1004, SVC2, 0),	/* same backend, other service */
		mkflow(5, 5, 1005, SVC2, 2),
	};
	struct flowtab_stats st;

	cr_assert_not_null(ft);
	for (int i = 0; i < 5; i++)
		cr_expect_eq(flowtab_flow_new(ft, &f[i]), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 2, 2, 0);
	expect_counts(backend_counts(ft, SVC1, 1), 1, 1, 0);
	expect_counts(backend_counts(ft, SVC2, 0), 1, 1, 0);
	expect_counts(backend_counts(ft, SVC2, 2), 1, 1, 0);
	expect_counts(service_counts(ft, SVC1), 3, 3, 0);
	expect_counts(service_counts(ft, SVC2), 2, 2, 0);

	cr_expect_eq(flowtab_flow_destroy(ft, &f[0].key), 1);
	cr_expect_eq(flowtab_flow_destroy(ft, &f[3].key), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 2, 1);
	expect_counts(backend_counts(ft, SVC2, 0), 0, 1, 1);
	expect_counts(service_counts(ft, SVC1), 2, 3, 1);
	expect_counts(service_counts(ft, SVC2), 1, 2, 1);

	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, 3);
	flowtab_free(ft);
}

Test(flowtab, never_seen_pair_reads_zero_and_enoent)
{
	struct flowtab *ft = flowtab_new();
	struct knlb_addr a = v4("10.9.9.9");
	struct flow_counts c = { 7, 7, 7 };
	struct flow f = mkflow(1, 1, 1, SVC1, 0);

	cr_expect_eq(flowtab_backend_counts(ft, SVC1, &a, 8080, IPPROTO_TCP, &c), -ENOENT);
	expect_counts(c, 0, 0, 0);
	cr_expect_eq(flowtab_service_counts(ft, SVC2, &c), -ENOENT);
	flowtab_flow_new(ft, &f);
	/* Same backend address, other port or protocol: another pair. */
	a = v4(backends[0]);
	cr_expect_eq(flowtab_backend_counts(ft, SVC1, &a, 8081, IPPROTO_TCP, &c), -ENOENT);
	cr_expect_eq(flowtab_backend_counts(ft, SVC1, &a, 8080, IPPROTO_UDP, &c), -ENOENT);
	cr_expect_eq(flowtab_backend_counts(ft, SVC1, &a, 8080, IPPROTO_TCP, &c), 0);
	flowtab_free(ft);
}

Test(flowtab, duplicate_new_is_ignored_and_counted)
{
	struct flowtab *ft = flowtab_new();
	struct flow f = mkflow(42, 1, 5000, SVC1, 0);
	struct flowtab_stats st;

	cr_expect_eq(flowtab_flow_new(ft, &f), 1);
	cr_expect_eq(flowtab_flow_new(ft, &f), 0);
	cr_expect_eq(flowtab_flow_new(ft, &f), 0);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 1, 0);
	expect_counts(service_counts(ft, SVC1), 1, 1, 0);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.duplicate_news, 2);
	cr_expect_eq(st.flows, 1);
	flowtab_free(ft);
}

Test(flowtab, destroy_of_unknown_flow_is_ignored_and_counted)
{
	struct flowtab *ft = flowtab_new();
	struct flow f = mkflow(42, 1, 5000, SVC1, 0);
	struct flow other = mkflow(43, 1, 5000, SVC1, 0);
	struct flowtab_stats st;
	struct drain_log log = { 0 };

	flowtab_set_drained_fn(ft, on_drained, &log);
	flowtab_flow_new(ft, &f);
	cr_expect_eq(flowtab_flow_destroy(ft, &other.key), 0);
	cr_expect_eq(flowtab_flow_destroy(ft, &f.key), 1);
	cr_expect_eq(flowtab_flow_destroy(ft, &f.key), 0, "second DESTROY");
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.unknown_destroys, 2);
	cr_expect_eq(log.calls, 1);
	flowtab_free(ft);
}

Test(flowtab, recycled_id_with_another_tuple_is_another_flow)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(7, 1, 1000, SVC1, 0);
	struct flow b = mkflow(7, 2, 1000, SVC1, 0);	/* other client */
	struct flow c = mkflow(7, 1, 1001, SVC1, 0);	/* other port */
	struct flow d = mkflow(7, 1, 1000, SVC1, 0);

	d.key.proto = IPPROTO_UDP;
	cr_expect_eq(flowtab_flow_new(ft, &a), 1);
	cr_expect_eq(flowtab_flow_new(ft, &b), 1);
	cr_expect_eq(flowtab_flow_new(ft, &c), 1);
	cr_expect_eq(flowtab_flow_new(ft, &d), 1);
	cr_expect_eq(flowtab_flow_destroy(ft, &b.key), 1);
	cr_expect_eq(flowtab_flow_destroy(ft, &b.key), 0);
	expect_counts(backend_counts(ft, SVC1, 0), 2, 3, 1);
	expect_counts(service_counts(ft, SVC1), 3, 4, 1);
	flowtab_free(ft);
}

Test(flowtab, invalid_flows_are_refused)
{
	struct flowtab *ft = flowtab_new();
	struct flow f = mkflow(1, 1, 1, 0, 0);
	struct flowtab_stats st;

	cr_expect_eq(flowtab_flow_new(ft, &f), -EINVAL, "mark 0 is no service");
	f = mkflow(1, 1, 1, SVC1, 0);
	f.backend.family = AF_UNSPEC;
	cr_expect_eq(flowtab_flow_new(ft, &f), -EINVAL);
	f = mkflow(1, 1, 1, SVC1, 0);
	f.key.src.family = AF_UNIX;
	cr_expect_eq(flowtab_flow_new(ft, &f), -EINVAL);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, 0);
	cr_expect_eq(st.groups, 0);
	flowtab_free(ft);
}

Test(flowtab, ipv6_flows_count_apart_from_ipv4)
{
	struct flowtab *ft = flowtab_new();
	struct flow f = mkflow(1, 1, 1000, SVC1, 0);
	struct flow g = mkflow(1, 1, 1000, SVC1, 0);
	struct knlb_addr b6;
	struct flow_counts c;

	memset(&g.key.src, 0, sizeof(g.key.src));
	g.key.src.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &g.key.src.in6);
	memset(&b6, 0, sizeof(b6));
	b6.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1::11", &b6.in6);
	g.backend = b6;
	cr_expect_eq(flowtab_flow_new(ft, &f), 1);
	cr_expect_eq(flowtab_flow_new(ft, &g), 1);
	cr_expect_eq(flowtab_backend_counts(ft, SVC1, &b6, 8080, IPPROTO_TCP, &c), 0);
	expect_counts(c, 1, 1, 0);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 1, 0);
	expect_counts(service_counts(ft, SVC1), 2, 2, 0);
	cr_expect_eq(flowtab_flow_destroy(ft, &g.key), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 1, 0);
	flowtab_free(ft);
}

/*
 * Known: 1..6.  Lost DESTROY of 2 and 5, lost NEW of 7 and 8; the dump
 * returns 1,3,4,6,7,8.  After the pass every counter must be what an
 * observer who saw every event would report.
 */
Test(flowtab, resync_after_lost_events_corrects_counts)
{
	struct flowtab *ft = flowtab_new();
	struct flow f[9];
	struct flowtab_resync res;
	struct flowtab_stats st;
	static const int dump[] = { 1, 3, 4, 6, 7, 8 };

	for (int i = 1; i <= 8; i++)
		f[i] = mkflow((uint32_t)i, (uint32_t)i, (uint16_t)(2000 + i),
			      i % 2 ? SVC1 : SVC2, i <= 4 ? 0 : 1);
	for (int i = 1; i <= 6; i++)
		flowtab_flow_new(ft, &f[i]);
	/* 1,3: SVC1/b0  2,4: SVC2/b0  5: SVC1/b1  6: SVC2/b1 */
	expect_counts(backend_counts(ft, SVC1, 1), 1, 1, 0);

	flowtab_resync_begin(ft);
	cr_expect(flowtab_resyncing(ft));
	for (size_t i = 0; i < sizeof(dump) / sizeof(dump[0]); i++)
		flowtab_resync_seen(ft, &f[dump[i]]);
	flowtab_resync_end(ft, &res);
	cr_expect_not(flowtab_resyncing(ft));
	cr_expect_eq(res.opened, 2);
	cr_expect_eq(res.closed, 2);
	cr_expect_eq(res.moved, 0);

	expect_counts(backend_counts(ft, SVC1, 0), 2, 2, 0);	/* 1,3 */
	expect_counts(backend_counts(ft, SVC2, 0), 1, 2, 1);	/* 4; 2 closed */
	expect_counts(backend_counts(ft, SVC1, 1), 1, 2, 1);	/* 7; 5 closed */
	expect_counts(backend_counts(ft, SVC2, 1), 2, 2, 0);	/* 6, 8 */
	expect_counts(service_counts(ft, SVC1), 3, 4, 1);
	expect_counts(service_counts(ft, SVC2), 3, 4, 1);

	/* The table now matches the dump: late events change nothing wrong. */
	cr_expect_eq(flowtab_flow_new(ft, &f[7]), 0, "late NEW of 7");
	cr_expect_eq(flowtab_flow_destroy(ft, &f[2].key), 0, "late DESTROY of 2");
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, 6);
	cr_expect_eq(st.resyncs, 1);
	cr_expect_eq(st.last_resync.opened, 2);
	cr_expect_eq(st.last_resync.closed, 2);

	/* A second pass over the same dump corrects nothing. */
	flowtab_resync_begin(ft);
	for (size_t i = 0; i < sizeof(dump) / sizeof(dump[0]); i++)
		flowtab_resync_seen(ft, &f[dump[i]]);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.opened + res.closed + res.moved, 0);
	flowtab_free(ft);
}

/* Events read while a dump is being walked must not be undone by it. */
Test(flowtab, events_during_a_resync_pass)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1, SVC1, 0);
	struct flow b = mkflow(2, 2, 2, SVC1, 0);
	struct flow c = mkflow(3, 3, 3, SVC1, 0);
	struct flowtab_resync res;

	flowtab_flow_new(ft, &a);
	flowtab_flow_new(ft, &b);
	flowtab_resync_begin(ft);
	flowtab_resync_seen(ft, &a);
	flowtab_flow_new(ft, &c);		/* created after the dump passed */
	flowtab_flow_destroy(ft, &b.key);	/* ended before the dump got to it */
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.opened, 0);
	cr_expect_eq(res.closed, 0, "c came by event during the pass: not stale");
	expect_counts(backend_counts(ft, SVC1, 0), 2, 3, 1);
	flowtab_free(ft);
}

/*
 * A dump that fails part way closes nothing; the next full pass must
 * still close every flow it does not see, including those the aborted
 * pass never reached.
 */
Test(flowtab, aborted_resync_closes_nothing_and_the_next_one_is_exact)
{
	struct flowtab *ft = flowtab_new();
	struct flow f[5];
	struct flowtab_resync res;
	struct flowtab_stats st;

	for (int i = 1; i <= 4; i++)
		f[i] = mkflow((uint32_t)i, (uint32_t)i, (uint16_t)i, SVC1, 0);
	for (int i = 1; i <= 3; i++)
		flowtab_flow_new(ft, &f[i]);
	flowtab_resync_begin(ft);
	flowtab_resync_seen(ft, &f[1]);
	cr_expect_eq(flowtab_resync_seen(ft, &f[4]), 1);
	flowtab_resync_abort(ft);
	cr_expect_not(flowtab_resyncing(ft));
	expect_counts(service_counts(ft, SVC1), 4, 4, 0);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.resyncs, 0, "an aborted pass is not a resync");

	flowtab_resync_begin(ft);
	flowtab_resync_seen(ft, &f[1]);
	flowtab_resync_seen(ft, &f[2]);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.closed, 2, "3 (not reached before) and 4 (seen before)");
	cr_expect_eq(flowtab_flow_destroy(ft, &f[3].key), 0);
	expect_counts(service_counts(ft, SVC1), 2, 4, 2);
	flowtab_free(ft);
}

Test(flowtab, resync_moves_a_flow_whose_mark_changed)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1, SVC1, 0);
	struct flow moved = a;
	struct flowtab_resync res;
	struct drain_log log = { 0 };

	flowtab_set_drained_fn(ft, on_drained, &log);
	flowtab_flow_new(ft, &a);
	moved.mark = SVC2;
	flowtab_resync_begin(ft);
	cr_expect_eq(flowtab_resync_seen(ft, &moved), 0);
	cr_expect_eq(log.calls, 0, "callbacks wait for the end of the pass");
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.moved, 1);
	cr_expect_eq(res.opened + res.closed, 0);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	expect_counts(backend_counts(ft, SVC2, 0), 1, 1, 0);
	cr_expect_eq(log.calls, 1);
	cr_expect_eq(log.mark, SVC1);
	cr_expect_eq(flowtab_flow_destroy(ft, &a.key), 1);
	expect_counts(backend_counts(ft, SVC2, 0), 0, 1, 1);
	flowtab_free(ft);
}

Test(flowtab, drained_fires_exactly_when_a_backend_reaches_zero)
{
	struct flowtab *ft = flowtab_new();
	struct flow f[4] = {
		mkflow(1, 1, 1, SVC1, 0),
		mkflow(2, 2, 2, SVC1, 0),
		mkflow(3, 3, 3, SVC1, 1),
		mkflow(4, 4, 4, SVC2, 0),
	};
	struct drain_log log = { 0 };
	struct knlb_addr b0 = v4(backends[0]);

	flowtab_set_drained_fn(ft, on_drained, &log);
	for (int i = 0; i < 4; i++)
		flowtab_flow_new(ft, &f[i]);
	flowtab_flow_destroy(ft, &f[0].key);
	cr_expect_eq(log.calls, 0, "one flow left on SVC1/b0");
	flowtab_flow_destroy(ft, &f[3].key);
	cr_expect_eq(log.calls, 1);
	cr_expect_eq(log.mark, SVC2);
	flowtab_flow_destroy(ft, &f[1].key);
	cr_expect_eq(log.calls, 2);
	cr_expect_eq(log.mark, SVC1);
	cr_expect(log.addr.family == AF_INET && log.addr.in.s_addr == b0.in.s_addr);
	cr_expect_eq(log.port, 8080);
	cr_expect_eq(log.proto, IPPROTO_TCP);
	flowtab_flow_destroy(ft, &f[1].key);
	cr_expect_eq(log.calls, 2, "an unknown destroy drains nothing");

	/* Refilled and emptied again: fires again. */
	flowtab_flow_new(ft, &f[0]);
	cr_expect_eq(log.calls, 2);
	flowtab_flow_destroy(ft, &f[0].key);
	cr_expect_eq(log.calls, 3);

	/* Emptied by a resync: fires once, for SVC1/b1 only. */
	flowtab_resync_begin(ft);
	flowtab_resync_end(ft, NULL);
	cr_expect_eq(log.calls, 4);
	cr_expect_eq(log.mark, SVC1);
	cr_expect_eq(log.addr.in.s_addr, v4(backends[1]).in.s_addr);
	flowtab_free(ft);
}

/*
 * TCP closing (TIME_WAIT/CLOSE seen in an update): the flow stops counting
 * as active at once, exactly once, and its later DESTROY counts nothing.
 */
Test(flowtab, closing_ends_a_flow_once)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1001, SVC1, 0);
	struct flow b = mkflow(2, 2, 1002, SVC1, 0);
	struct flowtab_stats st;

	flowtab_flow_new(ft, &a);
	flowtab_flow_new(ft, &b);
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 2, 1);
	expect_counts(service_counts(ft, SVC1), 1, 2, 1);
	/* TIME_WAIT, then CLOSE (an RST in TIME_WAIT), then a replay. */
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), 0);
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), 0);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 2, 1);
	expect_counts(service_counts(ft, SVC1), 1, 2, 1);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.closings, 1);
	cr_expect_eq(st.duplicate_closings, 2);
	cr_expect_eq(st.flows, 2, "the ended entry is kept until its DESTROY");
	cr_expect_eq(st.ending, 1);
	/* A NEW replayed for an ended flow does not bring it back. */
	cr_expect_eq(flowtab_flow_new(ft, &a), 0);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 2, 1);
	flowtab_free(ft);
}

Test(flowtab, closing_then_destroy_counts_once)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1001, SVC1, 0);
	struct flowtab_stats st;

	flowtab_flow_new(ft, &a);
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), 1);
	cr_expect_eq(flowtab_flow_destroy(ft, &a.key), 1, "known until its DESTROY");
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	expect_counts(service_counts(ft, SVC1), 0, 1, 1);
	cr_expect_eq(flowtab_flow_destroy(ft, &a.key), 0);
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), -ENOENT);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, 0);
	cr_expect_eq(st.ending, 0);
	cr_expect_eq(st.unknown_destroys, 1);
	cr_expect_eq(st.unknown_closings, 1);
	flowtab_free(ft);
}

/* The update socket can be read after the event socket: DESTROY first. */
Test(flowtab, late_closing_after_destroy_does_nothing)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1001, SVC1, 0);
	struct flow b = mkflow(2, 2, 1002, SVC1, 0);
	struct drain_log log = { 0 };
	struct flowtab_stats st;

	flowtab_set_drained_fn(ft, on_drained, &log);
	flowtab_flow_new(ft, &a);
	flowtab_flow_new(ft, &b);
	cr_expect_eq(flowtab_flow_destroy(ft, &a.key), 1);
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), -ENOENT);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 2, 1);
	expect_counts(service_counts(ft, SVC1), 1, 2, 1);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, 1, "the late closing re-created nothing");
	cr_expect_eq(st.ending, 0);
	cr_expect_eq(st.closings, 0);
	cr_expect_eq(st.unknown_closings, 1);
	cr_expect_eq(log.calls, 0);
	flowtab_free(ft);
}

Test(flowtab, drained_fires_on_closing_not_on_the_destroy_after)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1001, SVC1, 0);
	struct flow b = mkflow(2, 2, 1002, SVC1, 0);
	struct flow c = mkflow(3, 3, 1003, SVC1, 1);
	struct knlb_addr b0 = v4(backends[0]);
	struct drain_log log = { 0 };

	flowtab_set_drained_fn(ft, on_drained, &log);
	flowtab_flow_new(ft, &a);
	flowtab_flow_new(ft, &b);
	flowtab_flow_new(ft, &c);
	flowtab_flow_closing(ft, &a.key);
	cr_expect_eq(log.calls, 0, "b still active on SVC1/b0");
	flowtab_flow_closing(ft, &b.key);
	cr_expect_eq(log.calls, 1);
	cr_expect_eq(log.mark, SVC1);
	cr_expect_eq(log.addr.in.s_addr, b0.in.s_addr);
	cr_expect_eq(log.port, 8080);
	cr_expect_eq(log.proto, IPPROTO_TCP);
	flowtab_flow_closing(ft, &b.key);
	flowtab_flow_destroy(ft, &a.key);
	flowtab_flow_destroy(ft, &b.key);
	cr_expect_eq(log.calls, 1, "a duplicate closing and the DESTROYs drain nothing more");
	expect_counts(backend_counts(ft, SVC1, 0), 0, 2, 2);
	expect_counts(backend_counts(ft, SVC1, 1), 1, 1, 0);
	flowtab_free(ft);
}

/* A NEW (or a dump) may report an entry already in TIME_WAIT. */
Test(flowtab, flow_first_seen_ending_is_never_active)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1001, SVC1, 0);
	struct drain_log log = { 0 };
	struct flowtab_stats st;

	flowtab_set_drained_fn(ft, on_drained, &log);
	a.ending = true;
	cr_expect_eq(flowtab_flow_new(ft, &a), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	expect_counts(service_counts(ft, SVC1), 0, 1, 1);
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), 0);
	cr_expect_eq(flowtab_flow_destroy(ft, &a.key), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	cr_expect_eq(log.calls, 0, "it never was active, so nothing drained");
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, 0);
	cr_expect_eq(st.ending, 0);
	flowtab_free(ft);
}

/*
 * Known: 1..4 active, 5 and 6 ended.  Lost: the closing of 1, the DESTROY
 * of 3 (active) and of 6 (ended), the NEW of 7 (open) and of 8 (already in
 * TIME_WAIT).  The dump: 1 ending, 2, 4, 5 ending, 7, 8 ending.
 */
Test(flowtab, resync_knows_closing_flows)
{
	struct flowtab *ft = flowtab_new();
	struct flow f[9];
	struct flowtab_resync res;
	struct flowtab_stats st;
	struct drain_log log = { 0 };
	static const int dump[] = { 1, 2, 4, 5, 7, 8 };

	for (int i = 1; i <= 8; i++)
		f[i] = mkflow((uint32_t)i, (uint32_t)i, (uint16_t)(3000 + i),
			      SVC1, i <= 3 ? 0 : 1);
	/* 1,2,3: SVC1/b0  4..8: SVC1/b1 */
	for (int i = 1; i <= 6; i++)
		flowtab_flow_new(ft, &f[i]);
	flowtab_flow_closing(ft, &f[5].key);
	flowtab_flow_closing(ft, &f[6].key);
	expect_counts(backend_counts(ft, SVC1, 0), 3, 3, 0);
	expect_counts(backend_counts(ft, SVC1, 1), 1, 3, 2);
	flowtab_set_drained_fn(ft, on_drained, &log);

	f[1].ending = f[5].ending = f[8].ending = true;
	flowtab_resync_begin(ft);
	for (size_t i = 0; i < sizeof(dump) / sizeof(dump[0]); i++)
		flowtab_resync_seen(ft, &f[dump[i]]);
	cr_expect_eq(log.calls, 0, "callbacks wait for the end of the pass");
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.opened, 2, "7 and 8");
	cr_expect_eq(res.closed, 1, "3; not 6, counted closed already");
	cr_expect_eq(res.ended, 1, "1");
	cr_expect_eq(res.reopened, 0);
	cr_expect_eq(res.moved, 0);
	/* b0: 2 active; 1 ended, 3 gone.  b1: 4, 7 active; 5, 6, 8 ended. */
	expect_counts(backend_counts(ft, SVC1, 0), 1, 3, 2);
	expect_counts(backend_counts(ft, SVC1, 1), 2, 5, 3);
	expect_counts(service_counts(ft, SVC1), 3, 8, 5);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, 6, "1 2 4 5 7 8");
	cr_expect_eq(st.ending, 3, "1 5 8");
	cr_expect_eq(st.last_resync.ended, 1);

	/* Late events of what the dump already showed change nothing. */
	cr_expect_eq(flowtab_flow_closing(ft, &f[1].key), 0);
	cr_expect_eq(flowtab_flow_closing(ft, &f[8].key), 0);
	cr_expect_eq(flowtab_flow_new(ft, &f[7]), 0);
	cr_expect_eq(flowtab_flow_destroy(ft, &f[1].key), 1);
	cr_expect_eq(flowtab_flow_destroy(ft, &f[6].key), 0, "forgotten by the pass");
	expect_counts(service_counts(ft, SVC1), 3, 8, 5);
	cr_expect_eq(log.calls, 0, "no backend reached 0");

	/* Closing what is left of b0 drains it. */
	flowtab_flow_closing(ft, &f[2].key);
	cr_expect_eq(log.calls, 1);
	flowtab_free(ft);
}

/* The dump shows the backend's last active flow ending: drained at the end. */
Test(flowtab, resync_ending_the_last_flow_drains_the_backend)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1, SVC1, 0);
	struct drain_log log = { 0 };
	struct flowtab_resync res;

	flowtab_set_drained_fn(ft, on_drained, &log);
	flowtab_flow_new(ft, &a);
	a.ending = true;
	flowtab_resync_begin(ft);
	cr_expect_eq(flowtab_resync_seen(ft, &a), 0);
	cr_expect_eq(log.calls, 0);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.ended, 1);
	cr_expect_eq(log.calls, 1);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	/* The same dump again: nothing more. */
	flowtab_resync_begin(ft);
	flowtab_resync_seen(ft, &a);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.opened + res.closed + res.moved + res.ended + res.reopened, 0);
	cr_expect_eq(log.calls, 1);
	flowtab_free(ft);
}

/*
 * The kernel reuses an entry in CLOSE when the client reconnects from the
 * same port after the backend reset it: a dump that shows it open again
 * counts it active again, and its next closing counts again.
 */
Test(flowtab, resync_reopens_an_ended_flow_shown_open)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1, SVC1, 0);
	struct flowtab_resync res;

	flowtab_flow_new(ft, &a);
	flowtab_flow_closing(ft, &a.key);
	flowtab_resync_begin(ft);
	flowtab_resync_seen(ft, &a);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.reopened, 1);
	cr_expect_eq(res.opened + res.closed + res.ended, 0);
	expect_counts(backend_counts(ft, SVC1, 0), 1, 2, 1);
	cr_expect_eq(flowtab_flow_closing(ft, &a.key), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 2, 2);
	cr_expect_eq(flowtab_flow_destroy(ft, &a.key), 1);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 2, 2);
	flowtab_free(ft);
}

/* An ended flow whose mark an operator changed moves without counting. */
Test(flowtab, resync_moves_an_ended_flow_without_counting_it)
{
	struct flowtab *ft = flowtab_new();
	struct flow a = mkflow(1, 1, 1, SVC1, 0);
	struct flowtab_resync res;

	flowtab_flow_new(ft, &a);
	flowtab_flow_closing(ft, &a.key);
	a.mark = SVC2;
	a.ending = true;
	flowtab_resync_begin(ft);
	flowtab_resync_seen(ft, &a);
	flowtab_resync_end(ft, &res);
	cr_expect_eq(res.moved, 1);
	expect_counts(backend_counts(ft, SVC1, 0), 0, 1, 1);
	expect_counts(backend_counts(ft, SVC2, 0), 0, 0, 0);
	cr_expect_eq(flowtab_flow_destroy(ft, &a.key), 1);
	expect_counts(service_counts(ft, SVC1), 0, 1, 1);
	expect_counts(service_counts(ft, SVC2), 0, 0, 0);
	flowtab_free(ft);
}

/* The callback may update the table it is called from. */
struct reentry {
	struct flowtab *ft;
	struct flow next;
	int calls;
};

static void on_drained_add(void *arg, uint32_t mark,
			   const struct knlb_addr *addr, uint16_t port,
			   uint8_t proto)
{
	struct reentry *r = arg;

	(void)mark;
	(void)addr;
	(void)port;
	(void)proto;
	if (r->calls++ == 0)
		cr_expect_eq(flowtab_flow_new(r->ft, &r->next), 1);
}

Test(flowtab, drained_callback_may_update_the_table)
{
	struct reentry r = { 0 };
	struct flow a = mkflow(1, 1, 1, SVC1, 0);

	r.ft = flowtab_new();
	r.next = mkflow(2, 2, 2, SVC2, 2);
	flowtab_set_drained_fn(r.ft, on_drained_add, &r);
	flowtab_flow_new(r.ft, &a);
	flowtab_flow_destroy(r.ft, &a.key);
	cr_expect_eq(r.calls, 1);
	expect_counts(backend_counts(r.ft, SVC2, 2), 1, 1, 0);
	flowtab_free(r.ft);
}

struct sum {
	int pairs;
	uint64_t active;
};

static void add_backend(void *arg, uint32_t mark, const struct knlb_addr *addr,
			uint16_t port, uint8_t proto, const struct flow_counts *c)
{
	struct sum *s = arg;

	(void)mark;
	(void)addr;
	(void)port;
	(void)proto;
	s->pairs++;
	s->active += c->active;
}

Test(flowtab, foreach_reports_backends_not_service_totals)
{
	struct flowtab *ft = flowtab_new();
	struct sum s = { 0 };

	for (uint32_t i = 0; i < 30; i++) {
		struct flow f = mkflow(i, i, (uint16_t)i, i % 2 ? SVC1 : SVC2,
				       (int)(i % 3));

		flowtab_flow_new(ft, &f);
	}
	flowtab_foreach_backend(ft, add_backend, &s);
	cr_expect_eq(s.pairs, 6);
	cr_expect_eq(s.active, 30);
	flowtab_free(ft);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The worst key pattern a gateway sees: one client (a NAT in front of it)
 * on consecutive ports, ids consecutive.  Bounds are loose enough for
 * ASan on a loaded 2-core box (1M: about 1 s plain, 4 s under ASan),
 * tight enough to catch quadratic probing, which would take hours.
 */
static void churn(uint32_t n, double budget_s)
{
	struct flowtab *ft = flowtab_new();
	struct flowtab_stats st;
	double start = now_s(), took;

	for (uint32_t i = 0; i < n; i++) {
		struct flow f = mkflow(i, 1, (uint16_t)i, SVC1, (int)(i % 3));

		f.key.src.in.s_addr = htonl(0x0a010000u + i / 65536);
		cr_assert_eq(flowtab_flow_new(ft, &f), 1);
	}
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, n);
	cr_expect(st.slots * 7 >= (size_t)n * 10, "load above 70%%");
	expect_counts(service_counts(ft, SVC1), n, n, 0);
	for (uint32_t i = 0; i < n; i += 2) {
		struct flow f = mkflow(i, 1, (uint16_t)i, SVC1, 0);

		f.key.src.in.s_addr = htonl(0x0a010000u + i / 65536);
		cr_assert_eq(flowtab_flow_destroy(ft, &f.key), 1, "flow %u", i);
	}
	/* A resync over the odd half: nothing to correct, every lookup hits. */
	flowtab_resync_begin(ft);
	for (uint32_t i = 1; i < n; i += 2) {
		struct flow f = mkflow(i, 1, (uint16_t)i, SVC1, (int)(i % 3));

		f.key.src.in.s_addr = htonl(0x0a010000u + i / 65536);
		cr_assert_eq(flowtab_resync_seen(ft, &f), 0);
	}
	flowtab_resync_end(ft, NULL);
	for (uint32_t i = 1; i < n; i += 2) {
		struct flow f = mkflow(i, 1, (uint16_t)i, SVC1, 0);

		f.key.src.in.s_addr = htonl(0x0a010000u + i / 65536);
		cr_assert_eq(flowtab_flow_destroy(ft, &f.key), 1, "flow %u", i);
	}
	took = now_s() - start;
	expect_counts(service_counts(ft, SVC1), 0, n, n);
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.last_resync.opened + st.last_resync.closed, 0);
	cr_expect_eq(st.flows, 0);
	cr_expect_leq(st.slots, 1024, "table shrinks back when emptied");
	cr_expect_lt(took, budget_s, "%u flows churned in %.3f s", n, took);
	flowtab_free(ft);
}

Test(flowtab, hundred_thousand_flows_quickly) { churn(100000, 3.0); }
Test(flowtab, a_million_flows_without_pathology, .timeout = 120) { churn(1000000, 30.0); }

/*
 * Random operations against a plain array model.  Small key space so
 * probe runs collide, wrap around the end of the table and are cut by
 * deletions: any slip in backward-shift deletion shows up as a lost or
 * resurrected flow.  Closings and dumps that show flows ending (or open
 * again) are mixed in: every counter must match the model's.
 */
enum { GONE, OPEN, ENDED };

Test(flowtab, random_operations_match_a_model)
{
	enum { KEYS = 3000, OPS = 200000 };
	struct flowtab *ft = flowtab_new();
	static uint8_t live[KEYS];
	uint64_t rng = 0x666c6f77;
	uint64_t opened = 0, closed = 0, ending = 0, flows = 0;
	struct flowtab_stats st;

	for (int op = 0; op < OPS; op++) {
		uint32_t k, r;
		struct flow f;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		r = (uint32_t)(rng >> 33);
		k = r % KEYS;
		f = mkflow(k, k % 7, (uint16_t)(k / 7), SVC1, 0);
		if ((r >> 20) % 500 == 0) {
			/*
			 * A resync over a dump that lost a random tenth and
			 * shows another tenth ending (lost closings) and a
			 * few ended ones open again.
			 */
			struct flowtab_resync res;
			uint64_t dropped = 0, ended = 0, reopened = 0;

			flowtab_resync_begin(ft);
			for (uint32_t j = 0; j < KEYS; j++) {
				struct flow g = mkflow(j, j % 7, (uint16_t)(j / 7), SVC1, 0);
				uint32_t h = (j ^ r) % 10;

				if (live[j] == GONE)
					continue;
				if (h == 0) {
					if (live[j] == OPEN) {
						dropped++;
						closed++;
					} else {
						ending--;
					}
					live[j] = GONE;
					flows--;
					continue;
				}
				if (h == 1 && live[j] == OPEN) {
					live[j] = ENDED;
					ended++;
					closed++;
					ending++;
				} else if (h == 2 && (j ^ r) % 50 == 2 && live[j] == ENDED) {
					live[j] = OPEN;
					reopened++;
					opened++;
					ending--;
				}
				g.ending = live[j] == ENDED;
				flowtab_resync_seen(ft, &g);
			}
			flowtab_resync_end(ft, &res);
			cr_assert_eq(res.closed, dropped);
			cr_assert_eq(res.ended, ended);
			cr_assert_eq(res.reopened, reopened);
			cr_assert_eq(res.opened, 0);
		} else if ((r >> 10) % 3 == 0) {
			cr_assert_eq(flowtab_flow_new(ft, &f), live[k] == GONE ? 1 : 0, "op %d", op);
			if (live[k] == GONE) {
				opened++;
				flows++;
				live[k] = OPEN;
			}
		} else if ((r >> 10) % 3 == 1) {
			static const int want[] = { [GONE] = -ENOENT, [OPEN] = 1, [ENDED] = 0 };

			cr_assert_eq(flowtab_flow_closing(ft, &f.key), want[live[k]], "op %d", op);
			if (live[k] == OPEN) {
				closed++;
				ending++;
				live[k] = ENDED;
			}
		} else {
			cr_assert_eq(flowtab_flow_destroy(ft, &f.key), live[k] == GONE ? 0 : 1, "op %d", op);
			if (live[k] == OPEN)
				closed++;
			if (live[k] == ENDED)
				ending--;
			if (live[k] != GONE)
				flows--;
			live[k] = GONE;
		}
	}
	flowtab_get_stats(ft, &st);
	cr_expect_eq(st.flows, flows);
	cr_expect_eq(st.ending, ending);
	cr_expect_gt(st.closings, 1000, "closings were exercised");
	expect_counts(backend_counts(ft, SVC1, 0), opened - closed, opened, closed);
	expect_counts(service_counts(ft, SVC1), opened - closed, opened, closed);
	flowtab_free(ft);
}
