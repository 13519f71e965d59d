/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's directory: what another user could write to (mode,
 * owner, a symbolic link on the way) is refused with the directory named;
 * what only root or we can change is accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/ctl/socket_dir.h"
#include "knlb/lib/safe_path.h"

#define OTHER_UID	54321	/* nobody we know: no passwd entry */

static char top[64];
static char err[1024];

static void make_top(void)
{
	snprintf(top, sizeof(top), "/tmp/knlb-safe-XXXXXX");
	cr_assert_not_null(mkdtemp(top));	/* 0700, ours, in root's sticky /tmp */
	err[0] = '\0';
}

static void remove_top(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(safe_path, .init = make_top, .fini = remove_top);

/* top/rel as a directory with mode; its path in buf. */
static const char *mkdir_mode(const char *rel, mode_t mode, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", top, rel);
	cr_assert_eq(mkdir(buf, 0700), 0, "%s: %s", buf, strerror(errno));
	cr_assert_eq(chmod(buf, mode), 0);
	return buf;
}

static int check(const char *dir)
{
	err[0] = '\0';
	return safe_dir_check(dir, geteuid(), NULL, err, sizeof(err));
}

static void skip_unless_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("chown to another user needs root");
}

Test(safe_path, a_private_directory_in_tmp_is_safe)
{
	char d[128];

	cr_expect_eq(check(top), 0, "%s", err);
	cr_expect_eq(check(mkdir_mode("a", 0755, d, sizeof(d))), 0, "%s", err);
	cr_expect_eq(check("/"), 0, "%s", err);
	cr_expect_eq(check("/tmp/../tmp/./"), -EPERM, "/tmp itself: %s", err);
}

Test(safe_path, a_directory_anyone_may_write_is_refused)
{
	char d[128], want[192];

	mkdir_mode("open", 0777, d, sizeof(d));
	cr_expect_eq(check(d), -EPERM);
	snprintf(want, sizeof(want), "%s is writable by group and others (mode 0777)", d);
	cr_expect(strstr(err, want), "%s", err);
}

Test(safe_path, a_group_writable_directory_is_refused)
{
	char d[128], want[192];

	mkdir_mode("grp", 0770, d, sizeof(d));
	cr_expect_eq(check(d), -EPERM);
	snprintf(want, sizeof(want), "%s is writable by group (mode 0770)", d);
	cr_expect(strstr(err, want), "%s", err);
}

/* /tmp itself: others may create the socket while knlbd is stopped. */
Test(safe_path, a_sticky_directory_is_refused_as_the_sockets_own)
{
	char d[128];

	mkdir_mode("sticky", 01777, d, sizeof(d));
	cr_expect_eq(check(d), -EPERM);
	cr_expect(strstr(err, "(mode 1777, sticky, but anyone may create the socket there first)"),
		  "%s", err);
	cr_expect_eq(check("/tmp"), -EPERM, "%s", err);
	/* Unless the caller checks the entry's owner: not a root-owned one here. */
	if (geteuid() != 0) {
		bool sticky;

		cr_expect_eq(safe_dir_check(d, geteuid(), &sticky, err, sizeof(err)), -EPERM);
	}
}

Test(safe_path, a_writable_directory_above_is_refused_and_named)
{
	char d[128], inner[160], want[192];

	mkdir_mode("open", 0777, d, sizeof(d));
	snprintf(inner, sizeof(inner), "%s/inner", d);
	cr_assert_eq(mkdir(inner, 0700), 0);
	cr_expect_eq(check(inner), -EPERM);
	snprintf(want, sizeof(want), "%s is writable by", d);
	cr_expect(strstr(err, want), "%s", err);
}

/* A root-owned sticky directory above (like /tmp) is fine: others cannot rename ours. */
Test(safe_path, a_root_sticky_directory_above_is_accepted)
{
	char d[128], inner[160];

	skip_unless_root();
	mkdir_mode("sticky", 01777, d, sizeof(d));
	snprintf(inner, sizeof(inner), "%s/inner", d);
	cr_assert_eq(mkdir(inner, 0700), 0);
	cr_expect_eq(check(inner), 0, "%s", err);
	/* Sticky but not root's: its owner may still do as it likes. */
	cr_assert_eq(chown(d, OTHER_UID, OTHER_UID), 0);
	cr_expect_eq(check(inner), -EPERM);
}

Test(safe_path, a_directory_owned_by_another_user_is_refused)
{
	char d[128], want[192];

	skip_unless_root();
	mkdir_mode("theirs", 0755, d, sizeof(d));
	cr_assert_eq(chown(d, OTHER_UID, 0), 0);
	cr_expect_eq(check(d), -EPERM);
	snprintf(want, sizeof(want), "%s is owned by uid %d, not root", d, OTHER_UID);
	cr_expect(strstr(err, want), "%s", err);
}

