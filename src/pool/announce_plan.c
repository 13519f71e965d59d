/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which VIPs to announce, from the services' state.  See announce_plan.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "knlb/pool/announce_plan.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "knlb/pool/pool-t.h"

static struct announce_want *find(struct announce_want *w, size_t n,
				  const struct knlb_addr *vip)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&w[i].vip, vip))
			return &w[i];
	return NULL;
}

int announce_plan_build(const struct knlb_model *pool,
			struct announce_want **out, size_t *n)
{
	struct announce_want *w = NULL, *row;
	size_t cap = 0, used = 0;

	for (size_t s = 0; s < pool->n_services; s++) {
		const struct knlb_service *svc = &pool->services[s];

		if (svc->cfg->announce != KNLB_ANNOUNCE_ROUTE)
			continue;
		/* A dual-stack service: each VIP follows its own family's state. */
		for (size_t f = 0; f < svc->n_families; f++) {
			const struct knlb_service_family *fam = &svc->families[f];
			const struct knlb_addr *vip = &svc->cfg->vip[fam->family];

			row = find(w, used, vip);
			if (!row) {
				if (grow(&w, &cap, used + 1, sizeof(*w), 4) < 0) {
					free(w);
					return -ENOMEM;
				}
				row = &w[used++];
				*row = (struct announce_want){ .vip = *vip,
							       .wanted = true };
			}
			if (fam->empty && row->wanted) {
				row->wanted = false;
				snprintf(row->blocked_by, sizeof(row->blocked_by),
					 "%s", svc->cfg->name);
			}
		}
	}
	*out = w;
	*n = used;
	return 0;
}
