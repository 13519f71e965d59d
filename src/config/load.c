/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration file -> struct knlb_config: the loader.
 *
 * inih splits lines into sections and "key = value" pairs; the line
 * reader (reader.c) sees every raw line before inih does, counts lines and
 * rejects the lines inih would misread.  Here: sections, and each key
 * dispatched through the keyword table (keywords.c) to its parser.  Then
 * the derived defaults (defaults.c) and the whole-file checks (checks.c).
 *
 * Every error is collected with its line, then printed sorted by line: an
 * operator fixes a file top to bottom, and some checks (missing backends,
 * duplicates) can only run once the whole file has been read.
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "knlb/lib/grow.h"
#include "knlb/lib/log.h"
#include "knlb/lib/addr.h"
#include "config-int.h"

/* ---- messages ---------------------------------------------------------- */

void config_report(struct config_parser *p, int line, const char *fmt, ...)
{
	struct message *m;
	va_list ap;
	char *text;
	int rc;

	if (grow(&p->msgs, &p->msgs_cap, p->n_msgs + 1, sizeof(*p->msgs), 16) < 0) {
		p->oom = true;
		return;
	}
	va_start(ap, fmt);
	rc = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (rc == -1) {
		p->oom = true;
		return;
	}
	m = &p->msgs[p->n_msgs];
	m->line = line;
	m->seq = (unsigned int)p->n_msgs;
	m->text = text;
	p->n_msgs++;
}

static bool line_reported(const struct config_parser *p, int line)
{
	for (size_t i = 0; i < p->n_msgs; i++)
		if (p->msgs[i].line == line)
			return true;
	return false;
}

static int message_cmp(const void *a, const void *b)
{
	const struct message *x = a, *y = b;
	/* Whole-file messages ("read error") come last. */
	long lx = x->line ? x->line : (long)INT_MAX + 1;
	long ly = y->line ? y->line : (long)INT_MAX + 1;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Print and free every message; returns how many there were. */
static size_t flush_messages(struct config_parser *p, FILE *errors)
{
	size_t n = p->n_msgs;

	if (p->n_msgs)
		qsort(p->msgs, p->n_msgs, sizeof(*p->msgs), message_cmp);
	for (size_t i = 0; i < p->n_msgs; i++) {
		const struct message *m = &p->msgs[i];

		if (errors && m->line)
			fprintf(errors, "%s:%d: %s\n", p->name, m->line, m->text);
		else if (errors)
			fprintf(errors, "%s: %s\n", p->name, m->text);
		free(m->text);
	}
	if (p->oom) {
		if (errors)
			fprintf(errors, "%s: out of memory\n", p->name);
		n++;
	}
	free(p->msgs);
	p->msgs = NULL;
	p->n_msgs = p->msgs_cap = 0;
	return n;
}

/* ---- keys -------------------------------------------------------------- */

/* "a" or 'a' around a whole value. */
static bool quoted(const char *value)
{
	size_t len = strlen(value);

	return len >= 2 && (value[0] == '"' || value[0] == '\'') &&
	       value[len - 1] == value[0];
}

/*
 * Quotes are not INI syntax here: `vip = "192.0.2.53"` would be read with
 * its quotes and fail with a baffling message.  Stripping them instead
 * would make check_body = "OK" mean OK for one key and "OK" for another,
 * so quotes are refused, except by free-text keys where they are content.
 */
static bool value_quoted(struct config_parser *p,
			 const struct config_keyword *kw, const char *value)
{
	size_t len = strlen(value);

	if ((kw->flags & CONFIG_KW_TEXT) || !quoted(value))
		return false;
	config_report(p, config_line(p),
		      "%s = %s: quotes are not part of the value (write %s = %.*s)",
		      kw->name, value, kw->name, (int)(len - 2), value + 1);
	return true;
}

static void report_unknown_key(struct config_parser *p, const char *name,
			       bool global)
{
	const struct config_keyword *kw = config_keyword_find(name);
	const struct config_keyword *near;
	char where[KNLB_NAME_MAX + 16];
	char hint[KNLB_NAME_MAX + 40] = "";

	if (global)
		snprintf(where, sizeof(where), "[global]");
	else
		snprintf(where, sizeof(where), "[service %s]",
			 config_current_service(p)->name);
	if (kw)
		snprintf(hint, sizeof(hint), " (it belongs in %s)",
			 global ? "[service NAME]" : "[global]");
	else if ((near = config_keyword_suggest(name, global)))
		snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)",
			 near->name);
	config_report(p, config_line(p), "unknown key \"%s\" in %s%s", name,
		      where, hint);
}

