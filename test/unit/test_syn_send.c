/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SYNs of a pass, sent together (src/health/syn_send.c), with a
 * sendmmsg() of the test's own: all in one call, each message as queued,
 * a message refused fails that SYN alone with its own errno, a dropped
 * one is not sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "../../src/health/syn_send-int.h"

enum { MAX = 200 };

/* What the fake sendmmsg saw and what it refuses. */
static struct {
	int calls;
	unsigned int vlen[16];
	int sent[MAX];			/* times each owner's SYN went out */
	int refuse;			/* owner refused (errno refuse_err); -1 none */
	int refuse_err;
	int refusals;
	int failed[MAX];		/* times failed() named each owner */
	int failed_err[MAX];
	struct syn_queue *q;		/* failed(): drop this owner's SYN */
	uint32_t *drop_slot;
} fake;

static int owners[MAX];
static uint32_t slots[MAX];

static int owner_of(const struct msghdr *m)
{
	/* The test puts the owner's number in the segment's first bytes. */
	int o;

	memcpy(&o, m->msg_iov[0].iov_base, sizeof(o));
	return o;
}

/*
 * As the kernel's: messages in order up to the first refused; when some
 * were sent, their count (the error is lost), else -1 with errno.
 */
static int fake_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
	unsigned int i;

	cr_assert_eq(fd, 7);
	cr_assert(flags & MSG_DONTWAIT);
	if (fake.calls < 16)
		fake.vlen[fake.calls] = n;
	fake.calls++;
	for (i = 0; i < n; i++) {
		int o = owner_of(&msgs[i].msg_hdr);

		if (o == fake.refuse)
			break;
		fake.sent[o]++;
	}
	if (i > 0)
		return (int)i;
	fake.refusals++;
	errno = fake.refuse_err;
	return -1;
}

static void on_failed(void *owner, int err, void *arg)
{
	int o = *(int *)owner;

	cr_assert_eq(arg, &fake);
	fake.failed[o]++;
	fake.failed_err[o] = err;
	if (fake.drop_slot)
		syn_queue_drop(fake.q, fake.drop_slot);
}

/* n SYNs queued, owner i to 10.0.i/256.i%256 from 192.168.0.1. */
static void queue(struct syn_queue *q, int n)
{
	memset(&fake, 0, sizeof(fake));
	fake.refuse = -1;
	for (int i = 0; i < n; i++) {
		struct syn_send *s;

		owners[i] = i;
		s = syn_queue_add(q, &owners[i], &slots[i]);
		cr_assert_not_null(s);
		cr_assert_eq(slots[i], (uint32_t)i + 1);
		s->dst.in = (struct sockaddr_in){ .sin_family = AF_INET,
						  .sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i) };
		s->src.s_addr = htonl(0xc0a80001u);
		memcpy(s->seg, &owners[i], sizeof(owners[i]));
	}
}

Test(syn_send, a_pass_of_syns_is_one_sendmmsg_each_as_queued)
{
	struct syn_queue q = { 0 };

	queue(&q, 25);
	cr_expect_eq(syn_queue_flush(&q, 7, fake_sendmmsg, on_failed, &fake), 1);
	cr_expect_eq(fake.calls, 1);
	cr_expect_eq(fake.vlen[0], 25);
	for (int i = 0; i < 25; i++) {
		cr_expect_eq(fake.sent[i], 1, "SYN %d sent %d times", i, fake.sent[i]);
		cr_expect_eq(fake.failed[i], 0);
		cr_expect_eq(slots[i], 0, "SYN %d still queued", i);
	}
	cr_expect_eq(q.n, 0);
	syn_queue_free(&q);
}

/* Every message as the probe's own sendmsg() had it: destination, the
 * segment, and IPv4's source in IP_PKTINFO (IPv6: none). */
static struct mmsghdr seen[4];
static struct sockaddr_in6 seen_dst[4];
static struct in_pktinfo seen_pi[4];
static bool seen_has_pi[4];

static int keep_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
	(void)fd;
	(void)flags;
	cr_assert_leq(n, 4);
	for (unsigned int i = 0; i < n; i++) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr);

		seen[i] = msgs[i];
		memcpy(&seen_dst[i], msgs[i].msg_hdr.msg_name, msgs[i].msg_hdr.msg_namelen);
		seen_has_pi[i] = c && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO;
		if (seen_has_pi[i])
			memcpy(&seen_pi[i], CMSG_DATA(c), sizeof(seen_pi[i]));
	}
	return (int)n;
}

