/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a running knlbd's lines go: with stderr as the journal's stream
 * (JOURNAL_STREAM names it) every line carries its sd-daemon priority and
 * no timestamp; with --syslog nothing reaches stderr at all.
 */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(logging, .init = kt_enter_netns, .timeout = 60);

struct files {
	char conf[64], log[64], args[256];
};

static void files_make(struct files *f, const char *extra_args)
{
	static const char text[] = "[global]\ntable = logt\n[service web]\n"
				   "vip = 192.0.2.10\nport = 80\ntable_size = 31\n"
				   "backend = 10.0.0.11:8080\n";
	int fd;

	snprintf(f->conf, sizeof(f->conf), "/tmp/knlb-kt-logging-XXXXXX");
	fd = mkstemp(f->conf);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	snprintf(f->log, sizeof(f->log), "/tmp/knlb-kt-logging-log-XXXXXX");
	fd = mkstemp(f->log);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(f->args, sizeof(f->args), "-c %s -s /tmp/knlb-kt-logging-%d.sock %s",
		 f->conf, (int)getpid(), extra_args);
}

static void files_remove(struct files *f)
{
	unlink(f->conf);
	unlink(f->log);
}

Test(logging, journal_stream_lines_have_priorities_and_no_timestamp)
{
	struct files f;
	struct stat st;
	char val[64], *log, *line, *save = NULL;
	regex_t re;
	pid_t pid;
	int n = 0;

	files_make(&f, "");
	cr_assert_eq(stat(f.log, &st), 0);
	snprintf(val, sizeof(val), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	cr_assert_eq(setenv("JOURNAL_STREAM", val, 1), 0);
	pid = kt_start_knlbd(f.args, f.log);
	cr_assert(kt_wait_for_log(f.log, "<6>programmed table inet logt: ", 10000),
		  "%s", kt_read_file(f.log));
	cr_expect_eq(kt_stop_knlbd(pid), 0);
	log = kt_read_file(f.log);
	cr_expect(strstr(log, "<6>received Terminated, stopping\n"), "%s", log);
	cr_expect(strstr(log, "<6>leaving table inet logt in place"), "%s", log);
	cr_assert_eq(regcomp(&re, "^<[3467]>[^<0-9]", REG_EXTENDED | REG_NOSUB), 0);
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++)
		cr_expect_eq(regexec(&re, line, 0, NULL, 0), 0, "line without a priority prefix: %s", line);
	cr_expect_geq(n, 4);
	regfree(&re);
	free(log);
	files_remove(&f);
}

Test(logging, syslog_leaves_stderr_empty)
{
	struct files f;
	int status = 1;
	char *log;
	pid_t pid;

	unsetenv("JOURNAL_STREAM");
	files_make(&f, "--syslog");
	pid = kt_start_knlbd(f.args, f.log);
	for (int i = 0; i < 250 && status != 0; i++) {
		free(kt_run("nft list table inet logt >/dev/null 2>&1", &status));
		if (status != 0)
			usleep(20000);
	}
	cr_expect_eq(status, 0, "knlbd --syslog did not program its table");
	cr_expect_eq(kt_stop_knlbd(pid), 0);
	log = kt_read_file(f.log);
	cr_expect_str_empty(log, "--syslog wrote to stderr: %s", log);
	free(log);
	files_remove(&f);
}
