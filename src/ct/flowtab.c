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

#include "knlb/lib/grow.h"
#include "flowtab-int.h"

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
	free(ft->traffic);
	free(ft->groups);
	free(ft->group_index);
	free(ft->scope);
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
			traffic_slot_regroup(ft, i, from, (uint32_t)gi);
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
	ft->scoped = false;
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

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int flowtab_resync_scope(struct flowtab *ft, const uint32_t *marks, size_t n)
{
	if (!ft->resyncing)
		return -EINVAL;
	if (grow(&ft->scope, &ft->scope_cap, n ? n : 1, sizeof(*ft->scope),
		 8) < 0)
		return -ENOMEM;
	if (n)
		memcpy(ft->scope, marks, n * sizeof(*marks));
	qsort(ft->scope, n, sizeof(*ft->scope), cmp_u32);
	ft->n_scope = n;
	ft->scoped = true;
	return 0;
}

bool flowtab_resync_in_scope(const struct flowtab *ft, uint32_t mark)
{
	return !ft->scoped ||
	       bsearch(&mark, ft->scope, ft->n_scope, sizeof(mark), cmp_u32);
}

/* An unseen flow of this group is the pass's to close. */
static bool in_scope(const struct flowtab *ft, uint32_t gi)
{
	return flowtab_resync_in_scope(ft, ft->groups[gi].mark);
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
		if (!in_scope(ft, gi)) {
			/* Another service's flow: not this dump's to judge. */
			s->epoch = ft->epoch & 1;
			i++;
			continue;
		}
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
	ft->scoped = false;
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
	ft->scoped = false;
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

int flowtab_add_unseen(struct flowtab *ft, uint32_t mark,
		       const struct knlb_addr *addr, uint16_t port,
		       uint8_t proto, uint64_t n)
{
	struct knlb_addr a;
	long gi;

	if (!mark || !addr || !addr_norm(&a, addr) || a.family == AF_UNSPEC)
		return -EINVAL;
	if (!n)
		return 0;
	gi = group_add_unseen(ft, mark, &a, port, proto, n);
	return gi < 0 ? (int)gi : 0;
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
