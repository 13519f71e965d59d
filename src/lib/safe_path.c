/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ownership and mode checks of a directory chain (safe_path.h), for the
 * control socket's directory: knlbd refuses to listen there, knlbctl to
 * trust what answers there.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knlb/lib/safe_path.h"

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* "alice (uid 1000)", or "uid 1000" when it has no passwd entry. */
static void owner_text(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, len, "%s (uid %u)", pw->pw_name, (unsigned)uid);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
}

static const char *writers(mode_t mode)
{
	if ((mode & S_IWGRP) && (mode & S_IWOTH))
		return "group and others";
	return mode & S_IWGRP ? "group" : "others";
}

/*
 * One component p of the chain; last: it is dir itself.  sticky: NULL, or
 * where to say that dir is a root-owned sticky directory, accepted.
 */
static int check_one(const char *p, bool last, uid_t uid, bool *sticky,
		     char *err, size_t errlen)
{
	char owner[96];
	struct stat st;

	if (lstat(p, &st) == -1)
		return fail(err, errlen, -errno, "%s: %s", p, strerror(errno));
	if (st.st_uid != 0 && st.st_uid != uid) {
		owner_text(st.st_uid, owner, sizeof(owner));
		return fail(err, errlen, -EPERM, "%s%s is owned by %s, not root",
			    p, S_ISLNK(st.st_mode) ? " (a symbolic link)" : "",
			    owner);
	}
	/* Only its owner's directory can swap it; the target is checked resolved. */
	if (S_ISLNK(st.st_mode))
		return 0;
	if (!S_ISDIR(st.st_mode))
		return fail(err, errlen, -ENOTDIR, "%s is not a directory", p);
	if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if ((st.st_mode & S_ISVTX) && st.st_uid == 0 && (!last || sticky)) {
		if (last)
			*sticky = true;
		return 0;
	}
	return fail(err, errlen, -EPERM, "%s is writable by %s (mode %04o%s)", p,
		    writers(st.st_mode), (unsigned)(st.st_mode & 07777),
		    last && (st.st_mode & S_ISVTX) ?
		    ", sticky, but anyone may create the socket there first" : "");
}

/* Every prefix of the absolute path abs, "/" first, abs itself last. */
static int check_chain(const char *abs, uid_t uid, bool *sticky, char *err,
		       size_t errlen)
{
	char buf[PATH_MAX];
	size_t len;
	int ret;

	if (snprintf(buf, sizeof(buf), "%s", abs) >= (int)sizeof(buf))
		return fail(err, errlen, -ENAMETOOLONG, "%s: path too long", abs);
	len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	ret = check_one("/", len == 1, uid, sticky, err, errlen);
	for (size_t i = 1; ret == 0 && i <= len; i++) {
		char saved = buf[i];

		if (saved != '/' && saved != '\0')
			continue;
		if (buf[i - 1] == '/')		/* "//" */
			continue;
		buf[i] = '\0';
		ret = check_one(buf, i == len, uid, sticky, err, errlen);
		buf[i] = saved;
	}
	return ret;
}

int safe_dir_check(const char *dir, uid_t uid, bool *sticky, char *err,
		   size_t errlen)
{
	char abs[PATH_MAX], real[PATH_MAX];
	int ret;

	if (dir[0] == '/') {
		snprintf(abs, sizeof(abs), "%s", dir);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return fail(err, errlen, -errno, "current directory: %s",
				    strerror(errno));
		if (snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >= (int)sizeof(abs))
			return fail(err, errlen, -ENAMETOOLONG, "%s: path too long", dir);
	}
	if (sticky)
		*sticky = false;
	ret = check_chain(abs, uid, sticky, err, errlen);
	if (ret < 0)
		return ret;
	if (!realpath(abs, real))
		return fail(err, errlen, -errno, "%s: %s", abs, strerror(errno));
	if (strcmp(real, abs) == 0)
		return 0;
	if (sticky)
		*sticky = false;
	ret = check_chain(real, uid, sticky, err, errlen);
	if (ret < 0) {
		/* Say where the path led: the name given is not the one at fault. */
		size_t n = strlen(err);

		snprintf(err + n, errlen > n ? errlen - n : 0, " (%s leads there)", dir);
	}
	return ret;
}

int safe_parent_check(const char *path, uid_t uid, bool *sticky, char *err,
		      size_t errlen)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return fail(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return safe_dir_check(".", uid, sticky, err, errlen);
	if (slash == dir)
		slash[1] = '\0';	/* "/name": the root directory */
	else
		*slash = '\0';
	return safe_dir_check(dir, uid, sticky, err, errlen);
}
