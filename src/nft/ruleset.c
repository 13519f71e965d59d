/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlb's own table: the pool -> its chains, maps, dispatch and service
 * rules, SNAT and on_empty rules, built from the generic pieces of
 * rule_build.c and appended to a batch.  The expressions are the ones nft 1.0.6 emits
 * for the equivalent nft syntax (checked with `nft -d netlink`), in the
 * same order, and sets carry the same user data: that is what lets
 * `nft list table inet knlb` print our table back as readable nft syntax.
 *
 *   prerouting/output: ip daddr . meta l4proto . th dport vmap @svc_dispatch
 *                      ip6 daddr . meta l4proto . th dport vmap @svc_dispatch6
 *   svc_NAME:          [meta nfproto F] meta l4proto P ct mark set MARK
 *                      dnat ip[6] to <jhash ...|numgen ...> map @NAME_slots[6]
 *                      (one rule per family the service serves)
 *   postrouting:       ct mark MARK masquerade | snat ip[6] to ADDR
 *
 * IPv6 objects exist only when some service has an IPv6 VIP, and an
 * IPv4-only service's rules carry no nfproto test of their own: an IPv4
 * configuration gets exactly the table it always had.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "knlb/config/config-t.h"
#include "knlb/nft/diff.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/persist.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/slot_share.h"
#include "knlb/nft/ruleset.h"
#include "knlb/nft/replace_in_place.h"
#include "knlb/nft/stats.h"
#include "knlb/sched/sched.h"
#include "rule_build-int.h"
#include "ruleset-int.h"

_Static_assert(RULESET_NAME_MAX <= RB_NAME_MAX,
	       "object labels of rule_build.c hold knlb's names in full");

/* Elements per NEWSETELEM message: <= ~56 bytes each, well under NFNL_MSG_MAX. */
#define ELEMS_PER_MSG 1024

const struct family_shape ruleset_shapes[KNLB_FAMILIES] = {
	[KNLB_FAMILY_IPV4] = { NFPROTO_IPV4, 4, 12, 16, NFT_TYPE_IPADDR,
			       NFT_PROTO_DESC_IP, NFT_IPHDR_DADDR,
			       ICMP_PORT_UNREACH, "" },
	[KNLB_FAMILY_IPV6] = { NFPROTO_IPV6, 16, 8, 24, NFT_TYPE_IP6ADDR,
			       NFT_PROTO_DESC_IP6, NFT_IP6HDR_DADDR,
			       ICMP6_DST_UNREACH_NOPORT, "6" },
};

const char *ruleset_family_suffix(enum knlb_family f)
{
	return ruleset_shapes[f].suffix;
}

const char *ruleset_family_object(const char *base, enum knlb_family f,
				  char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", base, ruleset_shapes[f].suffix);
	return buf;
}

/*
 * Does the service's rule for family f need its own nfproto test?  The
 * dispatch maps already split the families, but a dual-stack service's
 * chain holds both rules and the first must not NAT the other family.
 */
bool rule_needs_nfproto(const struct knlb_service *svc,
			       enum knlb_family f)
{
	return svc->n_families > 1 || f == KNLB_FAMILY_IPV6;
}

const char *ruleset_chain_name(const struct knlb_service *svc, char *buf,
			       size_t len)
{
	snprintf(buf, len, "svc_%s", svc->cfg->name);
	return buf;
}

const char *ruleset_slots_name(const struct knlb_service *svc,
			       enum knlb_family f, char *buf, size_t len)
{
	snprintf(buf, len, "%s_slots%s", svc->cfg->name, ruleset_shapes[f].suffix);
	return buf;
}

/* ---- the table -------------------------------------------------------- */

/*
 * User data of the dispatch map, as nft writes it for
 * `type ipv4_addr . inet_proto . inet_service : verdict`.
 */
static struct nftnl_udata_buf *dispatch_udata(void)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	struct nftnl_udata *nest;

	if (!ud)
		return NULL;
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 0);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 0);
	nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_CONCAT);
	nftnl_udata_nest_end(ud, nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA));
	nftnl_udata_nest_end(ud, nest);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
	return ud;
}

