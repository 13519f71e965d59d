/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration parser.  Error tests assert what the operator reads: the
 * exact "FILE:LINE: " prefix and the part of the message that says what
 * to fix.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/lib/log.h"

#include "config-test.h"

/* ---- what loads ------------------------------------------------------ */

Test(config, minimal_service_gets_defaults)
{
	struct result r = load_ok(SVC BE);
	const struct knlb_config *c = r.cfg;
	const struct knlb_service_config *s;
	char buf[KNLB_ADDRSTRLEN];

	cr_expect_str_eq(c->path, "test.conf");
	cr_expect_str_eq(c->global.table, "knlb");
	cr_expect_eq(c->global.log_level, LOG_LEVEL_INFO);
	cr_expect_eq(c->global.hash_seed, 0x5eed);
	cr_expect_str_eq(c->global.control_socket, "/run/knlb/knlb.sock");

	cr_assert_eq(c->n_services, 1);
	s = &c->services[0];
	cr_expect_str_eq(s->name, "web");
	cr_expect_eq(s->line, 1);
	cr_expect_str_eq(addr_format(&s->vip[KNLB_FAMILY_IPV4], buf, sizeof(buf)), "192.0.2.10");
	cr_expect_eq(s->port, 80);
	cr_expect_eq(s->proto, KNLB_PROTO_TCP);
	cr_expect_eq(s->scheduler, KNLB_SCHED_MAGLEV);
	cr_expect_eq(s->hash_key, KNLB_HASH_SRC_IP_PORT);
	cr_expect_eq(s->table_size, 1021);	/* derived: maglev, 1 backend */
	cr_expect_eq(s->hash_seed, 0x5eed);
	cr_expect_eq(s->snat, KNLB_SNAT_NONE);

	cr_assert_eq(s->n_backends, 1);
	cr_expect_str_eq(s->backends[0].id, "10.0.0.11:8080");
	cr_expect_eq(s->backends[0].port, 8080);
	cr_expect_eq(s->backends[0].weight, 1);
	cr_expect_eq(s->backends[0].line, 4);
	result_free(&r);
}

Test(config, every_key)
{
	struct result r = load_ok(
		"[global]\n"
		"table = lb_1-a\n"
		"log_level = debug\n"
		"hash_seed = 0xDEADbeef\n"
		"control_socket = /run/lb.sock\n"
		"\n"
		"[service dns]\n"			/* 7 */
		"vip = 192.0.2.53\n"
		"port = 53\n"
		"proto = udp\n"
		"scheduler = wrr\n"
		"table_size = 100\n"
		"hash_seed = 42\n"
		"snat = 198.51.100.1\n"
		"backend = 10.0.0.1:53 weight=3 id=ns1\n"	/* 15 */
		"backend = 10.0.0.2:53 id=ns2 weight=0\n"
		"backend = 10.0.0.3:5353\n"
		"\n"
		"[service web]\n"			/* 19 */
		"vip = 192.0.2.53\n"
		"port = 53\n"				/* tcp: no clash */
		"scheduler = maglev\n"
		"hash_key = 5-tuple\n"
		"table_size = 65537\n"
		"snat = masquerade\n"
		"backend = 10.0.0.1:53\n");
	const struct knlb_config *c = r.cfg;
	const struct knlb_service_config *s;
	char buf[KNLB_ADDRSTRLEN];

	cr_expect_str_eq(c->global.table, "lb_1-a");
	cr_expect_eq(c->global.log_level, LOG_LEVEL_DEBUG);
	cr_expect_eq(c->global.hash_seed, 0xdeadbeef);
	cr_expect_str_eq(c->global.control_socket, "/run/lb.sock");
	cr_assert_eq(c->n_services, 2);

	s = &c->services[0];
	cr_expect_str_eq(s->name, "dns");
	cr_expect_eq(s->line, 7);
	cr_expect_eq(s->proto, KNLB_PROTO_UDP);
	cr_expect_eq(s->scheduler, KNLB_SCHED_WRR);
	cr_expect_eq(s->table_size, 100);
	cr_expect_eq(s->hash_seed, 42);
	cr_expect_eq(s->snat, KNLB_SNAT_ADDRESS);
	cr_expect_str_eq(addr_format(&s->snat_addr[KNLB_FAMILY_IPV4], buf, sizeof(buf)),
			 "198.51.100.1");
	cr_assert_eq(s->n_backends, 3);
	cr_expect_str_eq(s->backends[0].id, "ns1");
	cr_expect_eq(s->backends[0].weight, 3);
	cr_expect_eq(s->backends[0].line, 15);
	cr_expect_str_eq(s->backends[1].id, "ns2");
	cr_expect_eq(s->backends[1].weight, 0);
	cr_expect_str_eq(s->backends[2].id, "10.0.0.3:5353");
	cr_expect_eq(s->backends[2].port, 5353);

	s = &c->services[1];
	cr_expect_eq(s->line, 19);
	cr_expect_eq(s->proto, KNLB_PROTO_TCP);
	cr_expect_eq(s->hash_key, KNLB_HASH_5TUPLE);
	cr_expect_eq(s->table_size, 65537);
	cr_expect_eq(s->hash_seed, 0xdeadbeef, "inherits [global]");
	cr_expect_eq(s->snat, KNLB_SNAT_MASQUERADE);
	result_free(&r);
}

