/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Issue 13: a control socket in a directory another user could write to
 * would let that user answer knlbctl in knlbd's name.  knlbd refuses it at
 * start, with the directory and the fault named, exit 1, and the kernel
 * untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

#define CONF "[global]\ntable = sockdir\n[service web]\nvip = 192.0.2.10\nport = 80\n" \
	     "check = none\nbackend = 10.0.0.1:80\n"

struct dirs {
	char top[64], conf[96], log[96];
};

static void make_dirs(struct dirs *d)
{
	FILE *f;

	snprintf(d->top, sizeof(d->top), "/tmp/knlb-kt-sockdir-XXXXXX");
	cr_assert_not_null(mkdtemp(d->top));
	snprintf(d->conf, sizeof(d->conf), "%s/knlb.conf", d->top);
	snprintf(d->log, sizeof(d->log), "%s/knlbd.log", d->top);
	f = fopen(d->conf, "w");
	cr_assert_not_null(f);
	fputs(CONF, f);
	fclose(f);
}

static void remove_dirs(const struct dirs *d)
{
	char cmd[128];
	int status;

	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->top);
	free(kt_run(cmd, &status));
}

/* knlbd -s sock: its exit status (it must not stay up) and its log. */
static int run_knlbd(const struct dirs *d, const char *sock, char **log)
{
	char args[256];
	int status;
	pid_t pid;

	snprintf(args, sizeof(args), "-c %s -s %s", d->conf, sock);
	pid = kt_start_knlbd(args, d->log);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			*log = kt_read_file(d->log);
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		usleep(50000);
	}
	kt_stop_knlbd(pid);
	*log = kt_read_file(d->log);
	cr_assert_fail("knlbd started with its socket in an unsafe directory:\n%s", *log);
	return -1;
}

static void expect_table_absent(void)
{
	int status;
	char *out = kt_run("nft list table inet sockdir 2>&1", &status);

	cr_expect_neq(status, 0, "the kernel was touched:\n%s", out);
	free(out);
}

Test(privs, a_world_writable_socket_directory_is_refused_before_the_kernel,
     .init = kt_enter_netns, .timeout = 30)
{
	struct dirs d;
	char open_dir[96], sock[128], want[256], *log;

	make_dirs(&d);
	snprintf(open_dir, sizeof(open_dir), "%s/open", d.top);
	cr_assert_eq(mkdir(open_dir, 0700), 0);
	cr_assert_eq(chmod(open_dir, 0777), 0);
	snprintf(sock, sizeof(sock), "%s/knlb.sock", open_dir);
	cr_expect_eq(run_knlbd(&d, sock, &log), 1, "%s", log);
	snprintf(want, sizeof(want),
		 "control socket: unsafe directory: %s is writable by group and others (mode 0777): another user could replace the socket",
		 open_dir);
	cr_expect(strstr(log, want), "no '%s' in:\n%s", want, log);
	cr_expect(strstr(log, "; nothing changed"), "%s", log);
	cr_expect_eq(access(sock, F_OK), -1, "the socket was created");
	free(log);
	expect_table_absent();
	remove_dirs(&d);
}

Test(privs, a_socket_directory_reached_through_another_users_symlink_is_refused,
     .init = kt_enter_netns, .timeout = 30)
{
	struct dirs d;
	char real[96], link[96], sock[128], want[256], *log;

	make_dirs(&d);
	snprintf(real, sizeof(real), "%s/real", d.top);
	snprintf(link, sizeof(link), "%s/link", d.top);
	cr_assert_eq(mkdir(real, 0755), 0);
	cr_assert_eq(symlink(real, link), 0);
	cr_assert_eq(lchown(link, 54321, 54321), 0);
	snprintf(sock, sizeof(sock), "%s/knlb.sock", link);
	cr_expect_eq(run_knlbd(&d, sock, &log), 1, "%s", log);
	snprintf(want, sizeof(want), "unsafe directory: %s (a symbolic link) is owned by uid 54321, not root",
		 link);
	cr_expect(strstr(log, want), "no '%s' in:\n%s", want, log);
	free(log);
	expect_table_absent();
	remove_dirs(&d);
}
