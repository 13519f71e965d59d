/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [global] metrics_listen: what is accepted, how it is stored, and what
 * the operator reads when it is wrong.
 */
#include <criterion/criterion.h>

#include "config-test.h"

Test(config_metrics, off_when_absent)
{
	struct result r = load_ok(SVC BE);

	cr_expect_str_empty(r.cfg->global.metrics_listen);
	result_free(&r);
}

Test(config_metrics, ipv4)
{
	struct result r = load_ok("[global]\nmetrics_listen = 127.0.0.1:9410\n" SVC BE);

	cr_expect_str_eq(r.cfg->global.metrics_listen, "127.0.0.1:9410");
	result_free(&r);
}

Test(config_metrics, ipv6_in_brackets)
{
	struct result r = load_ok("[global]\nmetrics_listen = [::1]:9410\n" SVC BE);

	cr_expect_str_eq(r.cfg->global.metrics_listen, "[::1]:9410");
	result_free(&r);
}

/* Stored as the canonical spelling: what the log and the error name. */
Test(config_metrics, stored_canonical)
{
	struct result r = load_ok("[global]\nmetrics_listen = [0:0::0:1]:65535\n" SVC BE);

	cr_expect_str_eq(r.cfg->global.metrics_listen, "[::1]:65535");
	result_free(&r);
}

Test(config_metrics, any_address)
{
	struct result r = load_ok("[global]\nmetrics_listen = 0.0.0.0:1\n" SVC BE);

	cr_expect_str_eq(r.cfg->global.metrics_listen, "0.0.0.0:1");
	result_free(&r);
}

Test(config_metrics, missing_port)
{
	expect_only_error("[global]\nmetrics_listen = 127.0.0.1\n" SVC BE,
			  "test.conf:2: ",
			  "metrics_listen \"127.0.0.1\" has no port (expected ADDR:PORT or [IPV6]:PORT)");
	expect_only_error("[global]\nmetrics_listen = [::1]\n" SVC BE,
			  "test.conf:2: ", "metrics_listen \"[::1]\" has no port");
}

Test(config_metrics, port_out_of_range)
{
	expect_only_error("[global]\nmetrics_listen = 127.0.0.1:65536\n" SVC BE,
			  "test.conf:2: ",
			  "metrics_listen \"127.0.0.1:65536\": bad port \"65536\" (expected 1..65535)");
	expect_only_error("[global]\nmetrics_listen = 127.0.0.1:0\n" SVC BE,
			  "test.conf:2: ", "bad port \"0\" (expected 1..65535)");
	expect_only_error("[global]\nmetrics_listen = [::1]:-1\n" SVC BE,
			  "test.conf:2: ", "bad port \"-1\"");
	expect_only_error("[global]\nmetrics_listen = 127.0.0.1:http\n" SVC BE,
			  "test.conf:2: ", "bad port \"http\"");
}

Test(config_metrics, bad_address)
{
	expect_only_error("[global]\nmetrics_listen = localhost:9410\n" SVC BE,
			  "test.conf:2: ",
			  "metrics_listen \"localhost:9410\": bad address \"localhost\" (expected an IPv4 or [IPv6] literal; names are not resolved)");
	expect_only_error("[global]\nmetrics_listen = 127.0.0.300:9410\n" SVC BE,
			  "test.conf:2: ", "bad address \"127.0.0.300\"");
	expect_only_error("[global]\nmetrics_listen = [::g]:9410\n" SVC BE,
			  "test.conf:2: ", "bad address \"::g\"");
}

Test(config_metrics, ipv6_needs_brackets)
{
	expect_only_error("[global]\nmetrics_listen = ::1:9410\n" SVC BE,
			  "test.conf:2: ",
			  "metrics_listen \"::1:9410\": IPv6 addresses need brackets ([ADDR]:PORT)");
}

Test(config_metrics, empty_and_repeated)
{
	expect_only_error("[global]\nmetrics_listen =\n" SVC BE,
			  "test.conf:2: ", "metrics_listen has no value");
	expect_only_error("[global]\nmetrics_listen = 127.0.0.1:9410\n"
			  "metrics_listen = 127.0.0.1:9411\n" SVC BE,
			  "test.conf:3: ",
			  "metrics_listen repeated in [global] (first set on line 2)");
}

/* The error is about the file: a bad key still fails the whole load. */
Test(config_metrics, other_errors_still_reported)
{
	expect_error("[global]\nmetrics_listen = 127.0.0.1\n" SVC "backend = 10.0.0.1:0\n",
		     "test.conf:2: ", "has no port");
}