Test(config, global_after_services_still_applies)
{
	struct result r = load_ok(SVC BE "[global]\nhash_seed = 7\n");

	cr_expect_eq(r.cfg->services[0].hash_seed, 7);
	result_free(&r);
}

Test(config, backends_keep_file_order)
{
	struct result r = load_ok(SVC
		"backend = 10.0.0.3:80\n"
		"backend = 10.0.0.1:80\n"
		"backend = 10.0.0.2:80 id=zz\n"
		"backend = 10.0.0.1:81\n"
		"backend = 10.0.0.0:80\n");
	const struct knlb_service_config *s = &r.cfg->services[0];
	static const char *const want[] = {
		"10.0.0.3:80", "10.0.0.1:80", "zz", "10.0.0.1:81", "10.0.0.0:80",
	};

	cr_assert_eq(s->n_backends, 5);
	for (size_t i = 0; i < 5; i++) {
		cr_expect_str_eq(s->backends[i].id, want[i]);
		cr_expect_eq(s->backends[i].line, (int)i + 4);
	}
	result_free(&r);
}

Test(config, comments_blank_lines_and_bom)
{
	struct result r = load_ok(
		"\xef\xbb\xbf; leading comment after a BOM\n"
		"# hash comment\n"
		"\n"
		"   ; indented comments are fine\n"
		"[global] ; comment after a header\n"
		"hash_seed = 0x10 ; inline comment\n"
		"[service web]\r\n"			/* CRLF too */
		"vip = 192.0.2.10\r\n"
		"port = 80\n"
		"backend = 10.0.0.11:8080 weight=2 ; primary\n"
		"backend = 10.0.0.12:8080\t\tweight=1\n");
	const struct knlb_service_config *s = &r.cfg->services[0];

	cr_expect_eq(r.cfg->global.hash_seed, 16);
	cr_expect_eq(s->line, 7);
	cr_assert_eq(s->n_backends, 2);
	cr_expect_eq(s->backends[0].weight, 2);
	cr_expect_eq(s->backends[1].weight, 1);
	result_free(&r);
}

Test(config, all_weights_zero_is_valid)
{
	struct result r = load_ok(SVC
		"backend = 10.0.0.1:80 weight=0\n"
		"backend = 10.0.0.2:80 weight=0\n");

	cr_expect_eq(r.cfg->services[0].backends[1].weight, 0);
	result_free(&r);
}

Test(config, number_spellings)
{
	struct result r = load_ok(
		"[global]\nhash_seed = 0xffffffff\n" SVC BE
		"[service b]\nvip = 192.0.2.11\nport = 0080\nhash_seed = 010\n"
		"table_size = 131071\n" BE
		"[service c]\nvip = 192.0.2.12\nport = 65535\nhash_seed = 0\n"
		"table_size = 2\n" BE);

	cr_expect_eq(r.cfg->global.hash_seed, 0xffffffff);
	cr_expect_eq(r.cfg->services[1].port, 80);
	cr_expect_eq(r.cfg->services[1].hash_seed, 10, "decimal, not octal");
	cr_expect_eq(r.cfg->services[1].table_size, 131071);
	cr_expect_eq(r.cfg->services[2].port, 65535);
	cr_expect_eq(r.cfg->services[2].hash_seed, 0);
	cr_expect_eq(r.cfg->services[2].table_size, 2);
	result_free(&r);
}

Test(config, same_vip_other_port_or_proto_is_fine)
{
	struct result r = load_ok(
		"[service a]\nvip = 192.0.2.10\nport = 80\n" BE
		"[service b]\nvip = 192.0.2.10\nport = 443\n" BE
		"[service c]\nvip = 192.0.2.10\nport = 80\nproto = udp\n" BE);

	cr_expect_eq(r.cfg->n_services, 3);
	result_free(&r);
}

