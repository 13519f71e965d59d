/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-backend packets and bytes from conntrack's accounting (see
 * include/knlb/ct/flowtab.h).  Each known flow keeps its counters at
 * their last reading beside its slot; its group sums them (live) and,
 * when the slot goes, keeps them (ended).  Flows no event or pass
 * follows are summed per group from the last reader's dump (untracked).
 * A reader is shown the three together, never less than before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flowtab-int.h"

/* to += t, or to -= t: unsigned, so a sum and its parts stay exact. */
static void traffic_add(struct flow_traffic *to, const struct flow_traffic *t,
			bool sub)
{
	uint64_t sign = sub ? (uint64_t)-1 : 1;

	to->pkts_in += sign * t->pkts_in;
	to->bytes_in += sign * t->bytes_in;
	to->pkts_out += sign * t->pkts_out;
	to->bytes_out += sign * t->bytes_out;
}

static uint64_t at_least(uint64_t *shown, uint64_t now)
{
	if (now > *shown)
		*shown = now;
	return *shown;
}

int flowtab_count_traffic(struct flowtab *ft)
{
	if (ft->traffic)
		return 0;
	ft->traffic = calloc(ft->mask + 1, sizeof(*ft->traffic));
	return ft->traffic ? 0 : -ENOMEM;
}

void traffic_slot_retire(struct flowtab *ft, size_t i)
{
	struct ft_group *g;

	if (!ft->traffic)
		return;
	g = &ft->groups[ft->slots[i].group - 1];
	traffic_add(&g->live, &ft->traffic[i], true);
	traffic_add(&g->ended, &ft->traffic[i], false);
}

void traffic_slot_regroup(struct flowtab *ft, size_t i, uint32_t from,
			  uint32_t to)
{
	if (!ft->traffic)
		return;
	traffic_add(&ft->groups[from].live, &ft->traffic[i], true);
	traffic_add(&ft->groups[to].live, &ft->traffic[i], false);
}

int flowtab_flow_traffic(struct flowtab *ft, const struct flow_key *key,
			 const struct flow_traffic *t)
{
	struct ft_group *g;
	struct flow_key k;
	size_t i;

	if (!ft->traffic || !key_norm(&k, key) ||
	    (i = slot_find(ft, &k)) == SIZE_MAX)
		return -ENOENT;
	g = &ft->groups[ft->slots[i].group - 1];
	traffic_add(&g->live, &ft->traffic[i], true);
	ft->traffic[i] = *t;
	traffic_add(&g->live, t, false);
	return 0;
}

/* t into one of the pair's sums, creating the pair when it was never seen. */
static int pair_add(struct flowtab *ft, uint32_t mark,
		    const struct knlb_addr *addr, uint16_t port, uint8_t proto,
		    const struct flow_traffic *t, bool ended)
{
	struct knlb_addr a;
	long gi;

	if (!mark || !addr || !addr_norm(&a, addr) || a.family == AF_UNSPEC)
		return -EINVAL;
	gi = group_add_unseen(ft, mark, &a, port, proto, 0);
	if (gi < 0)
		return (int)gi;
	traffic_add(ended ? &ft->groups[gi].ended : &ft->groups[gi].untracked,
		    t, false);
	return 0;
}

int flowtab_traffic_ended(struct flowtab *ft, uint32_t mark,
			  const struct knlb_addr *addr, uint16_t port,
			  uint8_t proto, const struct flow_traffic *t)
{
	return pair_add(ft, mark, addr, port, proto, t, true);
}

void flowtab_traffic_untracked_begin(struct flowtab *ft)
{
	for (size_t g = 0; g < ft->n_groups; g++)
		memset(&ft->groups[g].untracked, 0, sizeof(ft->groups[g].untracked));
}

int flowtab_traffic_untracked(struct flowtab *ft, uint32_t mark,
			      const struct knlb_addr *addr, uint16_t port,
			      uint8_t proto, const struct flow_traffic *t)
{
	return pair_add(ft, mark, addr, port, proto, t, false);
}

int flowtab_traffic_shown(struct flowtab *ft, uint32_t mark,
			  const struct knlb_addr *addr, uint16_t port,
			  uint8_t proto, struct flow_traffic *out)
{
	struct flow_traffic now;
	struct ft_group *g;
	struct knlb_addr a;
	long gi;

	memset(out, 0, sizeof(*out));
	if (!addr || !addr_norm(&a, addr) || a.family == AF_UNSPEC ||
	    (gi = group_find(ft, mark, &a, port, proto)) < 0)
		return -ENOENT;
	g = &ft->groups[gi];
	now = g->ended;
	traffic_add(&now, &g->live, false);
	traffic_add(&now, &g->untracked, false);
	out->pkts_in = at_least(&g->shown.pkts_in, now.pkts_in);
	out->bytes_in = at_least(&g->shown.bytes_in, now.bytes_in);
	out->pkts_out = at_least(&g->shown.pkts_out, now.pkts_out);
	out->bytes_out = at_least(&g->shown.bytes_out, now.bytes_out);
	return 0;
}
