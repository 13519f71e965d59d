/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON writer: exact output for escaping, nesting, numbers, misuse. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/lib/json.h"

struct sink {
	FILE *f;
	char *buf;
	size_t len;
	struct json_writer w;
};

static void sink_open(struct sink *s)
{
	s->buf = NULL;
	s->f = open_memstream(&s->buf, &s->len);
	cr_assert_not_null(s->f);
	json_init(&s->w, s->f);
}

/* Returns what was written; the caller frees it. */
static char *sink_close(struct sink *s)
{
	cr_assert_eq(fclose(s->f), 0);
	return s->buf;
}

#define expect_output(s, want) do {					\
	char *got_ = sink_close(s);					\
	cr_expect_str_eq(got_, want);					\
	free(got_);							\
} while (0)

Test(json, object_with_nested_array_and_every_type)
{
	struct sink s;

	sink_open(&s);
	json_object_begin(&s.w);
	json_key(&s.w, "service");
	json_string(&s.w, "web");
	json_key(&s.w, "backends");
	json_array_begin(&s.w);
	json_object_begin(&s.w);
	json_key(&s.w, "id");
	json_string(&s.w, "b1");
	json_key(&s.w, "weight");
	json_uint(&s.w, 3);
	json_key(&s.w, "up");
	json_bool(&s.w, true);
	json_object_end(&s.w);
	json_object_begin(&s.w);
	json_object_end(&s.w);
	json_array_end(&s.w);
	json_key(&s.w, "empty");
	json_array_begin(&s.w);
	json_array_end(&s.w);
	json_key(&s.w, "reason");
	json_null(&s.w);
	json_key(&s.w, "draining");
	json_bool(&s.w, false);
	cr_expect_not(json_complete(&s.w));
	json_object_end(&s.w);
	cr_expect(json_complete(&s.w));
	cr_expect_eq(json_error(&s.w), 0);
	expect_output(&s, "{\"service\":\"web\",\"backends\":[{\"id\":\"b1\","
		      "\"weight\":3,\"up\":true},{}],\"empty\":[],"
		      "\"reason\":null,\"draining\":false}\n");
}

Test(json, array_elements_are_separated_by_commas)
{
	struct sink s;

	sink_open(&s);
	json_array_begin(&s.w);
	json_int(&s.w, 1);
	json_array_begin(&s.w);
	json_int(&s.w, 2);
	json_int(&s.w, 3);
	json_array_end(&s.w);
	json_string(&s.w, NULL);
	json_array_end(&s.w);
	cr_expect_eq(json_error(&s.w), 0);
	expect_output(&s, "[1,[2,3],null]\n");
}

Test(json, strings_escape_quotes_backslashes_and_control_characters)
{
	struct sink s;

	sink_open(&s);
	json_array_begin(&s.w);
	json_string(&s.w, "say \"hi\" \\ now");
	json_string(&s.w, "a\nb\tc\rd\x01" "e\x1f" "f\x7f");
	json_string(&s.w, "caf\xc3\xa9 \xff");		/* UTF-8 and a stray byte pass */
	json_string_len(&s.w, "x\0y", 3);
	json_string(&s.w, "");
	json_array_end(&s.w);
	cr_expect_eq(json_error(&s.w), 0);
	expect_output(&s, "[\"say \\\"hi\\\" \\\\ now\","
		      "\"a\\u000ab\\u0009c\\u000dd\\u0001e\\u001ff\x7f\","
		      "\"caf\xc3\xa9 \xff\",\"x\\u0000y\",\"\"]\n");
}

Test(json, keys_are_escaped_too)
{
	struct sink s;

	sink_open(&s);
	json_object_begin(&s.w);
	json_key(&s.w, "a\"b\n");
	json_int(&s.w, 0);
	json_object_end(&s.w);
	expect_output(&s, "{\"a\\\"b\\u000a\":0}\n");
}