Test(syn_send, each_message_carries_its_destination_segment_and_source)
{
	struct syn_queue q = { 0 };
	struct syn_send *s;
	int a = 0, b = 1;
	uint32_t sa, sb;

	s = syn_queue_add(&q, &a, &sa);
	s->dst.in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000001u) };
	s->src.s_addr = htonl(0xc0a80001u);
	memset(s->seg, 0xaa, sizeof(s->seg));
	s = syn_queue_add(&q, &b, &sb);
	s->dst.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_addr = in6addr_loopback };
	memset(s->seg, 0xbb, sizeof(s->seg));
	cr_assert_eq(syn_queue_flush(&q, 7, keep_sendmmsg, on_failed, &fake), 1);

	cr_expect_eq(seen[0].msg_hdr.msg_namelen, sizeof(struct sockaddr_in));
	cr_expect_eq(((struct sockaddr_in *)&seen_dst[0])->sin_addr.s_addr, htonl(0x0a000001u));
	cr_expect_eq(((struct sockaddr_in *)&seen_dst[0])->sin_port, 0);
	cr_expect_eq(seen[0].msg_hdr.msg_iov[0].iov_len, SYN_SEGMENT_LEN);
	cr_expect(seen_has_pi[0], "IPv4 without its source");
	cr_expect_eq(seen_pi[0].ipi_spec_dst.s_addr, htonl(0xc0a80001u));

	cr_expect_eq(seen[1].msg_hdr.msg_namelen, sizeof(struct sockaddr_in6));
	cr_expect(IN6_IS_ADDR_LOOPBACK(&seen_dst[1].sin6_addr));
	cr_expect_not(seen_has_pi[1], "IPv6 with an IP_PKTINFO");
	cr_expect_eq(sa, 0);
	cr_expect_eq(sb, 0);
	syn_queue_free(&q);
}

/* Each of the first n SYNs sent once and not failed, but refused: failed once, never sent. */
static void expect_all_sent_but(int n, int refused)
{
	for (int i = 0; i < n; i++) {
		cr_expect_eq(fake.sent[i], i != refused, "SYN %d sent %d times", i, fake.sent[i]);
		cr_expect_eq(fake.failed[i], i == refused, "SYN %d failed %d times", i, fake.failed[i]);
		cr_expect_eq(slots[i], 0);
	}
}

/* Message 7 refused: sendmmsg() says 7 sent and loses the error; sent
 * again first, it is refused with its errno, which fails SYN 7 alone. */
Test(syn_send, a_refused_message_fails_its_syn_alone_the_rest_are_sent)
{
	struct syn_queue q = { 0 };

	queue(&q, 25);
	fake.refuse = 7;
	fake.refuse_err = EPERM;
	cr_expect_eq(syn_queue_flush(&q, 7, fake_sendmmsg, on_failed, &fake), 3);
	cr_expect_eq(fake.vlen[0], 25);
	cr_expect_eq(fake.vlen[1], 18, "not sent again from message 7");
	cr_expect_eq(fake.vlen[2], 17, "not sent on after message 7");
	expect_all_sent_but(25, 7);
	cr_expect_eq(fake.failed_err[7], EPERM);
	syn_queue_free(&q);
}

/* The first message refused: -1 and its errno at once; more SYNs than
 * one call takes, each still sent once. */
Test(syn_send, a_refused_first_message_and_more_than_one_call)
{
	struct syn_queue q = { 0 };

	queue(&q, 150);
	fake.refuse = 0;
	fake.refuse_err = ENOBUFS;
	syn_queue_flush(&q, 7, fake_sendmmsg, on_failed, &fake);
	cr_expect_eq(fake.refusals, 1);
	cr_expect_eq(fake.failed_err[0], ENOBUFS);
	expect_all_sent_but(150, 0);
	cr_expect_leq(fake.calls, 5);
	syn_queue_free(&q);
}

/* Stopped before the end of the pass: not sent, and its slot forgotten;
 * one dropped by failed() of an earlier one is not sent either. */
Test(syn_send, a_dropped_syn_is_not_sent)
{
	struct syn_queue q = { 0 };

	queue(&q, 25);
	syn_queue_drop(&q, &slots[3]);
	cr_expect_eq(slots[3], 0);
	syn_queue_drop(&q, &slots[3]);	/* dropped already: a no-op */
	fake.refuse = 10;
	fake.refuse_err = EPERM;
	fake.q = &q;
	fake.drop_slot = &slots[11];	/* the next one */
	syn_queue_flush(&q, 7, fake_sendmmsg, on_failed, &fake);
	for (int i = 0; i < 25; i++)
		cr_expect_eq(fake.sent[i], i == 3 || i == 10 || i == 11 ? 0 : 1,
			     "SYN %d sent %d times", i, fake.sent[i]);
	cr_expect_eq(fake.failed[3], 0);
	cr_expect_eq(fake.failed[11], 0);
	cr_expect_eq(q.n, 0);
	syn_queue_free(&q);
}
