/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rb_put_map_elem() writes map elements in place for speed; it must send
 * exactly the bytes the generic libmnl nests do, or the kernel would read
 * another element (or refuse the batch).
 */
#include <stdint.h>
#include <string.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>

#include "../../src/nft/rule_build-int.h"

/* A message with room for a few elements, its tail poisoned. */
static struct nlmsghdr *msg_in(char *buf, size_t len)
{
	memset(buf, 0xa5, len);
	return mnl_nlmsg_put_header(buf);
}

/* The reference: what the generic calls build for one element. */
static void put_generic(struct nlmsghdr *nlh, uint32_t key,
			const void *value, size_t vlen)
{
	struct nlattr *elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);

	rb_put_data_value(nlh, NFTA_SET_ELEM_KEY, &key, sizeof(key));
	if (value)
		rb_put_data_value(nlh, NFTA_SET_ELEM_DATA, value, vlen);
	mnl_attr_nest_end(nlh, elem);
}

static void check_same(const void *value, size_t vlen)
{
	char a[512], b[512];
	struct nlmsghdr *na = msg_in(a, sizeof(a));
	struct nlmsghdr *nb = msg_in(b, sizeof(b));
	const uint32_t keys[] = { 0, 7, 16380, 65536 };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		put_generic(na, keys[i], value, vlen);
		rb_put_map_elem(nb, keys[i], value, vlen);
	}
	cr_assert_eq(na->nlmsg_len, nb->nlmsg_len, "lengths %u != %u",
		     na->nlmsg_len, nb->nlmsg_len);
	cr_assert(memcmp(a, b, na->nlmsg_len) == 0,
		  "bytes differ from the generic nests (value of %zu bytes)", vlen);
	cr_assert_leq(nb->nlmsg_len - MNL_NLMSG_HDRLEN, 4 * RB_MAP_ELEM_MAX);
}

Test(rule_build, ipv4_slot_element_is_the_generic_bytes)
{
	const uint8_t v4[8] = { 10, 0, 0, 11, 0x1f, 0x90, 0, 0 };

	check_same(v4, sizeof(v4));
}

Test(rule_build, ipv6_slot_element_is_the_generic_bytes)
{
	uint8_t v6[20];

	for (size_t i = 0; i < sizeof(v6); i++)
		v6[i] = (uint8_t)(0x20 + i);
	check_same(v6, sizeof(v6));
}

Test(rule_build, key_only_element_is_the_generic_bytes)
{
	check_same(NULL, 0);
}
