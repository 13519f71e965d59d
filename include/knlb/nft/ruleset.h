/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_RULESET_H
#define KNLB_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "knlb/lib/addr-t.h"

struct nfnl_batch;
struct knlb_model;
struct knlb_service;
struct slot_diff;
struct fallback_state;

/*
 * Translation of the pool into nftables objects (libnftnl), appended to a
 * batch.  The shape of the table is documented in docs/architecture.md;
 * render.c prints the same shape in nft syntax and the golden files in
 * rules/ keep the two honest.
 */

/* IPv6 objects carry a 6 (svc_dispatch6, NAME_slots6, empty_reject6). */
#define RULESET_DISPATCH_MAP	"svc_dispatch"
#define RULESET_PREROUTING	"prerouting"
#define RULESET_OUTPUT		"output"
#define RULESET_POSTROUTING	"postrouting"
#define RULESET_EMPTY_REJECT	"empty_reject"
#define RULESET_EMPTY_DROP	"empty_drop"
#define RULESET_ON_EMPTY	"on_empty"
#define RULESET_FILTER_PREROUTING "filter_prerouting"
#define RULESET_FILTER_OUTPUT	"filter_output"
#define RULESET_FILTER_PRIO	(-90)	/* dstnat + 10 */
#define RULESET_NAME_MAX	80

/* "" for IPv4, "6" for IPv6: what a family's object names end with. */
const char *ruleset_family_suffix(enum knlb_family f);

/*
 * "svc_<service>" (one chain, a rule per family) and "<service>_slots",
 * "<service>_slots6" (a slot map per family).
 */
const char *ruleset_chain_name(const struct knlb_service *svc, char *buf,
			       size_t len);
const char *ruleset_slots_name(const struct knlb_service *svc,
			       enum knlb_family f, char *buf, size_t len);

/*
 * Replace the owned table with the pool's desired state in one
 * transaction.  in_place NULL: create-if-absent, delete, then build
 * everything.  in_place the running table's objects: flush its rules and
 * sets, build everything over them (objects of the same definition are
 * kept), delete what is left over; no packet then meets a deleted set
 * (replace_in_place.h).  0 or -ENOMEM.
 *
 * fb: per service of pool, what the kernel should hold in the fallback
 * shape (pool/fallback.h), base NULL for a service not in it; fb NULL:
 * no service is.  leader: who shares a base map (pool_slot_share_groups()),
 * NULL: nobody.
 */
struct table_objects;
int ruleset_add_replace(struct nfnl_batch *batch, const struct knlb_model *pool,
			const struct fallback_state *fb, const size_t *leader,
			const struct table_objects *in_place);

/*
 * The shared base shape (nft/slot_share.c): "<leader>_base[6]", the base
 * map of a group, and "<service>_ovr[6]", a member's overrides.
 */
#define RULESET_SHARE_BASE	"_base"
#define RULESET_SHARE_OVR	"_ovr"
const char *ruleset_share_base_name(const struct knlb_service *lead,
				    enum knlb_family f, char *buf, size_t len);
const char *ruleset_share_ovr_name(const struct knlb_service *svc,
				   enum knlb_family f, char *buf, size_t len);
/*
 * svc's override elements against base (a group's base table), where
 * held is what svc's own slot map would hold (svc->slots, or its base
 * in the fallback shape).
 */
size_t share_count_ovr(const struct knlb_service *svc, const uint32_t *held,
		       const uint32_t *base);
/* svc's dispatch element of family f in (present) or out. */
int ruleset_add_dispatch_change(struct nfnl_batch *batch,
				const struct knlb_model *pool,
				const struct knlb_service *svc,
				enum knlb_family f, bool present);

/*
 * Element deletes/adds that turn svc's kernel slot map per diff; with
 * shared_base (the table its group's base map holds: nft/slot_share.c),
 * its override map instead.  Counts them into *elements (NULL: not).
 */
int ruleset_add_slot_changes(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc,
			     const struct slot_diff *diff,
			     const uint32_t *shared_base, size_t *elements);

/*
 * The fallback shape of svc from have to want (pool/fallback.h): its
 * base map's elements, its fallback maps' elements, and, when the dead
 * set changed, chain fb_NAME flushed and given one rule per dead backend.
 * With shared_base (svc shares its group's base map: nft/slot_share.c),
 * a base change is written to its override map instead.
 * Counts element adds and deletes into *elements.  0 or -ENOMEM.
 */
int ruleset_add_fallback_changes(struct nfnl_batch *batch,
				 const struct knlb_model *pool,
				 const struct knlb_service *svc,
				 const struct fallback_state *have,
				 const struct fallback_state *want,
				 const uint32_t *shared_base, size_t *elements);

/*
 * A reload changed svc's backend list: chain fb_NAME flushed, the maps
 * NAME_fb0 .. NAME_fb<old_backends - 1> deleted and one empty map per
 * backend of svc made (ruleset_add_fallback_changes() fills them next).
 */
int ruleset_add_fallback_remake(struct nfnl_batch *batch,
				const struct knlb_model *pool,
				const struct knlb_service *svc,
				size_t old_backends);

/*
 * "fb_<service>" (the jumps), and per backend index b "fb<b>_<service>"
 * (its rule) and "<service>_fb<b>" (its map).
 */
const char *ruleset_fallback_chain_name(const struct knlb_service *svc,
					char *buf, size_t len);
const char *ruleset_fallback_map_name(const struct knlb_service *svc, size_t b,
				      char *buf, size_t len);
const char *ruleset_fallback_backend_chain_name(const struct knlb_service *svc,
						size_t b, char *buf, size_t len);

/* Put svc's VIP of family f into (empty) or out of its on_empty set. */
int ruleset_add_empty_change(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc, enum knlb_family f,
			     bool empty);

/* Delete the owned table (knlbd --flush-on-exit). */
int ruleset_add_delete_table(struct nfnl_batch *batch, const char *table);

#endif
