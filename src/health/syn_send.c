/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The SYNs of a loop pass, sent together: see syn_send-int.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/cmsg.h"
#include "knlb/lib/grow.h"
#include "syn_send-int.h"

/* Messages per sendmmsg(): the grid's 25 a pass in one call. */
#define SYN_SEND_CHUNK	64

/* One message's IP_PKTINFO, aligned for its header. */
union pktinfo_buf {
	char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct cmsghdr align;
};

struct syn_send *syn_queue_add(struct syn_queue *q, void *owner, uint32_t *slot)
{
	struct syn_send *s;

	if (q->n >= UINT32_MAX ||
	    grow(&q->sends, &q->cap, q->n + 1, sizeof(*q->sends), 64) < 0)
		return NULL;
	s = &q->sends[q->n++];
	memset(s, 0, sizeof(*s));
	s->owner = owner;
	s->slot = slot;
	*slot = (uint32_t)q->n;
	return s;
}

void syn_queue_drop(struct syn_queue *q, uint32_t *slot)
{
	if (!*slot)
		return;
	q->sends[*slot - 1].owner = NULL;
	*slot = 0;
}

/* Done with entry s, sent or not: its owner no longer points at it. */
static void *take(struct syn_send *s)
{
	void *owner = s->owner;

	*s->slot = 0;
	s->owner = NULL;
	return owner;
}

/*
 * Messages for the live entries from *i on, at most SYN_SEND_CHUNK; *i
 * moves past them, idx[] names each one's entry.  The messages point into
 * the queue: they are sent before anything may grow it.
 */
static unsigned int build(struct syn_queue *q, size_t *i, struct mmsghdr *msgs,
			  struct iovec *iov, union pktinfo_buf *ctl, size_t *idx)
{
	unsigned int k = 0;

	for (; *i < q->n && k < SYN_SEND_CHUNK; ++*i) {
		struct syn_send *s = &q->sends[*i];
		struct msghdr *m = &msgs[k].msg_hdr;

		if (!s->owner)
			continue;
		iov[k] = (struct iovec){ s->seg, sizeof(s->seg) };
		msgs[k] = (struct mmsghdr){ 0 };
		m->msg_name = &s->dst;
		m->msg_iov = &iov[k];
		m->msg_iovlen = 1;
		if (s->dst.in.sin_family == AF_INET6) {
			m->msg_namelen = sizeof(s->dst.in6);
		} else {
			struct in_pktinfo *pi;

			m->msg_namelen = sizeof(s->dst.in);
			/* The checksum covers the source: send from that one. */
			pi = cmsg_attach(m, ctl[k].buf, sizeof(ctl[k].buf), IPPROTO_IP,
					 IP_PKTINFO, sizeof(*pi));
			pi->ipi_spec_dst = s->src;
		}
		idx[k++] = *i;
	}
	return k;
}

/*
 * sendmmsg() stops at the first message that fails and, when some were
 * sent before it, returns their count and loses the error: the failed
 * one is sent again first in the next call, which then returns its errno
 * (or sends it, when the cause went away meanwhile).
 */
size_t syn_queue_flush(struct syn_queue *q, int fd, syn_sendmmsg_fn send,
		       syn_send_failed_fn failed, void *arg)
{
	struct mmsghdr msgs[SYN_SEND_CHUNK];
	struct iovec iov[SYN_SEND_CHUNK];
	union pktinfo_buf ctl[SYN_SEND_CHUNK];
	size_t idx[SYN_SEND_CHUNK], i = 0, calls = 0;

	while (i < q->n) {
		unsigned int k = build(q, &i, msgs, iov, ctl, idx), done = 0;

		while (done < k) {
			int sent = send(fd, msgs + done, k - done, MSG_DONTWAIT);
			int err = errno;

			calls++;
			if (sent > 0) {
				for (unsigned int j = done; j < done + (unsigned int)sent; j++)
					take(&q->sends[idx[j]]);
				done += (unsigned int)sent;
				continue;
			}
			if (sent == 0)
				err = EIO;
			/* failed() may grow the queue, or drop entries after
			 * this one: build again from the next. */
			if (done + 1 < k)
				i = idx[done + 1];
			failed(take(&q->sends[idx[done]]), err, arg);
			break;
		}
	}
	q->n = 0;
	return calls;
}

void syn_queue_free(struct syn_queue *q)
{
	free(q->sends);
	*q = (struct syn_queue){ 0 };
}
