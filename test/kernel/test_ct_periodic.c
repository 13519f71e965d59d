/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Counting by dumps against the real kernel (issue 15): track = periodic
 * services counted from kernel-filtered dumps, with conntrack events off
 * in the namespace so that nothing but the dumps can be counting; and the
 * bounded mode an overloaded event intake switches to, and back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "knlb/ct/ct.h"
#include "knlb/ct/flowtab.h"
#include "knlb/lib/loop.h"
#include "kt.h"
#include "kt_ct.h"

#define MASK 0xff000000u
#define SVC1 0x01000000u
#define SVC2 0x02000000u
#define B11 0x0a00000bu		/* 10.0.0.11 */
#define B12 0x0a00000cu		/* 10.0.0.12 */
#define MS 1000000ULL

TestSuite(ct_periodic, .init = kt_enter_netns, .timeout = 90);

struct pctx {
	struct loop *loop;
	struct flowtab *ft;
	struct ct *ct;
	struct loop_timer stop;
	int drained;
	uint32_t drained_mark;
};

static void on_drained(void *arg, uint32_t mark, const struct knlb_addr *addr,
		       uint16_t port, uint8_t proto)
{
	struct pctx *t = arg;

	(void)addr;
	(void)port;
	(void)proto;
	t->drained++;
	t->drained_mark = mark;
}

static void on_stop(struct loop *loop, struct loop_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	loop_stop(loop);
}

static void open_ct(struct pctx *t)
{
	char err[256] = "";

	memset(t, 0, sizeof(*t));
	cr_assert_eq(loop_new(&t->loop), 0);
	t->ft = flowtab_new();
	cr_assert_not_null(t->ft);
	flowtab_set_drained_fn(t->ft, on_drained, t);
	loop_timer_init(&t->stop, on_stop, t);
	cr_assert_eq(ct_open(t->loop, MASK, t->ft, &t->ct, err, sizeof(err)), 0,
		     "ct_open: %s", err);
}

static void close_ct(struct pctx *t)
{
	ct_close(t->ct);
	flowtab_free(t->ft);
	loop_free(t->loop);
}

/* Run the loop (events, timers) for ms. */
static void run_for(struct pctx *t, unsigned ms)
{
	cr_assert_eq(loop_timer_arm(t->loop, &t->stop, ms * MS), 0);
	cr_assert_eq(loop_run(t->loop), 0);
}

static void batch(unsigned first, unsigned n, uint32_t mark, uint32_t backend,
		  int state, bool destroy)
{
	int err = kt_ct_batch(first, n, mark, htonl(backend), state, destroy, true);

	cr_assert_eq(err, 0, "%s %u entries: %s", destroy ? "deleting" : "making",
		     n, strerror(-err));
}

/* knlbctl reload, which must succeed. */
static void reload_ok(const struct kt_knlbd *r)
{
	int code;
	char *out = kt_knlbctl(r, "reload", &code);

	cr_expect_eq(code, 0, "%s", out);
	free(out);
}

static uint64_t active(struct pctx *t, uint32_t mark, uint32_t backend)
{
	struct knlb_addr a = { .family = AF_INET };
	struct flow_counts c;

	a.in.s_addr = htonl(backend);
	if (backend)
		flowtab_backend_counts(t->ft, mark, &a, 8080, IPPROTO_TCP, &c);
	else
		flowtab_service_counts(t->ft, mark, &c);
	return c.active;
}

/*
 * The counts of a periodic service equal the flows in the kernel after
 * each pass, the other services' are left alone (the dump asked the
 * kernel for SVC1's only), and a backend whose flows are all gone drains
 * to 0 with its callback.
 */
