/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Splitting a control request line into words (src/ctl/request.c). */
#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/ctl/request.h"
#include "knlb/ctl/server.h"

struct split {
	char line[CTL_REQUEST_MAX];
	char *argv[CTL_MAX_ARGS + 1];
	char err[64];
	int argc;
	int rc;
};

static void split(struct split *s, const char *text)
{
	size_t len = strlen(text);

	cr_assert_lt(len, sizeof(s->line));
	memcpy(s->line, text, len + 1);
	s->err[0] = '\0';
	s->rc = ctl_request_split(s->line, len, s->argv, &s->argc, s->err,
				  sizeof(s->err));
}

Test(ctl_request, words_between_blanks)
{
	struct split s;

	split(&s, " \tweight  web\tbe1 5 ");
	cr_assert_eq(s.rc, 0);
	cr_assert_eq(s.argc, 4);
	cr_assert_str_eq(s.argv[0], "weight");
	cr_assert_str_eq(s.argv[1], "web");
	cr_assert_str_eq(s.argv[2], "be1");
	cr_assert_str_eq(s.argv[3], "5");
	cr_assert_null(s.argv[4]);
}

Test(ctl_request, control_bytes_are_refused)
{
	struct split s;

	split(&s, "status\r");
	cr_assert_eq(s.rc, -EINVAL);
	cr_assert_str_eq(s.err, "request is not text");
	split(&s, "status \x7f");
	cr_assert_eq(s.rc, -EINVAL);
	/* Bytes above 0x7f are text (UTF-8 service names): the handler judges. */
	split(&s, "status caf\xc3\xa9");
	cr_assert_eq(s.rc, 0);
	cr_assert_eq(s.argc, 2);
}

Test(ctl_request, at_most_ctl_max_args_words)
{
	char text[CTL_REQUEST_MAX] = "";
	struct split s;

	for (int i = 0; i < CTL_MAX_ARGS; i++)
		strcat(text, "w ");
	split(&s, text);
	cr_assert_eq(s.rc, 0);
	cr_assert_eq(s.argc, CTL_MAX_ARGS);
	cr_assert_null(s.argv[CTL_MAX_ARGS]);
	strcat(text, "one-more");
	split(&s, text);
	cr_assert_eq(s.rc, -EINVAL);
	cr_assert_str_eq(s.err, "too many words (max 16)");
	cr_assert_eq(s.argc, 0);
}

Test(ctl_request, blank_line_is_an_empty_request)
{
	struct split s;

	split(&s, "");
	cr_assert_eq(s.rc, -EINVAL);
	cr_assert_str_eq(s.err, "empty request");
	split(&s, " \t ");
	cr_assert_eq(s.rc, -EINVAL);
	cr_assert_str_eq(s.err, "empty request");
}
