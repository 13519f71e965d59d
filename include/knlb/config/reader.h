/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_READER_H
#define KNLB_CONFIG_READER_H

/*
 * Internal to the config parser: the line reader that sees every raw line
 * of a config file before inih does.  It counts lines (Debian's inih has no
 * INI_HANDLER_LINENO) and rejects what inih would get wrong silently: lines
 * too long for its buffer, NUL bytes, indented lines, lines that are neither
 * "key = value" nor "[section]".  It also hands every well-formed section
 * header to its user, since inih only reports sections that contain a key.
 *
 * The reader knows nothing of sections' or keys' meaning: that is load.c.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Longer than this is not a configuration file (a device, a binary, a
 * runaway generator): the reader stops there instead of reading on.  Lines
 * shorter than this but longer than inih's buffer are reported and skipped.
 */
#define CONFIG_LINE_MAX		65536

/* The message for a line that is neither a key nor a section header. */
#define CONFIG_READER_SYNTAX_ERROR \
	"syntax error (expected \"key = value\" or \"[section]\")"

/*
 * What the reader tells its user; each callback gets the ctx given to
 * config_reader_init() and runs while reader->lineno is the line concerned.
 */
struct config_reader_ops {
	/* A line-level problem; msg is only valid during the call. */
	void (*error)(void *ctx, int line, const char *msg);
	/*
	 * A "[...]" header with nothing but blanks or a comment after ']';
	 * name is what is between the brackets, blanks trimmed, and is only
	 * valid during the call.
	 */
	void (*section)(void *ctx, const char *name);
	/*
	 * A line starting with '[' that is not a header: its keys must not
	 * land in the section before it.  Called after the error.
	 */
	void (*bad_section)(void *ctx);
};

struct config_reader {
	FILE *in;			/* not owned */
	int lineno;			/* lines handed to inih so far */
	char *buf;			/* getline() buffer, owned */
	size_t buf_cap;
	bool failed;			/* read error or runaway line: stop */
	const struct config_reader_ops *ops;
	void *ctx;
};

/* The blanks of a config line; the parser trims with the same set. */
static inline bool config_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' ||
	       c == '\n';
}

/* Start reading in at line 0; in stays the caller's to close. */
void config_reader_init(struct config_reader *r, FILE *in,
			const struct config_reader_ops *ops, void *ctx);

/*
 * The ini_reader for ini_parse_stream(), with stream a struct
 * config_reader: fgets()-like, one line per call, at most num - 1
 * characters, so that line numbers in inih and here agree.  A rejected line
 * is reported and handed over as an empty line; an indented one is
 * reported and handed over unindented.  Returns NULL at end of file, or
 * after reporting a read error or a line longer than CONFIG_LINE_MAX, when
 * failed is set: the caller must then load nothing.
 */
char *config_reader_line(char *str, int num, void *stream);

/* Free the line buffer; the reader may be initialised again. */
void config_reader_release(struct config_reader *r);

#endif