Test(ct_periodic, counts_follow_the_kernel_and_drain_reaches_zero)
{
	uint32_t svc1 = SVC1;
	struct ct_stats st;
	struct pctx t;

	batch(0, 50, SVC2, B12, TCP_CONNTRACK_ESTABLISHED, false);
	kt_set_sysctl("net/netfilter/nf_conntrack_events", "0");
	open_ct(&t);
	cr_expect_eq(active(&t, SVC2, 0), 50, "initial dump");
	cr_expect_eq(ct_periodic_pass(t.ct), -EAGAIN, "nothing periodic yet");
	cr_assert_eq(ct_set_periodic(t.ct, &svc1, 1, 200 * MS), 0);

	batch(100, 300, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	batch(400, 200, SVC1, B12, TCP_CONNTRACK_ESTABLISHED, false);
	cr_expect_eq(active(&t, SVC1, 0), 0, "events are off: nothing yet");
	run_for(&t, 500);	/* the timer's passes */
	ct_get_stats(t.ct, &st);
	cr_expect_geq(st.periodic_passes, 1);
	cr_expect_eq(st.periodic_services, 1);
	/* 200, or 4x a dump that took longer than 50 ms on a loaded box */
	cr_expect_geq(st.periodic_interval_ms, 200);
	cr_expect_eq(active(&t, SVC1, B11), 300);
	cr_expect_eq(active(&t, SVC1, B12), 200);
	/* SVC2 is not periodic: its (stale) count is not the pass's to judge. */
	batch(0, 50, SVC2, B12, 0, true);
	cr_assert_eq(ct_periodic_pass(t.ct), 0);
	cr_expect_eq(active(&t, SVC2, 0), 50);

	/* Drain: every flow of SVC1 to 10.0.0.11 ends. */
	batch(100, 300, SVC1, B11, 0, true);
	cr_assert_eq(ct_periodic_pass(t.ct), 0);
	cr_expect_eq(active(&t, SVC1, B11), 0);
	cr_expect_eq(active(&t, SVC1, B12), 200);
	cr_expect_eq(t.drained, 1);
	cr_expect_eq(t.drained_mark, SVC1);
	close_ct(&t);
}

/*
 * Between two dumps: flows that end, flows that open and end (never
 * seen: they count nothing), and TCP entries in TIME_WAIT (over: not
 * active, as with closing updates).
 */
Test(ct_periodic, flows_closed_between_dumps)
{
	uint32_t svc1 = SVC1;
	struct flow_counts c;
	struct pctx t;

	kt_set_sysctl("net/netfilter/nf_conntrack_events", "0");
	open_ct(&t);
	cr_assert_eq(ct_set_periodic(t.ct, &svc1, 1, 60000 * MS), 0);
	batch(0, 100, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	cr_assert_eq(ct_periodic_pass(t.ct), 0);
	cr_expect_eq(active(&t, SVC1, 0), 100);

	batch(0, 30, SVC1, B11, 0, true);			/* ended */
	batch(200, 20, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	batch(200, 20, SVC1, B11, 0, true);			/* in between */
	batch(300, 10, SVC1, B11, TCP_CONNTRACK_TIME_WAIT, false);
	batch(400, 5, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	cr_assert_eq(ct_periodic_pass(t.ct), 0);
	flowtab_service_counts(t.ft, SVC1, &c);
	cr_expect_eq(c.active, 75, "100 - 30 + 5: %llu", (unsigned long long)c.active);
	cr_expect_eq(c.opened, 115, "100 + 10 in TIME_WAIT + 5");
	cr_expect_eq(c.closed, 40, "30 gone + 10 in TIME_WAIT");
	close_ct(&t);
}

static uint64_t passes(struct pctx *t)
{
	struct ct_stats st;

	ct_get_stats(t->ct, &st);
	return st.periodic_passes;
}

/*
 * Nothing acts on the counts (no wlc, maxconn or drain): a pass every
 * CT_UNREAD_INTERVAL_NS (5 s) instead of every interval, and one when a
 * reader finds them older than the interval; acted on again, every
 * interval.
 */
Test(ct_periodic, unread_counts_pass_every_5_s_and_when_read)
{
	uint32_t svc1 = SVC1;
	struct ct_stats st;
	struct pctx t;

	kt_set_sysctl("net/netfilter/nf_conntrack_events", "0");
	open_ct(&t);
	ct_set_counts_acted_on(t.ct, false);
	cr_assert_eq(ct_set_periodic(t.ct, &svc1, 1, 100 * MS), 0);
	batch(0, 40, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	run_for(&t, 1500);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.periodic_passes, 1, "the first tick's pass, then none in 1.4 s: %llu",
		     (unsigned long long)st.periodic_passes);
	cr_expect_eq(st.unread_interval_ms, 5000);
	cr_expect_eq(active(&t, SVC1, B11), 40);

	batch(100, 25, SVC1, B12, TCP_CONNTRACK_ESTABLISHED, false);
	cr_expect_eq(active(&t, SVC1, B12), 0, "no pass since");
	cr_assert_eq(ct_refresh_counts(t.ct, false), 0);
	cr_expect_eq(active(&t, SVC1, B12), 25, "the reader's pass counted them");
	cr_expect_eq(passes(&t), 2);
	cr_assert_eq(ct_refresh_counts(t.ct, false), 0);
	cr_expect_eq(passes(&t), 2, "younger than the interval: no second dump");

	/* 5 s after the reader's pass, the next; not before. */
	run_for(&t, 4500);
	cr_expect_eq(passes(&t), 2, "none 4.5 s after the last");
	run_for(&t, 1000);
	cr_expect_eq(passes(&t), 3, "one 5 s after it");

	/* knlbd's from the conntrack timeouts: 2 s is the cadence then. */
	struct ct_unread_mark m = { .mark = SVC1, .l4proto = IPPROTO_TCP,
				    .families = CT_FAMILY_BIT(AF_INET),
				    .every_ns = 2000 * MS };

	cr_assert_eq(ct_set_unread_marks(t.ct, &m, 1), 0);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.unread_interval_ms, 2000);
	/*
	 * Shorter than the 5 s it had: the next tick passes, then one every
	 * 2 s.  A tick is the count interval, which a dump's CPU time
	 * stretches (20x: on a slow box the kernel's walk of its 262144
	 * buckets alone is 10 ms, so 200 ms), and a pass comes within half
	 * a tick of its time: each check is 0.3 s or more from a pass's
	 * window (0-0.3 s, 1.85-2.45 s, 3.7-4.6 s).
	 */
	run_for(&t, 600);
	cr_expect_eq(passes(&t), 4, "the next tick's: %llu", (unsigned long long)passes(&t));
	run_for(&t, 1000);
	cr_expect_eq(passes(&t), 4, "none at 1.6 s: %llu", (unsigned long long)passes(&t));
	run_for(&t, 1200);
	cr_expect_eq(passes(&t), 5, "one 2 s after it, by 2.8 s: %llu", (unsigned long long)passes(&t));
	run_for(&t, 700);
	cr_expect_eq(passes(&t), 5, "none at 3.5 s: %llu", (unsigned long long)passes(&t));
	run_for(&t, 1500);
	cr_expect_eq(passes(&t), 6, "and 2 s later, by 5 s: %llu", (unsigned long long)passes(&t));

	ct_set_counts_acted_on(t.ct, true);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.unread_interval_ms, 0);
	run_for(&t, 1000);
	cr_expect_geq(passes(&t), 6 + 3, "acted on: every interval again, at most 2 s unread (%llu)",
		      (unsigned long long)passes(&t));
	close_ct(&t);
}

/*
 * Unread, each mark at its own interval: two TCP services every second,
 * a UDP one every 3 s.  A tick passes over the due marks only: the TCP
 * pair's flows are counted within a second, the UDP service's only at its
 * turn (or when a reader asks: a whole pass).  The pair's pass is
 * filtered by the kernel on the protocol (two marks), and sees them all.
 */
#define SVC3 0x03000000u
Test(ct_periodic, unread_marks_pass_each_at_its_own_interval)
{
	uint32_t svcs[] = { SVC1, SVC2, SVC3 };
	struct ct_unread_mark m[] = {
		{ .mark = SVC1, .l4proto = IPPROTO_TCP, .families = 1, .every_ns = 1000 * MS },
		{ .mark = SVC3, .l4proto = IPPROTO_UDP, .families = 1, .every_ns = 3000 * MS },
		{ .mark = SVC2, .l4proto = IPPROTO_TCP, .families = 1, .every_ns = 1000 * MS },
	};
	struct ct_stats st;
	struct pctx t;

	kt_set_sysctl("net/netfilter/nf_conntrack_events", "0");
	open_ct(&t);
	ct_set_counts_acted_on(t.ct, false);
	cr_assert_eq(ct_set_unread_marks(t.ct, m, 3), 0);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.unread_interval_ms, 1000, "the shortest");
	cr_assert_eq(ct_set_periodic(t.ct, svcs, 3, 100 * MS), 0);
	run_for(&t, 300);
	cr_expect_eq(passes(&t), 1, "the first tick's, of all");

	batch(0, 20, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	batch(100, 15, SVC2, B11, TCP_CONNTRACK_ESTABLISHED, false);
	batch(200, 30, SVC3, B11, TCP_CONNTRACK_ESTABLISHED, false);
	/*
	 * The pair's passes come every second, the UDP one's at 3 s, each
	 * within half a tick of its time; a tick is 100 ms, or 20x a dump's
	 * CPU time when longer (200 ms on a slow box: the kernel walks its
	 * 262144 buckets), so the pair's drift a little late each time and
	 * at 3 s they may take their own tick.  The counts say whose turn
	 * it was; the passes only how many dumps at most.
	 */
	run_for(&t, 1000);
	cr_expect_eq(passes(&t), 2, "the TCP pair's, 1 s after the first");
	cr_expect_eq(active(&t, SVC1, B11), 20, "counted by the pair's pass");
	cr_expect_eq(active(&t, SVC2, B11), 15, "the protocol filter let them through");
	cr_expect_eq(active(&t, SVC3, B11), 0, "not its turn");
	run_for(&t, 1000);
	cr_expect_eq(active(&t, SVC3, B11), 0, "2.3 s: still not its turn");
	run_for(&t, 1500);
	cr_expect_eq(active(&t, SVC3, B11), 30, "its turn, at 3 s");
	cr_expect_leq(passes(&t), 5, "one pass a tick at most, over the due marks: %llu",
		      (unsigned long long)passes(&t));

	/* A reader finds the oldest counts 1 s old: one whole pass. */
	batch(300, 5, SVC3, B12, TCP_CONNTRACK_ESTABLISHED, false);
	run_for(&t, 500);
	cr_assert_eq(ct_refresh_counts(t.ct, false), 0);
	cr_expect_eq(active(&t, SVC3, B12), 5, "the reader's pass is whole");
	close_ct(&t);
}

/*
 * Open with policy p (an 8 KiB largest buffer, 200 ms passes) and overflow
 * it twice: two bursts of 3000 SVC1 entries, read in between.
 */
static void open_bounded(struct pctx *t, const struct ct_bounded_policy *p)
{
	struct ct_stats st;

	open_ct(t);
	ct_set_bounded_policy(t->ct, p);
	cr_assert_eq(ct_set_rcvbuf(t->ct, 8192), 0);
	cr_assert_eq(ct_set_periodic(t->ct, NULL, 0, 200 * MS), 0);
	batch(0, 3000, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	run_for(t, 300);
	ct_get_stats(t->ct, &st);
	cr_assert_geq(st.overflows, 1, "the first burst overflowed");
	cr_expect_not(st.bounded, "one overflow is not overload");
	batch(3000, 3000, SVC1, B11, TCP_CONNTRACK_ESTABLISHED, false);
	run_for(t, 100);
	ct_get_stats(t->ct, &st);
	cr_assert(st.bounded, "two overflows at the largest buffer: bounded");
	cr_expect_eq(st.bounded_entries, 1);
}

/*
 * Overload: the event buffer held at a small maximum overflows twice
 * within the window: ct leaves the event groups (no event is read any
 * more), counts every service from dumps, and once no flow is new for
 * three passes after the hold time, follows events again, exactly.
 */
Test(ct_periodic, overload_goes_bounded_and_back)
{
	struct ct_bounded_policy p = {
		.overflows = 2, .window_ns = 20000 * MS, .hold_ns = 500 * MS,
		.max_rcvbuf = 8192, .min_exit_rate = 1000,
	};
	struct ct_stats st;
	struct pctx t;
	uint64_t news;

	open_bounded(&t, &p);
	ct_get_stats(t.ct, &st);
	cr_expect_geq(st.bounded_exit_rate, 1000);

	/* No event is subscribed: new entries are found by the dumps only. */
	news = st.events_new;
	batch(6000, 500, SVC2, B12, TCP_CONNTRACK_ESTABLISHED, false);
	cr_assert_eq(ct_periodic_pass(t.ct), 0);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_new, news, "no NEW event read while bounded");
	cr_expect_eq(active(&t, SVC1, 0), 6000);
	cr_expect_eq(active(&t, SVC2, 0), 500);
	cr_expect_not(st.resync_pending, "periodic counts are not stale");

	/* Quiet: three calm passes after the hold, then events again. */
	run_for(&t, 2000);
	ct_get_stats(t.ct, &st);
	cr_assert_not(st.bounded, "back to events (rate %llu, passes %llu)",
		      (unsigned long long)st.new_flow_rate,
		      (unsigned long long)st.periodic_passes);
	/* Room for the next few events (8 KiB holds about ten). */
	cr_assert_eq(ct_set_rcvbuf(t.ct, 1 << 20), 0);
	news = st.events_new;
	batch(7000, 20, SVC2, B12, TCP_CONNTRACK_ESTABLISHED, false);
	run_for(&t, 200);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_new, news + 20, "events read again: %llu new, %llu overflows, bounded %d entries %llu",
		     (unsigned long long)(st.events_new - news),
		     (unsigned long long)st.overflows, st.bounded,
		     (unsigned long long)st.bounded_entries);
	cr_expect_eq(active(&t, SVC2, 0), 520);
	cr_expect_eq(active(&t, SVC1, 0), 6000);
	close_ct(&t);
}

/*
 * Bounded, with new flows still coming faster than min_exit_rate: the
 * samples see them and knlbd stays bounded past its hold time; once they
 * stop it follows events again, and the counts are the kernel's.
 */
Test(ct_periodic, a_sustained_load_keeps_it_bounded)
{
	struct ct_bounded_policy p = {
		.overflows = 2, .window_ns = 20000 * MS, .hold_ns = 300 * MS,
		.max_rcvbuf = 8192, .min_exit_rate = 1000,
	};
	struct ct_stats st;
	struct pctx t;
	pid_t child;
	int status;

	open_bounded(&t, &p);

	/* 200 new flows every 50 ms for 2 s: about 4000/s. */
	child = fork();
	cr_assert_neq(child, -1);
	if (child == 0) {
		for (unsigned i = 0; i < 40; i++) {
			if (kt_ct_batch(10000 + i * 200, 200, SVC2, htonl(B12),
					TCP_CONNTRACK_ESTABLISHED, false, true))
				_exit(1);
			usleep(50000);
		}
		_exit(0);
	}
	run_for(&t, 1500);
	ct_get_stats(t.ct, &st);
	cr_expect(st.bounded, "still bounded under load (sampled %llu/s)",
		  (unsigned long long)st.sampled_rate);
	cr_expect_eq(st.bounded_entries, 1);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "producer failed");
	/*
	 * CT_BOUNDED_CALM_PASSES calm passes after the load, each a count
	 * interval apart, and that interval is 20x a dump's CPU time when
	 * longer (14,000 entries: over a second on a slow box).  Within
	 * twice that, or not at all.
	 */
	for (unsigned waited = 0;; waited += 200) {
		ct_get_stats(t.ct, &st);
		if (!st.bounded ||
		    waited > 2 * (CT_BOUNDED_CALM_PASSES + 1) * st.periodic_interval_ms + 2000)
			break;
		run_for(&t, 200);
	}
	cr_expect_not(st.bounded, "back to events once the load stopped (count interval %llu ms)",
		      (unsigned long long)st.periodic_interval_ms);
	cr_assert_eq(ct_resync(t.ct), 0);
	cr_expect_eq(active(&t, SVC1, 0), 6000);
	cr_expect_eq(active(&t, SVC2, 0), 8000);
	close_ct(&t);
}

