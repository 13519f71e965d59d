/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_NFT_STATS_H
#define KNLB_NFT_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <netinet/in.h>
#include "knlb/lib/addr-t.h"

/*
 * Per-backend traffic counters kept by the kernel (docs/statistics.md).
 * Three dynamic sets with a counter per element, keyed
 * `ct mark . backend address . l4proto . backend port`, filled from the
 * packet path, so a reload or an adopt needs no bookkeeping and conntrack
 * accounting need not be on:
 *
 *   backend_new  first packet of each flow (nat postrouting, before srcnat):
 *                its packet count is the number of new flows
 *   backend_in   every packet client -> backend (forward, and output for
 *                clients on the gateway itself)
 *   backend_out  every packet backend -> client (forward, and input)
 *
 * keyed by an IPv4 backend address; backend_new6, backend_in6 and
 * backend_out6 (filled by rules of their own) count IPv6 backends, and
 * exist only when the table serves IPv6.
 *
 * An element idle for STATS_TIMEOUT_S expires and starts again from zero:
 * readers of these counters must take a counter that went backwards as a
 * restart (lib/counter_rate.h does).
 */

#define STATS_SET_NEW		"backend_new"
#define STATS_SET_IN		"backend_in"
#define STATS_SET_OUT		"backend_out"
#define STATS_CHAIN_NEW		"count_new"
#define STATS_CHAIN_FORWARD	"count_forward"
#define STATS_CHAIN_INPUT	"count_input"
#define STATS_CHAIN_OUTPUT	"count_output"
#define STATS_SET_SIZE		65535
#define STATS_TIMEOUT_S		3600
/* Before srcnat: a nat chain after one that NATed the flow is skipped. */
#define STATS_NEW_PRIO		90	/* srcnat - 10 */

struct nfnl_batch;

/*
 * Append the three sets and the four counting chains to a batch that
 * builds table (after its own objects: nft lists them in this order).
 * mark_mask is [global] ct_mark_mask: a flow is knlb's when
 * ct mark & mark_mask != 0.  Without traffic ([global] traffic_counters
 * = no) only backend_new and count_new: no rule runs for every packet.
 * 0 or -ENOMEM.
 */
int stats_add_objects(struct nfnl_batch *batch, const char *table,
		      uint32_t mark_mask, bool ipv6, bool traffic);

/* The same objects in nft syntax, as `nft list table` prints them. */
void stats_render_sets(FILE *out, bool ipv6, bool traffic);
void stats_render_chains(FILE *out, uint32_t mark_mask, bool ipv6,
			 bool traffic);

/* One backend of one service, as the kernel counted it. */
struct stats_counter {
	uint32_t mark;			/* ct mark & mark_mask: the service */
	struct knlb_addr addr;		/* backend */
	uint8_t proto;			/* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port;			/* backend port, host order */
	uint64_t new_flows;
	uint64_t pkts_in, bytes_in;	/* client -> backend */
	uint64_t pkts_out, bytes_out;	/* backend -> client */
};

struct stats_table {
	struct stats_counter *c;
	size_t n, cap;
};

/*
 * Read every element of the three sets of table (netlink dumps on a
 * socket of its own, each receive bounded by STATS_TIMEOUT_MS) into *out,
 * one entry per (mark & mark_mask, addr, proto, port).  Without traffic,
 * backend_new only (stats_read_new()): packets and bytes stay 0.  0, or
 * -errno with err saying what could not be read (-ENOENT: no table or no
 * counting sets).  Free with stats_table_free().
 */
#define STATS_TIMEOUT_MS 2000
int stats_read(const char *table, uint32_t mark_mask, bool traffic,
	       struct stats_table *out, char *err, size_t errlen);
/* The same for backend_new (and backend_new6) only: new_flows, no traffic. */
int stats_read_new(const char *table, uint32_t mark_mask,
		   struct stats_table *out, char *err, size_t errlen);
void stats_table_free(struct stats_table *t);

/* The entry of one backend, or NULL when the kernel has counted nothing. */
const struct stats_counter *stats_find(const struct stats_table *t,
				       uint32_t mark, const struct knlb_addr *addr,
				       uint8_t proto, uint16_t port);

/* Which set a dump message came from. */
enum stats_set { STATS_NEW, STATS_IN, STATS_OUT };

struct nlmsghdr;

/*
 * Add the elements of one NEWSETELEM message (a dump reply) of set
 * `which` to t, keyed by the raw ct mark.  An element a dump repeats (a
 * hash set resizing under the dump) counts once.  0, -EPROTO or -ENOMEM.
 * Then stats_table_fold() merges the entries whose marks differ only
 * outside mark_mask (bits other tools own).  Exposed for unit tests.
 */
int stats_parse_elems(const struct nlmsghdr *nlh, enum stats_set which,
		      struct stats_table *t);
void stats_table_fold(struct stats_table *t, uint32_t mark_mask);

#endif
