/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's directory, checked by knlbd before it listens and
 * by knlbctl before it connects (docs/security.md).  Both trust root and
 * themselves: the shipped unit makes /run/knlb root's, 0755, and knlbd
 * creates what is missing the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "knlb/ctl/socket_dir.h"
#include "knlb/lib/safe_path.h"

int ctl_socket_dir_check(const char *socket_path, char *err, size_t errlen)
{
	char why[512];
	int ret = safe_parent_check(socket_path, geteuid(), why, sizeof(why));

	if (ret == 0)
		return 0;
	if (ret == -EPERM || ret == -ENOTDIR)
		snprintf(err, errlen,
			 "unsafe directory: %s: another user could replace the socket and answer knlbctl, or read its commands (make every directory up to / root's and not writable by group or others, or choose another control_socket)",
			 why);
	else
		snprintf(err, errlen, "cannot check the directory of %s: %s",
			 socket_path, why);
	return ret;
}