/*
 * In a child: rounds batches of n new SVC2 flows from entry first on,
 * every_ms apart.  Its pid.
 */
static pid_t produce(unsigned first, unsigned rounds, unsigned n,
		     unsigned every_ms)
{
	pid_t child = fork();

	cr_assert_neq(child, -1);
	if (child == 0) {
		for (unsigned i = 0; i < rounds; i++) {
			if (kt_ct_batch(first + i * n, n, SVC2, htonl(B12),
					TCP_CONNTRACK_ESTABLISHED, false, true))
				_exit(1);
			usleep(every_ms * 1000);
		}
		_exit(0);
	}
	return child;
}

static void reap(pid_t child)
{
	int status;

	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "producer failed");
}

/*
 * Open with events that overflow nothing at these rates (an 8 MiB
 * buffer), a 300 ms hold, 200 ms passes once bounded, and the events
 * limit per_second.
 */
static void open_limited(struct pctx *t, uint64_t per_second)
{
	static const struct ct_bounded_policy p = {
		.overflows = 3, .window_ns = 30000 * MS, .hold_ns = 300 * MS,
		.max_rcvbuf = 64 << 20, .min_exit_rate = 100,
	};

	open_ct(t);
	ct_set_bounded_policy(t->ct, &p);
	cr_assert_eq(ct_set_rcvbuf(t->ct, 8 << 20), 0);
	cr_assert_eq(ct_set_periodic(t->ct, NULL, 0, 200 * MS), 0);
	ct_set_events_limit(t->ct, per_second);
}

