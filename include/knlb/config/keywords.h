/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_KEYWORDS_H
#define KNLB_CONFIG_KEYWORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The one table of configuration keys (HAProxy's cfg_kw_list, keepalived's
 * install_keyword): a key's name, where it may appear, how its value is
 * read and where it is stored, its default, what it applies to and its
 * documentation line are one row.  The loader, the whole-file checks, the
 * defaults step, `knlbd --list-keys` and `make test-docs` all read it;
 * adding a key is adding a row.
 */

struct config_parser;		/* the loader's state, private to src/config */
struct config_keyword;

/*
 * Read value (non-empty, blanks trimmed) into field, the row's storage in
 * the current section's struct.  Returns 0, or -1 after reporting the
 * problem with the current line.
 */
typedef int config_parse_fn(struct config_parser *p,
			    const struct config_keyword *kw, const char *value,
			    void *field);

/* A word a key accepts and the value it stands for. */
struct config_word {
	const char *name;
	int value;
};

/* offset when a key does not exist in that section */
#define CONFIG_NOWHERE		SIZE_MAX

enum config_keyword_flags {
	CONFIG_KW_REPEATABLE	= 1 << 0,	/* one line per item (backend) */
	CONFIG_KW_TEXT		= 1 << 1,	/* free text: quotes are content */
	CONFIG_KW_DERIVED	= 1 << 2,	/* def describes a derived default */
	CONFIG_KW_REQUIRED	= 1 << 3,	/* every service must have it */
};

struct config_keyword {
	const char *name;
	/* in struct knlb_global_config / knlb_service_config, or CONFIG_NOWHERE */
	size_t global_offset, service_offset;
	config_parse_fn *parse;
	/* Limits for the row's parser: numbers, durations (ns), text size. */
	unsigned long min, max;
	const struct config_word *words;	/* for word-list keys */
	/* The key means something only for these (bit 1 << kind); 0 = always. */
	unsigned int check_kinds;	/* enum check_kind */
	unsigned int schedulers;	/* enum knlb_scheduler */
	unsigned int flags;		/* enum config_keyword_flags */
	/*
	 * The default as it would be written in a file, parsed with the
	 * row's parser when a section opens; NULL: none (the key is off or
	 * required).  With CONFIG_KW_DERIVED, a description of how the
	 * default follows from other keys (the defaults step computes it).
	 */
	const char *def;
	const char *doc;		/* one line, for --list-keys and docs */
};

/* Every row, in documentation order; *n gets their number. */
const struct config_keyword *config_keywords(size_t *n);

static inline bool config_keyword_in_global(const struct config_keyword *kw)
{
	return kw->global_offset != CONFIG_NOWHERE;
}

static inline bool config_keyword_in_service(const struct config_keyword *kw)
{
	return kw->service_offset != CONFIG_NOWHERE;
}

/* The row named name, or NULL. */
const struct config_keyword *config_keyword_find(const char *name);

/*
 * The closest key of that section (global or service) to a mistyped name,
 * within an edit distance of 2, or NULL.
 */
const struct config_keyword *config_keyword_suggest(const char *name,
						    bool global);

/* The words the scheduler key accepts, for docs and tests. */
extern const struct config_word config_scheduler_words[];

/*
 * Print the table, one key per line and section: "SECTION NAME DEFAULT DOC"
 * separated by tabs ("-" for no default).  For knlbd --list-keys.
 */
void config_keywords_print(FILE *out);

#endif