Test(json, integers_cover_the_whole_64_bit_ranges)
{
	struct sink s;

	sink_open(&s);
	json_array_begin(&s.w);
	json_int(&s.w, INT64_MIN);
	json_int(&s.w, INT64_MAX);
	json_int(&s.w, -1);
	json_int(&s.w, 0);
	json_uint(&s.w, UINT64_MAX);
	json_array_end(&s.w);
	expect_output(&s, "[-9223372036854775808,9223372036854775807,-1,0,"
		      "18446744073709551615]\n");
}

Test(json, doubles_are_short_exact_and_non_finite_is_null)
{
	struct sink s;

	sink_open(&s);
	json_array_begin(&s.w);
	json_double(&s.w, 0.1);
	json_double(&s.w, 2.5);
	json_double(&s.w, 3.0);
	json_double(&s.w, -0.000123);
	json_double(&s.w, 1e300);
	json_double(&s.w, 1.0 / 3.0);
	json_double(&s.w, NAN);
	json_double(&s.w, INFINITY);
	json_double(&s.w, -INFINITY);
	json_array_end(&s.w);
	cr_expect_eq(json_error(&s.w), 0);
	expect_output(&s, "[0.1,2.5,3,-0.000123,1e+300,0.3333333333333333,"
		      "null,null,null]\n");
}

Test(json, scalar_at_top_level_ends_the_line)
{
	struct sink s;

	sink_open(&s);
	json_string(&s.w, "alone");
	cr_expect(json_complete(&s.w));
	expect_output(&s, "\"alone\"\n");
}

Test(json, nesting_to_the_limit_works_and_one_deeper_is_an_error)
{
	struct sink s;
	char want[2 * JSON_MAX_DEPTH + 2];

	sink_open(&s);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_array_begin(&s.w);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_array_end(&s.w);
	cr_expect_eq(json_error(&s.w), 0);
	memset(want, '[', JSON_MAX_DEPTH);
	memset(want + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	want[2 * JSON_MAX_DEPTH] = '\n';
	want[2 * JSON_MAX_DEPTH + 1] = '\0';
	expect_output(&s, want);

	sink_open(&s);
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_array_begin(&s.w);
	cr_expect_eq(json_error(&s.w), -EINVAL);
	sink_close(&s);
	free(s.buf);
}

/* Each misuse is an error and nothing more is written after it. */
Test(json, misuse_is_an_error_and_stops_output)
{
	struct sink s;

	sink_open(&s);			/* a value in an object without a key */
	json_object_begin(&s.w);
	json_int(&s.w, 1);
	json_key(&s.w, "k");
	json_int(&s.w, 2);
	json_object_end(&s.w);
	cr_expect_eq(json_error(&s.w), -EINVAL);
	expect_output(&s, "{");

	sink_open(&s);			/* a key in an array */
	json_array_begin(&s.w);
	json_key(&s.w, "k");
	cr_expect_eq(json_error(&s.w), -EINVAL);
	expect_output(&s, "[");

	sink_open(&s);			/* mismatched end */
	json_array_begin(&s.w);
	json_object_end(&s.w);
	cr_expect_eq(json_error(&s.w), -EINVAL);
	expect_output(&s, "[");

	sink_open(&s);			/* a key without a value */
	json_object_begin(&s.w);
	json_key(&s.w, "k");
	json_object_end(&s.w);
	cr_expect_eq(json_error(&s.w), -EINVAL);
	expect_output(&s, "{\"k\":");

	sink_open(&s);			/* two top-level values */
	json_int(&s.w, 1);
	json_int(&s.w, 2);
	cr_expect_eq(json_error(&s.w), -EINVAL);
	expect_output(&s, "1\n");

	sink_open(&s);			/* end with nothing open */
	json_array_end(&s.w);
	cr_expect_eq(json_error(&s.w), -EINVAL);
	expect_output(&s, "");
}