/*
 * track_events_limit: new flows read at a rate under the limit stay on
 * events; above it for a second, every service is counted by dumps with
 * the rate as the reason, though no event was lost; once the flows stop,
 * events again after the hold, and the counts are the kernel's.
 */
Test(ct_periodic, a_rate_above_the_events_limit_goes_bounded_and_back)
{
	struct ct_stats st;
	struct pctx t;

	open_limited(&t, 1000);

	/* About 500 new flows/s for 1.6 s: under the limit. */
	pid_t child = produce(0, 8, 100, 200);
	run_for(&t, 1800);
	reap(child);
	run_for(&t, 100);
	ct_get_stats(t.ct, &st);
	cr_expect_not(st.bounded, "500/s is under a limit of 1000/s (measured %llu/s)",
		      (unsigned long long)st.events_rate);
	cr_expect_eq(st.events_new, 800);
	cr_expect(st.events_rate > 200 && st.events_rate < 1000,
		  "the last second's rate: %llu/s", (unsigned long long)st.events_rate);
	cr_expect_eq(st.overflows, 0);

	/* About 5000/s for 2 s: bounded within a second or so, by the rate. */
	child = produce(1000, 20, 500, 100);
	run_for(&t, 1500);
	ct_get_stats(t.ct, &st);
	cr_expect(st.bounded, "5000/s is above 1000/s (measured %llu/s)",
		  (unsigned long long)st.events_rate);
	cr_expect(st.bounded_by_rate, "the reason is the rate");
	cr_expect_eq(st.overflows, 0, "no event was lost");
	cr_expect_gt(st.intake_rate, 1000);
	cr_expect_eq(st.bounded_exit_rate, 500, "back under half the limit");
	reap(child);

	/* Stopped: events again, counts from the kernel. */
	run_for(&t, 2500);
	ct_get_stats(t.ct, &st);
	cr_expect_not(st.bounded, "back to events once the flows stopped (sampled %llu/s)",
		      (unsigned long long)st.sampled_rate);
	cr_expect_not(st.bounded_by_rate);
	cr_assert_eq(ct_resync(t.ct), 0);
	cr_expect_eq(active(&t, SVC2, 0), 800 + 10000);
	close_ct(&t);
}

/*
 * Bounded by the rate with no event lost and nothing acting on the
 * counts: they are the events' up to the switch, as fresh as a dump's, so
 * the first pass waits its 5 s (or a reader older than the interval).
 */
Test(ct_periodic, bounded_by_the_rate_dumps_when_due_not_at_once)
{
	struct ct_stats st = { 0 };
	struct pctx t;
	pid_t child;

	open_limited(&t, 1000);
	ct_set_counts_acted_on(t.ct, false);
	child = produce(0, 30, 500, 100);	/* about 5000/s for 3 s */
	for (int i = 0; i < 20 && !st.bounded; i++) {
		run_for(&t, 100);
		ct_get_stats(t.ct, &st);
	}
	cr_assert(st.bounded && st.bounded_by_rate, "bounded by the rate within 2 s");
	run_for(&t, 400);	/* two ticks of 200 ms */
	ct_get_stats(t.ct, &st);
	cr_expect(st.bounded, "still bounded under load");
	cr_expect_eq(st.periodic_passes, 0, "no dump at the switch: %llu",
		     (unsigned long long)st.periodic_passes);
	cr_assert_eq(ct_refresh_counts(t.ct, false), 0);
	cr_expect_eq(passes(&t), 1, "a reader's, once older than the interval");
	reap(child);
	close_ct(&t);
}

/*
 * More flows than the limit allows in a second, read before the second is
 * up: bounded at once, since the second's verdict cannot change and each
 * flow opened meanwhile keeps its event extension.  At 5000/s and a limit
 * of 1000, about 200 ms in, not 1 s.
 */
Test(ct_periodic, a_limit_passed_early_goes_bounded_before_the_second_is_up)
{
	struct ct_stats st = { 0 };
	struct pctx t;
	pid_t child;

	open_limited(&t, 1000);
	child = produce(0, 30, 500, 100);	/* about 5000/s for 3 s */
	run_for(&t, 600);
	ct_get_stats(t.ct, &st);
	cr_expect(st.bounded && st.bounded_by_rate,
		  "bounded by the rate 600 ms in (%llu new flows read, %llu/s)",
		  (unsigned long long)st.events_new,
		  (unsigned long long)st.events_rate);
	cr_expect_gt(st.events_rate, 1000, "the rate it went at: %llu/s",
		     (unsigned long long)st.events_rate);
	cr_expect_lt(st.events_new, 3000, "no more events read once bounded: %llu",
		     (unsigned long long)st.events_new);
	cr_expect_eq(st.overflows, 0);
	reap(child);
	close_ct(&t);
}

/* A limit of 0 (no limit): any rate stays on events. */
Test(ct_periodic, no_events_limit_never_goes_bounded_by_rate)
{
	struct ct_stats st;
	struct pctx t;

	open_limited(&t, 0);
	pid_t child = produce(0, 20, 500, 100);
	run_for(&t, 2200);
	reap(child);
	run_for(&t, 100);
	ct_get_stats(t.ct, &st);
	cr_expect_not(st.bounded);
	cr_expect_eq(st.events_new, 10000);
	cr_expect_eq(active(&t, SVC2, 0), 10000);
	close_ct(&t);
}

/* The number after "key": in json at or after from (the first one). */
static uint64_t json_u64(const char *json, const char *from, const char *key)
{
	char pat[64];
	const char *p = from ? strstr(json, from) : json;

	cr_assert_not_null(p, "no %s in %s", from, json);
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	cr_assert_not_null(p, "no %s in %s", key, json);
	return strtoull(p + strlen(pat), NULL, 10);
}

/*
 * A conntrack figure of knlbd's status JSON (periodic_passes, dumps...).
 * The read is itself one pass when the counts are stale.
 */
static uint64_t knlbd_ct(const struct kt_knlbd *r, const char *key)
{
	int code;
	char *out = kt_knlbctl(r, "--json status", &code);
	uint64_t n;

	cr_assert_eq(code, 0, "%s", out);
	n = json_u64(out, "\"conntrack\"", key);
	free(out);
	return n;
}

