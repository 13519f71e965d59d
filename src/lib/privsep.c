/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spawner of unprivileged workers: forked while the daemon still has
 * every capability, it drops them all and then forks workers on request,
 * each one twice so that it is reparented to the daemon (a child
 * subreaper).  See privsep.h for why it exists at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "knlb/lib/cmsg.h"
#include "knlb/lib/log.h"
#include "knlb/lib/privs.h"
#include "knlb/lib/privsep.h"

#define SPAWN_VERSION		1
#define SPAWN_REPLY_TIMEOUT_S	5
/* The descriptor a worker (and the spawner) finds its socket on. */
#define CHILD_FD		3

struct spawn_request {
	uint32_t version;
	uint32_t role;
};

struct spawn_reply {
	uint32_t version;
	int32_t err;		/* 0 or -errno */
	int32_t pid;
};

/* The spawner's first message: whether it could drop its privileges. */
struct spawn_hello {
	uint32_t version;
	int32_t err;		/* 0 or -errno */
	char text[512];		/* privs_drop_all()'s sentence */
};

struct privsep_spawner {
	pid_t pid;
	int fd;			/* blocking, SOCK_SEQPACKET */
};

/* Every descriptor from `from` up, whether or not close_range() exists. */
static void close_from(int from)
{
	long max;

	if (syscall(SYS_close_range, (unsigned int)from, ~0U, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = from; fd < max; fd++)
		close(fd);
}

/* Only fd survives, as CHILD_FD; signals as a fresh process has them. */
static int child_setup(int fd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (fd != CHILD_FD) {
		if (dup2(fd, CHILD_FD) == -1)
			return -errno;
		close(fd);
	}
	close_from(CHILD_FD + 1);
	return 0;
}

int privsep_send_fd(int sock, const void *msg, size_t len, int pass_fd)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pass_fd >= 0)
		memcpy(cmsg_attach(&m, u.buf, sizeof(u.buf), SOL_SOCKET,
				   SCM_RIGHTS, sizeof(int)),
		       &pass_fd, sizeof(int));
	if (sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		return -errno;
	return 0;
}

ssize_t privsep_recv_fd(int sock, void *msg, size_t len, int *fd)
{
	struct iovec iov = { .iov_base = msg, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	/* A longer message or more descriptors than asked for: not ours. */
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return n;
}

static void reply_send(int fd, int err, pid_t pid, int pass_fd)
{
	struct spawn_reply r = { .version = SPAWN_VERSION, .err = err, .pid = pid };

	/* The daemon gone: nothing to tell, the spawner exits on its EOF. */
	(void)privsep_send_fd(fd, &r, sizeof(r), pass_fd);
}

/*
 * In the middle process: fork the worker, hand the daemon its socket and
 * pid, exit, so the worker is reparented to the daemon.
 */
static void spawn_worker(int fd, privsep_worker_fn worker)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		reply_send(fd, -errno, 0, -1);
		_exit(0);
	}
	pid = fork();
	if (pid == -1) {
		reply_send(fd, -errno, 0, -1);
		_exit(0);
	}
	if (pid == 0) {
		close(fd);
		close(sv[0]);
		if (child_setup(sv[1]) < 0)
			_exit(127);
		_exit(worker(CHILD_FD));
	}
	close(sv[1]);
	reply_send(fd, 0, pid, sv[0]);
	_exit(0);
}

