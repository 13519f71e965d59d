/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the configuration tests: load a config from a string
 * and assert on what the operator would read.
 */
#ifndef KNLB_TEST_CONFIG_TEST_H
#define KNLB_TEST_CONFIG_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/config/config.h"

struct result {
	int rc;
	struct knlb_config *cfg;
	char *errors;		/* everything written to the errors stream */
	size_t n_lines;		/* lines in errors */
};

static inline struct result load(const char *text)
{
	struct result r = { 0 };
	size_t len = 0;
	FILE *in, *err;

	/* fmemopen() refuses a zero-sized buffer on some libcs. */
	in = *text ? fmemopen((void *)text, strlen(text), "r") :
		     fopen("/dev/null", "r");
	cr_assert_not_null(in);
	err = open_memstream(&r.errors, &len);
	cr_assert_not_null(err);
	r.cfg = (void *)0x1;	/* must be overwritten */
	r.rc = config_load_stream(in, "test.conf", &r.cfg, err);
	fclose(in);
	fclose(err);
	for (const char *s = r.errors; *s; s++)
		r.n_lines += *s == '\n';
	return r;
}

static inline void result_free(struct result *r)
{
	config_free(r->cfg);
	r->cfg = NULL;
	free(r->errors);
	r->errors = NULL;
}

/* A line of errors starts with prefix and contains needle. */
static inline bool has_error(const char *errors, const char *prefix,
		      const char *needle)
{
	size_t plen = strlen(prefix);

	for (const char *s = errors; *s;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char *line = strndup(s, len);
		bool ok = strncmp(line, prefix, plen) == 0 &&
			  strstr(line + plen, needle);

		free(line);
		if (ok)
			return true;
		s += len + (nl ? 1 : 0);
	}
	return false;
}

/* The load fails, reports nothing else, and says this. */
#define expect_error(text, prefix, needle)				\
	do {								\
		struct result r_ = load(text);				\
		cr_expect_eq(r_.rc, -1);				\
		cr_expect_null(r_.cfg);					\
		cr_expect(has_error(r_.errors, prefix, needle),		\
			  "want \"%s...%s\", got:\n%s", prefix, needle,	\
			  r_.errors);					\
		result_free(&r_);					\
	} while (0)

/* Same, and it is the only error: no noise after the real problem. */
#define expect_only_error(text, prefix, needle)				\
	do {								\
		struct result r_ = load(text);				\
		cr_expect_eq(r_.rc, -1);				\
		cr_expect_null(r_.cfg);					\
		cr_expect(has_error(r_.errors, prefix, needle),		\
			  "want \"%s...%s\", got:\n%s", prefix, needle,	\
			  r_.errors);					\
		cr_expect_eq(r_.n_lines, 1, "one error, got:\n%s",	\
			     r_.errors);				\
		result_free(&r_);					\
	} while (0)

static inline struct result load_ok(const char *text)
{
	struct result r = load(text);

	cr_assert_eq(r.rc, 0, "errors:\n%s", r.errors);
	cr_assert_not_null(r.cfg);
	cr_assert_str_empty(r.errors);
	return r;
}

/* A valid service to build on: the header is line 1. */
#define SVC "[service web]\nvip = 192.0.2.10\nport = 80\n"
#define BE "backend = 10.0.0.11:8080\n"

#endif
