/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live-flow counting and reconciliation; see include/knlb/ct/flowtab.h.
 *
 * Two hash tables.  Flows: one slot per live conntrack entry, stored
 * inline (no pointer chasing, no allocation per flow), linear probing with
 * backward-shift deletion.  Groups: one per (service mark, backend, port,
 * proto) plus one per service mark (backend family AF_UNSPEC) holding the
 * service totals; a few thousand at most, kept for the daemon's lifetime
 * so opened/closed survive a backend's flows all ending.
 *
 * A flow that ended (TCP TIME_WAIT/CLOSE) keeps its slot, flagged, until
 * its DESTROY: that is what makes a repeated closing, or the DESTROY after
 * a closing, count nothing twice.
 *
 * The hash is not keyed by a secret: the conntrack id in every flow key is
 * itself a keyed hash (siphash with a per-boot kernel secret), so a client
 * choosing its address and port cannot make keys collide on purpose.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "knlb/ct/flowtab.h"
#include "knlb/lib/grow.h"

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

	uint8_t epoch;
	bool resyncing;
	struct flowtab_resync pass;

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

static uint64_t addr_hash(uint64_t h, const struct knlb_addr *a)
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
static bool addr_norm(struct knlb_addr *dst, const struct knlb_addr *src)
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

static inline bool addr_same(const struct knlb_addr *a,
			     const struct knlb_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static bool key_norm(struct flow_key *dst, const struct flow_key *src)
{
	dst->id = src->id;
	dst->proto = src->proto;
	dst->src_port = src->src_port;
	return addr_norm(&dst->src, &src->src);
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

/* Slot holding key k, or SIZE_MAX.  k must be normalised. */
static size_t slot_find(const struct flowtab *ft, const struct flow_key *k)
{
	size_t i = key_home(ft, k->id, k->src_port, k->proto, &k->src);

	while (ft->slots[i].group) {
		if (slot_is(&ft->slots[i], k))
			return i;
		i = (i + 1) & ft->mask;
	}
	return SIZE_MAX;
}

/* Into a table known to have room and not to hold s already. */
static void slot_place(struct ft_slot *slots, size_t mask, size_t home,
		       const struct ft_slot *s)
{
	size_t i = home;

	while (slots[i].group)
		i = (i + 1) & mask;
	slots[i] = *s;
}

static int table_resize(struct flowtab *ft, size_t cap)
{
	struct ft_slot *old = ft->slots, *slots;
	size_t old_cap = ft->mask + 1;

	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	ft->slots = slots;
	ft->mask = cap - 1;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].group)
			slot_place(slots, ft->mask, slot_home(ft, &old[i]),
				   &old[i]);
	}
	free(old);
	return 0;
}

/*
 * 70% keeps linear probing's expected miss under ~6 slots (3 cache
 * lines) while costing 1.4-2.9x the live flows in memory.
 */
static int table_reserve_one(struct flowtab *ft)
{
	size_t cap = ft->mask + 1;

	if ((ft->count + 1) * 10 <= cap * 7)
		return 0;
	return table_resize(ft, cap * 2);
}

/* Halve below 1/8 so a burst does not pin memory; never thrash: 1/8 -> 1/4. */
static void table_maybe_shrink(struct flowtab *ft)
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
static void slot_remove(struct flowtab *ft, size_t hole)
{
	size_t j = hole;

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
		hole = j;
	}
	memset(&ft->slots[hole], 0, sizeof(ft->slots[hole]));
	ft->count--;
}

/* --- groups --- */

static uint64_t group_hash(uint32_t mark, const struct knlb_addr *addr,
			   uint16_t port, uint8_t proto)
{
	uint64_t h = ((uint64_t)mark << 32) | ((uint64_t)port << 16) |
		     ((uint64_t)proto << 8) | addr->family;

	return addr_hash(mix64(h), addr);
}

static inline bool group_is(const struct ft_group *g, uint32_t mark,
			    const struct knlb_addr *addr, uint16_t port,
			    uint8_t proto)
{
	return g->mark == mark && g->port == port && g->proto == proto &&
	       addr_same(&g->addr, addr);
}

