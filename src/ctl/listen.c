/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket server: accepts on a Unix stream socket, reads one
 * line, hands its words to the handler, writes the status line and the
 * body, closes.  Every socket is non-blocking and every connection has a
 * deadline, so a slow or silent client costs a file descriptor and a timer,
 * never the loop.  See include/knlb/ctl/server.h and docs/control-protocol.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"

#define NS_PER_MS		1000000ULL
/* Room in front of the body for the longest status line, "ERROR\n". */
#define STATUS_RESERVE		6
/* Listener paused after EMFILE and the like, so a full fd table is no busy loop. */
#define ACCEPT_PAUSE_MS		100
/* Connections taken per wake-up; the listener is level-triggered. */
#define ACCEPT_BATCH		16
/* The most a reply buffer holds: status, capped body, the note line. */
#define REPLY_BUF_MAX		(STATUS_RESERVE + (size_t)CTL_REPLY_MAX + 128)
/* Bytes read and dropped after the reply, so the peer sees EOF, not a reset. */
#define DRAIN_MAX		(64u << 10)

struct ctl_conn {
	struct ctl *ctl;
	int fd;
	struct loop_timer timer;	/* request, then reply deadline */
	struct ctl_conn *prev, *next;
	bool replying;
	size_t req_len;
	char req[CTL_REQUEST_MAX];
	char *reply;			/* status line + body; owned */
	size_t reply_start, reply_end;	/* what is left to send */
};

struct ctl {
	struct loop *loop;
	int fd;
	bool listening;			/* fd is on the loop */
	struct loop_timer accept_timer;	/* resumes accepting after a pause */
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	dev_t dev;			/* of the socket file we bound, so   */
	ino_t ino;			/* ctl_close unlinks only our own    */
	ctl_handler_fn fn;
	void *arg;
	struct ctl_conn *conns;
	size_t n_conns;
	uint64_t request_ns, reply_ns;
	struct ctl_stats stats;
};

static const char *const status_line[] = {
	[CTL_OK] = "OK\n",
	[CTL_WARN] = "WARN\n",
	[CTL_ERROR] = "ERROR\n",
};

/*
 * Where the handler's FILE writes: a growing buffer that keeps at most
 * CTL_REPLY_MAX bytes of body and only counts the rest, so a runaway body
 * costs counting, not memory.  STATUS_RESERVE bytes are kept free in front.
 * It grows by hand rather than with grow(): its doubling stops at
 * REPLY_BUF_MAX (grow() would take a 64 MiB body to a 128 MiB buffer), the
 * byte count cannot overflow below that ceiling, and the tail appends of
 * reply_buf_append (the cut note, a final newline) are a few bytes each,
 * made once per reply, where doubling would only waste memory.
 */
struct reply_buf {
	char *data;
	size_t len, cap;	/* len includes STATUS_RESERVE */
	size_t dropped;		/* body bytes beyond CTL_REPLY_MAX */
	bool oom;
};

static ssize_t reply_buf_write(void *cookie, const char *buf, size_t size)
{
	struct reply_buf *rb = cookie;
	size_t room = STATUS_RESERVE + (size_t)CTL_REPLY_MAX - rb->len;
	size_t take = size < room ? size : room;

	if (rb->len + take > rb->cap) {
		size_t cap = rb->cap;
		char *data;

		while (cap < rb->len + take)
			cap *= 2;
		/* Doubling past the cap would allocate 128 MiB for 64. */
		if (cap > REPLY_BUF_MAX)
			cap = REPLY_BUF_MAX;
		data = realloc(rb->data, cap);
		if (!data) {
			rb->oom = true;
			return 0;	/* fopencookie: 0 is an error */
		}
		rb->data = data;
		rb->cap = cap;
	}
	memcpy(rb->data + rb->len, buf, take);
	rb->len += take;
	rb->dropped += size - take;
	return (ssize_t)size;
}

static int reply_buf_append(struct reply_buf *rb, const char *s, size_t n)
{
	if (rb->len + n > rb->cap) {
		char *data = realloc(rb->data, rb->len + n);

		if (!data)
			return -ENOMEM;
		rb->data = data;
		rb->cap = rb->len + n;
	}
	memcpy(rb->data + rb->len, s, n);
	rb->len += n;
	return 0;
}

static void conn_close(struct ctl_conn *conn)
{
	struct ctl *ctl = conn->ctl;

	loop_timer_cancel(ctl->loop, &conn->timer);
	loop_del_fd(ctl->loop, conn->fd);
	close(conn->fd);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		ctl->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	ctl->n_conns--;
	free(conn->reply);
	free(conn);
}

/*
 * Whatever the peer sent beyond its request (an oversized one) is still
 * queued; closing over unread data makes the peer's read fail with
 * ECONNRESET instead of returning our reply and EOF.  Bounded.
 */
