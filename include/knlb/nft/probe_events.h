/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_NFT_PROBE_EVENTS_H
#define KNLB_NFT_PROBE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The raw tcp probes' own conntrack entries (health/check_syn.c), kept out
 * of conntrack's event stream.  Each probe is a flow of the gateway's: a
 * SYN out, a SYN-ACK back, the kernel's reset.  While knlbd (or anyone)
 * listens to conntrack events, the kernel builds a NEW, state updates and
 * a DESTROY message for each, which knlbd's socket filter then drops:
 * with 10,000 backends every 2 s, about 20,000 messages a second built
 * for nothing.  A table of its own, "<table>.probes", marks those entries
 * `ct event set 0x0` by their source port, which only the probes use (the
 * ports are held by knlbd's bound sockets).  The entries are still
 * tracked: a host firewall that accepts `ct state established` replies
 * still sees the SYN-ACKs as replies.
 *
 * The name has a '.', which `table =` cannot have: it never is another
 * knlbd's table.
 *
 * A table of its own because the ports are chosen when knlbd starts,
 * while knlb's table outlives knlbd (hitless restarts) and is replaced
 * whole on structural reloads.
 */

struct nfnl_sock;

/* The source ports of one family's probes: [first, first + count), count > 0. */
struct probe_port_range {
	int family;			/* AF_INET, AF_INET6 */
	uint16_t first, count;
};

/* Room for "<table>.probes": an nft name as knlb writes them (RB_NAME_MAX). */
#define PROBE_EVENTS_NAME_MAX	96
/* "<table>.probes" into buf; -ENAMETOOLONG when it does not fit. */
int probe_events_table_name(const char *table, char *buf, size_t len);

/*
 * Create (or atomically replace, after a knlbd killed with -9) the table
 * name with one rule per range.  0, or -errno with err set.
 */
int probe_events_install(struct nfnl_sock *sock, const char *name,
			 const struct probe_port_range *ranges, size_t n,
			 char *err, size_t errlen);

/* Delete the table name if it exists.  0, or -errno with err set. */
int probe_events_remove(struct nfnl_sock *sock, const char *name,
			char *err, size_t errlen);

#endif