/* Index of the group, or -1.  addr must be normalised. */
static long group_find(const struct flowtab *ft, uint32_t mark,
		       const struct knlb_addr *addr, uint16_t port,
		       uint8_t proto)
{
	size_t i = (size_t)group_hash(mark, addr, port, proto) & ft->group_mask;

	for (; ft->group_index[i]; i = (i + 1) & ft->group_mask) {
		uint32_t g = ft->group_index[i] - 1;

		if (group_is(&ft->groups[g], mark, addr, port, proto))
			return (long)g;
	}
	return -1;
}

static void group_index_put(uint32_t *index, size_t mask,
			    const struct ft_group *g, uint32_t gi)
{
	size_t i = (size_t)group_hash(g->mark, &g->addr, g->port, g->proto) &
		   mask;

	while (index[i])
		i = (i + 1) & mask;
	index[i] = gi + 1;
}

/* Room for one more group in both the array and its index (load <= 1/2). */
static int group_reserve_one(struct flowtab *ft)
{
	size_t index_cap = ft->group_mask + 1;

	if (grow(&ft->groups, &ft->groups_cap, ft->n_groups + 1,
		 sizeof(*ft->groups), FT_MIN_GROUP_SLOTS / 2) < 0)
		return -ENOMEM;
	if ((ft->n_groups + 1) * 2 > index_cap) {
		uint32_t *index = calloc(index_cap * 2, sizeof(*index));

		if (!index)
			return -ENOMEM;
		for (size_t g = 0; g < ft->n_groups; g++)
			group_index_put(index, index_cap * 2 - 1,
					&ft->groups[g], (uint32_t)g);
		free(ft->group_index);
		ft->group_index = index;
		ft->group_mask = index_cap * 2 - 1;
	}
	return 0;
}

static long group_get(struct flowtab *ft, uint32_t mark,
		      const struct knlb_addr *addr, uint16_t port,
		      uint8_t proto, uint32_t service)
{
	long found = group_find(ft, mark, addr, port, proto);
	struct ft_group *g;

	if (found >= 0)
		return found;
	if (group_reserve_one(ft) < 0)
		return -ENOMEM;
	g = &ft->groups[ft->n_groups];
	memset(g, 0, sizeof(*g));
	g->mark = mark;
	g->addr = *addr;
	g->port = port;
	g->proto = proto;
	g->service = service == UINT32_MAX ? (uint32_t)ft->n_groups : service;
	group_index_put(ft->group_index, ft->group_mask, g,
			(uint32_t)ft->n_groups);
	return (long)ft->n_groups++;
}

/* The backend group of a flow, creating it and its service total. */
static long group_of(struct flowtab *ft, const struct flow *f,
		     const struct knlb_addr *backend)
{
	struct knlb_addr none;
	long svc;

	addr_norm(&none, NULL);
	svc = group_get(ft, f->mark, &none, 0, 0, UINT32_MAX);
	if (svc < 0)
		return svc;
	return group_get(ft, f->mark, backend, f->backend_port, f->key.proto,
			 (uint32_t)svc);
}

static void group_open(struct flowtab *ft, uint32_t gi)
{
	struct ft_group *g = &ft->groups[gi], *svc = &ft->groups[g->service];

	g->c.active++;
	g->c.opened++;
	svc->c.active++;
	svc->c.opened++;
	g->drain_pending = false;
}

/* Returns true when the backend's active count reached 0. */
static bool group_close(struct flowtab *ft, uint32_t gi)
{
	struct ft_group *g = &ft->groups[gi], *svc = &ft->groups[g->service];

	g->c.active--;
	g->c.closed++;
	svc->c.active--;
	svc->c.closed++;
	return g->c.active == 0;
}

/* A flow first seen already ended: opened and closed, never active. */
static void group_open_ended(struct flowtab *ft, uint32_t gi)
{
	struct ft_group *g = &ft->groups[gi], *svc = &ft->groups[g->service];

	g->c.opened++;
	g->c.closed++;
	svc->c.opened++;
	svc->c.closed++;
}

