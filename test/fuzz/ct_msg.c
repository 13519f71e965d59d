/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness: the conntrack message parser (src/ct/msg.c).  The input is
 * one datagram as the event, update and dump sockets receive it: netlink
 * messages back to back, walked with mnl_nlmsg_ok()/mnl_nlmsg_next() as
 * src/ct/events.c does.  Each message goes through everything knlbd reads
 * a flow with: ct_msg_parse() (the attribute index), ct_msg_flow() (the
 * flowtab's record) and ct_msg_list_entry() (a `knlbctl flows` row).
 * Seeds: messages built with libnetfilter_conntrack's nfct_nlmsg_build()
 * by test/fuzz/gen_ct_seeds.c.  See docs/fuzzing.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>

#include "fuzz_nlmsg.h"

#include "ct-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* A flow record must say what the message said: no invented addresses. */
static void check_flow(const struct flow *f)
{
	if (f->key.src.family != AF_INET && f->key.src.family != AF_INET6)
		__builtin_trap();
	if (f->backend.family != AF_INET && f->backend.family != AF_INET6)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct ct = { .mask = 0x00ffff00 };
	const struct nlmsghdr *nlh;
	uint32_t *buf;
	int left;

	if (size > CT_QUERY_BUF)
		return 0;
	/* The socket buffer is aligned; libFuzzer's copy need not be. */
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	left = (int)size;
	for (nlh = (const void *)buf; fuzz_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		struct ct_msg m;
		struct ct_flow row;
		struct flow f;

		ct_msg_parse(nlh, &m);
		if (ct_msg_flow(&ct, &m, &f))
			check_flow(&f);
		if (ct_msg_list_entry(ct.mask, &m, 1700000000000000000ULL, &row) &&
		    !row.state)
			__builtin_trap();
	}
	free(buf);
	return 0;
}
