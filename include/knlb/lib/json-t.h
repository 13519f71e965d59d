/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_JSON_T_H
#define KNLB_JSON_T_H

#include <stdbool.h>
#include <stdio.h>

/* Objects and arrays nest at most this deep; deeper is a writer error. */
#define JSON_MAX_DEPTH	16

/*
 * A streaming JSON writer's state: where it writes and, per open container,
 * whether it is an object and how many members it has so far.  Lives on the
 * caller's stack; no allocation.
 */
struct json_writer {
	FILE *out;
	unsigned depth;				/* open containers */
	bool is_object[JSON_MAX_DEPTH];
	unsigned members[JSON_MAX_DEPTH];	/* values written in it */
	bool have_key;		/* in an object: a key waits for its value */
	bool done;		/* the top-level value is complete */
	int error;		/* 0, or the first -errno (misuse: -EINVAL) */
};

#endif
