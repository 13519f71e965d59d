/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A text report as a JSON array of its lines (json_lines.h). */
#include <string.h>

#include "knlb/ctl/json_lines.h"
#include "knlb/lib/json.h"

void ctl_json_lines(struct json_writer *w, const char *key, const char *text,
		    size_t len)
{
	json_key(w, key);
	json_array_begin(w);
	while (len) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) : len;

		json_string_len(w, text, n);
		n += nl != NULL;
		text += n;
		len -= n;
	}
	json_array_end(w);
}
