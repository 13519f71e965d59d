/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nftables transport.  Mirrors nftables' src/mnl.c: batch begin, messages,
 * batch end, one sendmsg, then read every ACK (the kernel processes the
 * whole batch synchronously inside sendmsg, so every reply is queued by the
 * time it returns).  Each message keeps the name of the object it touches,
 * so a rejected transaction is reported as "map web_slots: File exists"
 * instead of a bare errno.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include "knlb/nft/nfnl.h"
#include "knlb/lib/grow.h"

struct nfnl_sock {
	struct mnl_socket *nl;
	uint32_t seq;
	int sndbuf;		/* what we last asked the kernel for */
	int rcvbuf;
	/*
	 * A zeroed heap buffer whose pages are already faulted in, lent to
	 * the next batch made for this socket and given back when it is
	 * freed (batch_give_back()); NULL while lent.  Why: a failover's
	 * transaction is 10 KB, but a fresh 256 KB buffer for it cost 64
	 * page faults, 1-2 ms on this VM, and every first failover after a
	 * start or a table replace paid them.
	 */
	char *spare;
	size_t spare_cap;
};

struct nfnl_msg {
	uint32_t offset;	/* into batch->buf */
	char *what;
};

struct nfnl_batch {
	char *buf;
	size_t len;		/* bytes of finished messages */
	size_t cap;
	size_t open;		/* offset of the message being built, or SIZE_MAX */
	bool mapped;		/* buf is an mmap()ed region, not malloc'd */
	struct nfnl_sock *owner;	/* lent its spare buffer; NULL: none */
	struct nfnl_msg *msgs;
	size_t n_msgs;
	size_t msgs_cap;
	bool committed;
	bool keep_existing;	/* see nfnl_batch_keep_existing() */
};

/* Room for begin/end markers around the messages. */
#define NFNL_MARKER_ROOM 64

/*
 * Room for a small transaction (a failover, a reload's deltas); a table
 * replace asks for what it needs (nfnl_batch_expect()) and doubles up to
 * 320 MB.
 */
#define NFNL_BATCH_FIRST	(256 * 1024)
#define NFNL_BATCH_MAPPED	(2 * 1024 * 1024)

int nfnl_sock_open(struct nfnl_sock **out)
{
	struct nfnl_sock *sock;
	int one = 1, err;

	sock = calloc(1, sizeof(*sock));
	if (!sock)
		return -ENOMEM;
	sock->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!sock->nl) {
		err = -errno;
		goto out_free;
	}
	if (mnl_socket_bind(sock->nl, 0, MNL_SOCKET_AUTOPID) == -1)
		goto out_close;
	/*
	 * Acknowledgements carry only the header of the acked message, not a
	 * copy of it: a 40 KiB element message would otherwise come back in
	 * full for every ACK and overflow the receive buffer.
	 */
	if (mnl_socket_setsockopt(sock->nl, NETLINK_CAP_ACK, &one,
				  sizeof(one)) == -1)
		goto out_close;
	/* Best effort: only adds detail to error replies. */
	mnl_socket_setsockopt(sock->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	sock->seq = 1;
	/* Faulted in now, while nothing waits: see struct nfnl_sock. */
	sock->spare = malloc(NFNL_BATCH_FIRST);
	if (sock->spare) {
		memset(sock->spare, 0, NFNL_BATCH_FIRST);
		sock->spare_cap = NFNL_BATCH_FIRST;
	}
	*out = sock;
	return 0;

out_close:
	err = -errno;
	mnl_socket_close(sock->nl);
out_free:
	free(sock);
	return err;
}

void nfnl_sock_close(struct nfnl_sock *sock)
{
	if (!sock)
		return;
	mnl_socket_close(sock->nl);
	free(sock->spare);
	free(sock);
}

/*
 * Hand a heap buffer back to the socket that lent it, zeroed where it was
 * written ([0, used)), so it is whole zero again for the next batch; or
 * free it when there is nothing to hand it back to.
 */
static void batch_give_back(struct nfnl_batch *batch, char *buf, size_t cap,
			    size_t used)
{
	struct nfnl_sock *owner = batch->owner;

	batch->owner = NULL;
	if (!owner || owner->spare) {
		free(buf);
		return;
	}
	memset(buf, 0, used < cap ? used : cap);
	owner->spare = buf;
	owner->spare_cap = cap;
}

/*
 * libnftnl leaves holes (string and userdata attributes), and valgrind's
 * daemon test reports a byte sent uninitialised: the buffer is zeroed.
 *
 * A small transaction (a failover, a reload's deltas) lives in malloc'd
 * memory, zeroed as it grows: the heap's pages are warm.  From 2 MB on (a
 * table replace) it moves to anonymous memory of its own, grown with
 * mremap(): fresh pages are zero already and growing moves page tables,
 * not bytes (memset and realloc were a fifth of programming 100 x 100003
 * slots).  Small ones stay on the heap because a fresh mapping per
 * transaction tripled a failover's time at M = 65537 (page faults and
 * unmapping, on this VM).
 */