/*
 * One key of the current section: through its table row to its parser.
 * line and bad are the section's per-key records (bad may be NULL).
 */
static void section_key(struct config_parser *p, bool global, const char *name,
			const char *value, int *line, bool *bad, void *base)
{
	const struct config_keyword *kw = config_keyword_find(name);
	size_t off, k;

	off = kw ? (global ? kw->global_offset : kw->service_offset)
		 : CONFIG_NOWHERE;
	if (off == CONFIG_NOWHERE) {
		report_unknown_key(p, name, global);
		return;
	}
	k = config_keyword_index(name);
	if (line[k] && !(kw->flags & CONFIG_KW_REPEATABLE)) {
		if (global)
			config_report(p, config_line(p),
				      "%s repeated in [global] (first set on line %d)",
				      name, line[k]);
		else
			config_report(p, config_line(p),
				      "%s repeated in [service %s] (first set on line %d)",
				      name, config_current_service(p)->name,
				      line[k]);
		return;
	}
	if (!line[k])
		line[k] = config_line(p);
	if (!*value) {
		config_report(p, config_line(p), "%s has no value", name);
	} else if (value_quoted(p, kw, value) ||
		   kw->parse(p, kw, value, (char *)base + off) < 0) {
	} else {
		return;
	}
	if (bad)
		bad[k] = true;
}

static int handle_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct config_parser *p = user;
	struct service_meta *meta;

	/* inih truncates section names; the reader tracked the real one. */
	(void)section;
	switch (p->section) {
	case SECTION_NONE:
		config_report(p, config_line(p),
			      "key %s outside any section (put it under [global] or [service NAME])",
			      name);
		break;
	case SECTION_GLOBAL:
		section_key(p, true, name, value, p->global_key_line, NULL,
			    &p->config->global);
		break;
	case SECTION_SERVICE:
		meta = config_current_meta(p);
		section_key(p, false, name, value, meta->key_line,
			    meta->key_bad, config_current_service(p));
		break;
	case SECTION_SKIP:
		/* Its header was reported; more errors would be noise. */
		break;
	}
	/* Always "handled": a zero would make inih report a second error. */
	return 1;
}

/* ---- sections ---------------------------------------------------------- */

static int service_add(struct config_parser *p, const char *name)
{
	struct knlb_config *c = p->config;
	struct knlb_service_config *svc;
	struct service_meta *meta;
	size_t cap = p->services_cap;
	bool name_bad = false;

	if (config_check_name(p, config_line(p), "service name", name,
			      SERVICE_NAME_MAX,
			      ": it becomes part of nft chain and set names") < 0) {
		name_bad = true;
	} else {
		for (size_t i = 0; i < c->n_services; i++) {
			if (strcmp(c->services[i].name, name) == 0) {
				config_report(p, config_line(p),
					      "service %s already defined on line %d",
					      name, c->services[i].line);
				name_bad = true;
				break;
			}
		}
	}

	/* The two arrays stay parallel: one capacity for both. */
	if (grow(&c->services, &cap, c->n_services + 1, sizeof(*c->services), 4) < 0)
		goto out_oom;
	cap = p->services_cap;
	if (grow(&p->meta, &cap, c->n_services + 1, sizeof(*p->meta), 4) < 0)
		goto out_oom;
	p->services_cap = cap;
	svc = &c->services[c->n_services];
	meta = &p->meta[c->n_services];
	c->n_services++;

	*svc = (struct knlb_service_config){ .line = config_line(p) };
	/* Kept even when invalid: it names the service in later messages. */
	snprintf(svc->name, sizeof(svc->name), "%s", name);
	*meta = (struct service_meta){ .name_bad = name_bad };
	config_set_defaults(p, false, svc);
	return 0;

out_oom:
	p->oom = true;
	return -1;
}

