/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * privs: what fails must say why, before anything is half-done; the chown
 * helper for the control socket.  The successful drop itself is checked
 * from /proc in test/kernel/test_privs.c (it needs root and a netns).
 */
#include <errno.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/lib/privs.h"

/* Keep only the capabilities in mask (effective and permitted). */
static int keep_only(uint64_t mask)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 }, { 0 } };

	data[0].effective = data[0].permitted = (uint32_t)mask;
	data[1].effective = data[1].permitted = (uint32_t)(mask >> 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

/*
 * Run privs_drop(user) in a child that holds only mask; the child exits 0
 * when the call failed with -EPERM and err contains want.
 */
static void expect_drop_refused(uint64_t mask, const char *user, const char *want)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char err[512] = "";
		int ret;

		/* Unprivileged, we hold nothing anyway; as root, give it up. */
		if (geteuid() == 0 && keep_only(mask) == -1)
			_exit(2);
		ret = privs_drop(user, err, sizeof(err));
		if (ret != -EPERM || !strstr(err, want)) {
			fprintf(stderr, "privs_drop: %d (%s), want -EPERM and \"%s\"\n",
				ret, err, want);
			_exit(1);
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

Test(privs, without_net_admin_is_refused)
{
	expect_drop_refused(0, NULL,
			    "knlbd does not hold CAP_NET_ADMIN, which it needs to keep");
}

Test(privs, user_without_setuid_is_refused)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to hold CAP_NET_ADMIN alone");
	expect_drop_refused(1ULL << CAP_NET_ADMIN, "nobody",
			    "user = nobody needs knlbd started as root (CAP_SETUID and CAP_SETGID)");
}

Test(privs, chown_path)
{
	char path[] = "/tmp/knlb-privs-XXXXXX", err[256] = "";
	struct passwd *me = getpwuid(geteuid()), *nobody = getpwnam("nobody");
	int fd = mkstemp(path);
	struct stat st;

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_not_null(me);

	cr_expect_eq(privs_chown_path(path, NULL, err, sizeof(err)), 0);
	cr_expect_eq(privs_chown_path(path, "", err, sizeof(err)), 0);
	cr_expect_eq(privs_chown_path(path, "knlb-no-such-user-q7", err, sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "user \"knlb-no-such-user-q7\": No such file or directory");
	cr_expect_eq(privs_chown_path("/nonexistent/knlb.sock", me->pw_name, err, sizeof(err)),
		     -ENOENT);
	cr_expect(strstr(err, "chown /nonexistent/knlb.sock to user") != NULL, "%s", err);

	/* To ourselves needs no privilege; to nobody, root. */
	cr_expect_eq(privs_chown_path(path, me->pw_name, err, sizeof(err)), 0, "%s", err);
	if (geteuid() == 0 && nobody) {
		cr_expect_eq(privs_chown_path(path, "nobody", err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(stat(path, &st), 0);
		cr_expect_eq(st.st_uid, nobody->pw_uid);
		cr_expect_eq(st.st_gid, nobody->pw_gid);
	}
	unlink(path);
}

/* Issue 13: user = nobody hands the control socket to every such process. */
Test(privs, shared_accounts_are_told_apart_from_dedicated_ones)
{
	char why[256];
	struct passwd nobody = { .pw_name = (char *)"nobody", .pw_uid = 65534,
				 .pw_gid = 65534, .pw_shell = (char *)"/usr/sbin/nologin" };
	struct passwd nogroup = { .pw_name = (char *)"svc", .pw_uid = 990,
				  .pw_gid = 65534, .pw_shell = (char *)"/usr/sbin/nologin" };
	struct passwd person = { .pw_name = (char *)"alice", .pw_uid = 1000,
				 .pw_gid = 1000, .pw_shell = (char *)"/bin/bash" };
	struct passwd empty_shell = { .pw_name = (char *)"old", .pw_uid = 500,
				      .pw_gid = 500, .pw_shell = (char *)"" };
	struct passwd knlb = { .pw_name = (char *)"knlb", .pw_uid = 998,
			       .pw_gid = 998, .pw_shell = (char *)"/usr/sbin/nologin" };

	cr_expect(privs_account_shared(&nobody, "nogroup", why, sizeof(why)));
	cr_expect(strstr(why, "\"nobody\" (uid 65534) is the account of every unprivileged service"),
		  "%s", why);
	cr_expect(privs_account_shared(&nogroup, "nogroup", why, sizeof(why)));
	cr_expect(strstr(why, "shared primary group nogroup"), "%s", why);
	cr_expect(privs_account_shared(&person, "alice", why, sizeof(why)));
	cr_expect(strstr(why, "\"alice\" has a login shell (/bin/bash)"), "%s", why);
	cr_expect(privs_account_shared(&empty_shell, "old", why, sizeof(why)));
	cr_expect(strstr(why, "login shell (/bin/sh)"), "%s", why);
	cr_expect(!privs_account_shared(&knlb, "knlb", why, sizeof(why)),
		  "a dedicated system user: %s", why);
	knlb.pw_shell = (char *)"/bin/false";
	cr_expect(!privs_account_shared(&knlb, "knlb", why, sizeof(why)));
}
