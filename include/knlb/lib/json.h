/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_JSON_H
#define KNLB_JSON_H

#include <stdint.h>
#include <stdio.h>
#include "knlb/lib/json-t.h"

/*
 * A small streaming JSON writer for `knlbctl ... --json` replies: one value
 * on one line, then "\n" once the top-level value is complete.  The writer
 * puts in the commas and the colons; the caller says what comes next:
 *
 *	struct json_writer w;
 *
 *	json_init(&w, out);
 *	json_object_begin(&w);
 *	json_key(&w, "service"); json_string(&w, "web");
 *	json_key(&w, "backends"); json_array_begin(&w); ... json_array_end(&w);
 *	json_object_end(&w);
 *	if (json_error(&w)) ...
 *
 * Misuse (a key inside an array, a value in an object without its key, an
 * end that does not match, a second top-level value, nesting deeper than
 * JSON_MAX_DEPTH) writes nothing more and makes json_error() return
 * -EINVAL, so a bug shows as an error instead of as invalid JSON.  Strings
 * are written as given (bytes >= 0x80 pass through: UTF-8 stays UTF-8);
 * quotes, backslashes and control characters are escaped.  Doubles use the
 * C locale's '.', which is what knlbd runs in.
 */

void json_init(struct json_writer *w, FILE *out);

void json_object_begin(struct json_writer *w);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w);
void json_array_end(struct json_writer *w);

/* The next member's name; only inside an object.  NULL is misuse. */
void json_key(struct json_writer *w, const char *key);

/* A NUL-terminated string; NULL writes null. */
void json_string(struct json_writer *w, const char *s);
/* len bytes of s, which may contain NUL (written as \u0000). */
void json_string_len(struct json_writer *w, const char *s, size_t len);
void json_int(struct json_writer *w, int64_t v);
void json_uint(struct json_writer *w, uint64_t v);
/* Shortest form that reads back as the same double; NaN and inf as null. */
void json_double(struct json_writer *w, double v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);

/*
 * 0 when everything so far was well-formed and written, -EINVAL after
 * misuse, -EIO when the stream reported an error.  Does not say whether the
 * top-level value is complete: json_complete() does.
 */
int json_error(const struct json_writer *w);
bool json_complete(const struct json_writer *w);

#endif
