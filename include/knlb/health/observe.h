/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HEALTH_OBSERVE_H
#define KNLB_HEALTH_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Passive health (observe = yes): the rule, pure.  knlbd samples new TCP
 * flows of each up backend as conntrack reports them and, observe_timeout
 * after each began, looks at its entry again: still SYN_SENT (no SYN-ACK
 * came) or CLOSE without ever being ASSURED (reset before the handshake
 * ended) is unanswered; anything else is answered; a vanished entry is no
 * evidence.  Judged flows are counted in windows of OBSERVE_WINDOW_NS;
 * a backend goes down when a window holds at least observe_min_flows
 * judged flows of which at least observe_fail_pct percent went
 * unanswered.  Active probes bring it back up (rise), as for any DOWN.
 */

#define OBSERVE_WINDOW_NS	1000000000ULL
/* How often aged samples are looked at: the verdict lags this much at most. */
#define OBSERVE_TICK_NS		200000000ULL

enum observe_answer {
	OBSERVE_UNKNOWN,	/* entry gone, or not TCP: no evidence */
	OBSERVE_ANSWERED,
	OBSERVE_UNANSWERED,
};

/* What a flow's conntrack entry, observe_timeout after it began, says. */
enum observe_answer observe_classify(bool found, int tcp_state, uint32_t status);

struct observe_window {
	uint64_t start_ns;	/* 0: none yet */
	uint32_t judged, unanswered;
};

/* Count one answer at now_ns; a window older than OBSERVE_WINDOW_NS restarts. */
void observe_count(struct observe_window *w, enum observe_answer a, uint64_t now_ns);

/* Whether w's evidence takes the backend down. */
bool observe_verdict(const struct observe_window *w, uint32_t min_flows,
		     uint32_t fail_pct);

#endif