static uint64_t passes_of(const struct kt_knlbd *r)
{
	return knlbd_ct(r, "periodic_passes");
}

static void wait_passes(const struct kt_knlbd *r, uint64_t n)
{
	for (int i = 0; i < 100 && passes_of(r) < n; i++)
		usleep(100000);
	cr_assert_geq(passes_of(r), n, "no periodic pass in 10 s:\n%s",
		      kt_read_file(r->log));
}

/*
 * Flows opened per backend are the kernel's count (issue 15): a periodic
 * service's N connections, opened and ended (their conntrack entries
 * flushed) between two dumps, are in no dump at all; the table's
 * backend_new counter has them, and knlbd's opened and closed say N.
 * Clients on the gateway itself (the output nat chain), backend on a
 * local address.
 */
static const struct sockaddr_in *vip_addr(void)
{
	static struct sockaddr_in vip = { .sin_family = AF_INET };

	vip.sin_port = htons(80);
	inet_pton(AF_INET, "192.0.2.10", &vip.sin_addr);
	return &vip;
}

/*
 * The backend 10.0.0.11:8080 on this host, the VIP 192.0.2.10 routed out
 * of a veth: connections to the VIP from here go through knlbd's output
 * nat chain and are counted in backend_new.  The listening socket.
 */
static int local_backend(void)
{
	struct sockaddr_in be = { .sin_family = AF_INET, .sin_port = htons(8080) };
	char *out;
	int l, one = 1, status;

	out = kt_run("ip link set lo up && ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up && "
		     "ip addr add 10.0.0.11/24 dev d0 && ip route add 192.0.2.0/24 dev d0", &status);
	cr_assert_eq(status, 0, "%s", out);
	free(out);
	inet_pton(AF_INET, "10.0.0.11", &be.sin_addr);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(l, (struct sockaddr *)&be, sizeof(be)), 0);
	cr_assert_eq(listen(l, 64), 0);
	return l;
}

/* One connection to the VIP, accepted on l and closed; 0 or -errno. */
static int one_connection(int l)
{
	int c = socket(AF_INET, SOCK_STREAM, 0), a, ret = 0;

	if (connect(c, (const struct sockaddr *)vip_addr(), sizeof(struct sockaddr_in)) < 0)
		ret = -errno;
	else if ((a = accept(l, NULL, NULL)) < 0)
		ret = -errno;
	else
		close(a);
	close(c);
	return ret;
}

#define N_UNSEEN 20
Test(ct_periodic, flows_between_dumps_count_from_the_kernel)
{
	struct kt_knlbd r;
	uint64_t passes;
	char *out;
	int l = local_backend(), status;

	kt_knlbd_start(&r, "unseen",
		       "[global]\ntrack_interval = 2s\n"
		       "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
		       "track = periodic\nbackend = 10.0.0.11:8080\n");
	/* The first pass takes the counters' baseline. */
	wait_passes(&r, 1);
	passes = passes_of(&r);
	for (int i = 0; i < N_UNSEEN; i++) {
		int ret = one_connection(l);

		cr_assert_eq(ret, 0, "connection %d: %s", i, strerror(-ret));
	}
	/* Gone before any dump could see them. */
	free(kt_run("conntrack -D -p tcp --orig-port-dst 80 2>&1", &status));
	cr_expect_lt(passes_of(&r), passes + 2, "a dump may have seen some; not all");
	wait_passes(&r, passes + 2);

	out = kt_knlbctl(&r, "--json status", &status);
	cr_expect_eq(json_u64(out, "\"backends\"", "flows_opened"), N_UNSEEN,
		     "the backend's opened is the kernel's count:\n%s\n%s\n%s", out,
		     kt_run("nft list set inet knlb backend_new 2>&1", &status),
		     kt_read_file(r.log));
	cr_expect_eq(json_u64(out, "\"backends\"", "flows_closed"), N_UNSEEN, "%s", out);
	cr_expect_eq(json_u64(out, "\"backends\"", "active_flows"), 0, "%s", out);
	cr_expect_eq(json_u64(out, "\"services\"", "flows_opened"), N_UNSEEN,
		     "the service's too:\n%s", out);
	/* How many came from the counters (all, unless a dump saw some). */
	cr_expect(json_u64(out, "\"conntrack\"", "flows_unseen") >= 1 &&
		  json_u64(out, "\"conntrack\"", "flows_unseen") <= N_UNSEEN, "%s", out);
	free(out);
	close(l);
	kt_knlbd_stop(&r);
}

/*
 * The daemon end of track_events_limit: a limit of 300/s in the file and
 * new flows at about 2000/s: knlbd goes bounded within a few seconds and
 * says why in its log, in `knlbctl status` and in its JSON.
 */
Test(ct_periodic, knlbd_goes_bounded_above_its_events_limit)
{
	struct kt_knlbd r;
	uint32_t mark;
	bool bounded = false;
	char *out;
	int code;

	kt_knlbd_start(&r, "limit",
		       "[global]\ntrack_events_limit = 300\ntrack_interval = 200ms\n"
		       "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
		       "backend = 10.0.0.11:8080\n");
	out = kt_knlbctl(&r, "--json status", &code);
	mark = (uint32_t)json_u64(out, "\"services\"", "ct_mark");
	cr_expect_eq(json_u64(out, "\"conntrack\"", "events_limit"), 300, "%s", out);
	free(out);

	pid_t child = fork();

	cr_assert_neq(child, -1);
	if (child == 0) {
		for (unsigned i = 0; i < 30; i++) {
			if (kt_ct_batch(i * 200, 200, mark, htonl(B11),
					TCP_CONNTRACK_ESTABLISHED, false, true))
				_exit(1);
			usleep(100000);
		}
		_exit(0);
	}
	for (int i = 0; i < 50 && !bounded; i++) {
		usleep(100000);
		out = kt_knlbctl(&r, "--json status", &code);
		bounded = strstr(out, "\"bounded\":true") != NULL;
		if (bounded)
			cr_expect(strstr(out, "\"bounded_reason\":\"rate\""),
				  "the reason is the rate: %s", out);
		free(out);
	}
	cr_expect(bounded, "bounded within 5 s:\n%s", kt_read_file(r.log));
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "BOUNDED MODE") && strstr(out, "above track_events_limit 300/s"),
		  "status says why:\n%s", out);
	free(out);
	out = kt_read_file(r.log);
	cr_expect(strstr(out, "above track_events_limit 300/s: bounded mode"), "%s", out);
	free(out);
	reap(child);

	/* A reload applies a new limit. */
	kt_knlbd_write_conf(&r, "[global]\ntrack_events_limit = 0\ntrack_interval = 200ms\n"
			    "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
			    "backend = 10.0.0.11:8080\n");
	reload_ok(&r);
	out = kt_knlbctl(&r, "--json status", &code);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "events_limit"), 0, "%s", out);
	free(out);
	kt_knlbd_stop(&r);
}

