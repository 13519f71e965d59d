/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket server's listener: binds the Unix stream socket
 * (replacing a stale one, refusing a live one), accepts without ever
 * blocking, turns away clients over CTL_MAX_CLIENTS.  The connections
 * themselves are conn.c's.  See include/knlb/ctl/server.h and
 * docs/control-protocol.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "knlb/ctl/server.h"
#include "knlb/ctl/socket_dir.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"
#include "server-int.h"

/* Listener paused after EMFILE and the like, so a full fd table is no busy loop. */
#define ACCEPT_PAUSE_MS		100
/* Connections taken per wake-up; the listener is level-triggered. */
#define ACCEPT_BATCH		16

static void reject_client(struct ctl *ctl, int fd)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "ERROR\ntoo many clients (max %d)\n",
			 CTL_MAX_CLIENTS);

	ctl->stats.rejected++;
	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_debug("control socket: rejection not sent: %s", strerror(errno));
	ctl_drain_input(fd);
	close(fd);
}

static void on_listen(struct loop *loop, int fd, uint32_t events, void *arg);

static void on_accept_timer(struct loop *loop, struct loop_timer *timer,
			    void *arg)
{
	struct ctl *ctl = arg;

	(void)timer;
	if (loop_add_fd(loop, ctl->fd, EPOLLIN, on_listen, ctl) == 0)
		ctl->listening = true;
	else
		loop_timer_arm(loop, &ctl->accept_timer,
			       ACCEPT_PAUSE_MS * NS_PER_MS);
}

static void on_listen(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ctl *ctl = arg;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return;
			/*
			 * Out of descriptors or memory: the pending client
			 * stays pending and the level-triggered listener would
			 * wake us at once, forever.  Pause instead.
			 */
			log_warn("control socket: accept: %s; not accepting for %d ms",
				 strerror(errno), ACCEPT_PAUSE_MS);
			loop_del_fd(loop, fd);
			ctl->listening = false;
			loop_timer_arm(loop, &ctl->accept_timer,
				       ACCEPT_PAUSE_MS * NS_PER_MS);
			return;
		}
		if (ctl->n_conns >= CTL_MAX_CLIENTS)
			reject_client(ctl, cfd);
		else
			ctl_conn_new(ctl, cfd);
	}
}

/* mkdir -p for the socket's directory; what we create is 0755. */
static int make_parent_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;		/* relative name in cwd, or in / */
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == 0) {
			/* The umask may have taken bits away; 0755 is what we promise. */
			if (chmod(dir, 0755) == -1) {
				snprintf(err, errlen, "%s: chmod: %s", dir, strerror(errno));
				return -errno;
			}
		} else if (errno != EEXIST) {
			int ret = -errno;

			snprintf(err, errlen, "creating %s: %s", dir, strerror(errno));
			return ret;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * Is someone accepting on path?  1 yes, 0 no (a stale socket left by a
 * knlbd that died), -errno when we cannot tell.
 */
static int socket_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ret;

	if (fd == -1)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		ret = 1;
	else if (errno == EAGAIN)	/* backlog full: alive, and busy */
		ret = 1;
	else if (errno == ECONNREFUSED)
		ret = 0;
	else
		ret = -errno;
	close(fd);
	return ret;
}

/* Binds with a umask that makes the socket 0600 from its first instant. */
static int bind_private(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0177);
	int ret = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int saved = errno;

	umask(old);
	return ret == -1 ? -saved : 0;
}

static int bind_socket(struct ctl *ctl, const struct sockaddr_un *sa,
		       char *err, size_t errlen)
{
	struct stat st;
	int ret;

	ret = bind_private(ctl->fd, sa);
	if (ret == -EADDRINUSE) {
		if (lstat(ctl->path, &st) == -1) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", ctl->path, strerror(errno));
			return ret;
		}
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket: not replacing it",
				 ctl->path);
			return -EEXIST;
		}
		ret = socket_is_live(sa);
		if (ret == 1) {
			snprintf(err, errlen, "another knlbd is listening on %s",
				 ctl->path);
			return -EADDRINUSE;
		}
		if (ret < 0) {
			snprintf(err, errlen, "%s: cannot tell whether it is in use: %s",
				 ctl->path, strerror(-ret));
			return ret;
		}
		log_info("control socket: replacing stale %s (nobody listens on it)",
			 ctl->path);
		if (unlink(ctl->path) == -1 && errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen, "removing stale %s: %s", ctl->path,
				 strerror(errno));
			return ret;
		}
		ret = bind_private(ctl->fd, sa);
	}
	if (ret < 0) {
		snprintf(err, errlen, "binding %s: %s", ctl->path, strerror(-ret));
		return ret;
	}
	if (lstat(ctl->path, &st) == 0) {
		ctl->dev = st.st_dev;
		ctl->ino = st.st_ino;
	}
	return 0;
}

int ctl_open(struct loop *loop, const char *path, ctl_handler_fn fn, void *arg,
	     struct ctl **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl *ctl;
	int ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path is too long (%zu bytes, max %zu): %s",
			 strlen(path), sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	if (!path[0]) {
		snprintf(err, errlen, "control socket path is empty");
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ctl->loop = loop;
	ctl->fn = fn;
	ctl->arg = arg;
	ctl->request_ns = CTL_REQUEST_TIMEOUT_MS * NS_PER_MS;
	ctl->reply_ns = CTL_REPLY_TIMEOUT_MS * NS_PER_MS;
	memcpy(ctl->path, sa.sun_path, sizeof(ctl->path));
	loop_timer_init(&ctl->accept_timer, on_accept_timer, ctl);

	ret = make_parent_dir(path, err, errlen);
	if (ret == 0)
		ret = ctl_socket_dir_check(path, false, err, errlen);
	if (ret < 0)
		goto out_free;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd == -1) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto out_free;
	}
	ret = bind_socket(ctl, &sa, err, errlen);
	if (ret < 0)
		goto out_close;
	if (listen(ctl->fd, SOMAXCONN) == -1) {
		ret = -errno;
		snprintf(err, errlen, "listen on %s: %s", path, strerror(errno));
		goto out_unlink;
	}
	ret = loop_add_fd(loop, ctl->fd, EPOLLIN, on_listen, ctl);
	if (ret < 0) {
		snprintf(err, errlen, "watching %s: %s", path, strerror(-ret));
		goto out_unlink;
	}
	ctl->listening = true;
	*out = ctl;
	return 0;

out_unlink:
	unlink(path);
out_close:
	close(ctl->fd);
out_free:
	free(ctl);
	return ret;
}

void ctl_close(struct ctl *ctl)
{
	struct stat st;

	if (!ctl)
		return;
	while (ctl->conns)
		ctl_conn_close(ctl->conns);
	loop_timer_cancel(ctl->loop, &ctl->accept_timer);
	if (ctl->listening)
		loop_del_fd(ctl->loop, ctl->fd);
	close(ctl->fd);
	/* Only our own socket file: a newer knlbd may have replaced it. */
	if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl);
}

void ctl_get_stats(const struct ctl *ctl, struct ctl_stats *out)
{
	*out = ctl->stats;
}

void ctl_set_timeouts(struct ctl *ctl, unsigned request_ms, unsigned reply_ms)
{
	ctl->request_ns = request_ms * NS_PER_MS;
	ctl->reply_ns = reply_ms * NS_PER_MS;
}
