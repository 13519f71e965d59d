/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Health-check, on_empty, flush and ct_mark_mask keys: defaults, value
 * syntaxes, and the mistakes an operator makes with them.
 */
#include <criterion/criterion.h>

#include "config-test.h"
#include "knlb/config/values.h"

#define MS 1000000ULL

Test(config_health, defaults_are_haproxys)
{
	struct result r = load_ok(SVC BE);
	const struct knlb_service_config *s = &r.cfg->services[0];
	const struct knlb_health_config *h = &s->health;

	cr_expect_eq(h->check.kind, CHECK_NONE);
	cr_expect_eq(h->interval_ns, 2000 * MS);
	cr_expect_eq(h->check.timeout_ns, 1000 * MS);
	cr_expect_eq(h->fastinter_ns, 2000 * MS);
	cr_expect_eq(h->downinter_ns, 2000 * MS);
	cr_expect_eq(h->rise, 2);
	cr_expect_eq(h->fall, 3);
	cr_expect_eq(h->slowstart_ns, 0);
	cr_expect_str_eq(h->check.path, "/");
	cr_expect(check_status_expected(&h->check, 200));
	cr_expect(check_status_expected(&h->check, 302));
	cr_expect(!check_status_expected(&h->check, 404));
	cr_expect(!check_status_expected(&h->check, 500));
	cr_expect_eq(s->on_empty, KNLB_ON_EMPTY_REJECT);
	cr_expect_eq(s->flush, false, "tcp keeps flows by default");
	cr_expect_eq(r.cfg->global.ct_mark_mask, 0xffffffffU);
	cr_expect(!s->backends[0].backup);
	result_free(&r);

	r = load_ok(SVC "proto = udp\n" BE);
	cr_expect_eq(r.cfg->services[0].flush, true, "udp flushes by default");
	result_free(&r);
}

Test(config_health, every_key_loads)
{
	struct result r = load_ok(SVC
		"check = http\ncheck_path = /healthz?full=1\ncheck_host = web.example\n"
		"check_expect = 200,204, 3xx\ncheck_body = ok\ncheck_port = 8081\n"
		"interval = 1.5s\ntimeout = 500ms\nrise = 5\nfall = 1\n"
		"fastinter = 200ms\ndowninter = 1m\nslowstart = 30s\n"
		"on_empty = drop\nflush = yes\n"
		"backend = 10.0.0.11:8080 weight=2 check_port=9000\n"
		"backend = 10.0.0.12:8080 backup id=spare\n");
	const struct knlb_service_config *s = &r.cfg->services[0];
	const struct knlb_health_config *h = &s->health;

	cr_expect_eq(h->check.kind, CHECK_HTTP);
	cr_expect_str_eq(h->check.path, "/healthz?full=1");
	cr_expect_str_eq(h->check.host, "web.example");
	cr_expect(check_status_expected(&h->check, 200));
	cr_expect(check_status_expected(&h->check, 204));
	cr_expect(check_status_expected(&h->check, 399));
	cr_expect(!check_status_expected(&h->check, 201), "only what was listed");
	cr_expect_str_eq(h->check.body, "ok");
	cr_expect_eq(h->check.port, 8081);
	cr_expect_eq(h->interval_ns, 1500 * MS);
	cr_expect_eq(h->check.timeout_ns, 500 * MS);
	cr_expect_eq(h->rise, 5);
	cr_expect_eq(h->fall, 1);
	cr_expect_eq(h->fastinter_ns, 200 * MS);
	cr_expect_eq(h->downinter_ns, 60000 * MS);
	cr_expect_eq(h->slowstart_ns, 30000 * MS);
	cr_expect_eq(s->on_empty, KNLB_ON_EMPTY_DROP);
	cr_expect_eq(s->flush, true);
	cr_expect_eq(s->backends[0].check_port, 9000);
	cr_expect_eq(s->backends[0].weight, 2);
	cr_expect(!s->backends[0].backup);
	cr_expect(s->backends[1].backup);
	cr_expect_str_eq(s->backends[1].id, "spare");
	result_free(&r);
}