/* The conntrack object of knlbd's --json status, as text (freed by the caller). */
static char *conntrack_json(const struct kt_knlbd *r)
{
	int code;
	char *out = kt_knlbctl(r, "--json status", &code);

	cr_assert_eq(code, 0, "%s", out);
	return out;
}

static bool is_bounded(const struct kt_knlbd *r)
{
	char *out = conntrack_json(r);
	bool yes = strstr(out, "\"bounded\":true") != NULL;

	free(out);
	return yes;
}

/*
 * Bounded by the rate, knlbd measures the new-flow rate from the table's
 * backend_new counters: not one NEW event is read (the kernel builds none
 * for it) while real connections keep coming above the exit rate, and
 * once they stop it follows events again (after the 10 s hold).
 */
#define LOAD_CONNECTIONS 3000	/* at about 500/s: 6 s */
Test(ct_periodic, bounded_knlbd_measures_the_rate_without_events)
{
	struct kt_knlbd r;
	uint64_t news, rate;
	bool bounded = false;
	char *out;
	int l = local_backend();
	pid_t child;

	kt_knlbd_start(&r, "counters",
		       "[global]\ntrack_events_limit = 100\ntrack_interval = 200ms\n"
		       "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
		       "backend = 10.0.0.11:8080\n");
	child = fork();
	cr_assert_neq(child, -1);
	if (child == 0) {
		for (int i = 0; i < LOAD_CONNECTIONS; i++) {
			if (one_connection(l) < 0)
				_exit(1);
			usleep(2000);
		}
		_exit(0);
	}
	for (int i = 0; i < 50 && !bounded; i++) {
		usleep(100000);
		bounded = is_bounded(&r);
	}
	cr_assert(bounded, "bounded within 5 s:\n%s", kt_read_file(r.log));

	/* A second of passes under load: no event read, the rate measured. */
	usleep(300000);
	out = conntrack_json(&r);
	news = json_u64(out, "\"conntrack\"", "events_new");
	free(out);
	usleep(1000000);
	out = conntrack_json(&r);
	cr_expect(strstr(out, "\"bounded\":true"), "still bounded under load: %s", out);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "events_new"), news,
		     "no NEW event read while bounded: %s", out);
	cr_expect(strstr(out, "\"sampled_from\":\"counters\""), "%s", out);
	rate = json_u64(out, "\"conntrack\"", "sampled_rate");
	cr_expect(rate > 100 && rate < 2000, "the counters' rate: %llu/s\n%s",
		  (unsigned long long)rate, out);
	free(out);
	reap(child);

	/* Stopped: events again after the hold and three calm passes. */
	for (int i = 0; i < 150 && bounded; i++) {
		usleep(100000);
		bounded = is_bounded(&r);
	}
	cr_expect_not(bounded, "back to events within 15 s of the load's end:\n%s",
		      kt_read_file(r.log));
	out = kt_read_file(r.log);
	cr_expect(strstr(out, "following flows with events again"), "%s", out);
	free(out);
	close(l);
	kt_knlbd_stop(&r);
}

/*
 * The conntrack groups joined by the netlink sockets of this namespace
 * (/proc/net/netlink, protocol 12: NETLINK_NETFILTER), ORed: while any
 * bit is set the kernel gives every new conntrack entry an event
 * extension, which every packet of the flow pays for.
 */
static unsigned long netfilter_groups(void)
{
	FILE *f = fopen("/proc/net/netlink", "r");
	unsigned long all = 0, groups;
	char line[256];
	int proto;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %d %*s %lx", &proto, &groups) == 2 &&
		    proto == NETLINK_NETFILTER)
			all |= groups;
	fclose(f);
	return all;
}

#define EVENT_GROUP_BITS ((1ul << (NFNLGRP_CONNTRACK_NEW - 1)) | \
			  (1ul << (NFNLGRP_CONNTRACK_DESTROY - 1)))

/*
 * ct: no flow followed by events: the groups are left (bounded mode with
 * them), events are not read; followed again: joined, and a resync counts
 * the flows born meanwhile.
 */
Test(ct_periodic, following_no_events_leaves_every_group)
{
	struct ct_bounded_policy p = {
		.overflows = 2, .window_ns = 20000 * MS, .hold_ns = 60000 * MS,
		.max_rcvbuf = 8192, .min_exit_rate = 1000,
	};
	struct ct_stats st;
	struct pctx t;
	uint64_t news;

	open_bounded(&t, &p);
	cr_assert_eq(ct_set_closing_updates(t.ct, true), 0);
	cr_assert_eq(ct_set_following_events(t.ct, false), 0);
	ct_get_stats(t.ct, &st);
	cr_expect_not(st.bounded, "no service on events: not bounded either");
	cr_expect(st.events_off);
	cr_expect_eq(netfilter_groups(), 0, "no group joined: %#lx",
		     netfilter_groups());
	cr_expect_eq(ct_periodic_pass(t.ct), -EAGAIN, "nothing to count by dumps");

	news = st.events_new;
	batch(6000, 100, SVC2, B12, TCP_CONNTRACK_ESTABLISHED, false);
	cr_assert_eq(ct_set_closing_updates(t.ct, false), 0);
	cr_assert_eq(ct_set_closing_updates(t.ct, true), 0);
	cr_expect_eq(netfilter_groups(), 0, "closing updates wait for events");
	run_for(&t, 200);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_new, news, "no event read");

	cr_assert_eq(ct_set_rcvbuf(t.ct, 1 << 20), 0);
	cr_assert_eq(ct_set_following_events(t.ct, true), 0);
	cr_expect_eq(netfilter_groups(),
		     EVENT_GROUP_BITS | (1ul << (NFNLGRP_CONNTRACK_UPDATE - 1)),
		     "NEW, DESTROY and UPDATE joined: %#lx", netfilter_groups());
	run_for(&t, 1300);	/* the resync: at most one a second */
	ct_get_stats(t.ct, &st);
	cr_expect_not(st.events_off);
	cr_expect_not(st.resync_pending, "resynced");
	cr_expect_eq(active(&t, SVC2, 0), 100, "the flows born meanwhile");
	cr_expect_eq(active(&t, SVC1, 0), 6000);
	news = st.events_new;
	batch(7000, 20, SVC2, B12, TCP_CONNTRACK_ESTABLISHED, false);
	run_for(&t, 200);
	ct_get_stats(t.ct, &st);
	cr_expect_eq(st.events_new, news + 20, "events read again");
	close_ct(&t);
}

#define SVC_PERIODIC "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n" \
	"track = periodic\nbackend = 10.0.0.11:8080\n"
#define SVC_OFF "[service dns]\nvip = 192.0.2.10\nport = 53\nproto = udp\n" \
	"check = none\ntrack = off\nbackend = 10.0.0.11:5353\n"

/*
 * knlbd with no service on events subscribes to no conntrack group, from
 * its start (before the table forwards) and after reloads; a reload that
 * puts a service on events joins them, one that takes it off leaves them.
 */
