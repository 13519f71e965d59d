/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Conntrack entries made in bulk, for the ct kernel tests. */
#ifndef KNLB_TEST_KT_CT_H
#define KNLB_TEST_KT_CT_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

/*
 * n TCP entries through libnetfilter_conntrack's message builder, 64 per
 * sendmsg: from 10.2.x.y:(1024 + i), i = first.., to 192.0.2.10:80,
 * NATed to backend:8080 (network order), in tcp_state (TCP_CONNTRACK_*)
 * with ct mark; destroy deletes the same entries instead.  ack: wait for
 * the kernel's answer to each.  0 or the first -errno.
 */
int kt_ct_batch(unsigned int first, unsigned int n, uint32_t mark,
		in_addr_t backend, int tcp_state, bool destroy, bool ack);

#endif
