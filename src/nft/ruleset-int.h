/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What ruleset.c shares with the files that add to knlb's table (ruleset_on_empty.c, persist.c). */
#ifndef KNLB_NFT_RULESET_INT_H
#define KNLB_NFT_RULESET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "knlb/lib/addr-t.h"

struct nfnl_batch;
struct rule_builder;
struct knlb_model;
struct knlb_service;
struct fallback_state;
struct nftnl_udata_buf;

/* Set ids link rules to sets created in the same transaction. */
enum {
	SET_ID_DISPATCH = 1,
	SET_ID_EMPTY_REJECT = 2,
	SET_ID_EMPTY_DROP = 3,
	SET_ID_SLOTS_BASE = 16,
};

/* Slot map values: address then port, each padded to 32 bits. */
#define SLOT_DATA_MAX 20
/* Dispatch and on_empty keys: address . proto . port, padded the same way. */
#define SERVICE_KEY_MAX 24
/* Elements per NEWSETELEM message: <= ~56 bytes each, well under NFNL_MSG_MAX. */
#define ELEMS_PER_MSG 1024

/* What differs between the families in knlb's table. */
struct family_shape {
	uint8_t nfproto;		/* NFPROTO_IPV4 / NFPROTO_IPV6 */
	uint32_t addr_len;		/* bytes */
	uint32_t saddr_off, daddr_off;	/* in the network header */
	uint32_t addr_type;		/* nft datatype */
	uint32_t proto_desc, daddr_field;	/* for typeof user data */
	uint8_t port_unreachable;	/* ICMP / ICMPv6 code */
	const char *suffix;		/* of object names */
};
extern const struct family_shape ruleset_shapes[KNLB_FAMILIES];

/* Words of 32 bits an address takes in a register (and in a key). */
static inline uint32_t addr_words(enum knlb_family f)
{
	return ruleset_shapes[f].addr_len / 4;
}

static inline uint32_t slot_data_len(enum knlb_family f)
{
	return ruleset_shapes[f].addr_len + 4;
}

static inline uint32_t service_key_len(enum knlb_family f)
{
	return ruleset_shapes[f].addr_len + 8;
}

/* svc_dispatch, empty_reject, empty_drop + the family's suffix. */
const char *ruleset_family_object(const char *base, enum knlb_family f,
				  char *buf, size_t len);

/* Set ids of the per-family objects: IPv6's follow IPv4's. */
static inline uint32_t family_set_id(uint32_t base, enum knlb_family f)
{
	return base + (f == KNLB_FAMILY_IPV6 ? 3 : 0);
}

/* VIP . proto . port, as the dispatch map and on_empty sets key it. */
void ruleset_service_key(const struct knlb_service *svc, enum knlb_family f,
			 uint8_t key[SERVICE_KEY_MAX]);

/* ip[6] daddr . meta l4proto . th dport into NFT_REG_1 on: a service key. */
void ruleset_load_service_key(struct rule_builder *rb, enum knlb_family f);

/* The on_empty sets, chain and hooks (ruleset_on_empty.c). */
int ruleset_add_on_empty_objects(struct nfnl_batch *batch,
				 const struct knlb_model *pool);

/* `ct state new jump target` at the end of chain: 0 or -ENOMEM. */
int ruleset_add_new_flow_jump(struct nfnl_batch *batch, const char *table,
			      const char *chain, const char *target);

/*
 * meta l4proto P ct mark set MARK [ct event set ...]: how every rule of a
 * service chain that DNATs starts (the slot rule, persistence's lookup),
 * so a flow is marked and its events masked whichever rule translates it.
 */
void ruleset_put_service_head(struct rule_builder *rb,
			      const struct knlb_service *svc);

/* Whether svc's rules of family f test meta nfproto themselves. */
bool rule_needs_nfproto(const struct knlb_service *svc, enum knlb_family f);

