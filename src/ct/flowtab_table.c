/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The flow slots: one per live conntrack entry, inline, linear probing with
 * backward-shift deletion (see flowtab.c for the whole picture). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "knlb/lib/grow.h"
#include "flowtab-int.h"

uint64_t addr_hash(uint64_t h, const struct knlb_addr *a)
{
	if (a->family == AF_INET)
		return mix64(h ^ a->in.s_addr);
	if (a->family == AF_INET6) {
		for (int i = 0; i < 4; i++)
			h = mix64(h ^ a->in6.s6_addr32[i]);
	}
	return h;
}

/*
 * Copy only the bytes the family uses, over zeroes, so that a whole
 * struct compares and hashes equal whatever the caller left in the rest
 * of the union.
 */
bool addr_norm(struct knlb_addr *dst, const struct knlb_addr *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src)
		return true;
	dst->family = src->family;
	if (src->family == AF_INET)
		dst->in = src->in;
	else if (src->family == AF_INET6)
		dst->in6 = src->in6;
	else
		return false;
	return true;
}


bool key_norm(struct flow_key *dst, const struct flow_key *src)
{
	dst->id = src->id;
	dst->proto = src->proto;
	dst->src_port = src->src_port;
	return addr_norm(&dst->src, &src->src);
}




/* Slot holding key k, or SIZE_MAX.  k must be normalised. */
size_t slot_find(const struct flowtab *ft, const struct flow_key *k)
{
	size_t i = key_home(ft, k->id, k->src_port, k->proto, &k->src);

	while (ft->slots[i].group) {
		if (slot_is(&ft->slots[i], k))
			return i;
		i = (i + 1) & ft->mask;
	}
	return SIZE_MAX;
}

/* Into a table known to have room and not to hold s already: its index. */
size_t slot_place(struct ft_slot *slots, size_t mask, size_t home,
		  const struct ft_slot *s)
{
	size_t i = home;

	while (slots[i].group)
		i = (i + 1) & mask;
	slots[i] = *s;
	return i;
}

static int table_resize(struct flowtab *ft, size_t cap)
{
	struct ft_slot *old = ft->slots, *slots;
	struct flow_traffic *old_traffic = ft->traffic, *traffic = NULL;
	size_t old_cap = ft->mask + 1;

	slots = calloc(cap, sizeof(*slots));
	if (old_traffic)
		traffic = calloc(cap, sizeof(*traffic));
	if (!slots || (old_traffic && !traffic)) {
		free(slots);
		free(traffic);
		return -ENOMEM;
	}
	ft->slots = slots;
	ft->traffic = traffic;
	ft->mask = cap - 1;
	for (size_t i = 0; i < old_cap; i++) {
		size_t to;

		if (!old[i].group)
			continue;
		to = slot_place(slots, ft->mask, slot_home(ft, &old[i]), &old[i]);
		if (traffic)
			traffic[to] = old_traffic[i];
	}
	free(old);
	free(old_traffic);
	return 0;
}

/*
 * 70% keeps linear probing's expected miss under ~6 slots (3 cache
 * lines) while costing 1.4-2.9x the live flows in memory.
 */
int table_reserve_one(struct flowtab *ft)
{
	size_t cap = ft->mask + 1;

	if ((ft->count + 1) * 10 <= cap * 7)
		return 0;
	return table_resize(ft, cap * 2);
}

/* Halve below 1/8 so a burst does not pin memory; never thrash: 1/8 -> 1/4. */
void table_maybe_shrink(struct flowtab *ft)
{
	size_t cap = ft->mask + 1;

	if (ft->resyncing || cap <= FT_MIN_SLOTS || ft->count * 8 >= cap)
		return;
	/* A failed shrink is harmless: keep the bigger table. */
	table_resize(ft, cap / 2);
}

/*
 * Backward-shift deletion: pull later members of the probe run into the
 * hole so that lookups never need tombstones.  An entry may move into the
 * hole only if its home is not cyclically within (hole, its position].
 */
void slot_remove(struct flowtab *ft, size_t hole)
{
	size_t j = hole;

	traffic_slot_retire(ft, hole);
	for (;;) {
		size_t home;

		j = (j + 1) & ft->mask;
		if (!ft->slots[j].group)
			break;
		home = slot_home(ft, &ft->slots[j]);
		if (hole <= j ? (hole < home && home <= j)
			      : (hole < home || home <= j))
			continue;
		ft->slots[hole] = ft->slots[j];
		if (ft->traffic)
			ft->traffic[hole] = ft->traffic[j];
		hole = j;
	}
	memset(&ft->slots[hole], 0, sizeof(ft->slots[hole]));
	if (ft->traffic)
		memset(&ft->traffic[hole], 0, sizeof(ft->traffic[hole]));
	ft->count--;
}
