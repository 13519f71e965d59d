/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The half-open probe's IPv4 sources by backend address: see syn_source-int.h. */
#include <stdlib.h>

#include "syn_source-int.h"

/*
 * The high half of a 64-bit multiplicative hash.  The low bits of a
 * product depend only on the low bits of the address, which in network
 * order are its first octets: the same for every backend of a subnet, so
 * a plain product masked to the table's size started every lookup at the
 * same slot and walked the whole cluster (2 % of a core at 10,000
 * backends, docs/performance.md).
 */
static size_t home(size_t n, struct in_addr dst)
{
	return (size_t)(((uint64_t)dst.s_addr * 0x9e3779b97f4a7c15ULL) >> 32) & (n - 1);
}

static struct syn_source *find(struct syn_source *slots, size_t n, struct in_addr dst,
			       size_t *reads)
{
	size_t i = home(n, dst);

	*reads = 1;
	while (slots[i].used && slots[i].dst.s_addr != dst.s_addr) {
		i = (i + 1) & (n - 1);
		++*reads;
	}
	return &slots[i];
}

/* Room for one more address, at most half full. */
static int grow(struct syn_sources *t)
{
	size_t n = t->n ? t->n * 2 : 256, reads;
	struct syn_source *slots;

	if ((t->used + 1) * 2 <= t->n)
		return 0;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		if (t->slots[i].used)
			*find(slots, n, t->slots[i].dst, &reads) = t->slots[i];
	free(t->slots);
	t->slots = slots;
	t->n = n;
	return 0;
}

struct syn_source *syn_sources_slot(struct syn_sources *t, struct in_addr dst)
{
	size_t reads;

	if (grow(t) < 0)
		return NULL;
	return find(t->slots, t->n, dst, &reads);
}

void syn_sources_used(struct syn_sources *t, struct syn_source *s)
{
	if (!s->used)
		t->used++;
	s->used = true;
}

size_t syn_sources_reads(const struct syn_sources *t, struct in_addr dst)
{
	size_t reads;

	if (!t->n)
		return 0;
	find(t->slots, t->n, dst, &reads);
	return reads;
}

void syn_sources_free(struct syn_sources *t)
{
	free(t->slots);
	*t = (struct syn_sources){ 0 };
}
