/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_NFT_PERSIST_H
#define KNLB_NFT_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "knlb/lib/addr-t.h"

/*
 * Source-IP persistence (persistence = DURATION): a dynamic map per
 * service and family, client address -> backend address . port, with a
 * timeout, filled and consulted by the kernel (persist.c), read, purged
 * and carried across table replaces by knlbd (persist_elems.c).
 */

struct nfnl_batch;
struct knlb_model;
struct knlb_service;

#define PERSIST_CHAIN		"persist"
/* Most clients a map remembers; new clients beyond it are not learned. */
#define PERSIST_MAP_SIZE	262144
#define PERSIST_SET_ID_BASE	(1u << 20)

/* The set id of service i's map of its k-th family in a table replace. */
static inline uint32_t persist_set_id(size_t i, size_t k)
{
	return PERSIST_SET_ID_BASE + (uint32_t)(i * KNLB_FAMILIES + k);
}

/* "<service>_persist", "<service>_persist6" */
const char *persist_map_name(const struct knlb_service *svc, enum knlb_family f,
			     char *buf, size_t len);
bool persist_enabled(const struct knlb_service *svc);
bool persist_any(const struct knlb_model *pool);
/* Bytes of a map's key (an address) and value (address . port, padded). */
uint32_t persist_key_len(enum knlb_family f);
uint32_t persist_data_len(enum knlb_family f);

/* ---- building (table replace): 0 or -ENOMEM ---- */

int persist_add_map(struct nfnl_batch *batch, const char *table,
		    const struct knlb_service *svc, enum knlb_family f,
		    uint32_t set_id);
/* The rule before the family's slot rule in svc_NAME. */
int persist_add_service_rule(struct nfnl_batch *batch, const char *table,
			     const struct knlb_service *svc, enum knlb_family f,
			     uint32_t set_id);
/* Chain persist and its rules (nothing without a persistent service). */
int persist_add_learn_chain(struct nfnl_batch *batch,
			    const struct knlb_model *pool);
/* Its jumps, at the end of filter_prerouting and filter_output. */
int persist_add_learn_jumps(struct nfnl_batch *batch,
			    const struct knlb_model *pool);

#endif
