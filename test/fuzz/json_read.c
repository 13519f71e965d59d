/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness: the JSON reader (src/lib/json_read.c) with which knlbctl
 * reads knlbd's --json replies.  knlbctl trusts the socket path, not what
 * answers on it (issue 13: a replaced socket can answer root's knlbctl),
 * so the reader takes any bytes.  The input is the reply body; a parsed
 * tree is walked with json_get(), json_get_uint() and json_get_str() as
 * knlbctl does, then freed.  Seeds: real replies of knlbd.  See
 * docs/fuzzing.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/json_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct json_value *v, int depth)
{
	uint64_t u;

	if (depth > JSON_READ_MAX_DEPTH + 1)
		__builtin_trap();	/* the reader promised a bound */
	if (v->kind != JSON_ARRAY && v->kind != JSON_OBJECT)
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct json_value *item = &v->items[i];

		if (v->kind == JSON_OBJECT) {
			if (!item->key || json_get(v, item->key) == NULL)
				__builtin_trap();
			json_get_uint(v, item->key, &u);
			json_get_str(v, item->key);
		}
		walk(item, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_value *v = NULL;
	char *text;

	text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (json_parse(text, &v) == 0) {
		walk(v, 0);
		json_get(v, "services");
	} else if (v) {
		__builtin_trap();	/* an error leaves *out NULL */
	}
	json_value_free(v);
	free(text);
	return 0;
}
