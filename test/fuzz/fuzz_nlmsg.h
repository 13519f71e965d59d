/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the netlink harnesses share (test/fuzz/ct_msg.c, nft_stats.c). */
#ifndef KNLB_FUZZ_NLMSG_H
#define KNLB_FUZZ_NLMSG_H

#include <stdbool.h>
#include <stdint.h>
#include <libmnl/libmnl.h>

/*
 * mnl_nlmsg_ok() of libmnl 1.0.4 compares (int)nlmsg_len, so a length of
 * 2^31 or more passes and mnl_nlmsg_next() jumps gigabytes away.  The
 * kernel never sends one (a datagram is at most the receive buffer), so
 * knlbd's walks are safe; the harnesses skip such lengths to reach the
 * parser instead of finding libmnl's flaw again (docs/fuzzing.md).
 */
static inline bool fuzz_nlmsg_ok(const struct nlmsghdr *nlh, int left)
{
	return left >= (int)sizeof(*nlh) && nlh->nlmsg_len <= (uint32_t)left &&
	       mnl_nlmsg_ok(nlh, left);
}

#endif
