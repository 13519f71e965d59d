/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_PRIVSEP_H
#define KNLB_PRIVSEP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Unprivileged worker processes, as OpenBSD's relayd runs its hce and
 * relay processes: what parses bytes from the network runs where a parser
 * bug owns nothing.
 *
 * A worker must hold no capability, not even in its bounding set, which
 * takes CAP_SETPCAP to clear, and must not be root, which takes
 * CAP_SETUID: a daemon that has already dropped to CAP_NET_ADMIN can do
 * neither, yet must restart a worker that dies.  So privsep_spawner_new(),
 * called while the daemon still has every capability, forks a spawner: it
 * drops everything at once (privs_drop_all()), closes every descriptor but
 * its socket to the daemon, and from then on only forks workers on
 * request.  Each worker is forked twice so that it becomes the daemon's
 * own child (the daemon is a child subreaper): the daemon reaps it and
 * sees how it died.  The spawner runs no parser and reads one fixed-size
 * request at a time from the daemon.
 */

struct privsep_spawner;

/*
 * What a worker runs, with its end of a SOCK_SEQPACKET socketpair (the
 * only descriptor it has but 0, 1 and 2); its return value is its exit
 * status.
 */
typedef int (*privsep_worker_fn)(int fd);

/*
 * Fork the spawner; workers[i] is what privsep_spawn(s, i) runs.  user as
 * privs_drop_all() takes it.  Returns 0, or -errno with a sentence in err.
 */
int privsep_spawner_new(const char *user, const privsep_worker_fn *workers,
			size_t n_workers, struct privsep_spawner **out,
			char *err, size_t errlen);
/* Kills and reaps the spawner. */
void privsep_spawner_free(struct privsep_spawner *s);
pid_t privsep_spawner_pid(const struct privsep_spawner *s);

/*
 * Start worker `role`: 0 with its pid and the daemon's end of its socket
 * (non-blocking, close-on-exec; the caller owns it and reaps the pid), or
 * -errno (-EPIPE: the spawner is gone).  Blocks for the two forks, at
 * most a few seconds.
 */
int privsep_spawn(struct privsep_spawner *s, unsigned int role, pid_t *pid,
		  int *fd);

/*
 * One message of len bytes, with pass_fd (-1: none) as SCM_RIGHTS;
 * never blocks (MSG_DONTWAIT).  0 or -errno.
 */
int privsep_send_fd(int sock, const void *msg, size_t len, int pass_fd);
/*
 * One message into msg (at most len bytes) and the descriptor it carried
 * in *fd (-1: none; close-on-exec); never blocks.  Its length, 0 at EOF,
 * or -errno (-EPROTO: longer than len, or more than one descriptor).
 */
ssize_t privsep_recv_fd(int sock, void *msg, size_t len, int *fd);

/*
 * Reap a worker whose socket closed: its wait status, waiting up to
 * 200 ms for it to exit before SIGKILL.  Returns the status, or -errno.
 */
int privsep_reap(pid_t pid);

/* "signal 9", "exit status 1": how a wait status reads in the log. */
const char *privsep_status_text(int status, char *buf, size_t len);

/*
 * A worker the daemon keeps running: started now, and when it dies
 * (its socket closes, or its owner finds it lying: privsep_worker_lost()),
 * reaped, logged as "NAME (pid N) died: signal 9; restarting in 1 s" and
 * started again after 1 s, doubling to 30 s while it keeps dying, back to
 * 1 s once one lived 30 s.  Its owner reads its socket (ops->readable)
 * and may hand it something at each start (ops->started).
 */
struct loop;
struct privsep_worker;

struct privsep_worker_ops {
	/* fd is readable or hung up: read it; privsep_worker_lost() on EOF. */
	void (*readable)(struct privsep_worker *w, int fd, uint32_t events,
			 void *arg);
	/* Just (re)started: 0, or -errno to have it killed and retried. */
	int (*started)(struct privsep_worker *w, int fd, void *arg);
};

int privsep_worker_new(struct loop *loop, struct privsep_spawner *spawner,
		       unsigned int role, const char *name,
		       const struct privsep_worker_ops *ops, void *arg,
		       struct privsep_worker **out);
/* Kills and reaps it; no restart. */
void privsep_worker_free(struct privsep_worker *w);
/*
 * The worker is gone (why NULL: it died; its socket closed) or must go
 * (why says so: it is killed): reap, log, schedule the restart.
 */
void privsep_worker_lost(struct privsep_worker *w, const char *why);
/* Its socket, -1 while it is down; its pid, 0 while down. */
int privsep_worker_fd(const struct privsep_worker *w);
pid_t privsep_worker_pid(const struct privsep_worker *w);

#endif
