/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unread counts, each service's own interval: while nothing acts on the
 * counts by dumps, a service's flows need a pass only before conntrack
 * lets an ended one's entry go (ct_set_unread_marks()), and that is three
 * times longer for UDP than for TCP by default.  So a tick passes over
 * the due marks only, the kernel copying out only their entries: one mark
 * by its mark, several of one protocol by the protocol (every entry of it,
 * the services' own picked here).  A gateway's TCP services then no longer
 * drag its UDP table through a dump every 5 s.  See include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "ct-int.h"
#include "knlb/lib/grow.h"

static int cmp_mark(const void *a, const void *b)
{
	uint32_t x = ((const struct ct_unread_mark *)a)->mark,
		 y = ((const struct ct_unread_mark *)b)->mark;

	return x < y ? -1 : x > y;
}

static struct ct_unread_mark *find(const struct ct *ct, uint32_t mark)
{
	struct ct_unread_mark key = { .mark = mark };

	return ct->n_unread ? bsearch(&key, ct->unread, ct->n_unread,
				      sizeof(key), cmp_mark) : NULL;
}

int ct_set_unread_marks(struct ct *ct, const struct ct_unread_mark *m,
			size_t n)
{
	struct ct_unread_mark *next = NULL;
	uint64_t shortest = 0;

	if (n) {
		next = malloc(n * sizeof(*next));
		/* A tick's due marks, and the periodic ones among them. */
		if (!next ||
		    grow(&ct->due, &ct->due_cap, n, sizeof(*ct->due), 8) < 0 ||
		    grow(&ct->due_unseen, &ct->due_unseen_cap, n,
			 sizeof(*ct->due_unseen), 8) < 0) {
			free(next);
			return -ENOMEM;
		}
		memcpy(next, m, n * sizeof(*next));
		qsort(next, n, sizeof(*next), cmp_mark);
	}
	for (size_t i = 0; i < n; i++) {
		const struct ct_unread_mark *was = find(ct, next[i].mark);

		/* Called after every admin change: a kept mark keeps its turn. */
		next[i].at_ns = was ? was->at_ns : 0;
		if (!shortest || next[i].every_ns < shortest)
			shortest = next[i].every_ns;
	}
	free(ct->unread);
	ct->unread = next;
	ct->n_unread = n;
	ct_unread_mark_periodic(ct);
	ct->unread_interval_ns = shortest ? shortest : CT_UNREAD_INTERVAL_NS;
	/* Longer: from the last pass on; shorter: the next due tick passes. */
	ct->st.unread_interval_ms = ct_unread_ms(ct);
	return 0;
}

/* How often u's flows are dumped while unread: its interval, or the tick's when longer. */
static uint64_t mark_every(const struct ct *ct, const struct ct_unread_mark *u)
{
	uint64_t tick = ct_effective_interval(ct);

	return u->every_ns > tick ? u->every_ns : tick;
}

/* The longest of the marks of l4proto (0: any), ms; 0 while acted on. */
static uint64_t longest_ms(const struct ct *ct, uint8_t l4proto)
{
	uint64_t longest = 0;

	if (ct->counts_acted_on)
		return 0;
	for (size_t i = 0; i < ct->n_unread; i++) {
		uint64_t ms = mark_every(ct, &ct->unread[i]) / 1000000;

		if ((!l4proto || ct->unread[i].l4proto == l4proto) && ms > longest)
			longest = ms;
	}
	return longest;
}

uint64_t ct_unread_longest_ms(const struct ct *ct)
{
	uint64_t longest = longest_ms(ct, 0), shortest = ct_unread_ms(ct);

	return longest > shortest ? longest : shortest;
}

uint64_t ct_unread_proto_ms(const struct ct *ct, uint8_t l4proto)
{
	return longest_ms(ct, l4proto);
}

void ct_unread_free(struct ct *ct)
{
	free(ct->unread);
	free(ct->due);
	free(ct->due_unseen);
	ct->unread = NULL;
	ct->due = ct->due_unseen = NULL;
	ct->n_unread = ct->due_cap = ct->due_unseen_cap = 0;
}

/*
 * The i-th mark a whole pass counts: every given service's while bounded
 * (every knlb flow), else the periodic services'.  false past the last.
 */
static bool counted(const struct ct *ct, size_t i, uint32_t *mark)
{
	if (ct->st.bounded) {
		if (i >= ct->n_unread)
			return false;
		*mark = ct->unread[i].mark;
		return true;
	}
	if (i >= ct->n_periodic)
		return false;
	*mark = ct->periodic_marks[i];
	return true;
}

/*
 * After either set changed: which marks are periodic services', so a
 * tick need not search the periodic marks for each due one.
 */
void ct_unread_mark_periodic(struct ct *ct)
{
	for (size_t i = 0; i < ct->n_unread; i++)
		ct->unread[i].periodic = false;
	for (size_t i = 0; i < ct->n_periodic; i++) {
		struct ct_unread_mark *u = find(ct, ct->periodic_marks[i]);

		if (u)
			u->periodic = true;
	}
}

void ct_unread_passed(struct ct *ct, const uint32_t *scope, size_t n,
		      uint64_t start)
{
	uint64_t oldest = start;
	uint32_t mark;

	if (!scope) {
		for (size_t i = 0; i < ct->n_unread; i++)
			ct->unread[i].at_ns = start;
		ct->counted_at_ns = start;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct ct_unread_mark *u = find(ct, scope[i]);

		if (u)
			u->at_ns = start;
	}
	/* A reader wants all fresh: the counts are as old as the oldest. */
	for (size_t i = 0; counted(ct, i, &mark); i++) {
		const struct ct_unread_mark *u = find(ct, mark);
		uint64_t at = u ? u->at_ns : ct->counted_at_ns;

		if (at < oldest)
			oldest = at;
	}
	ct->counted_at_ns = oldest;
}

/*
 * Due on this tick: within half a tick of its interval (the ticks would
 * otherwise miss it by a jitter), or never passed.
 */
static bool due(const struct ct *ct, const struct ct_unread_mark *u,
		uint64_t now)
{
	return !u->at_ns ||
	       now + ct_effective_interval(ct) / 2 - u->at_ns >= mark_every(ct, u);
}

/* The due marks of protocol l4proto into ct->due, their families in *fam. */
static size_t due_of(struct ct *ct, uint64_t now, uint8_t l4proto,
		     uint8_t *fam, size_t *n_unseen)
{
	size_t n = 0;
	uint32_t mark;

	*fam = 0;
	*n_unseen = 0;
	for (size_t i = 0; counted(ct, i, &mark); i++) {
		const struct ct_unread_mark *u = find(ct, mark);

		if (u->l4proto != l4proto || !due(ct, u, now))
			continue;
		ct->due[n++] = mark;
		*fam |= u->families;
		if (u->periodic)
			ct->due_unseen[(*n_unseen)++] = mark;
	}
	return n;
}

int ct_unread_tick(struct ct *ct, uint64_t now, bool *whole)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	size_t n_counted = 0, n_due = 0;
	uint32_t mark;
	int ret;

	*whole = false;
	if (!ct->n_unread)
		return 0;
	for (size_t i = 0; counted(ct, i, &mark); i++) {
		const struct ct_unread_mark *u = find(ct, mark);

		/* Not all covered, or of another protocol: one interval. */
		if (!u || (u->l4proto != IPPROTO_TCP && u->l4proto != IPPROTO_UDP))
			return 0;
		n_counted++;
		n_due += due(ct, u, now);
	}
	if (!n_due)
		return 1;
	if (n_due == n_counted) {
		ret = ct_periodic_pass(ct);
		*whole = ret == 0;
		return ret < 0 ? ret : 1;
	}
	for (size_t p = 0; p < 2; p++) {
		struct ct_pass_filter f = { .l4proto = protos[p] };
		size_t n_unseen, n = due_of(ct, now, protos[p], &f.families,
					    &n_unseen);

		if (!n)
			continue;
		ret = ct_periodic_pass_part(ct, ct->due, n, &f, ct->due_unseen,
					    n_unseen);
		if (ret < 0)
			return ret;
	}
	return 1;
}