Test(config, longest_names)
{
	/* 40-character service name, 63-character table and id. */
	struct result r = load_ok(
		"[global]\n"
		"table = t12345678901234567890123456789012345678901234567890123456789012\n"
		"[service s123456789012345678901234567890123456789]\n"
		"vip = 192.0.2.10\nport = 80\n"
		"backend = 10.0.0.1:80 id=b12345678901234567890123456789012345678901234567890123456789012\n");

	cr_expect_eq(strlen(r.cfg->global.table), 63);
	cr_expect_eq(strlen(r.cfg->services[0].name), 40);
	cr_expect_eq(strlen(r.cfg->services[0].backends[0].id), 63);
	result_free(&r);
}

Test(config, names_of_enums)
{
	cr_expect_str_eq(config_proto_name(KNLB_PROTO_TCP), "tcp");
	cr_expect_str_eq(config_proto_name(KNLB_PROTO_UDP), "udp");
	cr_expect_str_eq(config_scheduler_name(KNLB_SCHED_MAGLEV), "maglev");
	cr_expect_str_eq(config_scheduler_name(KNLB_SCHED_WRR), "wrr");
	cr_expect_str_eq(config_scheduler_name(KNLB_SCHED_RANDOM), "random");
	cr_expect_str_eq(config_hash_key_name(KNLB_HASH_SRC_IP), "src-ip");
	cr_expect_str_eq(config_hash_key_name(KNLB_HASH_SRC_IP_PORT),
			 "src-ip-port");
	cr_expect_str_eq(config_hash_key_name(KNLB_HASH_5TUPLE), "5-tuple");
}

Test(config, load_from_file)
{
	char path[] = "/tmp/knlb-config-XXXXXX";
	struct knlb_config *c = NULL;
	int fd = mkstemp(path);
	FILE *f;

	cr_assert_neq(fd, -1);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(SVC BE, f);
	fclose(f);
	cr_expect_eq(config_load(path, &c, stderr), 0);
	unlink(path);
	cr_assert_not_null(c);
	cr_expect_str_eq(c->path, path);
	cr_expect_eq(c->n_services, 1);
	config_free(c);
}

Test(config, free_null_is_harmless)
{
	config_free(NULL);
}

Test(config, null_errors_stream_is_allowed)
{
	const char *text = "[service web]\nvip = nope\n";
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	struct knlb_config *c = (void *)0x1;

	cr_expect_eq(config_load_stream(in, "x", &c, NULL), -1);
	cr_expect_null(c);
	fclose(in);
}

/*
 * The reference example in docs/configuration.md must load: the docs are
 * what operators copy.  Runs from the source tree (make) or KNLB_SRCDIR.
 */
Test(config, docs_example_loads)
{
	const char *dir = getenv("KNLB_SRCDIR");
	char path[4096], *line = NULL, *text = NULL;
	size_t cap = 0, tlen = 0;
	bool in_block = false;
	FILE *doc, *t;
	struct result r;

	snprintf(path, sizeof(path), "%s/docs/configuration.md",
		 dir ? dir : ".");
	doc = fopen(path, "r");
	if (!doc)
		cr_skip_test("%s not found (run from the source tree)", path);
	t = open_memstream(&text, &tlen);
	/* The first ```ini block is the complete example. */
	while (getline(&line, &cap, doc) != -1) {
		if (!in_block && strncmp(line, "```ini", 6) == 0 && !tlen) {
			in_block = true;
			continue;
		}
		if (in_block && strncmp(line, "```", 3) == 0)
			break;
		if (in_block) {
			fputs(line, t);
			fflush(t);
		}
	}
	free(line);
	fclose(doc);
	fclose(t);
	cr_assert_gt(tlen, 0, "no ```ini block in %s", path);

	r = load_ok(text);
	cr_expect_geq(r.cfg->n_services, 2);
	result_free(&r);
	free(text);
}

/* ---- file-level errors --------------------------------------------- */

Test(config, file_not_found)
{
	struct knlb_config *c = (void *)0x1;
	char *errors = NULL;
	size_t len;
	FILE *err = open_memstream(&errors, &len);

	cr_expect_eq(config_load("/nonexistent/knlb.conf", &c, err), -1);
	fclose(err);
	cr_expect_null(c);
	cr_expect_str_eq(errors,
			 "/nonexistent/knlb.conf: cannot open: No such file or directory\n");
	free(errors);
}

/*
 * Issue 11: a file with no service is valid (a standby gateway runs idle);
 * it used to be refused with "no [service] section".
 */
