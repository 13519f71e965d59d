/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_notify without libsystemd: the protocol is one datagram to a unix
 * socket, which is less code than the dependency (and libsystemd would
 * pull in more than knlbd needs on inits without systemd).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "knlb/lib/log.h"
#include "knlb/lib/notify.h"

#define NOTIFY_STATUS_MAX	1024

/* Warn once: a broken NOTIFY_SOCKET must not flood the log at each status. */
static bool warned;

static void notify_warn(const char *path, const char *what, int err)
{
	if (warned)
		return;
	warned = true;
	log_warn("sd_notify to NOTIFY_SOCKET=%s: %s: %s (further notify errors are not logged)",
		 path, what, strerror(err));
}

/*
 * Fills *sun from $NOTIFY_SOCKET; returns the address length, 0 when the
 * variable is unset or empty, or -EINVAL when it cannot name a socket.
 */
static int notify_address(const char *path, struct sockaddr_un *sun)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path[0] != '/' && path[0] != '@')
		return -EINVAL;
	if (len > sizeof(sun->sun_path) ||
	    (path[0] == '/' && len == sizeof(sun->sun_path)))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, len);
	/* Abstract namespace: a leading NUL, and no trailing one counted. */
	if (path[0] == '@')
		sun->sun_path[0] = '\0';
	return (int)(offsetof(struct sockaddr_un, sun_path) + len +
		     (path[0] == '/'));
}

int notify_send(const char *payload)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t len = strlen(payload);
	int fd, alen, ret = 0;

	if (!path || !*path)
		return 0;
	alen = notify_address(path, &sun);
	if (alen < 0) {
		notify_warn(path, "not an absolute path or @abstract name", -alen);
		return alen;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		ret = -errno;
		notify_warn(path, "socket", errno);
		return ret;
	}
	if (sendto(fd, payload, len, MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)alen) == -1) {
		ret = -errno;
		notify_warn(path, "sendto", errno);
	}
	close(fd);
	return ret;
}

int notify_ready(const char *status)
{
	char buf[NOTIFY_STATUS_MAX + 32];

	if (!status)
		return notify_send("READY=1");
	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	return notify_send(buf);
}

int notify_reloading(void)
{
	return notify_send("RELOADING=1");
}

int notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

int notify_status(const char *fmt, ...)
{
	char buf[NOTIFY_STATUS_MAX + 8] = "STATUS=";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	return notify_send(buf);
}
