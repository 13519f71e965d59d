/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where log lines go and what they look like: timestamped on a plain
 * stderr, "<PRIO>" prefixed without a timestamp when stderr is journald's
 * stream, nothing on stderr with syslog.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/lib/log.h"

/* fd 2 redirected into a temp file for the length of a test. */
struct capture {
	char path[64];
	int fd, saved;
};

static void capture_start(struct capture *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/knlb-log-XXXXXX");
	c->fd = mkstemp(c->path);
	cr_assert_geq(c->fd, 0);
	c->saved = dup(2);
	cr_assert_geq(c->saved, 0);
	cr_assert_eq(dup2(c->fd, 2), 2);
}

/* Restores fd 2; returns what was written (malloc'd). */
static char *capture_end(struct capture *c)
{
	char *out = calloc(1, 1 << 16);
	ssize_t n;

	fflush(stderr);
	cr_assert_eq(dup2(c->saved, 2), 2);
	close(c->saved);
	n = pread(c->fd, out, (1 << 16) - 1, 0);
	cr_assert_geq(n, 0);
	close(c->fd);
	unlink(c->path);
	return out;
}

/* JOURNAL_STREAM as systemd sets it, for the file fd currently is. */
static void set_journal_stream(int fd)
{
	struct stat st;
	char val[64];

	cr_assert_eq(fstat(fd, &st), 0);
	snprintf(val, sizeof(val), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	cr_assert_eq(setenv("JOURNAL_STREAM", val, 1), 0);
}

Test(log, journal_stream_gets_priority_prefixes_and_no_timestamp)
{
	struct capture c;
	char *out;

	capture_start(&c);
	set_journal_stream(2);
	cr_expect_eq(log_open(false), LOG_TARGET_JOURNAL);
	log_set_level(LOG_LEVEL_DEBUG);
	log_error("kernel said %s", "no");
	log_warn("conntrack: off");
	log_info("web/10.0.0.12:8080 DOWN: connect refused (3/3)");
	log_debug("d %d", 7);
	log_close();
	out = capture_end(&c);
	cr_expect_str_eq(out, "<3>kernel said no\n<4>conntrack: off\n"
			      "<6>web/10.0.0.12:8080 DOWN: connect refused (3/3)\n<7>d 7\n");
	free(out);
}

Test(log, plain_stderr_lines_are_timestamped)
{
	struct capture c;
	regex_t re;
	char *out;

	unsetenv("JOURNAL_STREAM");
	capture_start(&c);
	cr_expect_eq(log_open(false), LOG_TARGET_STDERR);
	log_info("hello %s", "world");
	out = capture_end(&c);
	cr_assert_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			     "knlbd: info: hello world\n$", REG_EXTENDED), 0);
	cr_expect_eq(regexec(&re, out, 0, NULL, 0), 0, "got: %s", out);
	regfree(&re);
	free(out);
}

/* Inherited by a child whose stderr was redirected: not the journal. */
Test(log, journal_stream_of_another_file_is_ignored)
{
	struct capture c;
	char *out;

	capture_start(&c);
	set_journal_stream(0);	/* stdin: some other file */
	cr_expect_eq(log_open(false), LOG_TARGET_STDERR);
	log_warn("w");
	out = capture_end(&c);
	cr_expect(strstr(out, "knlbd: warning: w\n") != NULL, "got: %s", out);
	cr_expect(strstr(out, "<4>") == NULL, "got: %s", out);
	free(out);

	setenv("JOURNAL_STREAM", "garbage", 1);
	cr_expect_eq(log_open(false), LOG_TARGET_STDERR);
}

Test(log, syslog_writes_nothing_to_stderr)
{
	struct capture c;
	char *out;

	capture_start(&c);
	set_journal_stream(2);	/* --syslog wins over the journal */
	cr_expect_eq(log_open(true), LOG_TARGET_SYSLOG);
	log_info("knlb unit test: log to syslog");
	log_close();
	cr_expect_eq(log_get_target(), LOG_TARGET_STDERR);
	out = capture_end(&c);
	cr_expect_str_empty(out);
	free(out);
}

Test(log, long_line_is_cut_marked_and_one_line)
{
	struct capture c;
	char big[10000], *out;
	size_t len;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_start(&c);
	set_journal_stream(2);
	log_open(false);
	log_info("%s", big);
	log_info("next");
	log_close();
	out = capture_end(&c);
	len = strcspn(out, "\n");
	cr_expect_lt(len, 4096);
	cr_expect_eq(strncmp(out + len - 3, "...", 3), 0);
	cr_expect_str_eq(out + len, "\n<6>next\n");
	free(out);
}

Test(log, errno_is_kept)
{
	struct capture c;

	capture_start(&c);
	errno = EADDRINUSE;
	log_error("e");
	cr_expect_eq(errno, EADDRINUSE);
	free(capture_end(&c));
}
