/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A batch made for a socket borrows the socket's warm buffer and gives it
 * back when freed (nft/nfnl.c).  The buffer must come back whole zero:
 * libnftnl leaves holes in what it writes, and a stale byte there would
 * be sent to the kernel.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "knlb/nft/nfnl.h"

/* How far past the header a message is checked: a few elements' worth. */
#define CHECKED 4096

static struct nlmsghdr *add(struct nfnl_batch *batch)
{
	struct nlmsghdr *nlh = nfnl_batch_add(batch, NFT_MSG_NEWSETELEM,
					      NFPROTO_INET, 0, "test");

	cr_assert_not_null(nlh);
	return nlh;
}

static bool zero_after_header(const struct nlmsghdr *nlh)
{
	const unsigned char *p = (const unsigned char *)nlh + nlh->nlmsg_len;

	for (size_t i = 0; i < CHECKED; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * A message of non-zero bytes, as libnftnl writes them: an attribute, then
 * 1 KB of the message that nothing zeroes (what its holes would hold).
 */
static void scribble(struct nlmsghdr *nlh)
{
	mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, 7);
	memset((char *)nlh + nlh->nlmsg_len, 0xa5, 1024);
	nlh->nlmsg_len += 1024;
}

Test(nfnl_batch, a_socket_lends_the_same_buffer_again_and_zero)
{
	struct nfnl_sock *sock;
	struct nfnl_batch *batch;
	const void *first;

	cr_assert_eq(nfnl_sock_open(&sock), 0);
	batch = nfnl_batch_new(sock);
	cr_assert_not_null(batch);
	scribble(add(batch));
	scribble(add(batch));
	first = nfnl_batch_msg(batch, 0);
	nfnl_batch_free(batch);

	batch = nfnl_batch_new(sock);
	cr_assert_not_null(batch);
	cr_expect_eq(nfnl_batch_msg(batch, 0), NULL);
	cr_expect(zero_after_header(add(batch)),
		  "the first message's room holds the last batch's bytes");
	cr_expect_eq(nfnl_batch_msg(batch, 0), first,
		     "a new buffer, not the socket's warm one");
	cr_expect(zero_after_header(add(batch)),
		  "the second message's room holds the last batch's bytes");
	nfnl_batch_free(batch);
	nfnl_sock_close(sock);
}

/* Two batches at once: the second gets a buffer of its own, also zero. */
Test(nfnl_batch, a_second_batch_while_the_first_is_open_is_zero_too)
{
	struct nfnl_sock *sock;
	struct nfnl_batch *a, *b;

	cr_assert_eq(nfnl_sock_open(&sock), 0);
	a = nfnl_batch_new(sock);
	b = nfnl_batch_new(sock);
	cr_assert(a && b);
	scribble(add(a));
	cr_expect(zero_after_header(add(b)));
	cr_expect_neq(nfnl_batch_msg(a, 0), nfnl_batch_msg(b, 0));
	nfnl_batch_free(b);
	nfnl_batch_free(a);
	a = nfnl_batch_new(sock);
	cr_expect(zero_after_header(add(a)));
	nfnl_batch_free(a);
	nfnl_sock_close(sock);
}

/* Without a socket (tests that only read the batch): nothing is lent. */
Test(nfnl_batch, without_a_socket_a_batch_is_zero)
{
	struct nfnl_batch *batch = nfnl_batch_new(NULL);

	cr_assert_not_null(batch);
	cr_expect(zero_after_header(add(batch)));
	nfnl_batch_free(batch);
}