Test(ct_periodic, knlbd_without_events_services_subscribes_to_nothing)
{
	struct kt_knlbd r;
	char *out, *log;
	int code;

	kt_knlbd_start(&r, "noevents", "[global]\ntrack_interval = 200ms\n"
		       SVC_PERIODIC SVC_OFF);
	cr_expect_eq(netfilter_groups(), 0, "knlbd joined %#lx",
		     netfilter_groups());
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "subscribed to no event: no service has track = events"),
		  "%s", out);
	free(out);
	out = conntrack_json(&r);
	cr_expect(strstr(out, "\"events_subscribed\":false"), "%s", out);
	free(out);
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "no service has track = events: subscribed to no conntrack event;"),
		  "%s", log);
	cr_expect(strstr(log, "programmed") > strstr(log, "subscribed to no conntrack event"),
		  "left before the table forwards:\n%s", log);
	free(log);
	wait_passes(&r, 2);	/* the periodic service is still counted */

	kt_knlbd_write_conf(&r, "[global]\ntrack_interval = 200ms\n"
			    "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
			    "backend = 10.0.0.11:8080\n" SVC_OFF);
	reload_ok(&r);
	cr_expect_eq(netfilter_groups() & EVENT_GROUP_BITS, EVENT_GROUP_BITS,
		     "web on events: NEW and DESTROY joined (%#lx)",
		     netfilter_groups());
	out = conntrack_json(&r);
	cr_expect(strstr(out, "\"events_subscribed\":true"), "%s", out);
	free(out);

	kt_knlbd_write_conf(&r, "[global]\ntrack_interval = 200ms\n"
			    SVC_PERIODIC SVC_OFF);
	reload_ok(&r);
	cr_expect_eq(netfilter_groups(), 0, "left again: %#lx",
		     netfilter_groups());
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "following the track = events services' flows by their events again"),
		  "%s", log);
	free(log);
	kt_knlbd_stop(&r);
}

/*
 * nf_conntrack_events = 0: knlb's flows still make their events when the
 * rules set a mask (ct_events = lean, ct::events_off_in_the_namespace_...);
 * knlbd says which case it is in, and warns only when they make none.
 */
Test(ct_periodic, knlbd_says_what_events_off_in_the_namespace_means)
{
	struct kt_knlbd r;
	char *log;

	kt_set_sysctl("net/netfilter/nf_conntrack_events", "0");
	kt_knlbd_start(&r, "ev0", SVC_PERIODIC
		       "[service web2]\nvip = 192.0.2.10\nport = 81\ncheck = none\n"
		       "backend = 10.0.0.11:8080\n");
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "info: conntrack: net.netfilter.nf_conntrack_events is 0: only the flows whose rule sets an event mask make events; knlb's do (ct_events = lean)"),
		  "%s", log);
	free(log);
	kt_knlbd_stop(&r);

	kt_knlbd_start(&r, "ev0all", "[global]\nct_events = all\n" SVC_PERIODIC
		       "[service web2]\nvip = 192.0.2.10\nport = 81\ncheck = none\n"
		       "backend = 10.0.0.11:8080\n");
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "warning: conntrack: net.netfilter.nf_conntrack_events is 0 and ct_events = all: knlb's flows make no event"),
		  "%s", log);
	free(log);
	kt_knlbd_stop(&r);
}

/*
 * knlbd with [global] extra, a scrape listener, and web (two backends,
 * track = periodic), serving; its ct mark.  *out: status JSON then.
 */
static uint32_t start_periodic_web(struct kt_knlbd *r, const char *name,
				   const char *extra, char **out)
{
	char conf[512];

	free(kt_run_ok("ip link set lo up"));	/* for the scrape */
	snprintf(conf, sizeof(conf),
		 "[global]\n%smetrics_listen = 127.0.0.1:9410\n"
		 "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
		 "track = periodic\nbackend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080\n",
		 extra);
	kt_knlbd_start(r, name, conf);
	cr_expect(kt_wait_for_log(r->log, "metrics: serving", 5000), "%s",
		  kt_read_file(r->log));
	*out = conntrack_json(r);
	return (uint32_t)json_u64(*out, "\"services\"", "ct_mark");
}

/*
 * knlbd counting a service by dumps with nothing acting on its counts
 * (no drain, no wlc, no maxconn) dumps every 5 s, not every
 * track_interval, and whenever a reader finds the counts older than
 * track_interval: `knlbctl status` and a scrape show flows made a moment
 * before.  A drain acts on them: a dump every track_interval again, and
 * the drain reaches zero with nobody reading.
 */
Test(ct_periodic, knlbd_counts_when_read_until_something_acts_on_them)
{
	struct kt_knlbd r;
	uint64_t p0, p1;
	uint32_t mark;
	char *out;
	int code;

	mark = start_periodic_web(&r, "unread", "track_interval = 400ms\n", &out);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_ms"), 5000, "%s", out);
	p0 = json_u64(out, "\"conntrack\"", "periodic_passes");
	free(out);
	usleep(1500000);	/* 3 passes at one per track_interval */
	batch(0, 30, mark, B11, TCP_CONNTRACK_ESTABLISHED, false);
	out = conntrack_json(&r);
	p1 = json_u64(out, "\"conntrack\"", "periodic_passes");
	cr_expect_leq(p1 - p0, 2, "status's own pass (and at most one every 5 s): %llu",
		      (unsigned long long)(p1 - p0));
	cr_expect_eq(json_u64(out, "\"backends\"", "active_flows"), 30,
		     "status dumped for the flows of a moment ago: %s", out);
	free(out);
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "counted from a dump when read (at most 400 ms old) and every 5000 ms"),
		  "%s", out);
	free(out);

	usleep(500000);		/* older than track_interval */
	batch(100, 20, mark, B12, TCP_CONNTRACK_ESTABLISHED, false);
	out = kt_run("curl -sS --max-time 5 http://127.0.0.1:9410/metrics 2>&1", &code);
	cr_expect_eq(kt_metric_sample(out, "knlb_service_active_flows"), 50,
		     "the scrape dumped too:\n%s", out);
	cr_expect_eq(kt_metric_sample(out, "knlb_conntrack_unread_interval_seconds"), 5,
		     "%s", out);
	free(out);

	/* A drain acts on the counts: a pass every track_interval. */
	out = kt_knlbctl(&r, "drain web 10.0.0.11:8080", &code);
	cr_expect_eq(code, 0, "%s", out);
	free(out);
	out = conntrack_json(&r);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_ms"), 0, "%s", out);
	p0 = json_u64(out, "\"conntrack\"", "periodic_passes");
	free(out);
	usleep(1300000);
	p1 = passes_of(&r);
	cr_expect_geq(p1 - p0, 2, "every 400 ms while draining: %llu",
		      (unsigned long long)(p1 - p0));
	batch(0, 30, mark, B11, 0, true);
	cr_expect(kt_wait_for_log(r.log, "web/10.0.0.11:8080 drained", 3000),
		  "drained with nobody reading:\n%s", kt_read_file(r.log));
	kt_knlbd_stop(&r);
}