Test(config, empty_file)
{
	struct result r = load_ok("");

	cr_expect_eq(r.cfg->n_services, 0);
	cr_expect_str_eq(r.cfg->global.table, KNLB_DEFAULT_TABLE);
	result_free(&r);
}

Test(config, only_comments_and_global)
{
	struct result r = load_ok("; nothing\n[global]\nlog_level = debug\n");

	cr_expect_eq(r.cfg->n_services, 0);
	cr_expect_eq(r.cfg->global.log_level, LOG_LEVEL_DEBUG);
	result_free(&r);
}

Test(config, collects_every_error_in_line_order)
{
	struct result r = load(
		"[service web]\n"		/* 1: no backend */
		"vip = 192.0.2.300\n"		/* 2 */
		"port = 0\n"			/* 3 */
		"proto = sctp\n"		/* 4 */
		"[service dns]\n"		/* 5 */
		"vip = 192.0.2.53\n"
		"port = 53\n"
		"backend = 10.0.0.1\n");	/* 8 */

	cr_expect_eq(r.rc, -1);
	cr_expect_null(r.cfg);
	cr_expect_str_eq(r.errors,
		"test.conf:1: service web has no backend\n"
		"test.conf:2: vip \"192.0.2.300\" is not a valid IPv4 address\n"
		"test.conf:3: port 0 is out of range (1..65535)\n"
		"test.conf:4: unknown proto \"sctp\" (expected tcp or udp)\n"
		"test.conf:8: backend \"10.0.0.1\" has no port (expected ADDR:PORT)\n");
	result_free(&r);
}

/* ---- line-level errors ---------------------------------------------- */

Test(config, line_too_long)
{
	char text[512], val[256];

	/* 199 characters is the longest line inih can hold. */
	memset(val, 'a', sizeof(val));
	snprintf(text, sizeof(text), SVC BE "; %.*s\n", 197, val);
	{
		struct result r = load_ok(text);

		result_free(&r);
	}
	snprintf(text, sizeof(text), SVC BE "; %.*s\nport = x\n", 198, val);
	{
		struct result r = load(text);

		cr_expect_eq(r.rc, -1);
		cr_expect(has_error(r.errors, "test.conf:5: ",
				    "line too long (max 199 characters)"),
			  "%s", r.errors);
		/* Line numbers after the long line stay right. */
		cr_expect(has_error(r.errors, "test.conf:6: ", "port repeated"),
			  "%s", r.errors);
		result_free(&r);
	}
}

Test(config, syntax_errors)
{
	expect_only_error(SVC BE "vip 192.0.2.10\n", "test.conf:5: ",
			  "syntax error (expected \"key = value\" or \"[section]\")");
	expect_only_error(SVC BE "backend 10.0.0.1:80\n", "test.conf:5: ",
			  "syntax error");
	expect_only_error(SVC BE "vip: 192.0.2.10\n", "test.conf:5: ",
			  "syntax error");
	expect_only_error(SVC BE "= 5\n", "test.conf:5: ", "syntax error");
	expect_only_error(SVC BE "[service other\n", "test.conf:5: ",
			  "syntax error");
	expect_only_error("[global] junk\n" SVC BE, "test.conf:1: ",
			  "syntax error");
}

Test(config, every_syntax_error_is_reported)
{
	struct result r = load(SVC BE "junk\nmore junk\n");

	cr_expect(has_error(r.errors, "test.conf:5: ", "syntax error"));
	cr_expect(has_error(r.errors, "test.conf:6: ", "syntax error"));
	cr_expect_eq(r.n_lines, 2, "%s", r.errors);
	result_free(&r);
}

Test(config, indented_key)
{
	/* inih would read it as "vip = 192.0.2.10 port = 80". */
	expect_only_error("[service web]\nvip = 192.0.2.10\n  port = 80\n" BE,
			  "test.conf:3: ", "indented line");
	expect_only_error("[service web]\n\tvip = 192.0.2.10\nport = 80\n" BE,
			  "test.conf:2: ", "must start in column 1");
}

Test(config, key_before_any_section)
{
	expect_only_error("vip = 192.0.2.10\n" SVC BE, "test.conf:1: ",
			  "key vip outside any section");
}

Test(config, unknown_section)
{
	expect_only_error(SVC BE "[globals]\ntable = x\n", "test.conf:5: ",
			  "unknown section [globals] (expected [global] or [service NAME])");
}

Test(config, keys_under_a_malformed_header_are_not_misfiled)
{
	/* Without care, vip would count as a second vip of service web. */
	struct result r = load(SVC BE "[service other\nvip = 192.0.2.11\n");

	cr_expect(has_error(r.errors, "test.conf:5: ", "syntax error"));
	cr_expect_eq(r.n_lines, 1, "%s", r.errors);
	result_free(&r);
}