/*
 * User data of a slot map, as nft writes it for
 * `typeof numgen inc mod M : ip daddr . tcp dport` (ip6 daddr for IPv6,
 * udp for udp services).  Without it nft cannot name the integer key and
 * prints raw types.
 */
static struct nftnl_udata_buf *slots_udata(const struct knlb_service *svc,
					   enum knlb_family f)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(128);
	struct nftnl_udata *nest, *data;
	uint32_t l4 = svc->cfg->proto == KNLB_PROTO_TCP ?
		NFT_PROTO_DESC_TCP : NFT_PROTO_DESC_UDP;

	if (!ud)
		return NULL;
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_HOST);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 0);

	nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_ID_NUMGEN);
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	nftnl_udata_put_u32(ud, 0, NFT_NG_INCREMENTAL);
	nftnl_udata_put_u32(ud, 1, svc->cfg->table_size);
	nftnl_udata_put_u32(ud, 2, 0);		/* offset */
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);

	rb_udata_concat2(ud, NFTNL_UDATA_SET_DATA_TYPEOF, ruleset_shapes[f].proto_desc,
			 ruleset_shapes[f].daddr_field, l4, NFT_THDR_DPORT);

	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
	return ud;
}

/* ip[6] daddr . meta l4proto . th dport, into NFT_REG_1 on: a service key. */
void ruleset_load_service_key(struct rule_builder *rb, enum knlb_family f)
{
	uint32_t w = addr_words(f);

	rb_require_nfproto(rb, ruleset_shapes[f].nfproto);
	rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, ruleset_shapes[f].daddr_off,
		   ruleset_shapes[f].addr_len, NFT_REG_1);
	rb_meta(rb, NFT_META_L4PROTO, rb_reg32(w));
	rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, rb_reg32(w + 1));
}

/* ip[6] daddr . meta l4proto . th dport vmap @svc_dispatch[6] */
static int add_dispatch_rule(struct nfnl_batch *batch, const char *table,
			     const char *chain, enum knlb_family f)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, chain) };
	char what[RULESET_NAME_MAX + 16], map[RULESET_NAME_MAX];

	if (!rb.rule)
		return -ENOMEM;
	ruleset_load_service_key(&rb, f);
	rb_lookup(&rb, ruleset_family_object(RULESET_DISPATCH_MAP, f, map, sizeof(map)),
		  family_set_id(SET_ID_DISPATCH, f), NFT_REG_1, NFT_REG_VERDICT);
	snprintf(what, sizeof(what), "chain %s: dispatch rule", chain);
	return rb_add_rule(batch, &rb, what);
}

/*
 * The selector that picks a slot, into NFT_REG_1.  jhash reads a
 * concatenation starting at word 4 (NFT_REG_2): saddr . sport [. daddr .
 * dport], each part padded to 32-bit words, as nft lays it out.
 */
static void put_slot_selector(struct rule_builder *rb,
			      const struct knlb_service_config *cfg,
			      enum knlb_family f, bool nfproto_known)
{
	uint32_t w = addr_words(f), len = ruleset_shapes[f].addr_len;

	if (cfg->scheduler != KNLB_SCHED_MAGLEV) {
		rb_numgen(rb, cfg->scheduler != KNLB_SCHED_RANDOM ?
			      NFT_NG_INCREMENTAL : NFT_NG_RANDOM,
			  cfg->table_size, NFT_REG_1);
		return;
	}
	if (!nfproto_known)
		rb_require_nfproto(rb, ruleset_shapes[f].nfproto);
	rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, ruleset_shapes[f].saddr_off,
		   ruleset_shapes[f].addr_len, NFT_REG_2);
	if (cfg->hash_key != KNLB_HASH_SRC_IP) {
		rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2,
			   rb_reg32(4 + w));
		len += 4;
	}
	if (cfg->hash_key == KNLB_HASH_5TUPLE) {
		rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, ruleset_shapes[f].daddr_off,
			   ruleset_shapes[f].addr_len, rb_reg32(4 + w + 1));
		rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
			   rb_reg32(4 + 2 * w + 1));
		len = 2 * len;
	}
	rb_jhash(rb, NFT_REG_2, len, cfg->table_size, cfg->hash_seed, NFT_REG_1);
}

