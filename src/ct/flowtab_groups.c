/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The groups: per (service mark, backend, port, proto) and per service,
 * their counts and drain notices (see flowtab.c for the whole picture). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "knlb/lib/grow.h"
#include "flowtab-int.h"

/* --- groups --- */

static uint64_t group_hash(uint32_t mark, const struct knlb_addr *addr,
			   uint16_t port, uint8_t proto)
{
	uint64_t h = ((uint64_t)mark << 32) | ((uint64_t)port << 16) |
		     ((uint64_t)proto << 8) | addr->family;

	return addr_hash(mix64(h), addr);
}


/* Index of the group, or -1.  addr must be normalised. */
long group_find(const struct flowtab *ft, uint32_t mark,
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
long group_of(struct flowtab *ft, const struct flow *f,
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

void group_open(struct flowtab *ft, uint32_t gi)
{
	struct ft_group *g = &ft->groups[gi], *svc = &ft->groups[g->service];

	g->c.active++;
	g->c.opened++;
	svc->c.active++;
	svc->c.opened++;
	g->drain_pending = false;
}

/* Returns true when the backend's active count reached 0. */
bool group_close(struct flowtab *ft, uint32_t gi)
{
	struct ft_group *g = &ft->groups[gi], *svc = &ft->groups[g->service];

	g->c.active--;
	g->c.closed++;
	svc->c.active--;
	svc->c.closed++;
	return g->c.active == 0;
}

/* A flow first seen already ended: opened and closed, never active. */
void group_open_ended(struct flowtab *ft, uint32_t gi)
{
	struct ft_group *g = &ft->groups[gi], *svc = &ft->groups[g->service];

	g->c.opened++;
	g->c.closed++;
	svc->c.opened++;
	svc->c.closed++;
}

/* n flows that opened and ended unseen (flowtab_add_unseen). */
long group_add_unseen(struct flowtab *ft, uint32_t mark,
		      const struct knlb_addr *backend, uint16_t port,
		      uint8_t proto, uint64_t n)
{
	struct knlb_addr none;
	struct ft_group *g, *svc;
	long si, gi;

	addr_norm(&none, NULL);
	si = group_get(ft, mark, &none, 0, 0, UINT32_MAX);
	if (si < 0)
		return si;
	gi = group_get(ft, mark, backend, port, proto, (uint32_t)si);
	if (gi < 0)
		return gi;
	g = &ft->groups[gi];
	svc = &ft->groups[g->service];
	g->c.opened += n;
	g->c.closed += n;
	svc->c.opened += n;
	svc->c.closed += n;
	return gi;
}

/* The callback for gi waits for fire_pending_drains(). */
void drain_later(struct flowtab *ft, uint32_t gi)
{
	ft->groups[gi].drain_pending = true;
	ft->drains_pending = true;
}

/*
 * Copies what the callback gets: it may add groups (flow_new from inside
 * the callback), which can move the array under a pointer into it.
 */
void fire_drained(struct flowtab *ft, uint32_t gi)
{
	const struct ft_group *g = &ft->groups[gi];
	struct knlb_addr addr = g->addr;

	if (ft->drained)
		ft->drained(ft->drained_arg, g->mark, &addr, g->port, g->proto);
}
