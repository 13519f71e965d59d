/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_SAFE_PATH_H
#define KNLB_SAFE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Can anyone but root and uid replace what is in directory dir?  Whoever
 * can write to a directory can rename, remove and create its entries: a
 * socket there can be swapped for one that answers in its owner's name.
 * OpenSSH's safe_path() rule, every directory from / down to dir:
 *
 * - owned by root or by uid;
 * - not writable by group or others, except a sticky directory owned by
 *   root (like /tmp) above dir: there others cannot remove or rename what
 *   they do not own.  dir itself may be one only when sticky is not NULL
 *   (*sticky is then set true): anyone may create an entry there, so the
 *   caller must check the owner of the entry it uses;
 * - a symbolic link on the way must be owned by root or uid (its target
 *   is checked too: the chain is checked as written, with lstat, and
 *   resolved, with realpath).
 *
 * A relative dir is taken from the current directory.  Returns 0, or
 * -errno with err naming the directory and what is wrong ("/run/x is
 * writable by group and others (mode 0777)"): -EPERM unsafe, -ENOTDIR,
 * -ENOENT (a component is missing), or what lstat or realpath returned.
 */
int safe_dir_check(const char *dir, uid_t uid, bool *sticky, char *err,
		   size_t errlen);

/* safe_dir_check() of the directory path is in ("." for a bare name). */
int safe_parent_check(const char *path, uid_t uid, bool *sticky, char *err,
		      size_t errlen);

#endif