/*
 * [meta nfproto F] meta l4proto P ct mark set MARK
 * dnat ip[6] to <selector> map @NAME_slots[6]
 */
/*
 * ct_events = lean: the flow's event mask, set before it is confirmed, so
 * the kernel builds for it only what knlbd (and conntrackd's TCP sync)
 * reads: NEW, DESTROY and, for TCP, state changes (the closing updates);
 * not REPLY, ASSURED, MARK, ... (`ct event set new,destroy[,protoinfo]`).
 * An UPDATE is built only while a socket subscribes to it (knlbd only
 * when ct_closing needs it): the mask is what is left when one does.
 */
static uint32_t lean_event_mask(const struct knlb_service *svc)
{
	uint32_t m = (1U << IPCT_NEW) | (1U << IPCT_DESTROY);

	return svc->cfg->proto == KNLB_PROTO_TCP ? m | (1U << IPCT_PROTOINFO) : m;
}

void ruleset_put_service_head(struct rule_builder *rb,
			      const struct knlb_service *svc)
{
	uint32_t mask = svc->ct_mark_mask;

	rb_meta(rb, NFT_META_L4PROTO, NFT_REG_1);
	rb_cmp_eq_u8(rb, NFT_REG_1, (uint8_t)svc->cfg->proto);
	if (mask == UINT32_MAX) {
		rb_immediate(rb, NFT_REG_1, &svc->ct_mark, sizeof(svc->ct_mark));
	} else {	/* ct mark set ct mark & ~mask | mark: other bits kept */
		rb_ct_load_mark(rb);
		rb_bitwise(rb, ~mask, svc->ct_mark);
	}
	rb_ct_set(rb, NFT_CT_MARK, NFT_REG_1);
	if (svc->ct_events == KNLB_CT_EVENTS_LEAN ||
	    svc->cfg->track != KNLB_TRACK_EVENTS) {
		/* track = off or periodic: no event at all for its flows */
		uint32_t events = svc->cfg->track != KNLB_TRACK_EVENTS ? 0 :
				  lean_event_mask(svc);

		rb_immediate(rb, NFT_REG_1, &events, sizeof(events));
		rb_ct_set(rb, NFT_CT_EVENTMASK, NFT_REG_1);
	}
}

int ruleset_add_dnat_rule(struct nfnl_batch *batch, const char *table,
			  const char *chain, const struct knlb_service *svc,
			  enum knlb_family f, const char *map, uint32_t set_id)
{
	char what[3 * RULESET_NAME_MAX];
	bool nfproto = rule_needs_nfproto(svc, f);
	struct rule_builder rb;

	rb.rule = rb_rule_new(table, chain);
	rb.failed = false;
	if (!rb.rule)
		return -ENOMEM;
	if (nfproto)
		rb_require_nfproto(&rb, ruleset_shapes[f].nfproto);
	ruleset_put_service_head(&rb, svc);
	put_slot_selector(&rb, svc->cfg, f, nfproto);
	rb_lookup(&rb, map, set_id, NFT_REG_1, NFT_REG_1);
	rb_nat(&rb, NFT_NAT_DNAT, ruleset_shapes[f].nfproto, NFT_REG_1,
	       rb_reg32(addr_words(f)));
	snprintf(what, sizeof(what), "service %s: chain %s, map %s",
		 svc->cfg->name, chain, map);
	return rb_add_rule(batch, &rb, what);
}

static int add_service_rule(struct nfnl_batch *batch, const char *table,
			    const struct knlb_service *svc, enum knlb_family f,
			    uint32_t set_id)
{
	char chain[RULESET_NAME_MAX], slots[RULESET_NAME_MAX];

	return ruleset_add_dnat_rule(batch, table,
				     ruleset_chain_name(svc, chain, sizeof(chain)),
				     svc, f, ruleset_slots_name(svc, f, slots, sizeof(slots)),
				     set_id);
}

