/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_PRIVSEP_H
#define KNLB_PRIVSEP_H

#include <stddef.h>
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
 * Reap a worker whose socket closed: its wait status, waiting up to
 * 200 ms for it to exit before SIGKILL.  Returns the status, or -errno.
 */
int privsep_reap(pid_t pid);

/* "signal 9", "exit status 1": how a wait status reads in the log. */
const char *privsep_status_text(int status, char *buf, size_t len);

#endif
