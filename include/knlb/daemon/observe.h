/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_OBSERVE_H
#define KNLB_DAEMON_OBSERVE_H

struct knlbd;

/*
 * Passive health (observe = yes), the doing half: samples new TCP flows
 * of up backends from conntrack's NEW events, looks each up again
 * observe_timeout later (one GET, no dump) and hands the evidence to the
 * rule (src/health/observe.c) and a verdict to health.  Samples name
 * their service by ct mark and their backend by address, so a reload
 * needs nothing.  Without conntrack it does nothing (logged once).
 * 0 or -ENOMEM.
 */
int observe_start(struct knlbd *d);
void observe_stop(struct knlbd *d);

/*
 * latency_weights = yes (src/daemon/latency_weights.c): once a second,
 * each passed probe's latency since the last pass goes into its
 * backend's smoothed latency and the service is re-weighted.  A service
 * a reload adds is picked up at the next pass.
 */
void latency_weights_start(struct knlbd *d);
void latency_weights_stop(struct knlbd *d);

#endif
