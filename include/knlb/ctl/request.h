/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CTL_REQUEST_H
#define KNLB_CTL_REQUEST_H

#include <stddef.h>

/*
 * A control request line (without its '\n', len bytes, NUL-terminated at
 * line[len]) split in place into its words: blanks (space, tab) become
 * NULs, argv[0..*argc-1] point into line and argv[*argc] is NULL, so argv
 * needs CTL_MAX_ARGS + 1 slots (include/knlb/ctl/server.h).  Untrusted
 * bytes from any local client: 0, or -EINVAL with a one-line reason in
 * err ("request is not text", "too many words (max 16)", "empty request").
 */
int ctl_request_split(char *line, size_t len, char **argv, int *argc,
		      char *err, size_t errlen);

#endif
