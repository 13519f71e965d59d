/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Issue 15, following flows must not cost forwarding: [global] ct_events
 * (the event mask the service chain sets on knlb's flows) and ct_closing
 * (when knlbd listens to TCP closing updates), as parsed, rendered and
 * guarded on reload; and track = periodic, whose flows make no event
 * (counted from dumps every track_interval).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "knlb/nft/render.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/reload_plan.h"
#include "config-test.h"
#include "render-test.h"

#define SERVICES \
	"[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.11:8080\n" \
	"[service dns]\nvip = 192.0.2.10\nport = 53\nproto = udp\nbackend = 10.0.0.11:5353\n"

Test(ct_events, defaults_are_lean_and_needed)
{
	struct result r = load_ok(SERVICES);

	cr_expect_eq(r.cfg->global.ct_events, KNLB_CT_EVENTS_LEAN);
	cr_expect_eq(r.cfg->global.ct_closing, KNLB_CT_CLOSING_NEEDED);
	result_free(&r);
}

Test(ct_events, lean_asks_tcp_state_for_tcp_only)
{
	char *text = render_of(SERVICES);

	cr_expect(strstr(text, "meta l4proto tcp ct mark set 0x00000001 ct event set new,destroy,protoinfo dnat ip to"), "%s", text);
	cr_expect(strstr(text, "meta l4proto udp ct mark set 0x00000002 ct event set new,destroy dnat ip to"), "%s", text);
	free(text);
}

Test(ct_events, all_sets_no_mask)
{
	char *text = render_of("[global]\nct_events = all\nct_closing = always\n" SERVICES);

	cr_expect_null(strstr(text, "ct event set"), "%s", text);
	cr_expect(strstr(text, "meta l4proto tcp ct mark set 0x00000001 dnat ip to"), "%s", text);
	free(text);
}

Test(ct_events, bad_words_name_the_line)
{
	expect_error("[global]\nct_events = none\n" SERVICES, "test.conf:2:", "unknown ct_events \"none\" (expected lean or all)");
	expect_error("[global]\nlog_level = info\nct_closing = sometimes\n" SERVICES, "test.conf:3:", "unknown ct_closing \"sometimes\" (expected needed or always)");
}

Test(ct_events, a_reload_cannot_change_the_mask)
{
	struct result a = load_ok(SERVICES), b = load_ok("[global]\nct_events = all\n" SERVICES),
		      c = load_ok("[global]\nct_closing = always\n" SERVICES);
	char err[256];

	cr_expect_eq(reload_check(a.cfg, b.cfg, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "ct_events") && strstr(err, "restart"), "%s", err);
	/* ct_closing is knlbd's own listening: a reload applies it. */
	cr_expect_eq(reload_check(a.cfg, c.cfg, err, sizeof(err)), 0);
	result_free(&a);
	result_free(&b);
	result_free(&c);
}

/* Lever C: a service whose flows nobody needs counted. */
Test(ct_events, track_off_asks_for_no_event)
{
	char *text = render_of("[service dns]\nvip = 192.0.2.10\nport = 53\nproto = udp\n"
			       "track = off\nbackend = 10.0.0.11:5353\n"
			       "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.11:8080\n");

	cr_expect(strstr(text, "meta l4proto udp ct mark set 0x00000001 ct event set 0x0 dnat ip to"), "%s", text);
	cr_expect(strstr(text, "meta l4proto tcp ct mark set 0x00000002 ct event set new,destroy,protoinfo dnat ip to"), "%s", text);
	free(text);
	/* Even with ct_events = all: off is off. */
	text = render_of("[global]\nct_events = all\n[service dns]\nvip = 192.0.2.10\nport = 53\n"
			 "proto = udp\ntrack = off\nbackend = 10.0.0.11:5353\n");
	cr_expect(strstr(text, "ct event set 0x0"), "%s", text);
	free(text);
}

Test(ct_events, track_off_refuses_wlc)
{
	expect_only_error("[service web]\nvip = 192.0.2.10\nport = 80\nscheduler = wlc\n"
			  "track = off\nbackend = 10.0.0.11:8080\n",
			  "test.conf:5:", "track = off: scheduler wlc needs the service's flows counted (track = events or periodic)");
	expect_error("[service web]\nvip = 192.0.2.10\nport = 80\ntrack = none\nbackend = 10.0.0.11:8080\n",
		     "test.conf:4:", "unknown track \"none\" (expected events, off or periodic)");
}

/* Lever D: counted from dumps, no event. */
#define DNS_PERIODIC \
	"[service dns]\nvip = 192.0.2.10\nport = 53\nproto = udp\n" \
	"track = periodic\nbackend = 10.0.0.11:5353\n"
#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.11:8080\n"

Test(ct_events, periodic_asks_for_no_event_and_leaves_the_others_lean)
{
	char *text = render_of(DNS_PERIODIC WEB);

	cr_expect(strstr(text, "meta l4proto udp ct mark set 0x00000001 ct event set 0x0 dnat ip to"), "%s", text);
	cr_expect(strstr(text, "meta l4proto tcp ct mark set 0x00000002 ct event set new,destroy,protoinfo dnat ip to"), "%s", text);
	free(text);
	/* ct_events = all does not bring events back to a periodic service. */
	text = render_of("[global]\nct_events = all\n" DNS_PERIODIC);
	cr_expect(strstr(text, "ct event set 0x0"), "%s", text);
	free(text);
}

Test(ct_events, periodic_interval_defaults_to_a_second)
{
	struct result r = load_ok(DNS_PERIODIC);

	cr_expect_eq(r.cfg->services[0].track, KNLB_TRACK_PERIODIC);
	cr_expect_eq(r.cfg->global.track_interval_ns, 1000000000ULL);
	result_free(&r);
	r = load_ok("[global]\ntrack_interval = 250ms\n" DNS_PERIODIC);
	cr_expect_eq(r.cfg->global.track_interval_ns, 250000000ULL);
	result_free(&r);
}

Test(ct_events, periodic_interval_below_100ms_is_refused)
{
	expect_error("[global]\ntrack_interval = 10ms\n" DNS_PERIODIC,
		     "test.conf:2:", "track_interval 10ms is shorter than 100ms");
}

Test(ct_events, periodic_wlc_accepts_periodic_counts)
{
	struct result r = load_ok("[service web]\nvip = 192.0.2.10\nport = 80\n"
				  "scheduler = wlc\ntrack = periodic\n"
				  "backend = 10.0.0.11:8080\n");

	cr_expect_eq(r.cfg->services[0].scheduler, KNLB_SCHED_WLC);
	result_free(&r);
}