/* The callback for gi waits for fire_pending_drains(). */
static void drain_later(struct flowtab *ft, uint32_t gi)
{
	ft->groups[gi].drain_pending = true;
	ft->drains_pending = true;
}

/*
 * Copies what the callback gets: it may add groups (flow_new from inside
 * the callback), which can move the array under a pointer into it.
 */
static void fire_drained(struct flowtab *ft, uint32_t gi)
{
	const struct ft_group *g = &ft->groups[gi];
	struct knlb_addr addr = g->addr;

	if (ft->drained)
		ft->drained(ft->drained_arg, g->mark, &addr, g->port, g->proto);
}

/* --- API --- */

struct flowtab *flowtab_new(void)
{
	struct flowtab *ft = calloc(1, sizeof(*ft));

	if (!ft)
		return NULL;
	ft->slots = calloc(FT_MIN_SLOTS, sizeof(*ft->slots));
	ft->mask = FT_MIN_SLOTS - 1;
	ft->groups_cap = FT_MIN_GROUP_SLOTS / 2;
	ft->groups = calloc(ft->groups_cap, sizeof(*ft->groups));
	ft->group_index = calloc(FT_MIN_GROUP_SLOTS, sizeof(*ft->group_index));
	ft->group_mask = FT_MIN_GROUP_SLOTS - 1;
	if (!ft->slots || !ft->groups || !ft->group_index) {
		flowtab_free(ft);
		return NULL;
	}
	return ft;
}

void flowtab_free(struct flowtab *ft)
{
	if (!ft)
		return;
	free(ft->slots);
	free(ft->groups);
	free(ft->group_index);
	free(ft);
}

void flowtab_set_drained_fn(struct flowtab *ft, flowtab_drained_fn fn,
			    void *arg)
{
	ft->drained = fn;
	ft->drained_arg = arg;
}

/*
 * A dump's view of a known flow's state: it ended (its closing update was
 * lost) or it is open again in the same entry.
 */
static void apply_dump_state(struct flowtab *ft, struct ft_slot *s,
			     bool ending)
{
	uint32_t gi = s->group - 1;

	if (ending && !s->ended) {
		s->ended = 1;
		ft->ending++;
		if (group_close(ft, gi))
			drain_later(ft, gi);
		if (ft->resyncing)
			ft->pass.ended++;
	} else if (!ending && s->ended) {
		s->ended = 0;
		ft->ending--;
		group_open(ft, gi);
		if (ft->resyncing)
			ft->pass.reopened++;
	}
}

/*
 * Shared by flow_new and resync_seen.  A known flow reported with another
 * service or backend is moved (knlb never changes a mark, but an operator's
 * `conntrack -U --mark` can); a group it leaves at 0 is marked for the
 * drained callback.  Only a dump (from_dump) changes a known flow's ended
 * state: events are not ordered against the dump's view.
 */
static int flow_upsert(struct flowtab *ft, const struct flow *flow,
		       bool from_dump)
{
	struct knlb_addr backend;
	struct flow_key k;
	struct ft_slot s;
	size_t i;
	long gi;

	/* addr_norm() refuses AF_UNSPEC from a caller: only totals use it. */
	if (flow->mark == 0 || !key_norm(&k, &flow->key) ||
	    !addr_norm(&backend, &flow->backend))
		return -EINVAL;

	i = slot_find(ft, &k);
	if (i != SIZE_MAX) {
		struct ft_slot *old = &ft->slots[i];
		const struct ft_group *g = &ft->groups[old->group - 1];

		old->epoch = ft->epoch;
		if (!group_is(g, flow->mark, &backend, flow->backend_port,
			      flow->key.proto)) {
			uint32_t from = old->group - 1;

			gi = group_of(ft, flow, &backend);
			if (gi < 0)
				return (int)gi;
			/*
			 * group_of() may have moved the array: index, not
			 * pointer.  An ended flow was counted closed where
			 * it was; it only changes hands.
			 */
			old->group = (uint32_t)gi + 1;
			if (!old->ended) {
				if (group_close(ft, from))
					drain_later(ft, from);
				group_open(ft, (uint32_t)gi);
			}
			if (ft->resyncing)
				ft->pass.moved++;
		}
		if (from_dump)
			apply_dump_state(ft, old, flow->ending);
		return 0;
	}

	if (table_reserve_one(ft) < 0)
		return -ENOMEM;
	gi = group_of(ft, flow, &backend);
	if (gi < 0)
		return (int)gi;
	memset(&s, 0, sizeof(s));
	s.src = k.src;
	s.id = k.id;
	s.src_port = k.src_port;
	s.proto = k.proto;
	s.epoch = ft->epoch & 1;
	s.ended = flow->ending;
	s.group = (uint32_t)gi + 1;
	slot_place(ft->slots, ft->mask,
		   key_home(ft, k.id, k.src_port, k.proto, &k.src), &s);
	ft->count++;
	if (flow->ending) {
		ft->ending++;
		group_open_ended(ft, (uint32_t)gi);
	} else {
		group_open(ft, (uint32_t)gi);
	}
	return 1;
}