/* text is what is between the brackets, blanks trimmed. */
static void section_open(struct config_parser *p, const char *text)
{
	p->section = SECTION_SKIP;
	if (strcmp(text, "global") == 0) {
		if (p->global_line) {
			config_report(p, config_line(p),
				      "[global] repeated (first on line %d); use one [global] section",
				      p->global_line);
			return;
		}
		p->global_line = config_line(p);
		p->section = SECTION_GLOBAL;
		return;
	}
	if (strncmp(text, "service", 7) == 0 &&
	    (text[7] == '\0' || config_is_blank(text[7]))) {
		const char *name = text + 7;

		while (config_is_blank(*name))
			name++;
		if (!*name) {
			config_report(p, config_line(p),
				      "[service] needs a name: [service NAME]");
			return;
		}
		if (service_add(p, name) == 0)
			p->section = SECTION_SERVICE;
		return;
	}
	config_report(p, config_line(p),
		      "unknown section [%s] (expected [global] or [service NAME])",
		      text);
}

/* ---- reader callbacks -------------------------------------------------- */

static void reader_error(void *ctx, int line, const char *msg)
{
	config_report(ctx, line, "%s", msg);
}

static void reader_section(void *ctx, const char *name)
{
	section_open(ctx, name);
}

static void reader_bad_section(void *ctx)
{
	struct config_parser *p = ctx;

	p->section = SECTION_SKIP;
}

static const struct config_reader_ops reader_ops = {
	.error = reader_error,
	.section = reader_section,
	.bad_section = reader_bad_section,
};

/* ---- entry points ------------------------------------------------------ */

static struct knlb_config *config_new(struct config_parser *p, const char *name)
{
	struct knlb_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->path = strdup(name);
	if (!c->path) {
		free(c);
		return NULL;
	}
	p->config = c;
	config_set_defaults(p, true, &c->global);
	return c;
}

int config_load_stream(FILE *in, const char *name, struct knlb_config **out,
		       FILE *errors)
{
	struct config_parser p = { .name = name };
	int rc;

	*out = NULL;
	if (!config_new(&p, name)) {
		if (errors)
			fprintf(errors, "%s: out of memory\n", name);
		return -1;
	}

	config_reader_init(&p.reader, in, &reader_ops, &p);
	rc = ini_parse_stream(config_reader_line, &p.reader, handle_key, &p);
	if (rc == -2)
		p.oom = true;
	else if (rc > 0 && !line_reported(&p, rc))
		/* The reader should have caught it; stay safe if inih differs. */
		config_report(&p, rc, CONFIG_READER_SYNTAX_ERROR);

	/* A file not read to its end must not look like a shorter file. */
	if (!p.oom && !p.reader.failed) {
		config_derive_defaults(&p);
		config_check(&p);
	}
	config_reader_release(&p.reader);
	free(p.meta);
	p.meta = NULL;

	if (flush_messages(&p, errors) > 0) {
		config_free(p.config);
		return -1;
	}
	*out = p.config;
	return 0;
}

int config_load(const char *path, struct knlb_config **out, FILE *errors)
{
	struct stat st;
	FILE *in;
	int rc;

	*out = NULL;
	in = fopen(path, "re");
	if (!in) {
		if (errors)
			fprintf(errors, "%s: cannot open: %s\n", path,
				strerror(errno));
		return -1;
	}
	if (fstat(fileno(in), &st) == 0 && S_ISDIR(st.st_mode)) {
		if (errors)
			fprintf(errors, "%s: is a directory, not a configuration file\n",
				path);
		fclose(in);
		return -1;
	}
	rc = config_load_stream(in, path, out, errors);
	fclose(in);
	return rc;
}

void config_free(struct knlb_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->n_services; i++) {
		free(config->services[i].backends);
		config->services[i].backends = NULL;
	}
	free(config->services);
	free(config->path);
	free(config);
}

const char *config_service_vips(const struct knlb_service_config *svc,
				char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int f = 0; f < KNLB_FAMILIES; f++) {
		char one[KNLB_ADDRSTRLEN];

		if (!config_service_has_family(svc, f) || used >= len)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? "," : "",
					 addr_port_format(&svc->vip[f], svc->port,
							  one, sizeof(one)));
	}
	return buf;
}

const char *config_proto_name(enum knlb_proto proto)
{
	return config_word_name(config_proto_words, (int)proto);
}

const char *config_scheduler_name(enum knlb_scheduler sched)
{
	return config_word_name(config_scheduler_words, (int)sched);
}

const char *config_hash_key_name(enum knlb_hash_key key)
{
	return config_word_name(config_hash_key_words, (int)key);
}
