/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_NOTIFY_H
#define KNLB_NOTIFY_H

/*
 * The service manager's readiness protocol (sd_notify(3)) without
 * libsystemd: one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or an abstract name when it starts with
 * '@').  Without NOTIFY_SOCKET every call is a no-op returning 0.
 *
 * None of these is fatal: a failure is logged once (log_warn) and returned
 * as -errno, so a caller may ignore it.  The socket is looked up on every
 * call, so a test may point NOTIFY_SOCKET elsewhere between calls.
 */

/* "READY=1\nSTATUS=<status>" (STATUS omitted when status is NULL). */
int notify_ready(const char *status);

/* "RELOADING=1": a reload began; follow with notify_ready() when done. */
int notify_reloading(void);

/* "STOPPING=1": shutdown began. */
int notify_stopping(void);

/* "STATUS=<formatted text>": free-form status shown by systemctl status. */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Send a raw payload (one or more "KEY=VALUE" lines). */
int notify_send(const char *payload);

#endif
