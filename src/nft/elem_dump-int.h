/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One GETSETELEM dump of a set of an inet table, every answer handed to a
 * callback: what reading counters (stats_read.c) and persistence entries
 * (persist_elems.c) share; and the request/answer loop under it, which
 * replace_in_place.c uses for its table, set and chain dumps.
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
 * Send the request nlh (built in buf: it is sent before buf is reused)
 * and run cb over every answer until the dump's end or the request's ACK.
 * 0, -ETIMEDOUT, or -errno: the kernel's, or -EPROTO when cb failed (it
 * keeps its own error in data).
 */
int elem_dump_exchange(struct mnl_socket *nl, char *buf, size_t len,
		       const struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/*
 * Dump set of table over nl (bound, with a receive timeout), buf of len
 * bytes as scratch; cb sees each message and keeps its own errors in data.
 * 0 when the dump ended, -ETIMEDOUT, or -errno (-ENOENT: no such set).
 */
int elem_dump(struct mnl_socket *nl, char *buf, size_t len, const char *table,
	      const char *set, uint32_t seq, mnl_cb_t cb, void *data);

#endif
