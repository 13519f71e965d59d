/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the flowtab files share: the two hash tables' layout
 * (flowtab_table.c: the flow slots; flowtab_groups.c: the per-backend and
 * per-service groups and their drain notices), used by flowtab.c's API.
 */
#ifndef KNLB_FLOWTAB_INT_H
#define KNLB_FLOWTAB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/ct/flowtab.h"

#define FT_MIN_SLOTS 1024
#define FT_MIN_GROUP_SLOTS 64

/* 32 bytes: two slots per cache line. */
struct ft_slot {
	struct knlb_addr src;
	uint32_t id;
	uint32_t group;		/* group index + 1; 0 = empty slot */
	uint16_t src_port;
	uint8_t proto;
	/* Bits, so the slot stays 32 bytes. */
	uint8_t epoch : 1;	/* resync generation that last saw it */
	uint8_t ended : 1;	/* seen ending: counted closed, not active */
};

struct ft_group {
	uint32_t mark;
	struct knlb_addr addr;	/* AF_UNSPEC for a service total */
	uint16_t port;
	uint8_t proto;
	bool drain_pending;	/* reached 0, callback not fired yet */
	uint32_t service;	/* index of the service total group */
	struct flow_counts c;
	/* traffic_counters = conntrack (flowtab_traffic.c) */
	struct flow_traffic ended;	/* flows gone: their last readings */
	struct flow_traffic live;	/* flows known: their last readings */
	struct flow_traffic untracked;	/* flows not known, at the last dump */
	struct flow_traffic shown;	/* the most a reader was shown */
};

struct flowtab {
	struct ft_slot *slots;
	size_t mask;		/* capacity - 1, capacity a power of 2 */
	size_t count;

	struct ft_group *groups;
	size_t n_groups, groups_cap;
	uint32_t *group_index;	/* group index + 1; 0 = empty */
	size_t group_mask;

	size_t ending;		/* slots with ended set */
	/*
	 * Beside each slot, its flow's counters at their last reading
	 * (flowtab_traffic.c); NULL unless flowtab_count_traffic() was called.
	 */
	struct flow_traffic *traffic;

	uint8_t epoch;
	bool resyncing;
	struct flowtab_resync pass;
	/* A scoped pass closes only unseen flows of these marks (sorted). */
	bool scoped;
	uint32_t *scope;
	size_t n_scope, scope_cap;

	flowtab_drained_fn drained;
	void *drained_arg;
	bool drains_pending;	/* some group has drain_pending */

	uint64_t duplicate_news;
	uint64_t unknown_destroys;
	uint64_t closings;
	uint64_t duplicate_closings;
	uint64_t unknown_closings;
	uint64_t resyncs;
	struct flowtab_resync last_resync;
};

/* murmur3's finaliser: full avalanche in a few cycles. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* The address into a running hash (flowtab_table.c). */
uint64_t addr_hash(uint64_t h, const struct knlb_addr *a);

static inline bool addr_same(const struct knlb_addr *a,
			     const struct knlb_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static inline size_t key_home(const struct flowtab *ft, uint32_t id,
			      uint16_t port, uint8_t proto,
			      const struct knlb_addr *src)
{
	uint64_t h = ((uint64_t)id << 32) | ((uint64_t)port << 16) |
		     ((uint64_t)proto << 8) | src->family;

	return (size_t)addr_hash(mix64(h), src) & ft->mask;
}

static inline size_t slot_home(const struct flowtab *ft,
			       const struct ft_slot *s)
{
	return key_home(ft, s->id, s->src_port, s->proto, &s->src);
}

static inline bool slot_is(const struct ft_slot *s, const struct flow_key *k)
{
	return s->id == k->id && s->src_port == k->src_port &&
	       s->proto == k->proto && addr_same(&s->src, &k->src);
}

static inline bool group_is(const struct ft_group *g, uint32_t mark,
			    const struct knlb_addr *addr, uint16_t port,
			    uint8_t proto)
{
	return g->mark == mark && g->port == port && g->proto == proto &&
	       addr_same(&g->addr, addr);
}

bool addr_norm(struct knlb_addr *dst, const struct knlb_addr *src);
bool key_norm(struct flow_key *dst, const struct flow_key *src);
size_t slot_find(const struct flowtab *ft, const struct flow_key *k);
size_t slot_place(struct ft_slot *slots, size_t mask, size_t home,
		  const struct ft_slot *s);
int table_reserve_one(struct flowtab *ft);
void table_maybe_shrink(struct flowtab *ft);
void slot_remove(struct flowtab *ft, size_t hole);
long group_find(const struct flowtab *ft, uint32_t mark,
		       const struct knlb_addr *addr, uint16_t port,
		       uint8_t proto);
long group_of(struct flowtab *ft, const struct flow *f,
		     const struct knlb_addr *backend);
void group_open(struct flowtab *ft, uint32_t gi);
bool group_close(struct flowtab *ft, uint32_t gi);
void group_open_ended(struct flowtab *ft, uint32_t gi);
long group_add_unseen(struct flowtab *ft, uint32_t mark,
		      const struct knlb_addr *backend, uint16_t port,
		      uint8_t proto, uint64_t n);
void drain_later(struct flowtab *ft, uint32_t gi);
/* flowtab_traffic.c: the slots' readings follow the slots. */
void traffic_slot_retire(struct flowtab *ft, size_t i);
void traffic_slot_regroup(struct flowtab *ft, size_t i, uint32_t from,
			  uint32_t to);
void fire_drained(struct flowtab *ft, uint32_t gi);

#endif