/* Callbacks held back, for backends that are still at 0. */
static void fire_pending_drains(struct flowtab *ft)
{
	if (!ft->drains_pending)
		return;
	/* Cleared first: a callback's own updates may set it again. */
	ft->drains_pending = false;
	for (size_t g = 0; g < ft->n_groups; g++) {
		if (!ft->groups[g].drain_pending)
			continue;
		ft->groups[g].drain_pending = false;
		if (ft->groups[g].c.active == 0)
			fire_drained(ft, (uint32_t)g);
	}
}

int flowtab_flow_new(struct flowtab *ft, const struct flow *flow)
{
	int ret = flow_upsert(ft, flow, false);

	if (ret == 0)
		ft->duplicate_news++;
	if (!ft->resyncing)
		fire_pending_drains(ft);
	return ret;
}

bool flowtab_flow_known(const struct flowtab *ft, const struct flow_key *key)
{
	struct flow_key k;

	return key_norm(&k, key) && slot_find(ft, &k) != SIZE_MAX;
}

int flowtab_flow_closing(struct flowtab *ft, const struct flow_key *key)
{
	struct ft_slot *s;
	struct flow_key k;
	uint32_t gi;
	size_t i;

	if (!key_norm(&k, key) || (i = slot_find(ft, &k)) == SIZE_MAX) {
		ft->unknown_closings++;
		return -ENOENT;
	}
	s = &ft->slots[i];
	/* The entry exists now: inside a pass it counts as seen. */
	s->epoch = ft->epoch & 1;
	if (s->ended) {
		ft->duplicate_closings++;
		return 0;
	}
	s->ended = 1;
	ft->ending++;
	ft->closings++;
	gi = s->group - 1;
	if (group_close(ft, gi))
		fire_drained(ft, gi);
	return 1;
}

int flowtab_flow_destroy(struct flowtab *ft, const struct flow_key *key)
{
	struct flow_key k;
	uint32_t gi;
	size_t i;

	if (!key_norm(&k, key)) {
		ft->unknown_destroys++;
		return 0;
	}
	i = slot_find(ft, &k);
	if (i == SIZE_MAX) {
		ft->unknown_destroys++;
		return 0;
	}
	gi = ft->slots[i].group - 1;
	/* An ended flow was counted closed by its closing already. */
	if (ft->slots[i].ended) {
		ft->ending--;
		slot_remove(ft, i);
		table_maybe_shrink(ft);
		return 1;
	}
	slot_remove(ft, i);
	table_maybe_shrink(ft);
	if (group_close(ft, gi))
		fire_drained(ft, gi);
	return 1;
}

void flowtab_resync_begin(struct flowtab *ft)
{
	/* Flipping the generation makes every known flow "not yet seen". */
	ft->epoch ^= 1;
	ft->resyncing = true;
	memset(&ft->pass, 0, sizeof(ft->pass));
}

