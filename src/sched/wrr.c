/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Smooth weighted round robin, as nginx does it (ngx_http_upstream_get_peer()
 * in ngx_http_upstream_round_robin.c), run for M steps to fill a slot table.
 *
 * Each step, every backend adds its weight to its current value; the one
 * with the largest current value is picked and pays the sum of the weights.
 * Over any S = sum(w) consecutive steps each backend is picked exactly w
 * times, and heavy backends are spread out: 5,1,1 gives a a b a c a a.
 *
 * Ties go to the lowest array index, so the sequence depends on the order
 * of the array.  That is deliberate: round robin promises no consistency
 * across changes (Maglev does that), only a fair and smooth sequence, and
 * the caller's order (config order) is the natural one to follow.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "knlb/lib/prime.h"
#include "knlb/sched/sched.h"

/*
 * Backends of equal weight form a class.  Their current values rise in step
 * and differ only by what they paid, so the largest in a class belongs to
 * the member picked least often, the lowest index among equals: the class
 * hands out its turns round robin.  One candidate per class is enough to
 * find nginx's pick, and a step costs a pass over the classes (at most 100
 * for weights 1..100) instead of over every backend.
 */
struct wrr_class {
	int64_t weight;
	int64_t cur;		/* current value of the candidate */
	uint32_t cand;		/* candidate: members[first + cursor] */
	uint32_t first;
	uint32_t size;
	uint32_t cursor;
};

/* Positive-weight backends of one array, grouped into classes. */
struct wrr_member {
	uint32_t weight;
	uint32_t index;
};

static int wrr_member_cmp(const void *a, const void *b)
{
	const struct wrr_member *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight < y->weight ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The state after one period: every backend back at 0. */
static bool wrr_at_start(const struct wrr_class *cls, uint32_t ncls)
{
	for (uint32_t j = 0; j < ncls; j++)
		if (cls[j].cur || cls[j].cursor)
			return false;
	return true;
}

/* One step of nginx's loop: every candidate gains its weight, best wins. */
static uint32_t wrr_step(struct wrr_class *cls, uint32_t ncls,
			 const struct wrr_member *members, int64_t sum)
{
	struct wrr_class *best = NULL;
	uint32_t picked;

	for (uint32_t j = 0; j < ncls; j++) {
		struct wrr_class *c = &cls[j];

		c->cur += c->weight;
		/* Ties go to the lowest array index, as in nginx. */
		if (!best || c->cur > best->cur ||
		    (c->cur == best->cur && c->cand < best->cand))
			best = c;
	}
	picked = best->cand;
	/* The next member has the same value, unless all have now paid. */
	if (++best->cursor == best->size) {
		best->cursor = 0;
		best->cur -= sum;
	}
	best->cand = members[best->first + best->cursor].index;
	return picked;
}

/*
 * backends may be NULL only when n == 0.  Backends with weight 0 get no
 * slot; when none has a positive weight every slot is SCHED_SLOT_EMPTY.
 * Allocates 40 bytes of scratch per backend with a positive weight and frees
 * it before returning, hence -ENOMEM besides 0 and -EINVAL.  On error the
 * table is left untouched.
 *
 * Cost is one pass over the distinct weights per step, for at most
 * min(M, S / gcd(w)) steps: the state is all zeros again after one period,
 * so the rest of the table repeats the first period.
 */
int wrr_build(const struct sched_backend *backends, size_t n,
	      uint32_t *table, uint32_t m)
{
	uint64_t g = 0, sum = 0, bound, period;
	struct wrr_member *members;
	struct wrr_class *cls;
	uint32_t k = 0, ncls = 0, t;

	if (!table || !m || (n && !backends))
		return -EINVAL;
	/* Indices must fit in a slot and differ from SCHED_SLOT_EMPTY. */
	if (n >= UINT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (backends[i].weight) {
			k++;
			g = gcd64(g, backends[i].weight);
		}
	}
	if (!k) {
		for (uint32_t i = 0; i < m; i++)
			table[i] = SCHED_SLOT_EMPTY;
		return 0;
	}
	/*
	 * Dividing every weight by their gcd scales every current value by
	 * the same factor: same picks, same ties, shorter period.  The sum
	 * cannot overflow (fewer than 2^32 weights below 2^32).  A current
	 * value is above -S (it was at most the maximum, at least S / k, when
	 * it last paid S) and, as all k of them sum to S, below k * S.  Only
	 * absurd inputs (some 2^15 backends of weight near 2^32) leave int64.
	 */
	for (size_t i = 0; i < n; i++)
		sum += backends[i].weight / g;
	if (__builtin_mul_overflow(sum, (uint64_t)k, &bound) ||
	    bound > INT64_MAX)
		return -EINVAL;
	period = sum;

	members = calloc(k, sizeof(*members) + sizeof(*cls));
	if (!members)
		return -ENOMEM;
	cls = (struct wrr_class *)(members + k);
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (backends[i].weight) {
			members[k].weight = (uint32_t)(backends[i].weight / g);
			members[k++].index = (uint32_t)i;
		}
	}
	qsort(members, k, sizeof(*members), wrr_member_cmp);
	for (uint32_t i = 0; i < k; i++) {
		if (!i || members[i].weight != members[i - 1].weight) {
			cls[ncls++] = (struct wrr_class){
				.weight = members[i].weight,
				.cand = members[i].index,
				.first = i,
			};
		}
		cls[ncls - 1].size++;
	}

	for (t = 0; t < m; t++) {
		/* Verify rather than trust the period before tiling. */
		if (t == period && wrr_at_start(cls, ncls))
			break;
		table[t] = wrr_step(cls, ncls, members, (int64_t)sum);
	}
	for (; t < m; t++)
		table[t] = table[t - period];

	free(members);
	members = NULL;
	cls = NULL;
	return 0;
}