Test(config, global_twice)
{
	expect_only_error("[global]\n" SVC BE "[global]\n", "test.conf:6: ",
			  "[global] repeated (first on line 1)");
}

/* ---- sections and names -------------------------------------------- */

Test(config, service_without_name)
{
	expect_only_error("[service]\n" SVC BE, "test.conf:1: ",
			  "[service] needs a name");
}

Test(config, bad_service_names)
{
	expect_error("[service 1web]\nvip = 192.0.2.10\nport = 80\n" BE,
		     "test.conf:1: ", "service name \"1web\" is not valid");
	expect_error("[service web.1]\nvip = 192.0.2.10\nport = 80\n" BE,
		     "test.conf:1: ", "letters, digits, '_' or '-'");
	expect_error("[service my web]\nvip = 192.0.2.10\nport = 80\n" BE,
		     "test.conf:1: ", "\"my web\" is not valid");
	expect_error("[service s1234567890123456789012345678901234567890]\n"
		     "vip = 192.0.2.10\nport = 80\n" BE,
		     "test.conf:1: ", "is too long (41 characters, max 40");
}

Test(config, duplicate_service_name)
{
	expect_only_error(SVC BE
			  "[service web]\nvip = 192.0.2.11\nport = 80\n" BE,
			  "test.conf:5: ",
			  "service web already defined on line 1");
}

Test(config, unknown_key)
{
	expect_only_error(SVC BE "colour = blue\n", "test.conf:5: ",
			  "unknown key \"colour\" in [service web]");
	expect_only_error("[global]\nvip = 1.2.3.4\n" SVC BE, "test.conf:2: ",
			  "unknown key \"vip\" in [global]");
}

Test(config, repeated_key)
{
	expect_only_error(SVC "port = 81\n" BE, "test.conf:4: ",
			  "port repeated in [service web] (first set on line 3)");
	expect_only_error("[global]\ntable = a\ntable = b\n" SVC BE,
			  "test.conf:3: ",
			  "table repeated in [global] (first set on line 2)");
}

Test(config, empty_value)
{
	expect_only_error(SVC BE "proto =\n", "test.conf:5: ",
			  "proto has no value");
	expect_only_error("[service web]\nvip =\nport = 80\n" BE,
			  "test.conf:2: ", "vip has no value");
}

/* ---- [global] values ------------------------------------------------ */

Test(config, bad_table)
{
	expect_only_error("[global]\ntable = 9lives\n" SVC BE, "test.conf:2: ",
			  "table \"9lives\" is not valid");
	expect_only_error("[global]\ntable = "
			  "t123456789012345678901234567890123456789012345678901234567890123\n"
			  SVC BE, "test.conf:2: ",
			  "is too long (64 characters, max 63");
}

Test(config, bad_log_level)
{
	expect_only_error("[global]\nlog_level = verbose\n" SVC BE,
			  "test.conf:2: ",
			  "unknown log_level \"verbose\" (expected error, warning, info or debug)");
}

Test(config, bad_hash_seed)
{
	expect_only_error("[global]\nhash_seed = seed\n" SVC BE, "test.conf:2: ",
			  "hash_seed \"seed\" is not a number");
	expect_only_error("[global]\nhash_seed = 0x\n" SVC BE, "test.conf:2: ",
			  "hash_seed \"0x\" is not a number");
	expect_only_error("[global]\nhash_seed = 0x0x5\n" SVC BE,
			  "test.conf:2: ", "is not a number");
	expect_only_error("[global]\nhash_seed = 0x100000000\n" SVC BE,
			  "test.conf:2: ",
			  "hash_seed 0x100000000 is out of range (0..0xffffffff)");
	expect_only_error("[global]\nhash_seed = -1\n" SVC BE, "test.conf:2: ",
			  "hash_seed -1 is out of range");
	expect_only_error(SVC BE "hash_seed = 4294967296\n", "test.conf:5: ",
			  "hash_seed 4294967296 is out of range");
}

