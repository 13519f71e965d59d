/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Address literals: what the config parser and every log line rely on. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/lib/addr.h"

Test(addr, parse_ipv4)
{
	struct knlb_addr a;

	cr_assert_eq(addr_parse("192.0.2.10", &a), 0);
	cr_expect_eq(a.family, AF_INET);
	cr_expect_eq(a.in.s_addr, htonl(0xc000020a));
}

Test(addr, parse_ipv6)
{
	struct knlb_addr a;
	struct in6_addr want;

	cr_assert_eq(addr_parse("2001:db8::1", &a), 0);
	cr_expect_eq(a.family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8::1", &want);
	cr_expect_eq(memcmp(&a.in6, &want, sizeof(want)), 0);
}

Test(addr, parse_rejects_what_is_not_a_literal)
{
	static const char *const bad[] = {
		"", "localhost", "example.com", "1.2.3", "1.2.3.4.5",
		"256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4:80", "[::1]",
		"::1%lo", "0x7f.0.0.1", "01.2.3.4", "1.2.3.-4",
	};
	struct knlb_addr a = { .family = AF_INET };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(addr_parse(bad[i], &a), -EINVAL, "\"%s\"", bad[i]);
	cr_expect_eq(addr_parse(NULL, &a), -EINVAL);
	cr_expect_eq(a.family, AF_INET, "output untouched on failure");
}

Test(addr, port_parse_ipv4)
{
	struct knlb_addr a;
	uint16_t port = 0;

	cr_assert_eq(addr_port_parse("10.0.0.11:8080", &a, &port), 0);
	cr_expect_eq(a.family, AF_INET);
	cr_expect_eq(a.in.s_addr, htonl(0x0a00000b));
	cr_expect_eq(port, 8080);

	cr_assert_eq(addr_port_parse("10.0.0.11:1", &a, &port), 0);
	cr_expect_eq(port, 1);
	cr_assert_eq(addr_port_parse("10.0.0.11:65535", &a, &port), 0);
	cr_expect_eq(port, 65535);
}

Test(addr, port_parse_ipv6_needs_brackets)
{
	struct knlb_addr a, want;
	uint16_t port = 0;

	cr_assert_eq(addr_port_parse("[2001:db8::2]:443", &a, &port), 0);
	cr_expect_eq(a.family, AF_INET6);
	cr_expect_eq(port, 443);
	addr_parse("2001:db8::2", &want);
	cr_expect(addr_equal(&a, &want));

	cr_assert_eq(addr_port_parse("[::1]:80", &a, &port), 0);
	cr_expect_eq(port, 80);
}

Test(addr, port_parse_rejects)
{
	static const char *const bad[] = {
		"10.0.0.1",		/* missing port */
		"10.0.0.1:",		/* empty port */
		":80",			/* missing address */
		"10.0.0.1:0",		/* port 0 */
		"10.0.0.1:65536",	/* too big */
		"10.0.0.1:99999999999999999999",
		"10.0.0.1:-1",
		"10.0.0.1:+80",
		"10.0.0.1: 80",
		"10.0.0.1:80 ",
		"10.0.0.1:80x",
		"10.0.0.1:0x50",
		"10.0.0.1:80:80",
		"host:80",		/* names are not resolved */
		"::1:80",		/* ambiguous without brackets */
		"2001:db8::1",
		"[::1]",
		"[::1]:",
		"[::1]80",
		"[::1:80",
		"[1.2.3.4]:80",		/* brackets are for IPv6 */
		"[]:80",
		"",
	};
	struct knlb_addr a = { .family = 0 };
	uint16_t port = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(addr_port_parse(bad[i], &a, &port), -EINVAL,
			     "\"%s\"", bad[i]);
	cr_expect_eq(addr_port_parse(NULL, &a, &port), -EINVAL);
	cr_expect_eq(port, 7, "output untouched on failure");
	cr_expect_eq(a.family, 0, "output untouched on failure");
}

Test(addr, equal)
{
	struct knlb_addr a, b, c, v6;

	addr_parse("10.0.0.1", &a);
	addr_parse("10.0.0.1", &b);
	addr_parse("10.0.0.2", &c);
	addr_parse("::ffff:10.0.0.1", &v6);
	cr_expect(addr_equal(&a, &b));
	cr_expect_not(addr_equal(&a, &c));
	cr_expect_not(addr_equal(&a, &v6), "families differ");

	addr_parse("2001:db8::1", &a);
	addr_parse("2001:db8:0:0::1", &b);
	addr_parse("2001:db8::2", &c);
	cr_expect(addr_equal(&a, &b));
	cr_expect_not(addr_equal(&a, &c));
}

Test(addr, format)
{
	char buf[KNLB_ADDRSTRLEN];
	struct knlb_addr a;

	addr_parse("192.0.2.10", &a);
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)), "192.0.2.10");
	addr_parse("2001:0db8:0000::0001", &a);
	cr_expect_str_eq(addr_format(&a, buf, sizeof(buf)), "2001:db8::1");
}

Test(addr, port_format)
{
	char buf[KNLB_ADDRSTRLEN];
	struct knlb_addr a;

	addr_parse("10.0.0.11", &a);
	cr_expect_str_eq(addr_port_format(&a, 8080, buf, sizeof(buf)),
			 "10.0.0.11:8080");
	addr_parse("::1", &a);
	cr_expect_str_eq(addr_port_format(&a, 80, buf, sizeof(buf)),
			 "[::1]:80");
}

Test(addr, longest_form_fits_addrstrlen)
{
	char buf[KNLB_ADDRSTRLEN];
	const char *text = "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535";
	struct knlb_addr a;
	uint16_t port;

	cr_assert_eq(addr_port_parse(text, &a, &port), 0);
	addr_port_format(&a, port, buf, sizeof(buf));
	cr_expect_eq(addr_port_parse(buf, &a, &port), 0, "round trip of %s",
		     buf);
	cr_expect_eq(port, 65535);
}

Test(addr, format_round_trips)
{
	static const char *const text[] = {
		"0.0.0.0:1", "255.255.255.255:65535", "10.1.2.3:8080",
		"[::]:53", "[fe80::1]:22",
	};
	char buf[KNLB_ADDRSTRLEN];
	struct knlb_addr a;
	uint16_t port;

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		cr_assert_eq(addr_port_parse(text[i], &a, &port), 0, "%s",
			     text[i]);
		cr_expect_str_eq(addr_port_format(&a, port, buf, sizeof(buf)),
				 text[i]);
	}
}

Test(addr, format_truncates_safely)
{
	char buf[6];
	struct knlb_addr a;

	addr_parse("192.0.2.10", &a);
	addr_port_format(&a, 80, buf, sizeof(buf));
	cr_expect_eq(strlen(buf), 5, "NUL-terminated within the buffer");
}
