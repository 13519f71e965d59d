/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's directory, checked by knlbd before it listens and
 * by knlbctl before it connects (docs/security.md).  Both trust root and
 * themselves: the shipped unit makes /run/knlb root's, 0755, and knlbd
 * creates what is missing the same way.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knlb/ctl/socket_dir.h"
#include "knlb/lib/safe_path.h"

/* In a sticky directory: the socket must be root's or ours, or absent. */
static int check_socket_owner(const char *socket_path, char *err, size_t errlen)
{
	struct passwd *pw;
	struct stat st;

	if (lstat(socket_path, &st) == -1)
		return errno == ENOENT ? 0 : -errno;
	if (st.st_uid == 0 || st.st_uid == geteuid())
		return 0;
	pw = getpwuid(st.st_uid);
	snprintf(err, errlen,
		 "unsafe socket: %s is owned by %s%s%u%s, in a directory where anyone may create it: it need not be knlbd's (keep the control socket in a directory of root's, such as /run/knlb)",
		 socket_path, pw ? pw->pw_name : "", pw ? " (uid " : "uid ",
		 (unsigned)st.st_uid, pw ? ")" : "");
	return -EPERM;
}

int ctl_socket_dir_check(const char *socket_path, bool connecting, char *err,
			 size_t errlen)
{
	char why[512];
	bool sticky = false;
	int ret = safe_parent_check(socket_path, geteuid(), &sticky, why,
				    sizeof(why));

	if (ret == 0)
		return sticky && connecting ?
		       check_socket_owner(socket_path, err, errlen) : 0;
	if (ret == -EPERM || ret == -ENOTDIR)
		snprintf(err, errlen,
			 "unsafe directory: %s: another user could replace the socket and answer knlbctl, or read its commands (make every directory up to / root's and not writable by group or others, or choose another control_socket)",
			 why);
	else
		snprintf(err, errlen, "cannot check the directory of %s: %s",
			 socket_path, why);
	return ret;
}