Test(config, bad_control_socket)
{
	expect_only_error("[global]\ncontrol_socket = run/knlb.sock\n" SVC BE,
			  "test.conf:2: ", "is not an absolute path");
	char text[512], path[128];
	struct result r;

	/* sun_path holds 108 bytes with the NUL: 107 fit, 108 do not. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	snprintf(text, sizeof(text), "[global]\ncontrol_socket = %.*s\n" SVC BE,
		 107, path);
	r = load_ok(text);
	cr_expect_eq(strlen(r.cfg->global.control_socket), 107);
	result_free(&r);
	snprintf(text, sizeof(text), "[global]\ncontrol_socket = %.*s\n" SVC BE,
		 108, path);
	expect_only_error(text, "test.conf:2: ",
			  "control_socket is too long (108 bytes, max 107");
}

/* ---- [service] values ----------------------------------------------- */

Test(config, bad_vip)
{
	expect_only_error("[service web]\nvip = www.example.com\nport = 80\n" BE,
			  "test.conf:2: ",
			  "vip \"www.example.com\" is not an IPv4 or IPv6 address (names are not resolved)");
	expect_only_error("[service web]\nvip = 192.0.2.10/32\nport = 80\n" BE,
			  "test.conf:2: ", "is not an IPv4 or IPv6 address");
	/* An IPv6 VIP with only IPv4 backends: no NAT between families. */
	expect_error("[service web]\nvip = 2001:db8::10\nport = 80\n" BE,
			  "test.conf:4: ",
			  "backend 10.0.0.11:8080 is IPv4 but service web has no IPv4 vip (knlb does not translate between IPv4 and IPv6)");
}

Test(config, bad_port)
{
	static const char *const bad[][2] = {
		{ "0", "port 0 is out of range (1..65535)" },
		{ "65536", "port 65536 is out of range (1..65535)" },
		{ "-1", "port -1 is out of range" },
		{ "99999999999999999999999", "out of range" },
		{ "http", "port \"http\" is not a number" },
		{ "8o", "port \"8o\" is not a number" },
		{ "+80", "is not a number" },
		{ "0x50", "is not a number" },
		{ "80 # http", "is not a number" },
		{ "1e3", "is not a number" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "[service web]\nvip = 192.0.2.10\nport = %s\n" BE,
			 bad[i][0]);
		expect_only_error(text, "test.conf:3: ", bad[i][1]);
	}
}

Test(config, bad_keywords)
{
	expect_only_error(SVC BE "proto = TCP\n", "test.conf:5: ",
			  "unknown proto \"TCP\" (expected tcp or udp)");
	expect_only_error(SVC BE "scheduler = rr\n", "test.conf:5: ",
			  "unknown scheduler \"rr\" (expected maglev, wrr, random or wlc)");
	expect_only_error(SVC BE "hash_key = dst-ip\n", "test.conf:5: ",
			  "unknown hash_key \"dst-ip\" (expected src-ip, src-ip-port or 5-tuple)");
}

Test(config, bad_snat)
{
	expect_only_error(SVC BE "snat = yes\n", "test.conf:5: ",
			  "snat \"yes\" is not masquerade, none or an IPv4 or IPv6 address");
	expect_error(SVC BE "snat = 2001:db8::1\n", "test.conf:5: ",
			  "snat of service web has no IPv4 address for its IPv4 vip 192.0.2.10");
}

Test(config, bad_table_size)
{
	expect_only_error(SVC BE "table_size = 1\n", "test.conf:5: ",
			  "table_size 1 is out of range (2..131071)");
	expect_only_error(SVC BE "table_size = 131072\n", "test.conf:5: ",
			  "out of range (2..131071)");
	expect_only_error(SVC BE "table_size = 16k\n", "test.conf:5: ",
			  "table_size \"16k\" is not a number");
}

Test(config, maglev_table_size_must_be_prime)
{
	expect_only_error(SVC BE "table_size = 16000\n", "test.conf:5: ",
			  "table_size 16000 is not prime (Maglev needs a prime; nearest primes: 15991, 16001)");
	expect_only_error(SVC BE "table_size = 4\n", "test.conf:5: ",
			  "nearest primes: 3, 5");
	expect_only_error(SVC BE "table_size = 131070\n", "test.conf:5: ",
			  "nearest primes: 131063, 131071");
	/* Order of keys does not matter: scheduler comes after. */
	expect_only_error(SVC "table_size = 100\nscheduler = maglev\n" BE,
			  "test.conf:4: ", "table_size 100 is not prime");
}

Test(config, other_schedulers_take_any_table_size)
{
	struct result r = load_ok(SVC "scheduler = wrr\ntable_size = 100\n" BE);

	cr_expect_eq(r.cfg->services[0].table_size, 100);
	result_free(&r);
	r = load_ok(SVC "scheduler = random\ntable_size = 2\n" BE);
	result_free(&r);
}

Test(config, table_size_below_backend_count)
{
	expect_only_error(SVC "scheduler = wrr\ntable_size = 2\n"
			  "backend = 10.0.0.1:80\n"
			  "backend = 10.0.0.2:80\n"
			  "backend = 10.0.0.3:80\n",
			  "test.conf:5: ",
			  "table_size 2 is smaller than the number of backends (3)");
}

Test(config, default_table_size_below_backend_count)
{
	/*
	 * The derived size is capped at KNLB_MAX_SLOTS: one backend more
	 * cannot have a slot each.  Also shows duplicate detection scales.
	 */
	size_t n = KNLB_MAX_SLOTS + 1, cap = 64 + n * 32, len;
	char *text = malloc(cap);

	cr_assert_not_null(text);
	len = (size_t)snprintf(text, cap, "%s", SVC);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"backend = 10.%zu.%zu.%zu:80\n",
					i >> 16, (i >> 8) & 255, i & 255);
	expect_only_error(text, "test.conf:1: ",
			  "table_size 131071 is smaller than the number of backends (131072)");
	free(text);
}