Test(config_health, udp_payloads_text_and_hex)
{
	struct result r = load_ok(SVC "proto = udp\ncheck = udp\n"
				  "check_send = ping\ncheck_expect_reply = hex:00ff0A\n" BE);
	const struct check_spec *c = &r.cfg->services[0].health.check;

	cr_expect_eq(c->send_len, 4);
	cr_expect_arr_eq(c->send, "ping", 4);
	cr_expect_eq(c->expect_reply_len, 3);
	cr_expect_arr_eq(c->expect_reply, "\x00\xff\x0a", 3);
	result_free(&r);

	expect_only_error(SVC "check = udp\ncheck_send = hex:0g\n" BE,
			  "test.conf:5: ", "check_send hex:0g: \"0g\" is not a hex byte");
	expect_only_error(SVC "check = udp\ncheck_send = hex:abc\n" BE,
			  "test.conf:5: ", "needs an even, non-zero number of hex digits");
}

Test(config_health, durations)
{
	struct { const char *text; uint64_t ns; } ok[] = {
		{ "500ms", 500 * MS }, { "0.5s", 500 * MS }, { "2s", 2000 * MS },
		{ "1m", 60000 * MS }, { ".25s", 250 * MS }, { "1h", 3600000 * MS },
		{ "0s", 0 },
	};
	const char *bad[] = { "2", "2 s", "s", "1.2.3s", "-1s", "2sec", "1.5", "2h", "0.1ms" };
	char err[160], buf[32];
	uint64_t ns;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_expect_eq(config_parse_duration(ok[i].text, &ns, err, sizeof(err)), 0,
			     "%s: %s", ok[i].text, err);
		cr_expect_eq(ns, ok[i].ns, "%s -> %llu", ok[i].text, (unsigned long long)ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(config_parse_duration(bad[i], &ns, err, sizeof(err)), -1,
			     "%s accepted", bad[i]);
	cr_expect_str_eq(config_format_duration(1500 * MS, buf, sizeof(buf)), "1.5s");
	cr_expect_str_eq(config_format_duration(200 * MS, buf, sizeof(buf)), "200ms");
	cr_expect_str_eq(config_format_duration(2000 * MS, buf, sizeof(buf)), "2s");

	expect_only_error(SVC "check = tcp\ninterval = 2\n" BE, "test.conf:5: ",
			  "interval: \"2\" has no unit (write 2ms or 2s");
	expect_only_error(SVC "check = tcp\ninterval = 5ms\n" BE, "test.conf:5: ",
			  "interval 5ms is shorter than 10ms");
	expect_only_error(SVC "check = tcp\ntimeout = 2fortnights\n" BE, "test.conf:5: ",
			  "unknown unit \"fortnights\"");
}

Test(config_health, status_lists)
{
	expect_only_error(SVC "check = http\ncheck_expect = 20x\n" BE, "test.conf:5: ",
			  "check_expect: \"20x\" is not a status code, class or range");
	expect_only_error(SVC "check = http\ncheck_expect = 200,,204\n" BE, "test.conf:5: ",
			  "has an empty item");
	expect_only_error(SVC "check = http\ncheck_expect = 299-200\n" BE, "test.conf:5: ",
			  "is outside 100..599");
	expect_only_error(SVC "check = http\ncheck_expect = 600\n" BE, "test.conf:5: ",
			  "is outside 100..599");

	struct result r = load_ok(SVC "check = http\ncheck_expect = 200-202\n" BE);
	const struct check_spec *c = &r.cfg->services[0].health.check;

	cr_expect(!check_status_expected(c, 199));
	cr_expect(check_status_expected(c, 200));
	cr_expect(check_status_expected(c, 202));
	cr_expect(!check_status_expected(c, 203));
	result_free(&r);
}

Test(config_health, keys_that_do_not_apply_to_the_check)
{
	expect_only_error(SVC "check = tcp\ncheck_path = /x\n" BE, "test.conf:5: ",
			  "check_path applies only to check = http or https (service web has check = tcp)");
	expect_only_error(SVC "check = http\ncheck_send = hi\n" BE, "test.conf:5: ",
			  "check_send applies only to check = udp");
	expect_only_error(SVC "interval = 1s\n" BE, "test.conf:4: ",
			  "interval applies only to check = tcp, http, https or udp (service web has check = none)");
	expect_only_error(SVC "backend = 10.0.0.1:80 check_port=81\n", "test.conf:4: ",
			  "backend check_port needs a check");
	/* A bad check line is one error, not one per dependent key. */
	expect_only_error(SVC "check = icmp\ninterval = 1s\n" BE, "test.conf:4: ",
			  "unknown check \"icmp\"");
}

Test(config_health, timeout_longer_than_interval)
{
	expect_only_error(SVC "check = tcp\ninterval = 1s\ntimeout = 1500ms\n" BE,
			  "test.conf:6: ",
			  "timeout 1.5s is longer than interval 1s (service web)");
	/* Default timeout 1s against a short interval: blame the interval line. */
	expect_only_error(SVC "check = tcp\ninterval = 500ms\n" BE, "test.conf:5: ",
			  "timeout 1s is longer than interval 500ms");
}

Test(config_health, rise_fall_on_empty_flush)
{
	expect_only_error(SVC "check = tcp\nrise = 0\n" BE, "test.conf:5: ",
			  "rise 0 is out of range (1..100)");
	expect_only_error(SVC "check = tcp\nfall = 101\n" BE, "test.conf:5: ",
			  "fall 101 is out of range (1..100)");
	expect_only_error(SVC "on_empty = blackhole\n" BE, "test.conf:4: ",
			  "unknown on_empty \"blackhole\"");
	expect_only_error(SVC "flush = maybe\n" BE, "test.conf:4: ",
			  "unknown flush \"maybe\"");
	expect_only_error(SVC "check = http\ncheck_path = healthz\n" BE, "test.conf:5: ",
			  "check_path \"healthz\" must start with /");
}

Test(config_health, ct_mark_mask)
{
	struct result r = load_ok("[global]\nct_mark_mask = 0xff000000\n" SVC BE);

	cr_expect_eq(r.cfg->global.ct_mark_mask, 0xff000000U);
	result_free(&r);
	expect_only_error("[global]\nct_mark_mask = 0xf0f00000\n" SVC BE, "test.conf:2: ",
			  "is not one run of contiguous bits");
	expect_only_error("[global]\nct_mark_mask = 0x1\n" SVC BE
			  "[service b]\nvip = 192.0.2.11\nport = 80\n" BE,
			  "test.conf:2: ", "has room for 1 service, the file has 2");
	expect_only_error("[global]\nct_mark_mask = 0\n" SVC BE, "test.conf:2: ",
			  "ct_mark_mask 0 is out of range");
}

Test(config_health, observe_keys_defaults_and_limits)
{
	struct result r = load_ok(SVC "check = tcp\n" BE);
	const struct knlb_health_config *h = &r.cfg->services[0].health;

	cr_expect(!h->observe);
	cr_expect_eq(h->observe_timeout_ns, 1000 * MS);
	cr_expect_eq(h->observe_min_flows, 10);
	cr_expect_eq(h->observe_fail_pct, 50);
	result_free(&r);
	r = load_ok(SVC "check = tcp\nobserve = yes\nobserve_timeout = 500ms\n"
		    "observe_min_flows = 20\nobserve_fail_pct = 80\n" BE);
	h = &r.cfg->services[0].health;
	cr_expect(h->observe);
	cr_expect_eq(h->observe_timeout_ns, 500 * MS);
	cr_expect_eq(h->observe_min_flows, 20);
	cr_expect_eq(h->observe_fail_pct, 80);
	result_free(&r);
	/* nothing would bring an observed-down backend back without probes */
	expect_only_error(SVC "observe = yes\n" BE, "test.conf:4: ",
			  "observe applies only to check = tcp, http, https or udp (service web has check = none)");
	expect_error(SVC "check = tcp\nobserve_fail_pct = 0\n" BE, "test.conf:5: ", "observe_fail_pct");
	expect_error(SVC "check = tcp\nobserve_timeout = 10ms\n" BE, "test.conf:5: ", "observe_timeout");
}