static void drain_input(int fd)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	while (total < DRAIN_MAX &&
	       (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
}

/* Sends what the socket takes; closes once all is sent or the peer is gone. */
static void conn_write(struct ctl_conn *conn)
{
	while (conn->reply_start < conn->reply_end) {
		ssize_t n = send(conn->fd, conn->reply + conn->reply_start,
				 conn->reply_end - conn->reply_start,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;		/* EPOLLOUT (edge) resumes */
			log_debug("control socket: client went away before its reply was sent: %s",
				  strerror(errno));
			conn_close(conn);
			return;
		}
		conn->reply_start += (size_t)n;
	}
	drain_input(conn->fd);
	conn_close(conn);
}

/* Takes ownership of data (status line at reply_start, body after it). */
static void conn_reply(struct ctl_conn *conn, char *data, size_t start,
		       size_t end)
{
	struct ctl *ctl = conn->ctl;

	conn->replying = true;
	conn->reply = data;
	conn->reply_start = start;
	conn->reply_end = end;
	/* Without its deadline a client that never reads would stay forever. */
	if (loop_timer_arm(ctl->loop, &conn->timer, ctl->reply_ns) < 0) {
		log_error("control socket: out of memory: client dropped");
		conn_close(conn);
		return;
	}
	conn_write(conn);
}

/* A reply built here rather than by the handler: short, printf-style. */
static void conn_reply_fmt(struct ctl_conn *conn, enum ctl_status status,
			   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void conn_reply_fmt(struct ctl_conn *conn, enum ctl_status status,
			   const char *fmt, ...)
{
	char *msg, *reply;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (len < 0)
		goto out_drop;
	len = asprintf(&reply, "%s%s\n", status_line[status], msg);
	free(msg);
	if (len < 0)
		goto out_drop;
	conn_reply(conn, reply, 0, (size_t)len);
	return;

out_drop:
	log_error("control socket: out of memory: client dropped");
	conn_close(conn);
}

static void bad_request(struct ctl_conn *conn, const char *why)
{
	conn->ctl->stats.bad_requests++;
	log_debug("control socket: bad request: %s", why);
	conn_reply_fmt(conn, CTL_ERROR, "%s", why);
}

/*
 * Runs the handler on argv with a capped in-memory stream and turns what
 * it wrote into the reply: the status line goes into the reserved room in
 * front, a body that does not end its last line gets a '\n' (so a client
 * can tell a whole body from a cut connection), and a body over
 * CTL_REPLY_MAX ends at its last whole line plus a note, with OK made
 * WARN because the reply is incomplete.
 */
static void run_handler(struct ctl_conn *conn, int argc, char **argv)
{
	static const cookie_io_functions_t io = { .write = reply_buf_write };
	struct ctl *ctl = conn->ctl;
	struct reply_buf rb = { 0 };
	enum ctl_status status;
	size_t slen;
	FILE *out;

	rb.cap = 4096;
	rb.len = STATUS_RESERVE;
	rb.data = malloc(rb.cap);
	out = rb.data ? fopencookie(&rb, "w", io) : NULL;
	if (!out) {
		free(rb.data);
		conn_reply_fmt(conn, CTL_ERROR, "out of memory");
		return;
	}
	ctl->stats.requests++;
	status = ctl->fn(ctl->arg, argc, argv, out);
	if (fclose(out) != 0 || rb.oom) {
		free(rb.data);
		log_error("control socket: %s: out of memory writing the reply", argv[0]);
		conn_reply_fmt(conn, CTL_ERROR, "out of memory writing the reply");
		return;
	}
	if ((unsigned)status > CTL_ERROR)
		status = CTL_ERROR;
	if (rb.dropped) {
		char note[128];
		size_t body = rb.len - STATUS_RESERVE;
		char *nl = memrchr(rb.data + STATUS_RESERVE, '\n', body);
		size_t keep = nl ? (size_t)(nl + 1 - rb.data) : STATUS_RESERVE;
		int n;

		rb.dropped += rb.len - keep;
		rb.len = keep;
		n = snprintf(note, sizeof(note),
			     "... reply cut at %u bytes: %zu more bytes not sent\n",
			     CTL_REPLY_MAX, rb.dropped);
		if (reply_buf_append(&rb, note, (size_t)n) < 0)
			rb.len = keep;	/* the body is still whole lines */
		if (status == CTL_OK)
			status = CTL_WARN;
		log_warn("control socket: %s: reply cut at %u bytes (%zu more)",
			 argv[0], CTL_REPLY_MAX, rb.dropped);
	} else if (rb.len > STATUS_RESERVE && rb.data[rb.len - 1] != '\n' &&
		   reply_buf_append(&rb, "\n", 1) < 0) {
		free(rb.data);
		conn_reply_fmt(conn, CTL_ERROR, "out of memory writing the reply");
		return;
	}
	slen = strlen(status_line[status]);
	memcpy(rb.data + STATUS_RESERVE - slen, status_line[status], slen);
	conn_reply(conn, rb.data, STATUS_RESERVE - slen, rb.len);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* line is the request without its '\n', NUL-terminated in place. */
static void handle_request(struct ctl_conn *conn, char *line, size_t len)
{
	char *argv[CTL_MAX_ARGS + 1];
	int argc = 0;
	char *p;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && !is_blank((char)c)) || c == 0x7f) {
			bad_request(conn, "request is not text");
			return;
		}
	}
	for (p = line; *p; ) {
		while (is_blank(*p))
			*p++ = '\0';
		if (!*p)
			break;
		if (argc == CTL_MAX_ARGS) {
			char msg[64];

			snprintf(msg, sizeof(msg), "too many words (max %d)",
				 CTL_MAX_ARGS);
			bad_request(conn, msg);
			return;
		}
		argv[argc++] = p;
		while (*p && !is_blank(*p))
			p++;
	}
	argv[argc] = NULL;
	if (argc == 0) {
		bad_request(conn, "empty request");
		return;
	}
	log_debug("control socket: request '%s' (%d words)", argv[0], argc);
	run_handler(conn, argc, argv);
}