/*
 * [meta nfproto F] <service head> dnat ip[6] to <selector> map @map, in
 * chain: the slot rule (map NAME_slots[6]) and a fallback rule (map
 * NAME_fb<b>).  set_id: map's, when created in the same batch.
 */
int ruleset_add_dnat_rule(struct nfnl_batch *batch, const char *table,
			  const char *chain, const struct knlb_service *svc,
			  enum knlb_family f, const char *map, uint32_t set_id);

/*
 * Elements of set, a map slot -> backend of family f: adds of slots[i] :
 * values[i] (values not NULL) or deletes of slots[i], one message per
 * ELEMS_PER_MSG.  0 or -ENOMEM.
 */
int ruleset_add_map_elements(struct nfnl_batch *batch, const char *table,
			     const struct knlb_service *svc, const char *set,
			     enum knlb_family f, const uint32_t *slots,
			     const uint32_t *values, size_t n);

/*
 * The slots of one family's table slots (m entries) that are set, and
 * with base only where they differ from it, as adds to set.  0 or -ENOMEM.
 */
int ruleset_add_table_elements(struct nfnl_batch *batch, const char *table,
			       const struct knlb_service *svc, const char *set,
			       enum knlb_family f, const uint32_t *slots,
			       const uint32_t *base);

/*
 * An empty map slot -> ADDR . PORT of family f named name, with a slot
 * map's types and user data (`typeof numgen inc mod M : ip daddr . tcp
 * dport`); size 0: no limit (a resizable hash).  0 or -ENOMEM.
 */
int ruleset_add_slot_shaped_map(struct nfnl_batch *batch, const char *table,
				const struct knlb_service *svc, enum knlb_family f,
				const char *name, uint32_t set_id, uint32_t size);

/* The fallback shape at a table replace (fallback.c), for services[i]. */
int fallback_add_maps(struct nfnl_batch *batch, const char *table,
		      const struct knlb_service *svc, size_t i);
/* Their elements: after the rules that read the maps (see ruleset.c). */
int fallback_add_map_elements(struct nfnl_batch *batch, const char *table,
			      const struct knlb_service *svc,
			      const struct fallback_state *fb);
int fallback_add_chain(struct nfnl_batch *batch, const char *table,
		       const struct knlb_service *svc, size_t i,
		       const struct fallback_state *fb);
/* [meta nfproto F] jump fb_NAME, right before family f's slot rule. */
int fallback_add_jump(struct nfnl_batch *batch, const char *table,
		      const struct knlb_service *svc, enum knlb_family f);

/*
 * VIP . proto . port : jump svc_NAME in the dispatch map of family f:
 * added (NFT_MSG_NEWSETELEM) or deleted (NFT_MSG_DELSETELEM).
 */
int ruleset_add_dispatch_element(struct nfnl_batch *batch, const char *table,
				 const struct knlb_service *svc,
				 enum knlb_family f, uint16_t type);

/*
 * The shared base shape at a table replace (slot_share.c), for services[i]
 * in the group led by services[lead]: its override maps (set ids set_id +
 * family index) and, for the leader, the base maps; each family's two
 * slot rules; the override elements (after the rules); the leader's base
 * elements (after every member's rules).
 */
int share_add_maps(struct nfnl_batch *batch, const char *table,
		   const struct knlb_service *svc, size_t i, size_t lead,
		   uint32_t set_id);
int share_add_rules(struct nfnl_batch *batch, const char *table,
		    const struct knlb_service *svc, size_t k, uint32_t set_id,
		    const struct knlb_service *lsvc, size_t lead);
/*
 * over NULL: the leader svc's base; else held (what svc's own slot map
 * would hold: svc->slots, or its base in the fallback shape) where it is
 * not over.
 */
int share_add_elements(struct nfnl_batch *batch, const char *table,
		       const struct knlb_service *svc, const uint32_t *held,
		       const uint32_t *over);

#endif