Test(config, hash_key_needs_maglev)
{
	expect_only_error(SVC "hash_key = src-ip\nscheduler = wrr\n" BE,
			  "test.conf:4: ",
			  "hash_key applies only to scheduler = maglev (service web uses wrr)");
}

Test(config, service_without_vip_or_port)
{
	expect_only_error("[service web]\nport = 80\n" BE, "test.conf:1: ",
			  "service web has no vip");
	expect_only_error("[service web]\nvip = 192.0.2.10\n" BE,
			  "test.conf:1: ", "service web has no port");
}

Test(config, service_without_backend)
{
	expect_only_error("[service a]\nvip = 192.0.2.1\nport = 80\n" BE
			  "\n[service web]\nvip = 192.0.2.10\nport = 80\n",
			  "test.conf:6: ", "service web has no backend");
	/* A header with nothing under it is still seen. */
	expect_error(SVC BE "[service empty]\n", "test.conf:5: ",
			  "service empty has no vip");
}

Test(config, duplicate_vip_port_proto)
{
	expect_only_error(SVC BE
			  "[service other]\nport = 80\nvip = 192.0.2.10\n" BE,
			  "test.conf:7: ",
			  "192.0.2.10:80/tcp is already used by service web (line 1)");
}

/* ---- backend lines -------------------------------------------------- */

Test(config, bad_backend_endpoint)
{
	expect_only_error(SVC "backend = 10.0.0.1\n", "test.conf:4: ",
			  "backend \"10.0.0.1\" has no port (expected ADDR:PORT)");
	expect_only_error(SVC "backend = 10.0.0.1:0\n", "test.conf:4: ",
			  "backend \"10.0.0.1:0\": bad port \"0\" (expected 1..65535)");
	expect_only_error(SVC "backend = 10.0.0.1:\n", "test.conf:4: ",
			  "backend \"10.0.0.1:\": bad port \"\"");
	expect_only_error(SVC "backend = [::1\n", "test.conf:4: ",
			  "bad address \"::1\"");
	expect_only_error(SVC "backend = 10.0.0.1:65536\n", "test.conf:4: ",
			  "bad port \"65536\"");
	expect_only_error(SVC "backend = 10.0.0.1:http\n", "test.conf:4: ",
			  "bad port \"http\"");
	expect_only_error(SVC "backend = app1:8080\n", "test.conf:4: ",
			  "backend \"app1:8080\": bad address \"app1\"");
	expect_only_error(SVC "backend = 10.0.0.256:80\n", "test.conf:4: ",
			  "bad address \"10.0.0.256\"");
	expect_error(SVC "backend = [2001:db8::1]:80\n", "test.conf:4: ",
			  "backend [2001:db8::1]:80 is IPv6 but service web has no IPv6 vip");
	expect_only_error(SVC "backend = 2001:db8::1:80\n", "test.conf:4: ",
			  "IPv6 addresses need brackets");
}