/* Reads until the request's '\n', EOF, a full buffer, or EAGAIN. */
static void conn_read(struct ctl_conn *conn)
{
	for (;;) {
		size_t room = CTL_REQUEST_MAX - conn->req_len;
		char *start = conn->req + conn->req_len;
		char *nl;
		ssize_t n;

		n = recv(conn->fd, start, room, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(conn);
			return;
		}
		if (n == 0) {
			/*
			 * Nothing at all is a liveness probe (another knlbd's
			 * ctl_open, a monitoring check): no error, no reply.
			 */
			if (conn->req_len == 0)
				conn_close(conn);
			else
				bad_request(conn, "request truncated (end of input before the newline)");
			return;
		}
		conn->req_len += (size_t)n;
		nl = memchr(start, '\n', (size_t)n);
		if (nl) {
			*nl = '\0';
			handle_request(conn, conn->req, (size_t)(nl - conn->req));
			return;
		}
		if (conn->req_len == CTL_REQUEST_MAX) {
			char msg[64];

			snprintf(msg, sizeof(msg), "request too long (max %d bytes)",
				 CTL_REQUEST_MAX);
			bad_request(conn, msg);
			return;
		}
	}
}

static void on_conn(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ctl_conn *conn = arg;

	(void)loop;
	(void)fd;
	(void)events;
	/* Edge-triggered: read or write until EAGAIN, whatever woke us. */
	if (conn->replying)
		conn_write(conn);
	else
		conn_read(conn);
}

static void on_conn_timer(struct loop *loop, struct loop_timer *timer,
			  void *arg)
{
	struct ctl_conn *conn = arg;
	struct ctl *ctl = conn->ctl;

	(void)loop;
	(void)timer;
	ctl->stats.timeouts++;
	if (conn->replying) {
		log_info("control socket: client did not read its reply within %llu ms: dropped",
			 (unsigned long long)(ctl->reply_ns / NS_PER_MS));
	} else {
		char msg[80];
		int n = snprintf(msg, sizeof(msg),
				 "ERROR\nno complete request within %llu ms\n",
				 (unsigned long long)(ctl->request_ns / NS_PER_MS));

		/* Best effort: the peer's queue is empty, a short line fits. */
		if (send(conn->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
			log_debug("control socket: timeout notice not sent: %s",
				  strerror(errno));
		drain_input(conn->fd);
	}
	conn_close(conn);
}

static void reject_client(struct ctl *ctl, int fd)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "ERROR\ntoo many clients (max %d)\n",
			 CTL_MAX_CLIENTS);

	ctl->stats.rejected++;
	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_debug("control socket: rejection not sent: %s", strerror(errno));
	drain_input(fd);
	close(fd);
}

static void conn_new(struct ctl *ctl, int fd)
{
	struct ctl_conn *conn = malloc(sizeof(*conn));
	int ret;

	if (!conn) {
		log_error("control socket: out of memory: client dropped");
		close(fd);
		return;
	}
	conn->ctl = ctl;
	conn->fd = fd;
	conn->replying = false;
	conn->req_len = 0;
	conn->reply = NULL;
	conn->reply_start = conn->reply_end = 0;
	loop_timer_init(&conn->timer, on_conn_timer, conn);
	ret = loop_add_fd(ctl->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
			  on_conn, conn);
	if (ret == 0)
		ret = loop_timer_arm(ctl->loop, &conn->timer, ctl->request_ns);
	if (ret < 0) {
		log_error("control socket: client dropped: %s", strerror(-ret));
		loop_del_fd(ctl->loop, fd);
		close(fd);
		free(conn);
		return;
	}
	conn->prev = NULL;
	conn->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = conn;
	ctl->conns = conn;
	ctl->n_conns++;
	ctl->stats.connections++;
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
			conn_new(ctl, cfd);
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
		conn_close(ctl->conns);
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