/*
 * ct mark MARK masquerade (both families at once), or per family
 * [meta nfproto F] ct mark MARK snat ip[6] to ADDR
 */
static int add_snat_rule(struct nfnl_batch *batch, const char *table,
			 const struct knlb_service *svc, enum knlb_family f)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, RULESET_POSTROUTING) };
	const struct knlb_addr *addr = &svc->cfg->snat_addr[f];
	char what[RULESET_NAME_MAX + 32];

	if (!rb.rule)
		return -ENOMEM;
	if (svc->cfg->snat == KNLB_SNAT_ADDRESS && rule_needs_nfproto(svc, f))
		rb_require_nfproto(&rb, ruleset_shapes[f].nfproto);
	rb_ct_load_mark(&rb);
	if (svc->ct_mark_mask != UINT32_MAX)
		rb_bitwise(&rb, svc->ct_mark_mask, 0);
	rb_cmp_eq_u32(&rb, NFT_REG_1, svc->ct_mark);
	if (svc->cfg->snat == KNLB_SNAT_MASQUERADE) {
		rb_masq(&rb);
	} else {
		rb_immediate(&rb, NFT_REG_1,
			     f == KNLB_FAMILY_IPV6 ? (const void *)&addr->in6
						   : (const void *)&addr->in,
			     ruleset_shapes[f].addr_len);
		rb_nat(&rb, NFT_NAT_SNAT, ruleset_shapes[f].nfproto, NFT_REG_1, 0);
	}
	snprintf(what, sizeof(what), "service %s: snat rule", svc->cfg->name);
	return rb_add_rule(batch, &rb, what);
}

/* ---- elements, built with libmnl directly: no allocation per element --- */


/* An address's bytes, as the kernel's registers hold it. */
static const void *addr_bytes(const struct knlb_addr *a)
{
	return a->family == AF_INET6 ? (const void *)&a->in6 : (const void *)&a->in;
}

/* ADDR . PORT of a backend, a slot map's value: slot_data_len() bytes. */
static void slot_value(const struct knlb_service *svc, enum knlb_family f,
		       uint32_t backend, uint8_t out[SLOT_DATA_MAX])
{
	const struct knlb_backend_config *b = svc->backends[backend].cfg;
	uint16_t port = htons(b->port);

	memset(out, 0, SLOT_DATA_MAX);
	memcpy(out, addr_bytes(&b->addr), ruleset_shapes[f].addr_len);
	memcpy(out + ruleset_shapes[f].addr_len, &port, 2);
}

/*
 * Append one message per ELEMS_PER_MSG slots to set (a slot map, or a
 * fallback map) of family f: with values, adds of slots[i] : backend
 * values[i]; without, deletes (keys only).
 */
int ruleset_add_map_elements(struct nfnl_batch *batch, const char *table,
			     const struct knlb_service *svc, const char *set,
			     enum knlb_family f, const uint32_t *slots,
			     const uint32_t *values, size_t n)
{
	char what[2 * RULESET_NAME_MAX + 48];
	struct nlattr *list = NULL;
	struct nlmsghdr *nlh = NULL;
	uint16_t type = values ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM;

	for (size_t i = 0; i < n; i++) {

		if (i % ELEMS_PER_MSG == 0) {
			if (nlh)
				mnl_attr_nest_end(nlh, list);
			snprintf(what, sizeof(what),
				 "service %s: map %s: %s slots %u..",
				 svc->cfg->name, set,
				 values ? "adding" : "deleting", slots[i]);
			nlh = rb_elem_msg(batch, type, table, set, what, &list);
			if (!nlh)
				return -ENOMEM;
		}
		if (values) {
			uint8_t value[SLOT_DATA_MAX];

			slot_value(svc, f, values[i], value);
			rb_put_map_elem(nlh, slots[i], value, slot_data_len(f));
		} else {
			rb_put_map_elem(nlh, slots[i], NULL, 0);
		}
	}
	if (nlh)
		mnl_attr_nest_end(nlh, list);
	return 0;
}

