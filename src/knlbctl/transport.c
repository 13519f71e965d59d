/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl's side of the control socket (docs/control-protocol.md): one
 * request line out, the reply streamed back, all within one deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "knlb/ctl/server.h"
#include "knlb/ctl/socket_dir.h"
#include "knlbctl-int.h"

#define STATUS_LINE_MAX		16	/* "ERROR\n" and then some */

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 0 when fd is ready for events, -ETIMEDOUT past deadline, or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		uint64_t now = now_ms();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -errno;
	}
}

/* What a call failed of, said once (or not at all for completion). */
struct call {
	const char *path;
	bool quiet;
};

static int say(const struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int say(const struct call *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet)
		return EXIT_UNREACHABLE;
	fflush(stdout);
	fprintf(stderr, "knlbctl: %s: ", c->path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_UNREACHABLE;
}

/* The socket path and the errno, with what to try next. */
static int unreachable(const struct call *c, int err)
{
	const char *hint = "";

	if (err == ENOENT || err == ECONNREFUSED)
		hint = " (is knlbd running? -s PATH)";
	else if (err == EACCES || err == EPERM)
		hint = " (the control socket is for root)";
	else if (err == ETIMEDOUT)
		hint = " (knlbd did not answer in time; -t SECONDS)";
	return say(c, "%s%s", strerror(err), hint);
}

static int bad_reply(const struct call *c, const char *what)
{
	return say(c, "bad reply from knlbd: %s", what);
}

/*
 * Connects with the timeout as the send timeout (a unix connect waits when
 * the listener's backlog is full), then goes non-blocking so the whole
 * exchange keeps to one deadline.  Returns the fd or -errno.
 */
static int connect_socket(const char *path, double timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = {
		.tv_sec = (time_t)timeout_s,
		.tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6),
	};
	int fd, err;

	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1;		/* a zero send timeout means none at all */
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto out_close;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		goto out_close;
	return fd;

out_close:
	err = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;
	close(fd);
	return -err;
}

static int send_request(int fd, const char *req, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, req, len, MSG_NOSIGNAL);
		int ret;

		if (n >= 0) {
			req += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Reads the reply to EOF: the status line, then the body streamed to out
 * or err as it comes (a flows listing can be large).  The server ends
 * every non-empty body with '\n', so a body that does not is a reply cut
 * short.
 */
static int read_reply(int fd, const struct call *c, const char *request,
		      uint64_t deadline, double timeout_s, FILE *out, FILE *err)
{
	char status[STATUS_LINE_MAX], buf[65536];
	size_t slen = 0, body = 0;
	int code = -1;
	FILE *sink = NULL;
	char last = '\n';

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		char *p = buf;
		int ret;

		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return unreachable(c, errno);
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret == -ETIMEDOUT)
				return say(c, "no complete reply within %g s (-t SECONDS)",
					   timeout_s);
			if (ret < 0)
				return unreachable(c, -ret);
			continue;
		}
		if (!sink) {
			char *nl = memchr(buf, '\n', (size_t)n);
			size_t take = nl ? (size_t)(nl - buf) : (size_t)n;

			if (slen + take >= sizeof(status))
				return bad_reply(c, "no status line");
			memcpy(status + slen, buf, take);
			slen += take;
			if (!nl)
				continue;
			status[slen] = '\0';
			if (!strcmp(status, "OK")) {
				code = EXIT_OK;
				sink = out;
			} else if (!strcmp(status, "WARN")) {
				code = EXIT_WARN;
				sink = out;
			} else if (!strcmp(status, "ERROR")) {
				code = EXIT_REFUSED;
				sink = err;
			} else {
				return bad_reply(c, "unknown status line");
			}
			p = nl + 1;
			n -= p - buf;
			if (!n)
				continue;
		}
		fwrite(p, 1, (size_t)n, sink);
		body += (size_t)n;
		last = p[n - 1];
	}
	if (!sink)
		return bad_reply(c, slen ? "the status line is cut short"
					 : "the connection closed without a reply");
	fflush(sink);
	if (last != '\n')
		return bad_reply(c, "the reply is cut short (no newline at its end)");
	if (code == EXIT_REFUSED && body == 0 && !c->quiet) {
		size_t len = strcspn(request, " ");

		fprintf(stderr, "knlbctl: knlbd refused %.*s without a reason\n",
			(int)len, request);
	}
	return code;
}

int ctl_call(const char *path, const char *request, double timeout_s,
	     FILE *out, FILE *err, bool quiet)
{
	struct call c = { .path = path, .quiet = quiet };
	size_t len = strlen(request);
	char line[CTL_REQUEST_MAX + 1], why[1024];
	uint64_t deadline;
	int fd, ret;

	if (len + 1 > CTL_REQUEST_MAX)
		return bad_reply(&c, "request too long");	/* checked before */
	memcpy(line, request, len);
	line[len++] = '\n';
	/* A reply from a socket another user could have put there is no reply. */
	ret = ctl_socket_dir_check(path, true, why, sizeof(why));
	if (ret < 0 && ret != -ENOENT)
		return say(&c, "not talking to it: %s", why);
	deadline = now_ms() + (uint64_t)(timeout_s * 1000.0);
	fd = connect_socket(path, timeout_s);
	if (fd < 0)
		return unreachable(&c, -fd);
	ret = send_request(fd, line, len, deadline);
	/*
	 * The server may answer and close before reading everything (too many
	 * clients): a failed send is not final, the reply may be waiting.
	 */
	if (ret < 0 && ret != -EPIPE && ret != -ECONNRESET) {
		close(fd);
		return unreachable(&c, -ret);
	}
	ret = read_reply(fd, &c, request, deadline, timeout_s, out, err);
	close(fd);
	return ret;
}