int flowtab_resync_seen(struct flowtab *ft, const struct flow *flow)
{
	int ret = flow_upsert(ft, flow, true);

	if (ret == 1 && ft->resyncing)
		ft->pass.opened++;
	if (!ft->resyncing)
		fire_pending_drains(ft);
	return ret;
}

void flowtab_resync_end(struct flowtab *ft, struct flowtab_resync *out)
{
	size_t i = 0;

	if (!ft->resyncing) {
		if (out)
			memset(out, 0, sizeof(*out));
		return;
	}
	/*
	 * Removing at i may pull a later, not yet examined entry into i, so
	 * look at i again.  Entries pulled across the wrap from the start
	 * of the table were examined already and are kept: harmless.
	 */
	while (i <= ft->mask) {
		struct ft_slot *s = &ft->slots[i];
		uint32_t gi;

		if (!s->group || s->epoch == ft->epoch) {
			i++;
			continue;
		}
		gi = s->group - 1;
		if (s->ended) {
			/* Its DESTROY was lost; it was counted closed. */
			ft->ending--;
			slot_remove(ft, i);
			continue;
		}
		slot_remove(ft, i);
		ft->pass.closed++;
		if (group_close(ft, gi))
			drain_later(ft, gi);
	}
	ft->resyncing = false;
	table_maybe_shrink(ft);
	ft->resyncs++;
	ft->last_resync = ft->pass;
	if (out)
		*out = ft->pass;
	/* After the pass, so callbacks see final counts and may act. */
	fire_pending_drains(ft);
}

void flowtab_resync_abort(struct flowtab *ft)
{
	if (!ft->resyncing)
		return;
	/*
	 * Every flow back to the current generation, or those the pass did
	 * not reach would look seen to the next one (one bit flips back).
	 */
	for (size_t i = 0; i <= ft->mask; i++)
		ft->slots[i].epoch = ft->epoch;
	ft->resyncing = false;
	table_maybe_shrink(ft);
	fire_pending_drains(ft);
}

bool flowtab_resyncing(const struct flowtab *ft)
{
	return ft->resyncing;
}

static int counts_of(const struct flowtab *ft, uint32_t mark,
		     const struct knlb_addr *addr, uint16_t port,
		     uint8_t proto, struct flow_counts *out)
{
	long g = group_find(ft, mark, addr, port, proto);

	if (g < 0) {
		memset(out, 0, sizeof(*out));
		return -ENOENT;
	}
	*out = ft->groups[g].c;
	return 0;
}

int flowtab_backend_counts(const struct flowtab *ft, uint32_t mark,
			   const struct knlb_addr *addr, uint16_t port,
			   uint8_t proto, struct flow_counts *out)
{
	struct knlb_addr a;

	if (!addr || !addr_norm(&a, addr) || a.family == AF_UNSPEC) {
		memset(out, 0, sizeof(*out));
		return -ENOENT;
	}
	return counts_of(ft, mark, &a, port, proto, out);
}

int flowtab_service_counts(const struct flowtab *ft, uint32_t mark,
			   struct flow_counts *out)
{
	struct knlb_addr none;

	addr_norm(&none, NULL);
	return counts_of(ft, mark, &none, 0, 0, out);
}

void flowtab_foreach_backend(const struct flowtab *ft, flowtab_backend_fn fn,
			     void *arg)
{
	for (size_t g = 0; g < ft->n_groups; g++) {
		const struct ft_group *grp = &ft->groups[g];

		if (grp->addr.family != AF_UNSPEC)
			fn(arg, grp->mark, &grp->addr, grp->port, grp->proto,
			   &grp->c);
	}
}

void flowtab_get_stats(const struct flowtab *ft, struct flowtab_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->flows = ft->count;
	out->ending = ft->ending;
	out->slots = ft->mask + 1;
	out->groups = ft->n_groups;
	out->duplicate_news = ft->duplicate_news;
	out->unknown_destroys = ft->unknown_destroys;
	out->closings = ft->closings;
	out->duplicate_closings = ft->duplicate_closings;
	out->unknown_closings = ft->unknown_closings;
	out->resyncs = ft->resyncs;
	out->last_resync = ft->last_resync;
}