/* VIP . proto . port, as the dispatch map and on_empty sets key it. */
void ruleset_service_key(const struct knlb_service *svc, enum knlb_family f,
			 uint8_t key[SERVICE_KEY_MAX])
{
	uint16_t port = htons(svc->cfg->port);
	uint32_t a = ruleset_shapes[f].addr_len;

	memset(key, 0, SERVICE_KEY_MAX);
	memcpy(key, addr_bytes(&svc->cfg->vip[f]), a);
	key[a] = (uint8_t)svc->cfg->proto;
	memcpy(key + a + 4, &port, 2);
}

/*
 * The dispatch element of svc's VIP of family f: VIP . proto . port : jump
 * svc_NAME, added (type NFT_MSG_NEWSETELEM) or deleted (the key alone).
 */
int ruleset_add_dispatch_element(struct nfnl_batch *batch, const char *table,
				 const struct knlb_service *svc,
				 enum knlb_family f, uint16_t type)
{
	char chain[RULESET_NAME_MAX], what[3 * RULESET_NAME_MAX];
	char map[RULESET_NAME_MAX];
	uint8_t key[SERVICE_KEY_MAX];
	struct nlattr *list, *elem, *data, *verdict;
	struct nlmsghdr *nlh;

	ruleset_chain_name(svc, chain, sizeof(chain));
	ruleset_family_object(RULESET_DISPATCH_MAP, f, map, sizeof(map));
	snprintf(what, sizeof(what), "service %s: map %s element",
		 svc->cfg->name, map);
	ruleset_service_key(svc, f, key);

	nlh = rb_elem_msg(batch, type, table, map, what, &list);
	if (!nlh)
		return -ENOMEM;
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	rb_put_data_value(nlh, NFTA_SET_ELEM_KEY, key, service_key_len(f));
	if (type == NFT_MSG_NEWSETELEM) {
		data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_JUMP));
		mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, chain);
		mnl_attr_nest_end(nlh, verdict);
		mnl_attr_nest_end(nlh, data);
	}
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return 0;
}

int ruleset_add_table_elements(struct nfnl_batch *batch, const char *table,
			       const struct knlb_service *svc, const char *set,
			       enum knlb_family f, const uint32_t *slots,
			       const uint32_t *base)
{
	uint32_t m = svc->cfg->table_size;
	uint32_t *keys = malloc(m * sizeof(*keys));
	uint32_t *values = malloc(m * sizeof(*values));
	size_t n = 0;
	int ret;

	if (!keys || !values) {
		free(keys);
		free(values);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m; i++) {
		if (slots[i] == SCHED_SLOT_EMPTY || (base && slots[i] == base[i]))
			continue;
		keys[n] = i;
		values[n++] = slots[i];
	}
	ret = ruleset_add_map_elements(batch, table, svc, set, f, keys, values, n);
	free(keys);
	free(values);
	return ret;
}

/* Every non-empty slot of table (one family's m slots) into svc's slot map. */
static int add_all_slots(struct nfnl_batch *batch, const char *table,
			 const struct knlb_service *svc, enum knlb_family f,
			 const uint32_t *slots)
{
	char set[RULESET_NAME_MAX];

	return ruleset_add_table_elements(batch, table, svc,
					  ruleset_slots_name(svc, f, set, sizeof(set)),
					  f, slots, NULL);
}

int ruleset_add_slot_shaped_map(struct nfnl_batch *batch, const char *table,
				const struct knlb_service *svc, enum knlb_family f,
				const char *name, uint32_t set_id, uint32_t size)
{
	struct rb_set_spec spec = {
		.name = name,
		.id = set_id,
		.flags = NFT_SET_MAP,
		.key_type = NFT_TYPE_INTEGER,
		.key_len = sizeof(uint32_t),
		.data_type = rb_concat_type(ruleset_shapes[f].addr_type,
					    NFT_TYPE_INET_SERVICE, 0),
		.data_len = slot_data_len(f),
		.size = size,
		.udata = slots_udata(svc, f),
	};
	int ret;

	if (!spec.udata)
		return -ENOMEM;
	ret = rb_add_set(batch, table, &spec);
	nftnl_udata_buf_free(spec.udata);
	return ret;
}

