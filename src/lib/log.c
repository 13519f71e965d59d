/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging, one line per event, to stderr, the journal or syslog.  Tests and
 * operators grep these lines, so their wording for state changes is part of
 * the interface; the destination only changes what comes before it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "knlb/lib/log.h"

/* Longer messages are cut (and end in "..."): one write per line matters more. */
#define LOG_LINE_MAX	4096

static enum log_level current_level = LOG_LEVEL_INFO;
static enum log_target current_target = LOG_TARGET_STDERR;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* sd-daemon(3) / syslog(3) priorities of our levels. */
static const int level_priorities[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARNING] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
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

/*
 * systemd passes JOURNAL_STREAM=DEV:INODE for the stream it connected to
 * stdout/stderr.  It is inherited by children whose stderr may be something
 * else (a shell redirect, a pipe), so it counts only when fd 2 is that file.
 */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

enum log_target log_open(bool use_syslog)
{
	log_close();
	if (use_syslog) {
		openlog("knlbd", LOG_PID, LOG_DAEMON);
		current_target = LOG_TARGET_SYSLOG;
	} else if (stderr_is_journal()) {
		current_target = LOG_TARGET_JOURNAL;
	}
	return current_target;
}

void log_close(void)
{
	if (current_target == LOG_TARGET_SYSLOG)
		closelog();
	current_target = LOG_TARGET_STDERR;
}

enum log_target log_get_target(void)
{
	return current_target;
}

/* "2026-12-01T11:49:51.123Z ": UTC, so lines from several hosts compare. */
static size_t format_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 || !gmtime_r(&ts.tv_sec, &tm))
		return 0;
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return 0;
	n += (size_t)snprintf(buf + n, len - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	return n < len ? n : len - 1;
}

/* Mark a cut line, so nobody takes it for the whole message. */
static size_t finish_line(char *buf, size_t used, int wanted)
{
	if (wanted < 0) {	/* the format itself failed: say so */
		snprintf(buf + used, LOG_LINE_MAX - used - 1, "(unformattable log message)");
		return strlen(buf);
	}
	if (wanted >= 0 && used + (size_t)wanted < LOG_LINE_MAX - 1)
		return used + (size_t)wanted;
	memcpy(buf + LOG_LINE_MAX - 5, "...", 3);
	return LOG_LINE_MAX - 2;
}

static void log_emit(enum log_level level, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	char line[LOG_LINE_MAX];
	size_t n = 0;
	int wanted;

	if (level > current_level)
		goto out_restore_errno;
	switch (current_target) {
	case LOG_TARGET_SYSLOG:
		wanted = vsnprintf(line, sizeof(line) - 1, fmt, ap);
		finish_line(line, 0, wanted);
		syslog(level_priorities[level], "%s", line);
		goto out_restore_errno;
	case LOG_TARGET_JOURNAL:
		/* journald stamps and names the line itself. */
		n = (size_t)snprintf(line, sizeof(line), "<%d>",
				     level_priorities[level]);
		break;
	case LOG_TARGET_STDERR:
		n = format_timestamp(line, sizeof(line));
		n += (size_t)snprintf(line + n, sizeof(line) - n, "knlbd: %s: ",
				      level_names[level]);
		break;
	}
	wanted = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	n = finish_line(line, n, wanted);
	line[n++] = '\n';
	/* One write per line: lines from a journal stream are never interleaved. */
	fwrite(line, 1, n, stderr);
out_restore_errno:
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
