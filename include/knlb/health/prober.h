/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_PROBER_H
#define KNLB_PROBER_H

/*
 * The prober process: runs every health probe (tcp, udp, http, https:
 * libcurl and TLS) with no capability and not as root, on its own event
 * loop, for the daemon that sends it one struct probe_request per probe;
 * answers one struct probe_reply per result.  It keeps no state between
 * requests: a reload changes nothing here, the next requests carry the
 * new specs.  A privsep_worker_fn: returns its exit status when the daemon
 * closes the socket.
 */
int prober_main(int fd);

#endif