/*
 * One family's slot map of svc, filled with slots (the family's m
 * entries: its effective table, or its base in the fallback shape).
 */
static int add_slot_map(struct nfnl_batch *batch, const char *table,
			const struct knlb_service *svc,
			const struct knlb_service_family *fam, uint32_t set_id)
{
	char slots[RULESET_NAME_MAX];

	/* sized: the kernel's fixed hash, no rehash while 1e5 slots go in */
	return ruleset_add_slot_shaped_map(batch, table, svc, fam->family,
					   ruleset_slots_name(svc, fam->family, slots,
							      sizeof(slots)),
					   set_id, svc->cfg->table_size);
}

/*
 * svc (pool->services[i]): its slot maps (set ids set_id, set_id + 1),
 * in the fallback shape (fb not NULL) its fallback maps and chain
 * fb_NAME, its persistence maps when it persists, its chain and its
 * rules (each family's persistence rule, then the jump to fb_NAME, then
 * its slot rule), and last the maps' elements.
 *
 * Elements after the rules: a rule that reads a map binds it, and binding
 * walks every element already in the map (nf_tables_bind_set()); 5 % of
 * programming 20 x 100003 slots went to that walk.  Bound first, the map
 * is empty and each element is checked once, as it is added.
 */
static int add_service_objects(struct nfnl_batch *batch, const char *table,
			       const struct knlb_model *pool, size_t i,
			       uint32_t set_id, const struct fallback_state *fb,
			       size_t lead)
{
	const struct knlb_service *svc = &pool->services[i];
	const struct knlb_service *lsvc = lead != SLOT_SHARE_NONE ?
					  &pool->services[lead] : NULL;
	bool persist = persist_enabled(svc);
	uint32_t m = svc->cfg->table_size;
	char chain[RULESET_NAME_MAX];
	int ret = 0;

	if (lsvc)
		ret = share_add_maps(batch, table, svc, i, lead, set_id);
	for (size_t k = 0; ret == 0 && !lsvc && k < svc->n_families; k++)
		ret = add_slot_map(batch, table, svc, &svc->families[k],
				   set_id + (uint32_t)k);
	if (ret == 0 && fb)
		ret = fallback_add_maps(batch, table, svc, i);
	for (size_t k = 0; ret == 0 && persist && k < svc->n_families; k++)
		ret = persist_add_map(batch, table, svc, svc->families[k].family,
				      persist_set_id(i, k));
	if (ret == 0 && fb)
		ret = fallback_add_chain(batch, table, svc, i, fb);
	if (ret == 0)
		ret = rb_add_chain(batch, table,
				ruleset_chain_name(svc, chain, sizeof(chain)),
				NULL, -1, 0);
	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;

		if (persist)
			ret = persist_add_service_rule(batch, table, svc, f,
						       persist_set_id(i, k));
		if (ret == 0 && fb)
			ret = fallback_add_jump(batch, table, svc, f);
		if (ret == 0 && lsvc)
			ret = share_add_rules(batch, table, svc, k, set_id,
					      lsvc, lead);
		else if (ret == 0)
			ret = add_service_rule(batch, table, svc, f,
					       set_id + (uint32_t)k);
	}
	if (ret == 0 && lsvc)
		ret = share_add_elements(batch, table, svc,
					 fb ? fb->base : svc->slots,
					 lsvc->base_slots);
	for (size_t k = 0; ret == 0 && !lsvc && k < svc->n_families; k++)
		ret = add_all_slots(batch, table, svc, svc->families[k].family,
				    (fb ? fb->base : svc->slots) + k * m);
	if (ret == 0 && fb)
		ret = fallback_add_map_elements(batch, table, svc, fb);
	return ret;
}