static int batch_reserve(struct nfnl_batch *batch, size_t room)
{
	size_t need = batch->len + room + NFNL_MARKER_ROOM;
	size_t old = batch->cap, cap = old ? old : NFNL_BATCH_FIRST;
	void *p;

	if (need <= old)
		return 0;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (cap < NFNL_BATCH_MAPPED) {
		p = realloc(batch->buf, cap);
		if (!p)
			return -ENOMEM;
		memset((char *)p + old, 0, cap - old);
	} else if (batch->mapped) {
		p = mremap(batch->buf, old, cap, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			return -ENOMEM;
	} else {
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		if (batch->buf) {
			memcpy(p, batch->buf, old);
			batch_give_back(batch, batch->buf, old, old);
		}
		batch->mapped = true;
	}
	/* Best effort: fewer page faults while hundreds of MB are written. */
	if (batch->mapped)
		(void)madvise(p, cap, MADV_HUGEPAGE);
	batch->buf = p;
	batch->cap = cap;
	return 0;
}

int nfnl_batch_expect(struct nfnl_batch *batch, size_t bytes)
{
	return batch_reserve(batch, bytes + NFNL_MSG_MAX);
}

struct nfnl_batch *nfnl_batch_new(struct nfnl_sock *sock)
{
	struct nfnl_batch *batch = calloc(1, sizeof(*batch));

	if (!batch)
		return NULL;
	batch->open = SIZE_MAX;
	if (sock && sock->spare) {
		batch->buf = sock->spare;
		batch->cap = sock->spare_cap;
		batch->owner = sock;
		sock->spare = NULL;
	}
	/* The begin marker is written first; its seq is fixed at commit. */
	if (batch_reserve(batch, NFNL_MSG_MAX) < 0) {
		free(batch);
		return NULL;
	}
	nftnl_batch_begin(batch->buf, 0);
	batch->len = NLMSG_ALIGN(((struct nlmsghdr *)batch->buf)->nlmsg_len);
	return batch;
}

/* Account for the message the caller has just finished filling in. */
static void batch_close_open(struct nfnl_batch *batch)
{
	struct nlmsghdr *nlh;

	if (batch->open == SIZE_MAX)
		return;
	nlh = (struct nlmsghdr *)(batch->buf + batch->open);
	batch->len = batch->open + NLMSG_ALIGN(nlh->nlmsg_len);
	batch->open = SIZE_MAX;
}

void nfnl_batch_free(struct nfnl_batch *batch)
{
	if (!batch)
		return;
	for (size_t i = 0; i < batch->n_msgs; i++)
		free(batch->msgs[i].what);
	free(batch->msgs);
	if (batch->mapped) {
		munmap(batch->buf, batch->cap);
	} else {
		batch_close_open(batch);
		batch_give_back(batch, batch->buf, batch->cap,
				batch->len + NFNL_MARKER_ROOM);
	}
	free(batch);
}

struct nlmsghdr *nfnl_batch_add(struct nfnl_batch *batch, uint16_t type,
				uint16_t family, uint16_t flags,
				const char *what)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;

	batch_close_open(batch);
	if (batch_reserve(batch, NFNL_MSG_MAX) < 0)
		return NULL;
	if (grow(&batch->msgs, &batch->msgs_cap, batch->n_msgs + 1,
		 sizeof(*batch->msgs), 64) < 0)
		return NULL;
	batch->msgs[batch->n_msgs].what = strdup(what ? what : "?");
	if (!batch->msgs[batch->n_msgs].what)
		return NULL;
	batch->msgs[batch->n_msgs].offset = (uint32_t)batch->len;
	batch->n_msgs++;

	if (batch->keep_existing && (type == NFT_MSG_NEWTABLE ||
	    type == NFT_MSG_NEWCHAIN || type == NFT_MSG_NEWSET))
		flags &= (uint16_t)~NLM_F_EXCL;
	nlh = mnl_nlmsg_put_header(batch->buf + batch->len);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	batch->open = batch->len;
	return nlh;
}

void nfnl_batch_keep_existing(struct nfnl_batch *batch)
{
	batch->keep_existing = true;
}

size_t nfnl_batch_count(const struct nfnl_batch *batch)
{
	return batch->n_msgs;
}

const struct nlmsghdr *nfnl_batch_msg(const struct nfnl_batch *batch, size_t i)
{
	if (i >= batch->n_msgs)
		return NULL;
	return (const struct nlmsghdr *)(batch->buf + batch->msgs[i].offset);
}

size_t nfnl_batch_size(const struct nfnl_batch *batch)
{
	size_t len = batch->len;

	if (batch->open != SIZE_MAX) {
		const struct nlmsghdr *nlh =
			(const struct nlmsghdr *)(batch->buf + batch->open);
		len = batch->open + NLMSG_ALIGN(nlh->nlmsg_len);
	}
	return len + NLMSG_ALIGN(sizeof(struct nlmsghdr) + sizeof(struct nfgenmsg));
}

/*
 * The whole transaction goes into one skb, bounded by the socket's send
 * buffer; acknowledgements (one skb each, ~1 KiB of truesize) must all fit
 * in the receive buffer or the kernel drops them and reports ENOBUFS, which
 * would hide the real error.  Root may exceed the sysctl limits.
 */
