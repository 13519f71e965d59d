/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_PRIVS_H
#define KNLB_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Least privilege once every socket is open.  What knlbd needs afterwards
 * is CAP_NET_ADMIN alone: nftables transactions, conntrack events, dumps
 * and deletes, and SO_RCVBUFFORCE on its netlink sockets.  Health probes
 * are ordinary connected TCP/UDP sockets and libcurl: no CAP_NET_RAW.
 */

/*
 * Keep CAP_NET_ADMIN and nothing else, for good: in the effective and
 * permitted sets; the inheritable and ambient sets emptied; every other
 * capability dropped from the bounding set; PR_SET_NO_NEW_PRIVS set.
 * With user (not NULL, not ""), first switch to that user: its uid, its
 * primary gid and its supplementary groups (initgroups(3)), keeping
 * CAP_NET_ADMIN across the switch.
 *
 * Needs CAP_SETPCAP to shrink the bounding set (without it, as when started
 * unprivileged with ambient CAP_NET_ADMIN, the bounding set is left as it is
 * and a warning logged: with no_new_privs and empty inheritable/ambient sets
 * nothing can regain a capability from it), CAP_SETUID and CAP_SETGID for
 * user.  Returns 0, or -errno with a sentence in err; on failure the process
 * may be half-way (some capabilities gone): the caller must exit.
 */
int privs_drop(const char *user, char *err, size_t errlen);

/*
 * For a process that parses what the network sends (health probes, metrics
 * scrapes): no capability at all, in any set, the bounding set included;
 * no_new_privs; switched to user, or to "nobody" when user is NULL or ""
 * and the process runs as root.  Same contract as privs_drop() otherwise:
 * on failure the process must exit.
 */
int privs_drop_all(const char *user, char *err, size_t errlen);

/*
 * chown path to user (its uid and primary gid), for what knlbd creates as
 * root before privs_drop() and must still own afterwards: the control
 * socket and its directory.  user NULL or "" is a no-op.  Does not follow
 * a symlink at path.  Returns 0, or -errno with a sentence in err.
 */
int privs_chown_path(const char *path, const char *user, char *err,
		     size_t errlen);

struct passwd;

/*
 * Is pw (with its primary group's name, NULL if none) an account other
 * programs run as?  Whatever runs as knlbd's user can drive the control
 * socket (drain, reweight) and replace it.  Shared: "nobody" or the
 * overflow uid 65534, the primary group nogroup/nobody (gid 65534), or a
 * login shell (a person's account).  A dedicated account (adduser
 * --system: nologin shell, its own group) is not.  true with the reason
 * in why.
 */
bool privs_account_shared(const struct passwd *pw, const char *group,
			  char *why, size_t whylen);

#endif
