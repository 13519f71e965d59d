/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The keyword table and what issues 11 and 13 asked of the loader:
 * suggestions for mistyped keys, quoted values, clear address errors,
 * bounded line reads and read errors that load nothing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"
#include "knlb/config/keywords.h"
#include "knlb/config/reader.h"

#include "config-test.h"

/* ---- the table -------------------------------------------------------- */

Test(config_keys, every_row_is_complete_and_unique)
{
	size_t n;
	const struct config_keyword *kw = config_keywords(&n);

	cr_assert_gt(n, 30);
	for (size_t i = 0; i < n; i++) {
		cr_expect(kw[i].name && *kw[i].name);
		cr_expect(kw[i].parse, "%s has no parser", kw[i].name);
		cr_expect(kw[i].doc && *kw[i].doc, "%s has no doc", kw[i].name);
		cr_expect(config_keyword_in_global(&kw[i]) ||
			  config_keyword_in_service(&kw[i]),
			  "%s is in no section", kw[i].name);
		cr_expect_eq(config_keyword_find(kw[i].name), &kw[i],
			     "%s listed twice", kw[i].name);
	}
	cr_expect_null(config_keyword_find("colour"));
}

/* The table's defaults are the ones the rest of knlb was built around. */
Test(config_keys, defaults_come_from_the_table)
{
	struct result r = load_ok("[global]\n" SVC BE);
	const struct knlb_global_config *g = &r.cfg->global;
	const struct knlb_service_config *s = &r.cfg->services[0];

	cr_expect_str_eq(g->table, KNLB_DEFAULT_TABLE);
	cr_expect_eq(g->hash_seed, KNLB_DEFAULT_SEED);
	cr_expect_str_eq(g->control_socket, KNLB_DEFAULT_CONTROL_SOCKET);
	cr_expect_eq(g->ct_mark_mask, KNLB_DEFAULT_CT_MARK_MASK);
	cr_expect_eq(g->ct_resync_interval_ns, KNLB_DEFAULT_CT_RESYNC_NS);
	cr_expect_str_empty(g->metrics_listen);
	cr_expect_str_empty(g->user);
	cr_expect_eq(s->proto, KNLB_PROTO_TCP);
	cr_expect_eq(s->scheduler, KNLB_SCHED_MAGLEV);
	cr_expect_eq(s->hash_key, KNLB_HASH_SRC_IP_PORT);
	/* One maglev backend: the derived floor (test_table_size.c derives more). */
	cr_expect_eq(s->table_size, KNLB_MAGLEV_MIN_SLOTS);
	cr_expect_eq(s->table_size_source, KNLB_TABLE_SIZE_DERIVED);
	cr_expect_eq(s->hash_seed, KNLB_DEFAULT_SEED);
	cr_expect_eq(s->snat, KNLB_SNAT_NONE);
	cr_expect_eq(s->health.check.kind, CHECK_NONE);
	cr_expect_eq(s->health.interval_ns, KNLB_DEFAULT_INTERVAL_NS);
	cr_expect_eq(s->health.check.timeout_ns, KNLB_DEFAULT_TIMEOUT_NS);
	cr_expect_eq(s->health.rise, KNLB_DEFAULT_RISE);
	cr_expect_eq(s->health.fall, KNLB_DEFAULT_FALL);
	cr_expect_str_eq(s->health.check.path, "/");
	cr_expect(check_status_expected(&s->health.check, 200));
	cr_expect(check_status_expected(&s->health.check, 302));
	cr_expect(!check_status_expected(&s->health.check, 404));
	cr_expect_eq(s->on_empty, KNLB_ON_EMPTY_REJECT);
	cr_expect_eq(s->flush, false);
	result_free(&r);
}

