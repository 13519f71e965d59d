/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging to stderr, one line per event.  Tests and operators grep these
 * lines, so their wording for state changes is part of the interface.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "knlb/log.h"

static enum log_level current_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

static void log_emit(enum log_level level, const char *fmt, va_list ap)
{
	int saved_errno = errno;

	if (level <= current_level) {
		fprintf(stderr, "knlbd: %s: ", level_names[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	errno = saved_errno;
}

#define DEFINE_LOG_FN(fn, level)			\
	void fn(const char *fmt, ...)			\
	{						\
		va_list ap;				\
		va_start(ap, fmt);			\
		log_emit(level, fmt, ap);		\
		va_end(ap);				\
	}

DEFINE_LOG_FN(log_error, LOG_LEVEL_ERROR)
DEFINE_LOG_FN(log_warn, LOG_LEVEL_WARNING)
DEFINE_LOG_FN(log_info, LOG_LEVEL_INFO)
DEFINE_LOG_FN(log_debug, LOG_LEVEL_DEBUG)
