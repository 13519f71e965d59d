/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_LOG_H
#define KNLB_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Where lines go; see log_open(). */
enum log_target {
	LOG_TARGET_STDERR,	/* "TIMESTAMP knlbd: LEVEL: message" */
	LOG_TARGET_JOURNAL,	/* stderr is journald's stream: "<PRIO>message" */
	LOG_TARGET_SYSLOG,	/* syslog(3), ident knlbd, facility daemon */
};

/*
 * Choose the destination: syslog(3) when use_syslog, else the journal when
 * $JOURNAL_STREAM names the file fd 2 is (systemd sets it for units whose
 * stderr is the journal), else plain stderr.  Before any call, lines go to
 * stderr.  May be called again (tests); returns the target chosen.
 */
enum log_target log_open(bool use_syslog);
/* Back to plain stderr; closes the syslog connection if one was open. */
void log_close(void);
enum log_target log_get_target(void);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warning", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* All of these keep errno intact, so callers may log and then use it. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