Test(config_keys, print_lists_every_key_with_its_section)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cr_assert_not_null(f);
	config_keywords_print(f);
	fclose(f);
	cr_expect(strstr(out, "global\ttable\tknlb\t"), "%s", out);
	cr_expect(strstr(out, "global\thash_seed\t"), "%s", out);
	cr_expect(strstr(out, "service\thash_seed\t"), "%s", out);
	cr_expect(strstr(out, "service\tbackend\t-\t"), "%s", out);
	cr_expect(strstr(out, "service\tscheduler\tmaglev\t"), "%s", out);
	free(out);
}

/* ---- unknown keys ----------------------------------------------------- */

Test(config_keys, mistyped_key_gets_a_suggestion)
{
	expect_only_error(SVC BE "shcheduler = wrr\n", "test.conf:5: ",
			  "unknown key \"shcheduler\" in [service web] (did you mean \"scheduler\"?)");
	expect_only_error("[global]\nlog_levle = debug\n" SVC BE, "test.conf:2: ",
			  "unknown key \"log_levle\" in [global] (did you mean \"log_level\"?)");
}

Test(config_keys, far_off_key_gets_no_suggestion)
{
	struct result r = load(SVC BE "colour = blue\n");

	cr_expect_eq(r.rc, -1);
	cr_expect(has_error(r.errors, "test.conf:5: ", "unknown key \"colour\" in [service web]"),
		  "%s", r.errors);
	cr_expect_null(strstr(r.errors, "did you mean"), "%s", r.errors);
	result_free(&r);
}

Test(config_keys, key_of_the_other_section_says_where_it_belongs)
{
	expect_only_error(SVC BE "table = knlb\n", "test.conf:5: ",
			  "unknown key \"table\" in [service web] (it belongs in [global])");
	expect_only_error("[global]\nvip = 192.0.2.1\n" SVC BE, "test.conf:2: ",
			  "unknown key \"vip\" in [global] (it belongs in [service NAME])");
}

/* ---- values ----------------------------------------------------------- */

Test(config_keys, quoted_value_is_refused_clearly)
{
	expect_only_error("[service web]\nvip = \"192.0.2.53\"\nport = 80\n" BE,
			  "test.conf:2: ",
			  "vip = \"192.0.2.53\": quotes are not part of the value (write vip = 192.0.2.53)");
	expect_only_error(SVC BE "scheduler = 'wrr'\n", "test.conf:5: ",
			  "quotes are not part of the value (write scheduler = wrr)");
}

Test(config_keys, quotes_in_free_text_are_content)
{
	struct result r = load_ok(SVC BE "check = http\ncheck_body = \"ok\"\n");

	cr_expect_str_eq(r.cfg->services[0].health.check.body, "\"ok\"");
	result_free(&r);
}

Test(config_keys, bad_octet_is_not_called_a_name)
{
	expect_only_error("[service web]\nvip = 10.0.0.256\nport = 80\n" BE,
			  "test.conf:2: ", "vip \"10.0.0.256\" is not a valid IPv4 address");
	expect_only_error(SVC "backend = 10.0.0.256:80\n", "test.conf:4: ",
			  "(not a valid IPv4 address)");
	expect_only_error("[service web]\nvip = web.example\nport = 80\n" BE,
			  "test.conf:2: ", "is not an IPv4 or IPv6 address (names are not resolved)");
}

/* ---- reading (issue 13, defect 4) ------------------------------------- */

/* A stream that hands out text, then fails the way getline's ENOMEM did. */
struct failing {
	const char *text;
	size_t off;
};

static ssize_t failing_read(void *cookie, char *buf, size_t size)
{
	struct failing *f = cookie;
	size_t left = strlen(f->text) - f->off;

	if (left == 0) {
		errno = ENOMEM;
		return -1;
	}
	if (size > left)
		size = left;
	memcpy(buf, f->text + f->off, size);
	f->off += size;
	return (ssize_t)size;
}

static struct result load_from(FILE *in)
{
	struct result r = { 0 };
	size_t len = 0;
	FILE *err = open_memstream(&r.errors, &len);

	cr_assert_not_null(err);
	r.rc = config_load_stream(in, "test.conf", &r.cfg, err);
	fclose(err);
	for (const char *s = r.errors; *s; s++)
		r.n_lines += *s == '\n';
	return r;
}