static int sock_size_buffers(struct nfnl_sock *sock, size_t bytes, size_t msgs)
{
	int snd = (int)(bytes + 4096);
	int rcv = (int)(msgs * 1024 + 256 * 1024);
	int fd = mnl_socket_get_fd(sock->nl);

	if (snd > sock->sndbuf) {
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) == -1 &&
		    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) == -1)
			return -errno;
		sock->sndbuf = snd;
	}
	if (rcv > sock->rcvbuf) {
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) == -1 &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) == -1)
			return -errno;
		sock->rcvbuf = rcv;
	}
	return 0;
}

struct ack_state {
	const struct nfnl_batch *batch;
	uint32_t first_seq;	/* seq of msgs[0] */
	size_t acked;
	size_t rejected;
	int first_err;		/* negative errno of the first rejection */
	size_t first_err_msg;	/* index into msgs, or SIZE_MAX for markers */
	bool stray;		/* a reply we did not ask for */
};

static void ack_record(struct ack_state *st, uint32_t seq, int error)
{
	size_t idx = SIZE_MAX;

	if (seq >= st->first_seq && seq - st->first_seq < st->batch->n_msgs)
		idx = seq - st->first_seq;
	if (error == 0) {
		if (idx == SIZE_MAX)
			st->stray = true;
		else
			st->acked++;
		return;
	}
	st->rejected++;
	if (idx != SIZE_MAX)
		st->acked++;
	if (!st->first_err) {
		st->first_err = error;
		st->first_err_msg = idx;
	}
}

static void ack_parse(struct ack_state *st, const char *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int left = (int)len;

	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type == NLMSG_ERROR &&
		    nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			ack_record(st, e->msg.nlmsg_seq, e->error);
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
}

/*
 * Read replies until every message is accounted for.  The kernel has
 * queued them all before sendmsg() returned, so a non-blocking read that
 * finds the queue empty means a reply is missing, not late.
 */
static int read_acks(struct nfnl_sock *sock, struct ack_state *st)
{
	size_t bufsz = MNL_SOCKET_BUFFER_SIZE * 4;
	char *buf = malloc(bufsz);
	int fd = mnl_socket_get_fd(sock->nl);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	while (st->acked < st->batch->n_msgs) {
		ssize_t n = recv(fd, buf, bufsz, MSG_DONTWAIT);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS: replies were dropped; EAGAIN: never came. */
			ret = -errno;
			break;
		}
		ack_parse(st, buf, (size_t)n);
		if (st->first_err && st->first_err_msg == SIZE_MAX)
			break;	/* the batch itself was refused */
	}
	free(buf);
	return ret;
}

int nfnl_batch_commit(struct nfnl_sock *sock, struct nfnl_batch *batch,
		      char *err, size_t errlen)
{
	struct ack_state st = { .batch = batch, .first_err_msg = SIZE_MAX };
	struct nlmsghdr *nlh;
	size_t total;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (batch->committed)
		return -EALREADY;
	batch->committed = true;
	batch_close_open(batch);
	if (batch->n_msgs == 0)
		return 0;

	/* Number every message now, so seqs are unique on this socket. */
	nlh = (struct nlmsghdr *)batch->buf;
	nlh->nlmsg_seq = sock->seq++;
	st.first_seq = sock->seq;
	for (size_t i = 0; i < batch->n_msgs; i++) {
		nlh = (struct nlmsghdr *)(batch->buf + batch->msgs[i].offset);
		nlh->nlmsg_seq = sock->seq++;
	}
	nlh = nftnl_batch_end(batch->buf + batch->len, sock->seq++);
	total = batch->len + NLMSG_ALIGN(nlh->nlmsg_len);

	ret = sock_size_buffers(sock, total, batch->n_msgs);
	if (ret < 0) {
		if (err)
			snprintf(err, errlen, "sizing netlink buffers for %zu bytes: %s",
				 total, strerror(-ret));
		return ret;
	}
	if (mnl_socket_sendto(sock->nl, batch->buf, total) == -1) {
		ret = -errno;
		if (err)
			snprintf(err, errlen, "sending %zu-byte batch: %s", total,
				 strerror(-ret));
		return ret;
	}

	ret = read_acks(sock, &st);
	if (st.first_err) {
		if (err) {
			const char *what = st.first_err_msg == SIZE_MAX ?
				"transaction" : batch->msgs[st.first_err_msg].what;
			int n = snprintf(err, errlen, "%s: %s", what,
					 strerror(-st.first_err));

			if (st.rejected > 1 && n > 0 && (size_t)n < errlen)
				snprintf(err + n, errlen - (size_t)n,
					 " (and %zu more rejected messages)",
					 st.rejected - 1);
		}
		return st.first_err;
	}
	if (ret < 0 || st.acked < batch->n_msgs) {
		if (!ret)
			ret = -EPROTO;
		if (err)
			snprintf(err, errlen,
				 "only %zu of %zu messages acknowledged: %s; "
				 "kernel state unknown, will replace the table",
				 st.acked, batch->n_msgs, strerror(-ret));
		return ret;
	}
	return 0;
}
