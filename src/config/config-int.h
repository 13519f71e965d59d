/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_INT_H
#define KNLB_CONFIG_INT_H

/*
 * Private to src/config: the loader's state and what its pieces share.
 *
 *   keywords.c   the table of keys (name, section, parser, storage, default,
 *                what it applies to, documentation)
 *   parsers.c    the table's value parsers: they report with the line
 *   values.c     value syntaxes that need no line (numbers, words, durations,
 *                status lists, payloads, names)
 *   backend.c    the "backend = ADDR:PORT weight=N ..." line
 *   defaults.c   defaults from the table, then those derived from other keys
 *   checks.c     what needs the whole file; reports, never sets a value
 *   load.c       inih and the line reader, sections, keys, messages, sorting
 */

#include <stdbool.h>
#include <stddef.h>

#include "knlb/config/config.h"
#include "knlb/config/keywords.h"
#include "knlb/config/reader.h"

/* A service name becomes part of nft names ("svc_NAME", "NAME_slots"). */
#define SERVICE_NAME_MAX	40
#define ID_MAX			(KNLB_NAME_MAX - 1)
#define MIN_SLOTS		2U
/* Probing faster than this is a mistake, not a setting. */
#define MIN_INTERVAL_NS		10000000ULL
/* Rows of the keyword table (checked against the table at build time). */
#define CONFIG_KEYS_MAX		48

enum section_kind {
	SECTION_NONE,		/* before the first header */
	SECTION_GLOBAL,
	SECTION_SERVICE,
	SECTION_SKIP,		/* a header already reported as wrong */
};

/* What the parser needs to know about a service beyond its config. */
struct service_meta {
	int key_line[CONFIG_KEYS_MAX];	/* first line the key was on; 0 = absent */
	bool key_bad[CONFIG_KEYS_MAX];	/* present but rejected */
	bool name_bad;			/* invalid or duplicate name */
	size_t backends_cap;
};

struct message {
	int line;		/* 0 = about the whole file */
	unsigned int seq;	/* keeps messages of one line in order */
	char *text;
};

struct config_parser {
	const char *name;	/* file name for messages */
	struct config_reader reader;	/* owns the current line number */

	struct knlb_config *config;
	struct service_meta *meta;	/* parallel to config->services */
	size_t services_cap;
	enum section_kind section;
	int global_line;
	int global_key_line[CONFIG_KEYS_MAX];

	struct message *msgs;
	size_t n_msgs, msgs_cap;
	bool oom;
};

/* Collect a message for line (0: the whole file); printed sorted by line. */
void config_report(struct config_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The line being read. */
static inline int config_line(const struct config_parser *p)
{
	return p->reader.lineno;
}

static inline struct knlb_service_config *
config_current_service(struct config_parser *p)
{
	return &p->config->services[p->config->n_services - 1];
}

static inline struct service_meta *config_current_meta(struct config_parser *p)
{
	return &p->meta[p->config->n_services - 1];
}

/* The index of a row by name; the name must be in the table. */
size_t config_keyword_index(const char *name);

/* ---- values.c: syntaxes, no line ------------------------------------- */

/* 0, -EINVAL (not a number) or -ERANGE (above max, or negative). */
int config_parse_number(const char *text, bool hex, unsigned long max,
			unsigned long *out);
int config_word_find(const struct config_word *words, const char *name);
const char *config_word_name(const struct config_word *words, int value);
/* "a, b or c"; with mask, only the words whose bit (1 << value) is set. */
void config_word_list(const struct config_word *words, unsigned int mask,
		      char *buf, size_t len);
bool config_name_valid(const char *name, size_t max);
/* Digits and dots only: meant as an IPv4 address, whatever is wrong with it. */
bool config_looks_dotted(const char *text);

extern const struct config_word config_proto_words[];
extern const struct config_word config_hash_key_words[];
extern const struct config_word config_check_words[];
extern const struct config_word config_on_empty_words[];
extern const struct config_word config_yes_no_words[];
extern const struct config_word config_announce_words[];
extern const struct config_word config_ct_events_words[];
extern const struct config_word config_ct_closing_words[];
extern const struct config_word config_traffic_words[];
extern const struct config_word config_track_words[];

/* ---- parsers.c: with the line ----------------------------------------- */

int config_get_number(struct config_parser *p, const char *what,
		      const char *text, bool hex, unsigned long min,
		      unsigned long max, unsigned long *out);
int config_check_name(struct config_parser *p, int line, const char *what,
		      const char *name, size_t max, const char *why);

/* The table's parsers. */
config_parse_fn config_parse_u16, config_parse_u32, config_parse_hex_u32,
	config_parse_word, config_parse_yes_no, config_parse_duration_key,
	config_parse_ct_resync, config_parse_persistence, config_parse_text, config_parse_table_name,
	config_parse_log_level, config_parse_control_socket,
	config_parse_listen, config_parse_user, config_parse_vip,
	config_parse_snat, config_parse_check_path, config_parse_check_host,
	config_parse_check_expect, config_parse_check_send,
	config_parse_check_expect_reply, config_parse_route_table;

/* ---- backend.c -------------------------------------------------------- */

config_parse_fn config_parse_backend;

/* ---- defaults.c ------------------------------------------------------- */

/* The table's defaults for one section's struct (global or service). */
void config_set_defaults(struct config_parser *p, bool global, void *base);
/* Defaults that follow from other keys, once the whole file is read. */
void config_derive_defaults(struct config_parser *p);

/* ---- checks.c --------------------------------------------------------- */

void config_check(struct config_parser *p);

#endif
