/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Issue 15, track = periodic: the service's flows make no conntrack event
 * (the rule says so), its counts come from dumps every track_interval,
 * and what needs counts (wlc) accepts it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "knlb/nft/render.h"
#include "knlb/pool/pool.h"
#include "config-test.h"

#define DNS_PERIODIC \
	"[service dns]\nvip = 192.0.2.10\nport = 53\nproto = udp\n" \
	"track = periodic\nbackend = 10.0.0.11:5353\n"
#define WEB "[service web]\nvip = 192.0.2.10\nport = 80\nbackend = 10.0.0.11:8080\n"

static char *render_of(const char *text)
{
	struct result r = load_ok(text);
	struct knlb_model *pool;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	cr_assert_eq(render_ruleset(f, pool), 0);
	fclose(f);
	pool_free(pool);
	result_free(&r);
	return out;
}

Test(track_periodic, asks_for_no_event_and_leaves_the_others_lean)
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

Test(track_periodic, interval_defaults_to_a_second)
{
	struct result r = load_ok(DNS_PERIODIC);

	cr_expect_eq(r.cfg->services[0].track, KNLB_TRACK_PERIODIC);
	cr_expect_eq(r.cfg->global.track_interval_ns, 1000000000ULL);
	result_free(&r);
	r = load_ok("[global]\ntrack_interval = 250ms\n" DNS_PERIODIC);
	cr_expect_eq(r.cfg->global.track_interval_ns, 250000000ULL);
	result_free(&r);
}

Test(track_periodic, interval_below_100ms_is_refused)
{
	expect_error("[global]\ntrack_interval = 10ms\n" DNS_PERIODIC,
		     "test.conf:2:", "track_interval 10ms is shorter than 100ms");
}

Test(track_periodic, wlc_accepts_periodic_counts)
{
	struct result r = load_ok("[service web]\nvip = 192.0.2.10\nport = 80\n"
				  "scheduler = wlc\ntrack = periodic\n"
				  "backend = 10.0.0.11:8080\n");

	cr_expect_eq(r.cfg->services[0].scheduler, KNLB_SCHED_WLC);
	result_free(&r);
}
