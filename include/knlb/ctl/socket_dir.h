/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CTL_SOCKET_DIR_H
#define KNLB_CTL_SOCKET_DIR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Is the control socket's directory safe (lib/safe_path.h, for the
 * calling process's effective uid)?  Whoever can write to it can replace
 * the socket and answer knlbctl in knlbd's name, or take the commands
 * meant for it.  knlbd refuses to listen there; knlbctl refuses to talk.
 *
 * A root-owned sticky directory (/tmp) is accepted: nobody can rename or
 * remove another's socket there, but anyone can create one while knlbd is
 * not running.  knlbd deals with such a file itself at bind (a live one
 * is refused, a dead one replaced); a client (connecting true) accepts the
 * socket only when root or the client itself owns it.
 *
 * 0, or -errno with err a sentence naming the directory, what is wrong
 * and the fix; -ENOENT when a directory does not exist (knlbd creates it,
 * knlbctl then reports the socket missing as usual).
 */
int ctl_socket_dir_check(const char *socket_path, bool connecting, char *err,
			 size_t errlen);

#endif
