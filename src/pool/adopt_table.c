/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The running table as read back (nft/readback.c fills it): lookups and
 * freeing, pure, so the adopt plan can use them without the nft layer.
 */
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/pool/adopt_table.h"

void adopt_table_free(struct adopt_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_services; i++)
		free(t->services[i].mapped);
	free(t->services);
	free(t);
}

const struct adopt_service *adopt_find(const struct adopt_table *t,
				       const char *name)
{
	for (size_t i = 0; t && i < t->n_services; i++)
		if (strcmp(t->services[i].name, name) == 0)
			return &t->services[i];
	return NULL;
}

uint32_t adopt_slots_of(const struct adopt_service *svc,
			const struct knlb_addr *addr, uint16_t port)
{
	for (size_t i = 0; svc && i < svc->n_mapped; i++)
		if (svc->mapped[i].port == port &&
		    addr_equal(&svc->mapped[i].addr, addr))
			return svc->mapped[i].slots;
	return 0;
}