Test(config, bad_backend_options)
{
	expect_only_error(SVC "backend = 10.0.0.1:80 weight=65536\n",
			  "test.conf:4: ", "weight 65536 is out of range (0..65535)");
	expect_only_error(SVC "backend = 10.0.0.1:80 weight=-1\n",
			  "test.conf:4: ", "weight -1 is out of range");
	expect_only_error(SVC "backend = 10.0.0.1:80 weight=heavy\n",
			  "test.conf:4: ", "weight \"heavy\" is not a number");
	expect_only_error(SVC "backend = 10.0.0.1:80 weight=\n",
			  "test.conf:4: ", "weight \"\" is not a number");
	expect_only_error(SVC "backend = 10.0.0.1:80 weight=1 weight=2\n",
			  "test.conf:4: ", "weight given twice");
	expect_only_error(SVC "backend = 10.0.0.1:80 weight = 3\n",
			  "test.conf:4: ",
			  "backend option weight: write weight=VALUE, without spaces around '='");
	expect_only_error(SVC "backend = 10.0.0.1:80 weight =3 id=a\n",
			  "test.conf:4: ", "write weight=VALUE");
	expect_only_error(SVC "backend = 10.0.0.1:80 id= web1\n",
			  "test.conf:4: ", "write id=VALUE");
	expect_only_error(SVC "backend = 10.0.0.1:80 maxconns=5\n",
			  "test.conf:4: ",
			  "unknown backend option \"maxconns=5\" (expected weight=N, id=NAME, backup, check_port=N or maxconn=N");
	expect_only_error(SVC "backend = 10.0.0.1:80 maxconn=0\n",
			  "test.conf:4: ", "maxconn 0 is out of range (1..10000000)");
	expect_only_error(SVC "backend = 10.0.0.1:80 maxconn=5 maxconn=6\n",
			  "test.conf:4: ", "backend maxconn given twice");
	expect_only_error(SVC "backend = 10.0.0.1:80 maxconn = 5\n",
			  "test.conf:4: ", "write maxconn=VALUE");
	expect_only_error(SVC "backend = 10.0.0.1:80 backup backup\n",
			  "test.conf:4: ", "backend backup given twice");
	expect_only_error(SVC "backend = 10.0.0.1:80 id=a.b\n",
			  "test.conf:4: ", "backend id \"a.b\" is not valid");
	expect_only_error(SVC "backend = 10.0.0.1:80 id=a id=b\n",
			  "test.conf:4: ", "backend id given twice");
}

Test(config, every_problem_of_a_backend_line)
{
	struct result r = load(SVC "backend = 10.0.0.1 weight=x colour=red\n");

	cr_expect(has_error(r.errors, "test.conf:4: ", "has no port"));
	cr_expect(has_error(r.errors, "test.conf:4: ", "weight \"x\""));
	cr_expect(has_error(r.errors, "test.conf:4: ", "\"colour=red\""));
	cr_expect_eq(r.n_lines, 3, "%s", r.errors);
	result_free(&r);
}

Test(config, duplicate_backend_endpoint)
{
	expect_only_error(SVC
			  "backend = 10.0.0.1:80\n"
			  "backend = 10.0.0.2:80\n"
			  "backend = 10.0.0.1:80 id=again\n",
			  "test.conf:6: ",
			  "backend 10.0.0.1:80 is already listed on line 4");
}

Test(config, duplicate_backend_id)
{
	expect_only_error(SVC
			  "backend = 10.0.0.1:80 id=app\n"
			  "backend = 10.0.0.2:80\n"
			  "backend = 10.0.0.3:80 id=app\n",
			  "test.conf:6: ",
			  "backend id app is already used on line 4");
}

Test(config, same_backend_in_two_services_is_fine)
{
	struct result r = load_ok(SVC BE
		"[service b]\nvip = 192.0.2.11\nport = 80\n" BE);

	result_free(&r);
}

Test(config, wlc_is_a_scheduler_without_hash_key)
{
	struct result r = load_ok(SVC BE "scheduler = wlc\n");

	cr_expect_eq(r.cfg->services[0].scheduler, KNLB_SCHED_WLC);
	result_free(&r);
	expect_only_error(SVC BE "scheduler = wlc\nhash_key = src-ip\n", "test.conf:",
			  "hash_key applies only to scheduler = maglev (service web uses wlc)");
}

Test(config, ct_resync_interval)
{
	struct result r = load_ok("[global]\nct_resync_interval = 30s\n" SVC BE);

	cr_expect_eq(r.cfg->global.ct_resync_interval_ns, 30000000000ULL);
	result_free(&r);
	r = load_ok("[global]\nct_resync_interval = 0s\n" SVC BE);
	cr_expect_eq(r.cfg->global.ct_resync_interval_ns, 0);
	result_free(&r);
	r = load_ok(SVC BE);
	cr_expect_eq(r.cfg->global.ct_resync_interval_ns, 300000000000ULL, "default 5m");
	result_free(&r);
	expect_only_error("[global]\nct_resync_interval = 500ms\n" SVC BE, "test.conf:2: ",
			  "ct_resync_interval 500ms is shorter than 1s (0s turns it off)");
	expect_only_error("[global]\nct_resync_interval = 30\n" SVC BE, "test.conf:2: ",
			  "ct_resync_interval: ");
}