/* The dispatch map of family f: VIP . proto . port : jump svc_NAME. */
static int add_dispatch_map(struct nfnl_batch *batch,
			    const struct knlb_model *pool, enum knlb_family f)
{
	const char *table = pool->config->global.table;
	char name[RULESET_NAME_MAX];
	struct rb_set_spec dispatch = {
		.name = ruleset_family_object(RULESET_DISPATCH_MAP, f, name, sizeof(name)),
		.id = family_set_id(SET_ID_DISPATCH, f),
		.flags = NFT_SET_MAP,
		.key_type = rb_concat_type(ruleset_shapes[f].addr_type,
					   NFT_TYPE_INET_PROTOCOL,
					   NFT_TYPE_INET_SERVICE),
		.key_len = service_key_len(f),
		.data_type = NFT_DATA_VERDICT,
	};
	int ret;

	dispatch.udata = dispatch_udata();
	if (!dispatch.udata)
		return -ENOMEM;
	ret = rb_add_set(batch, table, &dispatch);
	nftnl_udata_buf_free(dispatch.udata);
	return ret;
}

/* prerouting or output: a nat hook with the dispatch rule of each family. */
static int add_dispatch_chain(struct nfnl_batch *batch, const char *table,
			      const char *chain, int hook, bool v6)
{
	int ret = rb_add_chain(batch, table, chain, "nat", hook, NF_IP_PRI_NAT_DST);

	if (ret == 0)
		ret = add_dispatch_rule(batch, table, chain, KNLB_FAMILY_IPV4);
	if (ret == 0 && v6)
		ret = add_dispatch_rule(batch, table, chain, KNLB_FAMILY_IPV6);
	return ret;
}

int ruleset_add_replace(struct nfnl_batch *batch, const struct knlb_model *pool,
			const struct fallback_state *fb, const size_t *leader,
			const struct table_objects *in_place)
{
	const char *table = pool->config->global.table;
	bool v6 = pool_serves_family(pool, KNLB_FAMILY_IPV6);
	uint32_t set_id = SET_ID_SLOTS_BASE;
	int ret;

	if (in_place) {
		nfnl_batch_keep_existing(batch);
		ret = rb_add_table(batch, table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		if (ret == 0)
			ret = replace_in_place_flush(batch, table, in_place);
	} else {
		ret = rb_del_table_if_any(batch, table);
		if (ret == 0)
			ret = rb_add_table(batch, table, NFT_MSG_NEWTABLE,
					NLM_F_CREATE | NLM_F_EXCL);
	}
	if (ret < 0)
		return ret;

	ret = add_dispatch_map(batch, pool, KNLB_FAMILY_IPV4);
	if (ret == 0 && v6)
		ret = add_dispatch_map(batch, pool, KNLB_FAMILY_IPV6);

	for (size_t i = 0; ret == 0 && i < pool->n_services; i++) {
		ret = add_service_objects(batch, table, pool, i, set_id,
					  fb && fb[i].base ? &fb[i] : NULL,
					  leader ? leader[i] : SLOT_SHARE_NONE);
		set_id += KNLB_FAMILIES;
	}
	/* after every rule that reads them, as for a service's own maps */
	for (size_t i = 0; ret == 0 && leader && i < pool->n_services; i++)
		if (leader[i] == i)
			ret = share_add_elements(batch, table,
						 &pool->services[i], NULL, NULL);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		unsigned empty = pool_empty_families(svc);

		for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
			enum knlb_family f = svc->families[k].family;

			/* a shared base would map it: no dispatch (slot_share.c) */
			if (leader && leader[i] != SLOT_SHARE_NONE &&
			    (empty & (1u << f)))
				continue;
			ret = ruleset_add_dispatch_element(batch, table, svc, f,
							   NFT_MSG_NEWSETELEM);
		}
	}

	if (ret == 0)
		ret = add_dispatch_chain(batch, table, RULESET_PREROUTING,
					 NF_INET_PRE_ROUTING, v6);
	/* Clients on the gateway itself reach the VIP through this hook. */
	if (ret == 0)
		ret = add_dispatch_chain(batch, table, RULESET_OUTPUT,
					 NF_INET_LOCAL_OUT, v6);
	if (ret == 0)
		ret = rb_add_chain(batch, table, RULESET_POSTROUTING, "nat",
				NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];

		if (svc->cfg->snat == KNLB_SNAT_MASQUERADE)
			ret = add_snat_rule(batch, table, svc, KNLB_FAMILY_IPV4);
		for (size_t k = 0; ret == 0 && k < svc->n_families &&
				   svc->cfg->snat == KNLB_SNAT_ADDRESS; k++)
			ret = add_snat_rule(batch, table, svc,
					    svc->families[k].family);
	}
	/* persist before on_empty's chains: their jumps to it come after. */
	if (ret == 0)
		ret = persist_add_learn_chain(batch, pool);
	if (ret == 0)
		ret = ruleset_add_on_empty_objects(batch, pool);
	if (ret == 0)
		ret = persist_add_learn_jumps(batch, pool);
	if (ret == 0)
		ret = stats_add_objects(batch, table, pool->config->global.ct_mark_mask,
					 v6, pool->config->global.traffic_counters ==
					 KNLB_TRAFFIC_RULES);
	/* last: what the new ruleset no longer has */
	if (ret == 0 && in_place)
		ret = replace_in_place_drop_rest(batch, table, in_place);
	return ret;
}