static void spawner_main(int fd, const char *user,
			 const privsep_worker_fn *workers, size_t n_workers)
{
	/* The daemon gone before we could see its EOF: go with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (child_setup(fd) < 0)
		_exit(127);
	fd = CHILD_FD;
	{
		struct spawn_hello h = { .version = SPAWN_VERSION };

		h.err = privs_drop_all(user, h.text, sizeof(h.text));
		(void)send(fd, &h, sizeof(h), MSG_NOSIGNAL);
		if (h.err < 0)
			_exit(1);
	}
	for (;;) {
		struct spawn_request req;
		ssize_t n = recv(fd, &req, sizeof(req), 0);
		pid_t mid;

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		if (n != (ssize_t)sizeof(req) || req.version != SPAWN_VERSION ||
		    req.role >= n_workers) {
			reply_send(fd, -EINVAL, 0, -1);
			continue;
		}
		mid = fork();
		if (mid == -1) {
			reply_send(fd, -errno, 0, -1);
			continue;
		}
		if (mid == 0)
			spawn_worker(fd, workers[req.role]);
		while (waitpid(mid, NULL, 0) == -1 && errno == EINTR)
			;
	}
}

/* Did the spawner drop everything?  0, or -errno with its sentence. */
static int hello_recv(int fd, char *err, size_t errlen)
{
	struct spawn_hello h;
	ssize_t n;

	do
		n = recv(fd, &h, sizeof(h), 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(h) || h.version != SPAWN_VERSION || h.err > 0) {
		snprintf(err, errlen, "the privilege separation spawner did not start (%s)",
			 n == -1 ? strerror(errno) : "no valid greeting");
		return n == -1 ? -errno : -EPROTO;
	}
	if (h.err < 0) {
		h.text[sizeof(h.text) - 1] = '\0';
		snprintf(err, errlen, "%s", h.text);
	}
	return h.err;
}

int privsep_spawner_new(const char *user, const privsep_worker_fn *workers,
			size_t n_workers, struct privsep_spawner **out,
			char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = SPAWN_REPLY_TIMEOUT_S };
	struct privsep_spawner *s;
	int sv[2], ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* Workers come from the spawner's middle process: reparent them here. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0, 0, 0) == -1) {
		ret = -errno;
		snprintf(err, errlen, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(-ret));
		goto out_free;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		ret = -errno;
		snprintf(err, errlen, "socketpair: %s", strerror(-ret));
		goto out_free;
	}
	s->pid = fork();
	if (s->pid == -1) {
		ret = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		close(sv[0]);
		close(sv[1]);
		goto out_free;
	}
	if (s->pid == 0) {
		close(sv[0]);
		spawner_main(sv[1], user, workers, n_workers);
		_exit(0);
	}
	close(sv[1]);
	s->fd = sv[0];
	/* A wedged spawner must not wedge the daemon's loop. */
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = hello_recv(s->fd, err, errlen);
	if (ret < 0) {
		privsep_spawner_free(s);
		return ret;
	}
	*out = s;
	return 0;

out_free:
	free(s);
	return ret;
}

void privsep_spawner_free(struct privsep_spawner *s)
{
	if (!s)
		return;
	close(s->fd);
	kill(s->pid, SIGKILL);
	while (waitpid(s->pid, NULL, 0) == -1 && errno == EINTR)
		;
	free(s);
}

pid_t privsep_spawner_pid(const struct privsep_spawner *s)
{
	return s->pid;
}

/* The reply, and the descriptor it carries; the spawner is checked too. */
static int reply_recv(int sfd, struct spawn_reply *r, int *fd)
{
	struct pollfd p = { .fd = sfd, .events = POLLIN };
	ssize_t n;

	*fd = -1;
	n = poll(&p, 1, SPAWN_REPLY_TIMEOUT_S * 1000);
	if (n == 0)
		return -ETIMEDOUT;
	if (n == -1)
		return -errno;
	n = privsep_recv_fd(sfd, r, sizeof(*r), fd);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EPIPE;
	if (n != (ssize_t)sizeof(*r) || r->version != SPAWN_VERSION || r->err > 0 ||
	    (r->err == 0 && (r->pid <= 0 || *fd < 0))) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return 0;
}

int privsep_spawn(struct privsep_spawner *s, unsigned int role, pid_t *pid,
		  int *fd)
{
	struct spawn_request req = { .version = SPAWN_VERSION, .role = role };
	struct spawn_reply r;
	int ret;

	if (send(s->fd, &req, sizeof(req), MSG_NOSIGNAL) == -1)
		return errno == ECONNRESET ? -EPIPE : -errno;
	ret = reply_recv(s->fd, &r, fd);
	if (ret < 0)
		return ret;
	if (r.err < 0)
		return r.err;
	if (fcntl(*fd, F_SETFL, O_NONBLOCK) == -1) {
		ret = -errno;
		close(*fd);
		*fd = -1;
		return ret;
	}
	*pid = r.pid;
	return 0;
}

int privsep_reap(pid_t pid)
{
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	int status;

	for (int i = 0; i < 20; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r == -1 && errno != EINTR)
			return -errno;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -errno;
	return status;
}

const char *privsep_status_text(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "wait status 0x%x", (unsigned int)status);
	return buf;
}
