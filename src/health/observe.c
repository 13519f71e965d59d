/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Passive health's rule (see include/knlb/health/observe.h).  Pure: the
 * samples come from conntrack through src/daemon/observe.c.
 */
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "knlb/health/observe.h"

enum observe_answer observe_classify(bool found, int tcp_state, uint32_t status)
{
	if (!found || tcp_state < 0)
		return OBSERVE_UNKNOWN;
	/* No SYN-ACK from the backend yet (SYN_SENT2: a SYN crossed ours). */
	if (tcp_state == TCP_CONNTRACK_SYN_SENT || tcp_state == TCP_CONNTRACK_SYN_SENT2)
		return OBSERVE_UNANSWERED;
	/* Closed without ever completing the handshake: a reset to the SYN. */
	if (tcp_state == TCP_CONNTRACK_CLOSE && !(status & IPS_ASSURED))
		return OBSERVE_UNANSWERED;
	return OBSERVE_ANSWERED;
}

void observe_count(struct observe_window *w, enum observe_answer a, uint64_t now_ns)
{
	if (a == OBSERVE_UNKNOWN)
		return;
	if (w->start_ns == 0 || now_ns - w->start_ns >= OBSERVE_WINDOW_NS)
		*w = (struct observe_window){ .start_ns = now_ns ? now_ns : 1 };
	w->judged++;
	if (a == OBSERVE_UNANSWERED)
		w->unanswered++;
}

bool observe_verdict(const struct observe_window *w, uint32_t min_flows,
		     uint32_t fail_pct)
{
	if (w->judged == 0 || w->judged < min_flows)
		return false;
	return (uint64_t)w->unanswered * 100 >= (uint64_t)w->judged * fail_pct;
}
