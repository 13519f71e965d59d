/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Config line reader: every raw line passes here before inih sees it.
 *
 * inih cannot count lines for us (Debian builds it without
 * INI_HANDLER_LINENO) and gets some lines wrong without a word: it cuts
 * lines too long for its buffer, glues indented lines onto the previous
 * value, reports only the first malformed line and never mentions a
 * section header with no key under it.  So the reader counts lines, checks
 * each one and hands inih only what it will read the way we mean.  A
 * rejected line is handed over as an empty line, so that line numbers stay
 * aligned.
 *
 * What a section or key means is not decided here: headers go to the
 * user's section callback, keys through inih to its key handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "knlb/config/reader.h"

void config_reader_init(struct config_reader *r, FILE *in,
			const struct config_reader_ops *ops, void *ctx)
{
	*r = (struct config_reader){ .in = in, .ops = ops, .ctx = ctx };
}

void config_reader_release(struct config_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->buf_cap = 0;
}

static void report_syntax(struct config_reader *r)
{
	r->ops->error(r->ctx, r->lineno, CONFIG_READER_SYNTAX_ERROR);
}

/*
 * A "[...]" line: only blanks or a ';' comment may follow the ']'.  inih
 * would ignore anything there, but "[service web] port = 80" is a mistake.
 */
static bool section_line(struct config_reader *r, char *s)
{
	char *close = strchr(s, ']'), *rest, *start, *end, saved;

	if (!close)
		return false;
	for (rest = close + 1; config_is_blank(*rest); rest++)
		;
	if (*rest && *rest != ';')
		return false;

	start = s + 1;
	while (config_is_blank(*start))
		start++;
	end = close;
	while (end > start && config_is_blank(end[-1]))
		end--;
	/* Trim in place for the callback, then restore for inih. */
	saved = *end;
	*end = '\0';
	r->ops->section(r->ctx, start);
	*end = saved;
	return true;
}

/*
 * "key = value": a key is one word followed by '='.  inih also accepts
 * ':' as separator, which would read "backend 10.0.0.1:80" as a key
 * "backend 10.0.0.1" with value "80"; we do not.
 */
static bool key_line(const char *s)
{
	size_t sep = strcspn(s, "=:");
	size_t len = sep;

	if (s[sep] != '=')
		return false;
	while (len > 0 && config_is_blank(s[len - 1]))
		len--;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (config_is_blank(s[i]))
			return false;
	return true;
}

/*
 * Returns the text to hand to inih: the line, or "" when it was reported
 * and must not reach inih.  An indented line is reported, then read as if
 * it were not indented, so that one stray tab gives one error and not also
 * "service has no port".
 */
static const char *line_check(struct config_reader *r, char *line)
{
	char *s = line;

	while (config_is_blank(*s))
		s++;
	if (!*s || *s == ';' || *s == '#')
		return line;
	if (s != line)
		r->ops->error(r->ctx, r->lineno,
			      "indented line (keys and sections must start in column 1: an indented line continues the previous value)");
	if (*s == '[') {
		if (section_line(r, s))
			return s;
		report_syntax(r);
		r->ops->bad_section(r->ctx);
		return "";
	}
	if (!key_line(s)) {
		report_syntax(r);
		return "";
	}
	return s;
}

char *config_reader_line(char *str, int num, void *stream)
{
	struct config_reader *r = stream;
	ssize_t len = getline(&r->buf, &r->buf_cap, r->in);
	char *line = r->buf;
	const char *pass;

	if (len == -1 || num < 2)
		return NULL;
	r->lineno++;

	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (r->lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}

	pass = "";
	if ((size_t)len != strlen(line)) {
		r->ops->error(r->ctx, r->lineno, "line contains a NUL byte");
	} else if (len > num - 1) {
		/* Room for "line too long (max INT_MIN characters)". */
		char msg[48];

		snprintf(msg, sizeof(msg), "line too long (max %d characters)",
			 num - 1);
		r->ops->error(r->ctx, r->lineno, msg);
	} else {
		pass = line_check(r, line);
	}
	memcpy(str, pass, strlen(pass) + 1);
	return str;
}
