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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "knlb/config/reader.h"
#include "knlb/lib/grow.h"

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

/*
 * Read one line into r->buf, keeping its first keep bytes and counting the
 * rest without storing it: memory stays bounded whatever the file holds.
 * Returns 1 with *total (bytes before the newline), 0 at end of file, or -1
 * after reporting a read error or a line over CONFIG_LINE_MAX.  getc() is
 * used rather than getline(): getline() fails the same way for ENOMEM as at
 * end of file, and glibc does not set the stream's error flag for it.
 */
static int read_line(struct config_reader *r, size_t keep, size_t *total,
		     bool *nul)
{
	size_t n = 0;
	int c;

	*nul = false;
	for (;;) {
		errno = 0;
		c = getc(r->in);
		if (c == EOF)
			break;
		if (c == '\n')
			goto out_line;
		if (c == '\0')
			*nul = true;
		if (n < keep)
			r->buf[n] = (char)c;
		if (++n > CONFIG_LINE_MAX) {
			char msg[96];

			snprintf(msg, sizeof(msg),
				 "line longer than %d bytes: stopped reading (is this a configuration file?)",
				 CONFIG_LINE_MAX);
			r->ops->error(r->ctx, r->lineno + 1, msg);
			r->failed = true;
			return -1;
		}
	}
	if (ferror(r->in)) {
		char msg[128];
		int err = errno ? errno : EIO;

		snprintf(msg, sizeof(msg), "read error after line %d: %s",
			 r->lineno, strerror(err));
		r->ops->error(r->ctx, 0, msg);
		r->failed = true;
		return -1;
	}
	if (n == 0)
		return 0;
out_line:
	*total = n;
	return 1;
}

char *config_reader_line(char *str, int num, void *stream)
{
	struct config_reader *r = stream;
	/* Room for a line inih can hold plus a BOM and a '\r'. */
	size_t keep = num > 1 ? (size_t)num + 4 : 1;
	size_t total = 0, len;
	char *line;
	const char *pass;
	bool nul;

	if (num < 2 || r->failed)
		return NULL;
	if (grow(&r->buf, &r->buf_cap, keep, 1, keep) < 0) {
		r->ops->error(r->ctx, 0, "out of memory");
		r->failed = true;
		return NULL;
	}
	if (read_line(r, keep, &total, &nul) <= 0)
		return NULL;
	r->lineno++;

	line = r->buf;
	if (total < keep && total > 0 && line[total - 1] == '\r')
		total--;
	len = total < keep ? total : keep - 1;
	line[len] = '\0';
	if (r->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		total -= 3;
	}

	pass = "";
	if (nul) {
		r->ops->error(r->ctx, r->lineno, "line contains a NUL byte");
	} else if (total > (size_t)num - 1) {
		/* Room for "line too long (max INT_MAX characters)". */
		char msg[48];

		snprintf(msg, sizeof(msg), "line too long (max %d characters)",
			 num - 1);
		r->ops->error(r->ctx, r->lineno, msg);
	} else {
		pass = line_check(r, line);
	}
	memmove(str, pass, strlen(pass) + 1);
	return str;
}
