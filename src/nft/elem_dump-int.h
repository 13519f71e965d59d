/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One GETSETELEM dump of a set of an inet table, every answer handed to a
 * callback: what reading counters (stats_read.c) and persistence entries
 * (persist_elems.c) share.
 */
#ifndef KNLB_NFT_ELEM_DUMP_INT_H
#define KNLB_NFT_ELEM_DUMP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <libmnl/libmnl.h>

/*
 * A netfilter netlink socket, bound, that gives up waiting for an answer
 * after timeout_ms.  NULL with errno set.
 */
struct mnl_socket *elem_dump_open(unsigned timeout_ms);

/*
 * Dump set of table over nl (bound, with a receive timeout), buf of len
 * bytes as scratch; cb sees each message and keeps its own errors in data.
 * 0 when the dump ended, -ETIMEDOUT, or -errno (-ENOENT: no such set).
 */
int elem_dump(struct mnl_socket *nl, char *buf, size_t len, const char *table,
	      const char *set, uint32_t seq, mnl_cb_t cb, void *data);

#endif
