/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_JSON_READ_H
#define KNLB_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A small JSON reader for what knlbd writes (json.h): the whole text into
 * a tree.  Numbers keep their exact unsigned value when they are
 * non-negative integers (counters above 2^53 stay exact).  Strings are
 * unescaped; \u escapes become UTF-8.
 */
enum json_kind {
	JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT,
};

struct json_value {
	enum json_kind kind;
	char *key;			/* member name, inside an object */
	char *str;			/* JSON_STRING */
	double num;			/* JSON_NUMBER */
	uint64_t u;			/* JSON_NUMBER, when is_uint */
	bool is_uint;
	bool b;				/* JSON_BOOL */
	struct json_value *items;	/* JSON_ARRAY, JSON_OBJECT */
	size_t n, cap;
};

/*
 * Parse text (one value, blanks around it allowed).  0 with *out the
 * caller's to free with json_value_free(); -EINVAL (not JSON, or nested
 * deeper than JSON_READ_MAX_DEPTH) or -ENOMEM with *out NULL.
 */
#define JSON_READ_MAX_DEPTH 32
int json_parse(const char *text, struct json_value **out);
void json_value_free(struct json_value *v);

/* The member key of an object, or NULL (also when v is not an object). */
const struct json_value *json_get(const struct json_value *v, const char *key);
/* Member key as an unsigned integer; false when absent or not one. */
bool json_get_uint(const struct json_value *v, const char *key, uint64_t *out);
/* Member key as a string, or NULL. */
const char *json_get_str(const struct json_value *v, const char *key);

#endif
