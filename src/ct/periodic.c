/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Counting by dumps instead of events: the services with track =
 * periodic, whose flows make no event, and every service while the event
 * intake is overloaded (bounded mode).  See include/knlb/ct/ct.h,
 * ct_set_periodic() and struct ct_bounded_policy.
 *
 * Why bounded mode leaves the event groups rather than just reading
 * faster: the kernel builds a conntrack event only while some socket is
 * subscribed to its group, so leaving them removes the cost from the
 * packet path as well as from knlbd.  Dumps cost a few microseconds per
 * knlb flow in the table, once per interval, whatever the new-flow rate;
 * so while nothing acts on the counts they are made every unread
 * interval and when read instead (ct_set_counts_acted_on(),
 * ct_set_unread_marks()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/netfilter/nfnetlink.h>

#include "ct-int.h"
#include "knlb/lib/counter_rate.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/nft/stats.h"

#define DEFAULT_INTERVAL_NS 1000000000ULL
#define MAX_HOLD_SHIFT 6

static void on_periodic_timer(struct loop *loop, struct loop_timer *t,
			      void *arg);
static void on_sample_timer(struct loop *loop, struct loop_timer *t,
			    void *arg);

void ct_periodic_init(struct ct *ct)
{
	loop_timer_init(&ct->periodic_timer, on_periodic_timer, ct);
	loop_timer_init(&ct->sample_timer, on_sample_timer, ct);
	ct->periodic_interval_ns = DEFAULT_INTERVAL_NS;
	ct->st.periodic_interval_ms = DEFAULT_INTERVAL_NS / 1000000;
	ct->counts_acted_on = true;
	ct->unread_interval_ns = CT_UNREAD_INTERVAL_NS;
	ct->policy = (struct ct_bounded_policy){
		.overflows = CT_BOUNDED_DEFAULT_OVERFLOWS,
		.window_ns = CT_BOUNDED_DEFAULT_WINDOW_NS,
		.hold_ns = CT_BOUNDED_DEFAULT_HOLD_NS,
		.max_rcvbuf = CT_RCVBUF_MAX,
		.min_exit_rate = CT_BOUNDED_DEFAULT_MIN_EXIT,
		.congested_ns = CT_BOUNDED_DEFAULT_CONGESTED_NS,
	};
}

void ct_periodic_close(struct ct *ct)
{
	loop_timer_cancel(ct->loop, &ct->periodic_timer);
	loop_timer_cancel(ct->loop, &ct->sample_timer);
	free(ct->periodic_marks);
	ct->periodic_marks = NULL;
	unseen_free(&ct->unseen);
	ct_unread_free(ct);
}

void ct_set_new_flows_source(struct ct *ct, ct_new_flows_fn fn, void *arg)
{
	if (fn == ct->new_flows_fn && arg == ct->new_flows_arg)
		return;
	ct->new_flows_fn = fn;
	ct->new_flows_arg = arg;
	unseen_reset(&ct->unseen);
}

/* Set again after each reload and admin change: a new baseline. */
void ct_set_event_flows_source(struct ct *ct, ct_event_flows_fn fn, void *arg)
{
	ct->event_flows_fn = fn;
	ct->event_flows_arg = arg;
	ct->counted_ns = 0;
}

void ct_set_bounded_policy(struct ct *ct, const struct ct_bounded_policy *p)
{
	ct->policy = *p;
	if (ct->policy.max_rcvbuf < CT_RCVBUF_MIN)
		ct->policy.max_rcvbuf = CT_RCVBUF_MIN;
}

static bool counting_by_dumps(const struct ct *ct)
{
	return ct->st.bounded || ct->n_periodic;
}

/*
 * Never more than a fifth of the loop spent dumping, nor more than
 * 1/CT_DUMP_CPU_SHARE of a core: a UDP service with a flow per request
 * keeps its recent flows in the table (44,000 in the bench's UDP run),
 * and dumping them each second took 120-230 ms and 7 % of a core, about
 * 5 % of the box's UDP rate.  Counts a few seconds old are worth less than that.
 */
uint64_t ct_effective_interval(const struct ct *ct)
{
	uint64_t every = ct->periodic_interval_ns;

	if (ct->st.last_pass_ms * 4 * 1000000ULL > every)
		every = ct->st.last_pass_ms * 4 * 1000000ULL;
	if (ct->st.last_pass_cpu_us * CT_DUMP_CPU_SHARE * 1000ULL > every)
		every = ct->st.last_pass_cpu_us * CT_DUMP_CPU_SHARE * 1000ULL;
	return every;
}

/* How often a pass comes while nothing acts on the counts (ct.h). */
static uint64_t unread_interval(const struct ct *ct)
{
	uint64_t every = ct_effective_interval(ct);

	return every > ct->unread_interval_ns ? every : ct->unread_interval_ns;
}

/* For ct_stats: 0 while the counts are acted on, else unread_interval(). */
uint64_t ct_unread_ms(const struct ct *ct)
{
	return ct->counts_acted_on ? 0 : unread_interval(ct) / 1000000;
}

/*
 * A pass on this tick?  Within half a tick of the unread interval counts
 * as due: the ticks would otherwise miss it by a jitter and pass a whole
 * tick late.
 */
static bool pass_due(const struct ct *ct, uint64_t now)
{
	return ct->counts_acted_on || !ct->counted_at_ns ||
	       now + ct_effective_interval(ct) / 2 - ct->counted_at_ns >=
	       unread_interval(ct);
}

/* CPU time of this thread (the loop's), in microseconds. */
static uint64_t thread_cpu_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void arm_periodic(struct ct *ct)
{
	uint64_t every = ct_effective_interval(ct);

	ct->st.periodic_interval_ms = every / 1000000;
	ct->st.unread_interval_ms = ct_unread_ms(ct);
	if (!counting_by_dumps(ct)) {
		loop_timer_cancel(ct->loop, &ct->periodic_timer);
		return;
	}
	if (!loop_timer_armed(&ct->periodic_timer) &&
	    loop_timer_arm(ct->loop, &ct->periodic_timer, every) < 0)
		log_error("ct: cannot schedule periodic flow counting: out of memory");
}

int ct_set_periodic(struct ct *ct, const uint32_t *marks, size_t n,
		    uint64_t interval_ns)
{
	if (!interval_ns)
		interval_ns = DEFAULT_INTERVAL_NS;
	/* Called after every admin change: the same set must not delay a pass. */
	if (n == ct->n_periodic && interval_ns == ct->periodic_interval_ns &&
	    (!n || memcmp(marks, ct->periodic_marks, n * sizeof(*marks)) == 0))
		return 0;
	if (n && grow(&ct->periodic_marks, &ct->periodic_cap, n,
		      sizeof(*ct->periodic_marks), 8) < 0)
		return -ENOMEM;
	if (n)
		memcpy(ct->periodic_marks, marks, n * sizeof(*marks));
	ct->n_periodic = n;
	ct->st.periodic_services = n;
	ct_unread_mark_periodic(ct);
	unseen_reset(&ct->unseen);	/* other marks: another baseline */
	ct->periodic_interval_ns = interval_ns;
	/* A new interval applies from the next pass on. */
	loop_timer_cancel(ct->loop, &ct->periodic_timer);
	arm_periodic(ct);
	return 0;
}

static const int new_group[] = { NFNLGRP_CONNTRACK_NEW };

static uint64_t per_second(uint64_t n, uint64_t ns)
{
	return ns ? (uint64_t)((double)n * 1e9 / (double)ns) : 0;
}

/*
 * Where bounded mode returns to events: half the intake it went at (or
 * min_exit_rate), and under half the events limit, else it would leave
 * only to come straight back.
 */
static uint64_t exit_rate(const struct ct *ct, uint64_t intake)
{
	uint64_t rate = intake / 2 > ct->policy.min_exit_rate ?
			intake / 2 : ct->policy.min_exit_rate;

	if (ct->st.events_limit && rate > ct->st.events_limit / 2)
		rate = ct->st.events_limit / 2;
	return rate ? rate : 1;	/* a limit of 1/s: back once no flow comes */
}

/* why: what the log says made it go (overload, or the rate). */
static void enter_bounded(struct ct *ct, uint64_t now, uint64_t intake,
			  bool by_rate, const char *why)
{
	char every[96];
	int ret;

	/* Soon after the last episode: the load is at the edge, wait longer. */
	if (ct->bounded_left_ns && now - ct->bounded_left_ns < 2 * ct->hold_ns) {
		if (ct->hold_ns < ct->policy.hold_ns << MAX_HOLD_SHIFT)
			ct->hold_ns *= 2;
	} else {
		ct->hold_ns = ct->policy.hold_ns;
	}
	ret = ct_listener_join(&ct->events, ct_event_groups, 2, false);
	if (ret == 0 && ct->st.closing_updates)
		ret = ct_listener_join(&ct->updates, ct_update_group, 1, false);
	if (ret < 0) {
		log_warn("ct: leaving the conntrack event groups: %s; staying on events",
			 strerror(-ret));
		ct_listener_join(&ct->events, ct_event_groups, 2, true);
		return;
	}
	ct->st.bounded = true;
	ct->st.bounded_by_rate = by_rate;
	ct->st.bounded_entries++;
	ct->st.intake_rate = intake;
	ct->st.bounded_exit_rate = exit_rate(ct, intake);
	ct->bounded_since_ns = now;
	ct->calm_passes = 0;
	/* Rates over this episode's passes only, not since an older pass. */
	ct->counted_ns = 0;
	ct->last_pass_start_ns = 0;
	/*
	 * By the rate, with no event lost: the counts are the events' up to
	 * now, as fresh as a dump's; the first pass waits its turn.
	 */
	if (by_rate && !ct->st.resync_pending)
		ct_unread_passed(ct, NULL, 0, now);
	/* The periodic passes are the resync from now on, without the log. */
	ct->st.resync_pending = false;
	loop_timer_cancel(ct->loop, &ct->resync_timer);
	if (ct->counts_acted_on)
		snprintf(every, sizeof(every), "every %" PRIu64 " ms",
			 ct_effective_interval(ct) / 1000000);
	else if (ct_unread_longest_ms(ct) > ct_unread_ms(ct))
		snprintf(every, sizeof(every),
			 "when read and every %" PRIu64 "-%" PRIu64 " ms (each service its protocol's)",
			 ct_unread_ms(ct), ct_unread_longest_ms(ct));
	else
		snprintf(every, sizeof(every), "when read and every %" PRIu64 " ms",
			 ct_unread_ms(ct));
	log_warn("ct: %s: bounded mode, every tracked service counted from a conntrack dump %s until fewer than %" PRIu64 " new flows/s%s",
		 why, every, ct->st.bounded_exit_rate,
		 ct->on_new ? "; passive health (observe) sees no new flow meanwhile" : "");
	ct->window_start_ns = 0;
	ct->window_overflows = 0;
	loop_timer_cancel(ct->loop, &ct->periodic_timer);
	arm_periodic(ct);
}

static void enter_bounded_overloaded(struct ct *ct, uint64_t now)
{
	uint64_t intake = per_second(ct->st.events_new - ct->window_news,
				     now - ct->window_start_ns);
	char why[160];

	snprintf(why, sizeof(why),
		 "conntrack event intake overloaded (%u overflows in %" PRIu64 " s at a %d KiB buffer, %" PRIu64 " new flows/s read)",
		 ct->window_overflows,
		 (uint64_t)((now - ct->window_start_ns) / 1000000000ULL),
		 ct->policy.max_rcvbuf / 1024, intake);
	enter_bounded(ct, now, intake, false, why);
}

void ct_set_events_limit(struct ct *ct, uint64_t per_second)
{
	if (per_second == ct->st.events_limit)
		return;
	ct->st.events_limit = per_second;
	ct->rate_start_ns = 0;
	if (ct->st.bounded)	/* a new limit applies to the way back too */
		ct->st.bounded_exit_rate = exit_rate(ct, ct->st.intake_rate);
}

/*
 * After a read of NEW events: more of them per second than the limit
 * over the last CT_RATE_WINDOW_NS (from the first event read after a
 * quiet spell, so a burst after one is measured over the longer time: a
 * lower rate, never a false one).
 *
 * A window that already holds more flows than the limit allows in a
 * whole window ends there: its verdict cannot change, and every flow
 * opened while knlbd still listens keeps its event extension for life
 * (the kernel then touches it on each of the flow's packets), so the
 * sooner the better: at 40,000 new flows/s and the default limit, a
 * quarter of a second instead of one.
 */
void ct_check_rate(struct ct *ct)
{
	uint64_t now, news, elapsed, rate;
	char why[160];

	if (!ct->st.events_limit || ct->st.bounded || ct->sampling)
		return;
	now = loop_now_ns();
	if (!ct->rate_start_ns) {
		ct->rate_start_ns = now;
		ct->rate_news = ct->st.events_new;
		return;
	}
	news = ct->st.events_new - ct->rate_news;
	elapsed = now - ct->rate_start_ns;
	if (elapsed < CT_RATE_WINDOW_NS &&
	    news <= ct->st.events_limit * CT_RATE_WINDOW_NS / 1000000000ULL)
		return;
	/* All read at once: at least that many a second. */
	rate = elapsed ? per_second(news, elapsed) : news;
	ct->st.events_rate = rate;
	ct->rate_start_ns = now;
	ct->rate_news = ct->st.events_new;
	if (rate <= ct->st.events_limit)
		return;
	if (elapsed < CT_RATE_WINDOW_NS)
		snprintf(why, sizeof(why),
			 "%" PRIu64 " new flows in %" PRIu64 " ms (%" PRIu64 "/s), above track_events_limit %" PRIu64 "/s",
			 news, elapsed / 1000000, rate, ct->st.events_limit);
	else
		snprintf(why, sizeof(why),
			 "%" PRIu64 " new flows/s, above track_events_limit %" PRIu64 "/s",
			 rate, ct->st.events_limit);
	enter_bounded(ct, now, rate, true, why);
}

void ct_note_overflow(struct ct *ct, int rcvbuf_was)
{
	uint64_t now = loop_now_ns();

	/* A buffer still growing is not overload yet; bounded reads no event. */
	if (!ct->policy.overflows || ct->st.bounded ||
	    rcvbuf_was < ct->policy.max_rcvbuf)
		return;
	if (!ct->window_start_ns ||
	    now - ct->window_start_ns > ct->policy.window_ns) {
		ct->window_start_ns = now;
		ct->window_news = ct->st.events_new;
		ct->window_overflows = 0;
	}
	if (++ct->window_overflows >= ct->policy.overflows)
		enter_bounded_overloaded(ct, now);
}

void ct_check_congestion(struct ct *ct, const struct ct_listener *l)
{
	uint64_t now;

	if (!l->congested || ct->st.bounded || !ct->policy.overflows ||
	    !ct->policy.congested_ns || l->rcvbuf_req < ct->policy.max_rcvbuf)
		return;
	now = loop_now_ns();
	if (now - l->congested_since_ns < ct->policy.congested_ns)
		return;
	if (!ct->window_start_ns) {	/* the intake since the ENOBUFS */
		ct->window_start_ns = l->congested_since_ns;
		ct->window_news = ct->st.events_new;
	}
	enter_bounded_overloaded(ct, now);
}

/* Subscribed first, then the dump: no flow born in between is missed. */
static void leave_bounded(struct ct *ct, uint64_t now, uint64_t rate)
{
	int ret;

	loop_timer_cancel(ct->loop, &ct->sample_timer);
	ct->sampling = false;
	/* NEW may still be joined from the sample: leave it, join both. */
	ct_listener_join(&ct->events, new_group, 1, false);
	ret = ct_listener_join(&ct->events, ct_event_groups, 2, true);

	if (ret == 0 && ct->st.closing_updates)
		ret = ct_listener_join(&ct->updates, ct_update_group, 1, true);
	if (ret < 0) {
		log_warn("ct: joining the conntrack event groups again: %s; staying bounded",
			 strerror(-ret));
		ct_listener_join(&ct->events, ct_event_groups, 2, false);
		return;
	}
	ct->st.bounded = false;
	ct->st.bounded_by_rate = false;
	ct->bounded_left_ns = now;
	ct->rate_start_ns = 0;
	ct->events.congested = false;
	ct->updates.congested = false;
	log_info("ct: new-flow rate down to %" PRIu64 "/s (below %" PRIu64 "/s for %d samples): following flows with events again",
		 rate, ct->st.bounded_exit_rate, CT_BOUNDED_CALM_PASSES);
	ct->st.resync_pending = true;
	ct_maybe_resync(ct);
}

void ct_bounded_quit(struct ct *ct)
{
	if (!ct->st.bounded)
		return;
	loop_timer_cancel(ct->loop, &ct->sample_timer);
	if (ct->sampling)
		ct_listener_join(&ct->events, new_group, 1, false);
	ct->sampling = false;
	ct->st.bounded = false;
	ct->st.bounded_by_rate = false;
	ct->bounded_left_ns = loop_now_ns();
	log_info("ct: bounded mode ends: no service follows flows by their events now");
	arm_periodic(ct);
}

/* After a bounded pass: back to events once the rate stayed low. */
static void consider_leaving(struct ct *ct, uint64_t now, uint64_t rate)
{
	if (rate >= ct->st.bounded_exit_rate) {
		ct->calm_passes = 0;
		return;
	}
	if (++ct->calm_passes < CT_BOUNDED_CALM_PASSES ||
	    now - ct->bounded_since_ns < ct->hold_ns)
		return;
	leave_bounded(ct, now, rate);
}

static int read_new_flows(struct ct *ct, struct stats_table *k)
{
	int ret = ct->new_flows_fn(ct->new_flows_arg, k);

	if (ret < 0) {
		ct->st.new_flows_errors++;
		if (ct->st.new_flows_errors == 1 || ct->st.new_flows_errors % 100 == 0)
			log_warn("ct: reading the kernel's new-flow counters: %s; the periodic services' opened counts miss the flows between dumps meanwhile",
				 strerror(-ret));
	}
	return ret;
}

/*
 * After a pass's dump: the flows of the periodic services that no dump
 * saw (k: the counters read just before it, NULL if that read failed), or
 * the baseline when there is none yet; of the n marks (periodic ones) the
 * pass dumped, the baseline only from a whole pass.  Returns how many
 * were added.
 */
static uint64_t count_unseen(struct ct *ct, const struct stats_table *k,
			     const uint32_t *marks, size_t n, bool whole)
{
	struct stats_table after = { 0 };
	uint64_t added = 0;

	if (!ct->unseen.based) {
		if (!whole)
			return 0;
		if (read_new_flows(ct, &after) == 0 &&
		    unseen_baseline(&ct->unseen, ct->ft, &after,
				    ct->periodic_marks, ct->n_periodic) < 0)
			log_warn("ct: new-flow counters baseline: out of memory");
		stats_table_free(&after);
		return 0;
	}
	if (k && unseen_apply(&ct->unseen, ct->ft, k, marks, n, &added) < 0)
		log_warn("ct: adding the flows between dumps: out of memory");
	ct->st.flows_unseen = ct->unseen.added;
	return added;
}

/*
 * One pass: whole (scope NULL: bounded, every knlb flow in one unfiltered
 * dump; else the periodic services'), or over the n scope marks with
 * their filter f, of which the n_unseen unseen_marks are periodic ones.
 * Only a whole pass measures the new-flow rate (a part's flows over the
 * time since the last pass of all would not be the rate) and is the
 * resync bounded mode owes.
 */
static int pass_over(struct ct *ct, const uint32_t *scope, size_t n,
		     const struct ct_pass_filter *f,
		     const uint32_t *unseen_marks, size_t n_unseen)
{
	struct flowtab_resync res;
	struct stats_table k = { 0 };
	uint64_t start = loop_now_ns(), unseen = 0, cpu0 = thread_cpu_us();
	bool bounded = ct->st.bounded, counted = false, whole = !scope;
	int ret;

	if (!counting_by_dumps(ct))
		return -EAGAIN;
	if (ct->in_resync)
		return -EBUSY;
	if (whole) {
		scope = bounded ? NULL : ct->periodic_marks;
		n = ct->n_periodic;
		unseen_marks = ct->periodic_marks;
		n_unseen = ct->n_periodic;
	}
	/* The counters first: a flow born in between can only be missed. */
	if (ct->new_flows_fn && n_unseen && ct->unseen.based)
		counted = read_new_flows(ct, &k) == 0;
	ret = ct_resync_pass_filtered(ct, scope, n, f, &res);
	if (ret < 0) {
		stats_table_free(&k);
		ct->st.periodic_errors++;
		if (ct->st.periodic_errors == 1 || ct->st.periodic_errors % 100 == 0)
			log_warn("ct: periodic flow count from a conntrack dump failed: %s; counts are stale, retrying",
				 strerror(-ret));
		return ret;
	}
	if (ct->new_flows_fn && n_unseen)
		unseen = count_unseen(ct, counted ? &k : NULL, unseen_marks,
				      n_unseen, whole);
	stats_table_free(&k);
	ct->st.periodic_passes++;
	ct->st.last_pass_ms = ct->last_resync_dur_ns / 1000000;
	ct->st.last_pass_cpu_us = thread_cpu_us() - cpu0;
	ct_unread_passed(ct, whole ? NULL : scope, n, start);
	if (!whole)
		return 0;
	if (ct->last_pass_start_ns)
		ct->st.new_flow_rate = per_second(res.opened + res.reopened + unseen,
						  start - ct->last_pass_start_ns);
	ct->last_pass_start_ns = start;
	if (bounded)
		/* This full pass is the resync the overflows asked for. */
		ct->st.resync_pending = false;
	return 0;
}

int ct_periodic_pass(struct ct *ct)
{
	return pass_over(ct, NULL, 0, NULL, NULL, 0);
}

int ct_periodic_pass_part(struct ct *ct, const uint32_t *marks, size_t n,
			  const struct ct_pass_filter *f,
			  const uint32_t *unseen_marks, size_t n_unseen)
{
	return pass_over(ct, marks, n, f, unseen_marks, n_unseen);
}

/*
 * Bounded, after a pass: how many new flows would the event intake face
 * now?  The kernel's counters since the last reading say it without an
 * event built; the flows the pass found new, when more, cover entries no
 * rule counted (conntrackd's, say).  false when there are no counters to
 * read: sample events instead.
 */
static bool measure_from_counters(struct ct *ct, bool passed)
{
	uint64_t total, now, rate;
	double per_s;
	bool measured;
	int ret;

	if (!ct->event_flows_fn)
		return false;
	ret = ct->event_flows_fn(ct->event_flows_arg, &total);
	if (ret < 0) {
		ct->counted_ns = 0;
		ct->st.new_flows_errors++;
		if (ct->st.new_flows_errors == 1 || ct->st.new_flows_errors % 100 == 0)
			log_warn("ct: reading the kernel's new-flow counters: %s; sampling new-flow events instead",
				 strerror(-ret));
		return false;
	}
	now = loop_now_ns();
	/* No rate from the first reading: it is the baseline. */
	measured = counter_rate(ct->counted_ns ? &ct->counted_flows : NULL, total,
				(double)(now - ct->counted_ns) / 1e9, &per_s);
	ct->counted_flows = total;
	ct->counted_ns = now;
	if (!measured)
		return true;
	rate = (uint64_t)per_s;
	/* Only a pass of this tick's: an older one's rate is not now's. */
	if (passed && rate < ct->st.new_flow_rate)
		rate = ct->st.new_flow_rate;
	ct->st.sampled_rate = rate;
	ct->st.rate_from_counters = true;
	consider_leaving(ct, now, rate);
	return true;
}

/*
 * Bounded, no counters: how many new flows would the event intake face now?  NEW is
 * joined for CT_SAMPLE_NS; what it reads (applied as usual: the next pass
 * corrects whatever the sample saw only half of) is the rate.
 */
static void start_sample(struct ct *ct)
{
	if (ct->sampling || ct_listener_join(&ct->events, new_group, 1, true) < 0)
		return;
	ct->sampling = true;
	ct->sample_start_ns = loop_now_ns();
	ct->sample_news = ct->st.events_new;
	ct->sample_overflows = ct->st.overflows;
	if (loop_timer_arm(ct->loop, &ct->sample_timer, CT_SAMPLE_NS) < 0) {
		ct_listener_join(&ct->events, new_group, 1, false);
		ct->sampling = false;
	}
}

static void on_sample_timer(struct loop *loop, struct loop_timer *t,
			    void *arg)
{
	struct ct *ct = arg;
	uint64_t now = loop_now_ns();

	(void)t;
	ct_listener_join(&ct->events, new_group, 1, false);
	ct->sampling = false;
	/* What is queued arrived within the sample. */
	ct_on_events(loop, ct->events.fd, 0, ct);
	if (!ct->st.bounded)
		return;
	ct->st.sampled_rate = per_second(ct->st.events_new - ct->sample_news,
					 now - ct->sample_start_ns);
	ct->st.rate_from_counters = false;
	/* A sample that overflowed is not calm, whatever it read. */
	if (ct->st.overflows != ct->sample_overflows)
		ct->st.sampled_rate = UINT64_MAX / 2;
	consider_leaving(ct, now, ct->st.sampled_rate);
}

static void on_periodic_timer(struct loop *loop, struct loop_timer *t,
			      void *arg)
{
	struct ct *ct = arg;
	uint64_t now = loop_now_ns();
	bool passed = false;
	int ret;

	(void)loop;
	(void)t;
	/* Unread, with each mark's interval: the due ones. */
	ret = ct->counts_acted_on ? 0 : ct_unread_tick(ct, now, &passed);
	if (ret < 0)
		goto out;	/* no rate from a failed pass either */
	if (ret == 0 && pass_due(ct, now)) {
		if (ct_periodic_pass(ct) < 0)
			goto out;
		passed = true;
	}
	if (ct->st.bounded && !measure_from_counters(ct, passed))
		start_sample(ct);
out:
	arm_periodic(ct);
}

void ct_set_counts_acted_on(struct ct *ct, bool on)
{
	if (on == ct->counts_acted_on)
		return;
	ct->counts_acted_on = on;
	/* On: the next tick passes; off: from the last pass on. */
	ct->st.unread_interval_ms = ct_unread_ms(ct);
}

int ct_refresh_counts(struct ct *ct, bool with_traffic)
{
	int ret;

	ct->traffic_read = false;	/* an earlier reader's is not this one's */
	if (!counting_by_dumps(ct) || ct->counts_acted_on)
		return 0;
	if (ct->counted_at_ns &&
	    loop_now_ns() - ct->counted_at_ns < ct_effective_interval(ct))
		return 0;
	ct->pass_reads_traffic = with_traffic && ct->count_traffic;
	if (ct->pass_reads_traffic)
		ct_traffic_read_events(ct);
	ret = ct_periodic_pass(ct);
	ct->traffic_read = ct->pass_reads_traffic && ret == 0;
	ct->pass_reads_traffic = false;
	return ret;
}
