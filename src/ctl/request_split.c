/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Splitting a control request line into words, apart from the socket
 * code so the unit tests and the fuzz harness (test/fuzz/ctl_request.c)
 * reach it without a socket (request.c runs the handler).  See
 * include/knlb/ctl/request.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "knlb/ctl/request.h"
#include "knlb/ctl/server.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int ctl_request_split(char *line, size_t len, char **argv, int *argc,
		      char *err, size_t errlen)
{
	int n = 0;
	char *p;

	*argc = 0;
	argv[0] = NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && !is_blank((char)c)) || c == 0x7f) {
			snprintf(err, errlen, "request is not text");
			return -EINVAL;
		}
	}
	for (p = line; *p; ) {
		while (is_blank(*p))
			*p++ = '\0';
		if (!*p)
			break;
		if (n == CTL_MAX_ARGS) {
			snprintf(err, errlen, "too many words (max %d)",
				 CTL_MAX_ARGS);
			return -EINVAL;
		}
		argv[n++] = p;
		while (*p && !is_blank(*p))
			p++;
	}
	argv[n] = NULL;
	if (n == 0) {
		snprintf(err, errlen, "empty request");
		return -EINVAL;
	}
	*argc = n;
	return 0;
}