/*
 * traffic_counters = conntrack, counts by dumps that nothing acts on: a
 * `knlbctl stats` or a scrape that finds the counts stale refreshes them
 * and reads the bytes from one dump, not one for each; a fresh one
 * dumps for the bytes alone.  The counts are the dump's.
 */
Test(ct_periodic, knlbd_stale_read_of_the_bytes_walks_the_table_once)
{
	struct kt_knlbd r;
	uint64_t d0, d1, d2;
	uint32_t mark;
	char *out;
	int code;

	mark = start_periodic_web(&r, "onedump",
				  "track_interval = 1s\ntraffic_counters = conntrack\n", &out);
	d0 = json_u64(out, "\"conntrack\"", "dumps");
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_ms"), 5000, "%s", out);
	free(out);

	batch(0, 30, mark, B11, TCP_CONNTRACK_ESTABLISHED, false);
	usleep(1200 * 1000);	/* older than track_interval; no unread pass for 5 s */
	out = kt_knlbctl(&r, "stats", &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "\"traffic_source\":\"conntrack\""), "%s", out);
	free(out);
	out = conntrack_json(&r);	/* fresh: no dump of its own */
	d1 = json_u64(out, "\"conntrack\"", "dumps");
	cr_expect_eq(d1 - d0, 1, "a stale stats read: one dump for the counts and the bytes, not %llu",
		     (unsigned long long)(d1 - d0));
	cr_expect_eq(json_u64(out, "\"backends\"", "active_flows"), 30,
		     "the counts are that dump's: %s", out);
	free(out);

	/* Fresh counts: the bytes' own dump, and nothing more. */
	free(kt_knlbctl(&r, "stats", &code));
	d2 = knlbd_ct(&r, "dumps");	/* fresh: no dump of its own */
	cr_expect_eq(d2 - d1, 1, "a fresh stats read: %llu dumps", (unsigned long long)(d2 - d1));

	/* A scrape that finds them stale: one dump, counted in the scrape itself. */
	batch(100, 20, mark, B11, TCP_CONNTRACK_ESTABLISHED, false);
	usleep(1200 * 1000);
	out = kt_run("curl -sS --max-time 5 http://127.0.0.1:9410/metrics 2>&1", &code);
	cr_expect_eq(kt_metric_sample(out, "knlb_conntrack_dumps_total"), (double)(d2 + 1),
		     "a stale scrape: one dump (%llu before)\n%s", (unsigned long long)d2, out);
	cr_expect_eq(kt_metric_sample(out, "knlb_service_active_flows"), 50, "%s", out);
	free(out);
	kt_knlbd_stop(&r);
}

/*
 * Unread, a UDP service's counts by dumps are refreshed every half of
 * conntrack's shortest UDP timeout (30 s: 15 s), not TCP's 5 s: its
 * ended flows' entries stay three times longer.  A timeout the operator
 * lowers applies at the next reload; a TCP service beside it has its
 * own, TCP's CLOSE (10 s) halved, and status says both.
 */
Test(ct_periodic, knlbd_refreshes_unread_udp_counts_within_udp_timeout)
{
	const char *udp = "[global]\ntrack_interval = 400ms\n"
		"[service dns]\nvip = 192.0.2.10\nport = 53\nproto = udp\ncheck = none\n"
		"track = periodic\nbackend = 10.0.0.11:53\n";
	char conf[512], *out;
	struct kt_knlbd r;
	int code;

	kt_knlbd_start(&r, "unreadudp", udp);
	out = conntrack_json(&r);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_ms"), 15000, "%s", out);
	free(out);

	kt_set_sysctl("net/netfilter/nf_conntrack_udp_timeout", "12");
	reload_ok(&r);
	out = conntrack_json(&r);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_ms"), 6000, "%s", out);
	free(out);
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "counted from a dump when read (at most 400 ms old) and every 6000 ms"),
		  "%s", out);
	free(out);

	snprintf(conf, sizeof(conf), "%s[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
		 "track = periodic\nbackend = 10.0.0.11:8080\n", udp);
	kt_knlbd_write_conf(&r, conf);
	reload_ok(&r);
	out = conntrack_json(&r);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_ms"), 5000,
		     "the shortest, TCP's CLOSE (10 s) halved: %s", out);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_tcp_ms"), 5000, "%s", out);
	cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_udp_ms"), 6000, "%s", out);
	free(out);
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "and every 5000 ms for TCP, 6000 ms for UDP (nothing drains"),
		  "%s", out);
	free(out);
	kt_knlbd_stop(&r);
}

/*
 * The passes between two reads 5.8 s apart: the second read's own, and
 * a TCP service's unread dump 5 s after the first read's, if any.
 */
static uint64_t passes_in_5_8_s(const struct kt_knlbd *r)
{
	uint64_t before = passes_of(r);

	usleep(5800 * 1000);
	return passes_of(r) - before;
}

/*
 * The unread dumps are there to read conntrack's accounting before an
 * entry goes.  Packets and bytes counted otherwise (traffic_counters =
 * no, or yes: the rules), a service's flows are dumped every minute only
 * (the kernel's new-flow counters read well within their hour), and
 * whoever reads still gets a pass of their own.
 */
Test(ct_periodic, without_accounting_unread_counts_pass_every_minute)
{
	static const char svc[] = "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\n"
				  "track = periodic\nbackend = 10.0.0.11:8080\n"
				  "[service dns]\nvip = 192.0.2.10\nport = 53\nproto = udp\n"
				  "check = none\ntrack = periodic\nbackend = 10.0.0.11:53\n";
	static const char *const without[] = { "no", "yes" };
	char conf[768], *out;
	struct kt_knlbd r;
	int code;

	for (size_t i = 0; i < 2; i++) {
		snprintf(conf, sizeof(conf), "[global]\ntrack_interval = 400ms\ntraffic_counters = %s\n%s",
			 without[i], svc);
		kt_knlbd_start(&r, "unreadnoacct", conf);
		out = conntrack_json(&r);
		cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_tcp_ms"), 60000,
			     "traffic_counters = %s: %s", without[i], out);
		cr_expect_eq(json_u64(out, "\"conntrack\"", "unread_interval_udp_ms"), 60000,
			     "traffic_counters = %s: %s", without[i], out);
		free(out);
		out = kt_knlbctl(&r, "status", &code);
		cr_expect(strstr(out, "when read (at most 400 ms old) and every 60000 ms (nothing drains"),
			  "%s", out);
		free(out);
		cr_expect_eq(passes_in_5_8_s(&r), 1, "traffic_counters = %s: a dump within 5.8 s unread",
			     without[i]);
		kt_knlbd_stop(&r);
	}
	/* The default, auto (conntrack's accounting): TCP's every 5 s. */
	snprintf(conf, sizeof(conf), "[global]\ntrack_interval = 400ms\n%s", svc);
	kt_knlbd_start(&r, "unreadacct", conf);
	cr_expect_eq(passes_in_5_8_s(&r), 2, "no TCP dump 5 s after the last");
	kt_knlbd_stop(&r);
}
