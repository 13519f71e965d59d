/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CHECK_H
#define KNLB_CHECK_H

#include "knlb/lib/addr-t.h"
#include "knlb/config/check-t.h"

/*
 * Running probes on the event loop: non-blocking sockets for tcp, udp and
 * http, libcurl's multi interface for https, all driven by the one loop, no
 * threads.  A checker owns the shared state (the curl multi handle); a
 * probe is one attempt against one address.
 *
 * The done callback runs exactly once per started probe, always from the
 * loop, never from inside checker_start(), unless the probe is cancelled
 * first (then it never runs).  The probe is freed by the checker right
 * after its callback returns; the caller must drop its pointer then.
 */

struct loop;
struct checker;
struct check_probe;

typedef void (*check_done_fn)(const struct check_result *res, void *arg);

int checker_new(struct loop *loop, struct checker **out);
/*
 * The same interface, but every probe runs in an unprivileged prober
 * process (started now as spawner's worker `role`, prober_main(), and
 * restarted when it dies); only fixed-size requests and checked results
 * cross.  See prober.h.
 */
struct privsep_spawner;
int checker_new_remote(struct loop *loop, struct privsep_spawner *spawner,
		       unsigned int role, struct checker **out);
/*
 * From now on, send check = tcp probes from raw sockets in this process
 * (check_syn.c: half-open, the answers of all read from one socket per
 * family) instead of connect(), for each family the host has.  Needs
 * CAP_NET_RAW now, none later: knlbd calls it before dropping its
 * privileges.  0 or -errno (-EPERM: tcp probes keep using connect()).
 */
int checker_open_raw(struct checker *checker);
/*
 * The source ports of the raw probes of family (AF_INET, AF_INET6):
 * [*first, *first + *count), held by this process; *count 0 when that
 * family's tcp probes do not come from a raw socket.
 */
void checker_raw_ports(const struct checker *checker, int family,
		       uint16_t *first, uint16_t *count);

/* Cancels every probe still running (their callbacks do not run). */
void checker_free(struct checker *checker);

/*
 * Start a probe of spec against addr:port, exactly (spec->port is for the
 * caller's own resolution; see health_probe_port()).  Returns 0 and sets *out, or -errno when the probe could not
 * even be started (-EMFILE, -ENOMEM, ...): the caller treats that as a
 * CHECK_LOCAL_ERROR of its own.
 */
int checker_start(struct checker *checker, const struct check_spec *spec,
		  const struct knlb_addr *addr, uint16_t port,
		  check_done_fn done, void *arg, struct check_probe **out);
void checker_cancel(struct checker *checker, struct check_probe *probe);

/* Probes in flight (tests, statistics). */
size_t checker_running(const struct checker *checker);

#endif
