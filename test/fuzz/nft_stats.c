/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness: the parser of the kernel's set element dumps behind
 * `knlbctl stats` (stats_parse_elems() in src/nft/stats_read.c).  The
 * first byte picks the set the dump came from (new flows, in, out); the
 * rest is one datagram of netlink messages as stats_read() receives it.
 * The table built from them is folded by a mark mask and freed.  Seeds:
 * element dumps built as test/unit/test_stats.c builds them
 * (test/fuzz/gen_nft_seeds.c).  See docs/fuzzing.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>

#include "fuzz_nlmsg.h"

#include "knlb/nft/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stats_table t = { 0 };
	const struct nlmsghdr *nlh;
	enum stats_set which;
	uint32_t *buf;
	int left;

	if (size < 1 || size > 65536)
		return 0;
	which = (enum stats_set)(data[0] % 3);
	data++;
	size--;
	/* The receive buffer is aligned; libFuzzer's copy need not be. */
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	left = (int)size;
	for (nlh = (const void *)buf; fuzz_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left))
		if (stats_parse_elems(nlh, which, &t) < 0)
			break;
	stats_table_fold(&t, 0x0000ff00);
	stats_table_free(&t);
	free(buf);
	return 0;
}
