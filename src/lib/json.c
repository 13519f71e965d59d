/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Streaming JSON writer; see include/knlb/lib/json.h. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/json.h"

void json_init(struct json_writer *w, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void json_fail(struct json_writer *w, int err)
{
	if (!w->error)
		w->error = err;
}

/*
 * Before any value: is a value allowed here?  Writes the separator it
 * needs (a comma between array elements; the key already wrote its colon).
 */
static bool value_start(struct json_writer *w)
{
	if (w->error)
		return false;
	if (w->done) {
		json_fail(w, -EINVAL);		/* a second top-level value */
		return false;
	}
	if (w->depth == 0)
		return true;
	if (w->is_object[w->depth - 1]) {
		if (!w->have_key) {
			json_fail(w, -EINVAL);	/* a member needs its key */
			return false;
		}
		w->have_key = false;
	} else if (w->members[w->depth - 1]) {
		fputc(',', w->out);
	}
	w->members[w->depth - 1]++;
	return true;
}

/* After a value: the top-level one ends the line. */
static void value_end(struct json_writer *w)
{
	if (w->depth == 0) {
		fputc('\n', w->out);
		w->done = true;
	}
	if (ferror(w->out))
		json_fail(w, -EIO);
}

static void container_begin(struct json_writer *w, bool object)
{
	if (w->depth == JSON_MAX_DEPTH) {
		json_fail(w, -EINVAL);
		return;
	}
	if (!value_start(w))
		return;
	fputc(object ? '{' : '[', w->out);
	w->is_object[w->depth] = object;
	w->members[w->depth] = 0;
	w->depth++;
}

static void container_end(struct json_writer *w, bool object)
{
	if (w->error)
		return;
	if (w->depth == 0 || w->is_object[w->depth - 1] != object ||
	    w->have_key) {
		json_fail(w, -EINVAL);
		return;
	}
	fputc(object ? '}' : ']', w->out);
	w->depth--;
	value_end(w);
}

void json_object_begin(struct json_writer *w)
{
	container_begin(w, true);
}

void json_object_end(struct json_writer *w)
{
	container_end(w, true);
}

void json_array_begin(struct json_writer *w)
{
	container_begin(w, false);
}

void json_array_end(struct json_writer *w)
{
	container_end(w, false);
}

static void write_escaped(FILE *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c < 0x20) {
			fputs("\\u00", out);
			fputc(hex[c >> 4], out);
			fputc(hex[c & 0xf], out);
		} else {
			fputc(c, out);
		}
	}
	fputc('"', out);
}

void json_key(struct json_writer *w, const char *key)
{
	if (w->error)
		return;
	if (!key || w->depth == 0 || !w->is_object[w->depth - 1] ||
	    w->have_key) {
		json_fail(w, -EINVAL);
		return;
	}
	if (w->members[w->depth - 1])
		fputc(',', w->out);
	write_escaped(w->out, key, strlen(key));
	fputc(':', w->out);
	w->have_key = true;
}

void json_string_len(struct json_writer *w, const char *s, size_t len)
{
	if (!s && len) {
		json_fail(w, -EINVAL);
		return;
	}
	if (!value_start(w))
		return;
	write_escaped(w->out, s ? s : "", len);
	value_end(w);
}

void json_string(struct json_writer *w, const char *s)
{
	if (!s) {
		json_null(w);
		return;
	}
	json_string_len(w, s, strlen(s));
}

void json_int(struct json_writer *w, int64_t v)
{
	if (!value_start(w))
		return;
	fprintf(w->out, "%" PRId64, v);
	value_end(w);
}

void json_uint(struct json_writer *w, uint64_t v)
{
	if (!value_start(w))
		return;
	fprintf(w->out, "%" PRIu64, v);
	value_end(w);
}

/*
 * %.17g always reads back exactly but prints 0.1 as 0.10000000000000001;
 * the first precision from 15 up that reads back is the short, exact form.
 * %g never prints inf/nan here (handled before), and its exponent form
 * (1e+300) is valid JSON.
 */
void json_double(struct json_writer *w, double v)
{
	char buf[32];

	if (!isfinite(v)) {
		json_null(w);
		return;
	}
	if (!value_start(w))
		return;
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, w->out);
	value_end(w);
}

void json_bool(struct json_writer *w, bool v)
{
	if (!value_start(w))
		return;
	fputs(v ? "true" : "false", w->out);
	value_end(w);
}

void json_null(struct json_writer *w)
{
	if (!value_start(w))
		return;
	fputs("null", w->out);
	value_end(w);
}

int json_error(const struct json_writer *w)
{
	if (w->error)
		return w->error;
	return ferror(w->out) ? -EIO : 0;
}

bool json_complete(const struct json_writer *w)
{
	return w->done;
}