Test(config_keys, read_failure_loads_nothing)
{
	/* Two complete services, then the read fails: not a shorter file. */
	struct failing f = { .text = SVC BE "[service dns]\nvip = 192.0.2.53\nport = 53\n" BE };
	cookie_io_functions_t io = { .read = failing_read };
	FILE *in = fopencookie(&f, "r", io);
	struct result r;

	cr_assert_not_null(in);
	r = load_from(in);
	fclose(in);
	cr_expect_eq(r.rc, -1);
	cr_expect_null(r.cfg);
	cr_expect_str_eq(r.errors,
			 "test.conf: read error after line 8: Cannot allocate memory\n");
	result_free(&r);
}

Test(config_keys, over_long_line_is_refused_without_reading_it_whole)
{
	size_t big = CONFIG_LINE_MAX + 10;
	char *text = malloc(big + 200);
	struct result r;

	cr_assert_not_null(text);
	strcpy(text, SVC BE "; ");
	memset(text + strlen(text), 'x', big);
	strcpy(text + strlen(SVC BE "; ") + big, "\n[service dns]\nport = 53\n");
	r = load(text);
	cr_expect_eq(r.rc, -1);
	cr_expect_null(r.cfg);
	cr_expect_str_eq(r.errors,
			 "test.conf:5: line longer than 65536 bytes: stopped reading (is this a configuration file?)\n");
	result_free(&r);
	free(text);
}

Test(config_keys, long_line_under_the_limit_is_skipped_and_reading_goes_on)
{
	char text[2048];

	snprintf(text, sizeof(text), SVC BE "; %01000d\nport = x\n", 0);
	struct result r = load(text);

	cr_expect_eq(r.rc, -1);
	cr_expect(has_error(r.errors, "test.conf:5: ", "line too long (max 199 characters)"),
		  "%s", r.errors);
	cr_expect(has_error(r.errors, "test.conf:6: ", "port repeated"), "%s", r.errors);
	result_free(&r);
}

/* /dev/zero as a config: an endless line of NULs through a pipe. */
Test(config_keys, endless_stream_fails_fast)
{
	int fds[2];
	pid_t pid;
	FILE *in;
	struct result r;
	struct timespec t0, t1;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		static const char zeros[4096];

		signal(SIGPIPE, SIG_DFL);
		close(fds[0]);
		for (;;)
			if (write(fds[1], zeros, sizeof(zeros)) < 0)
				_exit(0);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	cr_assert_not_null(in);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = load_from(in);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fclose(in);
	waitpid(pid, NULL, 0);
	cr_expect_eq(r.rc, -1);
	cr_expect_str_eq(r.errors,
			 "test.conf:1: line longer than 65536 bytes: stopped reading (is this a configuration file?)\n");
	cr_expect_lt((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, 2.0);
	result_free(&r);
}

Test(config_keys, directory_is_one_clear_error)
{
	char dir[] = "/tmp/knlb-conf-dir-XXXXXX";
	char *errors = NULL;
	size_t len = 0;
	struct knlb_config *c = (void *)0x1;
	FILE *err, *in;
	struct result r;

	cr_assert_not_null(mkdtemp(dir));
	err = open_memstream(&errors, &len);
	cr_assert_eq(config_load(dir, &c, err), -1);
	fclose(err);
	cr_expect_null(c);
	cr_expect_eq(strlen(dir) + strlen(": is a directory, not a configuration file\n"), len,
		     "one line only: %s", errors);
	cr_expect(strstr(errors, ": is a directory, not a configuration file\n"), "%s", errors);
	free(errors);

	/* Through a stream (the reload path reads one): a read error, alone. */
	in = fopen(dir, "r");
	cr_assert_not_null(in);
	r = load_from(in);
	fclose(in);
	cr_expect_eq(r.rc, -1);
	cr_expect_str_eq(r.errors, "test.conf: read error after line 0: Is a directory\n");
	result_free(&r);
	rmdir(dir);
}
