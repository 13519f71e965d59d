/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flows of periodic services that no dump saw, from the kernel's
 * per-backend new-flow counters (include/knlb/ct/unseen.h).  Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/ct/unseen.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"

static bool has_mark(const uint32_t *marks, size_t n, uint32_t mark)
{
	for (size_t i = 0; i < n; i++)
		if (marks[i] == mark)
			return true;
	return false;
}

/* The order u->b is kept in, so a pass over 10,000 backends is N log N. */
static int key_cmp(const struct unseen_backend *b, uint32_t mark,
		   const struct knlb_addr *addr, uint16_t port, uint8_t proto)
{
	if (b->mark != mark)
		return b->mark < mark ? -1 : 1;
	if (b->proto != proto)
		return b->proto < proto ? -1 : 1;
	if (b->port != port)
		return b->port < port ? -1 : 1;
	return addr_compare(&b->addr, addr);
}

/* Where the key is, or would be inserted (*found says which). */
static size_t locate(const struct unseen *u, uint32_t mark,
		     const struct knlb_addr *addr, uint16_t port, uint8_t proto,
		     bool *found)
{
	size_t lo = 0, hi = u->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(&u->b[mid], mark, addr, port, proto);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The entry of a backend, a zeroed new one when first met (NULL: ENOMEM). */
static struct unseen_backend *get(struct unseen *u, uint32_t mark,
				  const struct knlb_addr *addr,
				  uint16_t port, uint8_t proto)
{
	bool found;
	size_t at = locate(u, mark, addr, port, proto, &found);
	struct unseen_backend *b;

	if (found)
		return &u->b[at];
	if (grow(&u->b, &u->cap, u->n + 1, sizeof(*u->b), 8) < 0)
		return NULL;
	memmove(&u->b[at + 1], &u->b[at], (u->n - at) * sizeof(*u->b));
	u->n++;
	b = &u->b[at];
	*b = (struct unseen_backend){ .mark = mark, .addr = *addr,
				      .port = port, .proto = proto };
	return b;
}

/* Flows the flowtab has seen appear: opened less what this module added. */
static uint64_t seen_now(const struct flowtab *ft,
			 const struct unseen_backend *b)
{
	struct flow_counts c;

	flowtab_backend_counts(ft, b->mark, &b->addr, b->port, b->proto, &c);
	return c.opened - b->added;
}

struct base_walk {
	struct unseen *u;
	const uint32_t *marks;
	size_t n;
	int err;
};

static void base_pair(void *arg, uint32_t mark, const struct knlb_addr *addr,
		      uint16_t port, uint8_t proto, const struct flow_counts *c)
{
	struct base_walk *w = arg;
	struct unseen_backend *b;

	if (w->err || !has_mark(w->marks, w->n, mark))
		return;
	b = get(w->u, mark, addr, port, proto);
	if (!b)
		w->err = -ENOMEM;
	else
		b->seen_base = c->opened;
}

int unseen_baseline(struct unseen *u, const struct flowtab *ft,
		    const struct stats_table *k, const uint32_t *marks,
		    size_t n)
{
	struct base_walk w = { .u = u, .marks = marks, .n = n };

	unseen_reset(u);
	flowtab_foreach_backend(ft, base_pair, &w);
	for (size_t i = 0; w.err == 0 && i < k->n; i++) {
		const struct stats_counter *c = &k->c[i];
		struct unseen_backend *b;

		if (!has_mark(marks, n, c->mark))
			continue;
		b = get(u, c->mark, &c->addr, c->port, c->proto);
		if (!b)
			w.err = -ENOMEM;
		else
			b->kernel_last = c->new_flows;
	}
	if (w.err) {
		unseen_reset(u);
		return w.err;
	}
	u->based = true;
	return 0;
}

int unseen_apply(struct unseen *u, struct flowtab *ft,
		 const struct stats_table *k, const uint32_t *marks, size_t n,
		 uint64_t *added)
{
	uint64_t total = 0;
	int ret = 0;

	if (added)
		*added = 0;
	if (!u->based)
		return -EAGAIN;
	for (size_t i = 0; i < u->n; i++)
		u->b[i].in_read = false;
	for (size_t i = 0; ret == 0 && i < k->n; i++) {
		const struct stats_counter *c = &k->c[i];
		struct unseen_backend *b;
		uint64_t seen, more;

		if (!has_mark(marks, n, c->mark))
			continue;
		/* Met after the baseline: every flow it counted is after it. */
		b = get(u, c->mark, &c->addr, c->port, c->proto);
		if (!b) {
			ret = -ENOMEM;
			break;
		}
		b->in_read = true;
		/* Went down: restarted from 0 since the last read. */
		b->kernel_since += c->new_flows >= b->kernel_last ?
				   c->new_flows - b->kernel_last : c->new_flows;
		b->kernel_last = c->new_flows;
		seen = seen_now(ft, b) - b->seen_base;
		if (b->kernel_since <= seen + b->added)
			continue;
		more = b->kernel_since - seen - b->added;
		ret = flowtab_add_unseen(ft, b->mark, &b->addr, b->port,
					 b->proto, more);
		if (ret == 0) {
			b->added += more;
			total += more;
		}
	}
	/*
	 * An element gone from the set counts again from 0 if it comes back;
	 * another mark's was not looked for (a pass over some marks only).
	 */
	for (size_t i = 0; ret == 0 && i < u->n; i++)
		if (!u->b[i].in_read && has_mark(marks, n, u->b[i].mark))
			u->b[i].kernel_last = 0;
	u->added += total;
	if (added)
		*added = total;
	return ret;
}

void unseen_reset(struct unseen *u)
{
	u->n = 0;
	u->based = false;
}

void unseen_free(struct unseen *u)
{
	free(u->b);
	u->b = NULL;
	u->n = u->cap = 0;
	u->based = false;
}