Test(safe_path, a_symlink_to_a_safe_directory_is_followed_and_checked)
{
	char d[128], link[160], open_dir[128];

	mkdir_mode("real", 0700, d, sizeof(d));
	snprintf(link, sizeof(link), "%s/link", top);
	cr_assert_eq(symlink(d, link), 0);
	cr_expect_eq(check(link), 0, "%s", err);

	/* The link is ours, its target is not safe: refused, the path named. */
	mkdir_mode("open", 0777, open_dir, sizeof(open_dir));
	cr_assert_eq(unlink(link), 0);
	cr_assert_eq(symlink(open_dir, link), 0);
	cr_expect_eq(check(link), -EPERM);
	cr_expect(strstr(err, "is writable by group and others"), "%s", err);
	cr_expect(strstr(err, "link leads there"), "%s", err);
}

Test(safe_path, a_symlink_owned_by_another_user_is_refused)
{
	char d[128], link[160], want[224];

	skip_unless_root();
	mkdir_mode("real", 0700, d, sizeof(d));
	snprintf(link, sizeof(link), "%s/link", top);
	cr_assert_eq(symlink(d, link), 0);
	cr_assert_eq(lchown(link, OTHER_UID, OTHER_UID), 0);
	cr_expect_eq(check(link), -EPERM);
	snprintf(want, sizeof(want), "%s (a symbolic link) is owned by uid %d", link, OTHER_UID);
	cr_expect(strstr(err, want), "%s", err);
}

Test(safe_path, missing_and_not_a_directory)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/absent/deeper", top);
	cr_expect_eq(check(path), -ENOENT, "%s", err);
	snprintf(path, sizeof(path), "%s/file", top);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(check(path), -ENOTDIR, "%s", err);
}

Test(safe_path, the_sockets_parent_is_the_one_checked)
{
	char d[128], sock[160];

	mkdir_mode("open", 0777, d, sizeof(d));
	snprintf(sock, sizeof(sock), "%s/knlb.sock", d);
	cr_expect_eq(safe_parent_check(sock, geteuid(), NULL, err, sizeof(err)), -EPERM);
	snprintf(sock, sizeof(sock), "%s/knlb.sock", top);
	cr_expect_eq(safe_parent_check(sock, geteuid(), NULL, err, sizeof(err)), 0, "%s", err);
}

Test(safe_path, the_control_socket_error_says_what_to_do)
{
	char d[128], sock[160], msg[2048];

	mkdir_mode("open", 0777, d, sizeof(d));
	snprintf(sock, sizeof(sock), "%s/knlb.sock", d);
	cr_expect_eq(ctl_socket_dir_check(sock, false, msg, sizeof(msg)), -EPERM);
	cr_expect(strstr(msg, "unsafe directory: "), "%s", msg);
	cr_expect(strstr(msg, d), "%s", msg);
	cr_expect(strstr(msg, "another user could replace the socket"), "%s", msg);
}

/* /tmp itself: knlbd handles what it finds at bind; a client checks the owner. */
Test(safe_path, a_socket_in_a_root_sticky_directory_must_be_root_or_ours)
{
	char sock[96], msg[2048], want[256];
	bool sticky = false;
	FILE *f;

	skip_unless_root();
	cr_assert_eq(chmod(top, 01777), 0);	/* ours, root's: we are root */
	cr_expect_eq(safe_dir_check(top, geteuid(), &sticky, err, sizeof(err)), 0, "%s", err);
	cr_expect(sticky);
	snprintf(sock, sizeof(sock), "%s/knlb.sock", top);
	cr_expect_eq(ctl_socket_dir_check(sock, true, msg, sizeof(msg)), 0, "absent: %s", msg);
	f = fopen(sock, "w");		/* the owner is what is checked */
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(ctl_socket_dir_check(sock, true, msg, sizeof(msg)), 0, "root's: %s", msg);
	cr_assert_eq(chown(sock, OTHER_UID, OTHER_UID), 0);
	cr_expect_eq(ctl_socket_dir_check(sock, true, msg, sizeof(msg)), -EPERM);
	snprintf(want, sizeof(want), "unsafe socket: %s is owned by uid %d, in a directory where anyone may create it",
		 sock, OTHER_UID);
	cr_expect(strstr(msg, want), "%s", msg);
	/* knlbd: replaces a dead one or refuses a live one at bind itself. */
	cr_expect_eq(ctl_socket_dir_check(sock, false, msg, sizeof(msg)), 0, "%s", msg);
}