int ruleset_add_slot_changes(struct nfnl_batch *batch,
			     const struct knlb_model *pool,
			     const struct knlb_service *svc,
			     const struct slot_diff *diff,
			     const uint32_t *shared_base, size_t *elements)
{
	const char *table = pool->config->global.table;
	uint32_t m = svc->cfg->table_size;
	uint32_t *keys, *values;
	size_t written = 0;
	int ret = 0;

	if (diff->n_changes == 0)
		goto out_count;
	keys = malloc(diff->n_changes * sizeof(*keys));
	values = malloc(diff->n_changes * sizeof(*values));
	if (!keys || !values) {
		ret = -ENOMEM;
		goto out_free;
	}
	/*
	 * diff indexes svc->slots, one table of m slots per family: slot s
	 * is key s % m in the map of family k = s / m.  Per family, deletes
	 * first: a changed slot is delete + add of the same key.  Sharing a
	 * base map, a slot has an element in the service's override map
	 * only while its backend is not the base's (slot_share.c).
	 */
	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		enum knlb_family f = svc->families[k].family;
		uint32_t lo = (uint32_t)k * m, hi = lo + m;
		char set[RULESET_NAME_MAX];
		size_t n = 0;

		if (shared_base)
			ruleset_share_ovr_name(svc, f, set, sizeof(set));
		else
			ruleset_slots_name(svc, f, set, sizeof(set));
		for (size_t i = 0; i < diff->n_changes; i++) {
			const struct slot_change *c = &diff->changes[i];

			if (c->slot >= lo && c->slot < hi &&
			    c->from != SCHED_SLOT_EMPTY &&
			    !(shared_base && c->from == shared_base[c->slot]))
				keys[n++] = c->slot - lo;
		}
		written += n;
		ret = ruleset_add_map_elements(batch, table, svc, set, f, keys,
					       NULL, n);
		if (ret < 0)
			break;
		n = 0;
		for (size_t i = 0; i < diff->n_changes; i++) {
			const struct slot_change *c = &diff->changes[i];

			if (c->slot < lo || c->slot >= hi || c->to == SCHED_SLOT_EMPTY ||
			    (shared_base && c->to == shared_base[c->slot]))
				continue;
			keys[n] = c->slot - lo;
			values[n++] = c->to;
		}
		written += n;
		ret = ruleset_add_map_elements(batch, table, svc, set, f, keys,
					       values, n);
	}
out_free:
	free(keys);
	free(values);
out_count:
	if (elements)
		*elements = written;
	return ret;
}

int ruleset_add_delete_table(struct nfnl_batch *batch, const char *table)
{
	return rb_add_table(batch, table, NFT_MSG_DELTABLE, 0);
}
