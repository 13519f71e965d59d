/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_NFNL_H
#define KNLB_NFNL_H

#include <stddef.h>
#include <stdint.h>

/*
 * nftables transport: a batch of netlink messages sent as ONE transaction
 * in ONE sendmsg(), with every message acknowledged and every error traced
 * back to the object the message touched.  Knows nothing about services.
 * nfnl_batch_commit() is "commit" as nftables means it: the kernel takes
 * the whole transaction or none of it.  (knlb's commit step, deciding
 * what to send each loop iteration, is commit.h's.)
 */

struct nlmsghdr;
struct nfnl_sock;
struct nfnl_batch;

/* Largest single message a caller may build after nfnl_batch_add(). */
#define NFNL_MSG_MAX (64 * 1024)

int nfnl_sock_open(struct nfnl_sock **out);
void nfnl_sock_close(struct nfnl_sock *sock);

/*
 * A batch to be committed on sock (NULL: a batch only built and read, as
 * tests do).  It borrows sock's warm buffer and gives it back when freed,
 * so a small transaction touches no fresh memory: free the batch before
 * closing sock.
 */
struct nfnl_batch *nfnl_batch_new(struct nfnl_sock *sock);
void nfnl_batch_free(struct nfnl_batch *batch);

/*
 * Start a message of the nftables subsystem (type is NFT_MSG_*).  Returns a
 * header with at least NFNL_MSG_MAX bytes of room behind it, valid until the
 * next call on this batch; fill it with nftnl_*_nlmsg_build_payload() or
 * mnl_attr_put*().  NLM_F_ACK is added to flags.  `what` names the object
 * for error messages ("map web_slots") and is copied.  NULL on ENOMEM.
 */
struct nlmsghdr *nfnl_batch_add(struct nfnl_batch *batch, uint16_t type,
				uint16_t family, uint16_t flags,
				const char *what);

/*
 * Make room for about `bytes` more of messages at once, so that building
 * a large transaction does not copy the buffer each time it doubles.
 * Only an optimisation: the batch grows as needed anyway.  0 or -ENOMEM.
 */
int nfnl_batch_expect(struct nfnl_batch *batch, size_t bytes);

/*
 * From now on a table, chain or set this batch adds may exist already:
 * the kernel keeps it when its definition is the same, and refuses the
 * transaction (EEXIST, EBUSY) when not.  For the in-place replace
 * (replace_in_place.h).
 */
void nfnl_batch_keep_existing(struct nfnl_batch *batch);

/* Messages added so far (begin/end markers not counted). */
size_t nfnl_batch_count(const struct nfnl_batch *batch);

/* Message i (0: the first after the begin marker), as it will be sent. */
const struct nlmsghdr *nfnl_batch_msg(const struct nfnl_batch *batch, size_t i);
/* Bytes the transaction will occupy on the wire. */
size_t nfnl_batch_size(const struct nfnl_batch *batch);

/*
 * Send the batch as one transaction and read every acknowledgement.
 * Returns 0 when the kernel committed it.  Otherwise returns a negative
 * errno, the kernel kept its previous state, and err (if not NULL) holds
 * "<what>: <strerror>" for the first message the kernel rejected (more
 * rejections are counted after it).  The batch may be committed once.
 */
int nfnl_batch_commit(struct nfnl_sock *sock, struct nfnl_batch *batch,
		      char *err, size_t errlen);

#endif
