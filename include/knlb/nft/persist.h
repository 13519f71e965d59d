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

/* ---- elements (persist_elems.c) ---- */

struct persist_entry {
	enum knlb_family family;
	struct knlb_addr client;	/* the key */
	struct knlb_addr backend;	/* the value: backend address . port */
	uint16_t port;			/* host order */
	uint64_t expires_ms;		/* time left, as the kernel said */
};

struct persist_table {
	struct persist_entry *e;
	size_t n, cap;
};

/*
 * Append the elements of svc's maps (each family it serves) to *out, one
 * dump each; a map or table that does not exist holds nothing.  0, or
 * -errno with err naming the map.
 */
int persist_read(const char *table, const struct knlb_service *svc,
		 struct persist_table *out, char *err, size_t errlen);
void persist_table_free(struct persist_table *t);

/* The backend of svc an entry points at, or -1 (none of svc's now). */
long persist_entry_backend(const struct knlb_service *svc,
			   const struct persist_entry *e);
/*
 * Some backend that old_slots (svc's tables as the kernel holds them, in
 * svc's backend indexes; any other value is a backend that is gone) maps
 * has no slot in svc->slots: its clients' entries must go.
 */
bool persist_lost_backend(const struct knlb_service *svc,
			  const uint32_t *old_slots);
/* counts[b] += entries of t pointing at backend b (n_backends long). */
void persist_count(const struct knlb_service *svc,
		   const struct persist_table *t, uint64_t *counts);

/*
 * Destroy the entries of t whose backend has no slot in svc->slots (gone,
 * down, drained, disabled, weight 0): *purged of them.  0 or -ENOMEM.
 */
int persist_add_purge(struct nfnl_batch *batch, const char *table,
		      const struct knlb_service *svc,
		      const struct persist_table *t, size_t *purged);
/*
 * After a table replace built svc's maps in batch: add back the entries of
 * t whose backend has a slot, with the time they had left (at most the
 * timeout): *kept of them.  0 or -ENOMEM.
 */
int persist_add_carry_over(struct nfnl_batch *batch, const char *table,
			   const struct knlb_service *svc,
			   const struct persist_table *t, size_t *kept);

#endif
