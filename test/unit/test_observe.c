/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Passive health's rule: what counts as unanswered, and when that is DOWN. */
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <criterion/criterion.h>

#include "knlb/health/observe.h"

#define MS 1000000ULL

Test(observe, classify_by_tcp_state_and_assured)
{
	cr_expect_eq(observe_classify(true, TCP_CONNTRACK_SYN_SENT, 0), OBSERVE_UNANSWERED);
	cr_expect_eq(observe_classify(true, TCP_CONNTRACK_SYN_SENT2, 0), OBSERVE_UNANSWERED);
	/* reset in answer to the SYN: CLOSE, never assured */
	cr_expect_eq(observe_classify(true, TCP_CONNTRACK_CLOSE, IPS_SEEN_REPLY), OBSERVE_UNANSWERED);
	/* a finished connection that was reset later is an answer */
	cr_expect_eq(observe_classify(true, TCP_CONNTRACK_CLOSE, IPS_SEEN_REPLY | IPS_ASSURED),
		     OBSERVE_ANSWERED);
	cr_expect_eq(observe_classify(true, TCP_CONNTRACK_SYN_RECV, IPS_SEEN_REPLY), OBSERVE_ANSWERED);
	cr_expect_eq(observe_classify(true, TCP_CONNTRACK_ESTABLISHED, IPS_ASSURED), OBSERVE_ANSWERED);
	cr_expect_eq(observe_classify(true, TCP_CONNTRACK_TIME_WAIT, IPS_ASSURED), OBSERVE_ANSWERED);
	/* gone, or not TCP: no evidence */
	cr_expect_eq(observe_classify(false, TCP_CONNTRACK_SYN_SENT, 0), OBSERVE_UNKNOWN);
	cr_expect_eq(observe_classify(true, -1, 0), OBSERVE_UNKNOWN);
}

Test(observe, verdict_needs_enough_flows_and_the_ratio)
{
	struct observe_window w = { 0 };
	uint64_t t = 5000 * MS;

	for (int i = 0; i < 9; i++)
		observe_count(&w, OBSERVE_UNANSWERED, t + (uint64_t)i * MS);
	cr_expect(!observe_verdict(&w, 10, 50), "9 flows are fewer than observe_min_flows");
	observe_count(&w, OBSERVE_ANSWERED, t + 10 * MS);
	cr_expect_eq(w.judged, 10);
	cr_expect_eq(w.unanswered, 9);
	cr_expect(observe_verdict(&w, 10, 50));
	cr_expect(observe_verdict(&w, 10, 90));
	cr_expect(!observe_verdict(&w, 10, 91));
	/* unknowns count nothing */
	observe_count(&w, OBSERVE_UNKNOWN, t + 20 * MS);
	cr_expect_eq(w.judged, 10);
}

Test(observe, healthy_traffic_never_goes_down)
{
	struct observe_window w = { 0 };

	for (int i = 0; i < 1000; i++)
		observe_count(&w, i % 10 ? OBSERVE_ANSWERED : OBSERVE_UNANSWERED,
			      1 + (uint64_t)i * MS);
	cr_expect(!observe_verdict(&w, 10, 50), "10%% unanswered is not down at 50%%");
}

Test(observe, windows_restart_after_a_second)
{
	struct observe_window w = { 0 };

	for (int i = 0; i < 8; i++)
		observe_count(&w, OBSERVE_UNANSWERED, 100 * MS);
	/* old evidence does not add up with new: 8 then 8 is never 10 */
	for (int i = 0; i < 8; i++)
		observe_count(&w, OBSERVE_UNANSWERED, 100 * MS + OBSERVE_WINDOW_NS);
	cr_expect_eq(w.judged, 8);
	cr_expect(!observe_verdict(&w, 10, 50));
}
