/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Source-IP persistence in the kernel (persistence = DURATION): the
 * objects a persistent service adds to knlb's table.  Bytecode as nft
 * 1.0.6 emits it for (checked with `nft -d netlink`):
 *
 *   map NAME_persist[6] { typeof ip[6] saddr : ip[6] daddr . tcp dport
 *                         size 262144; flags dynamic,timeout; timeout T }
 *   svc_NAME, before each family's slot rule:
 *     [meta nfproto F] meta l4proto P ct mark set MARK [ct event set ...]
 *     dnat ip[6] to ip[6] saddr map @NAME_persist[6]
 *   chain persist, jumped to by filter_prerouting/filter_output for new flows:
 *     ct mark MARK update @NAME_persist[6] { ip[6] saddr : ip[6] daddr . P dport }
 *
 * The first rule DNATs a known client to its backend (a NAT statement
 * ends the chain) and falls through to the slot rule when the client is
 * unknown.  The map is filled after DNAT (the filter hooks at dstnat + 10
 * see the translated destination): the learned value is the address the
 * flow really went to, whatever picked it, and each new flow of the
 * client restarts its timeout.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/udata.h>

#include "knlb/config/config-t.h"
#include "knlb/nft/persist.h"
#include "knlb/nft/ruleset.h"
#include "knlb/pool/pool.h"
#include "rule_build-int.h"
#include "ruleset-int.h"

enum { NFT_IPHDR_SADDR = 11, NFT_IP6HDR_SADDR = 8, NFT_BYTEORDER_BIG = 2 };

/* What differs between the families here (ruleset.c's shapes, the part used). */
static const struct persist_shape {
	uint8_t nfproto;
	uint32_t addr_len, saddr_off, daddr_off, addr_type;
	uint32_t proto_desc, saddr_field, daddr_field;
} shapes[KNLB_FAMILIES] = {
	[KNLB_FAMILY_IPV4] = { NFPROTO_IPV4, 4, 12, 16, NFT_TYPE_IPADDR,
			       NFT_PROTO_DESC_IP, NFT_IPHDR_SADDR, NFT_IPHDR_DADDR },
	[KNLB_FAMILY_IPV6] = { NFPROTO_IPV6, 16, 8, 24, NFT_TYPE_IP6ADDR,
			       NFT_PROTO_DESC_IP6, NFT_IP6HDR_SADDR, NFT_IP6HDR_DADDR },
};

const char *persist_map_name(const struct knlb_service *svc, enum knlb_family f,
			     char *buf, size_t len)
{
	snprintf(buf, len, "%s_persist%s", svc->cfg->name,
		 ruleset_family_suffix(f));
	return buf;
}

bool persist_enabled(const struct knlb_service *svc)
{
	return svc->cfg->persistence_ns != 0;
}

bool persist_any(const struct knlb_model *pool)
{
	for (size_t i = 0; i < pool->n_services; i++)
		if (persist_enabled(&pool->services[i]))
			return true;
	return false;
}

uint32_t persist_data_len(enum knlb_family f)
{
	return shapes[f].addr_len + 4;
}

uint32_t persist_key_len(enum knlb_family f)
{
	return shapes[f].addr_len;
}

/* `typeof ip[6] saddr : ip[6] daddr . tcp|udp dport`, as nft writes it. */
static struct nftnl_udata_buf *persist_udata(const struct knlb_service *svc,
					     enum knlb_family f)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(128);
	uint32_t l4 = svc->cfg->proto == KNLB_PROTO_TCP ?
		NFT_PROTO_DESC_TCP : NFT_PROTO_DESC_UDP;

	if (!ud)
		return NULL;
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_BIG);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 0);
	rb_udata_payload(ud, NFTNL_UDATA_SET_KEY_TYPEOF, shapes[f].proto_desc,
			 shapes[f].saddr_field);
	rb_udata_concat2(ud, NFTNL_UDATA_SET_DATA_TYPEOF, shapes[f].proto_desc,
			 shapes[f].daddr_field, l4, NFT_THDR_DPORT);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
	return ud;
}

int persist_add_map(struct nfnl_batch *batch, const char *table,
		    const struct knlb_service *svc, enum knlb_family f,
		    uint32_t set_id)
{
	char name[RULESET_NAME_MAX];
	struct rb_set_spec spec = {
		.name = persist_map_name(svc, f, name, sizeof(name)),
		.id = set_id,
		.flags = NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL,
		.key_type = shapes[f].addr_type,
		.key_len = shapes[f].addr_len,
		.data_type = rb_concat_type(shapes[f].addr_type,
					    NFT_TYPE_INET_SERVICE, 0),
		.data_len = persist_data_len(f),
		.udata = persist_udata(svc, f),
		.timeout_ms = svc->cfg->persistence_ns / 1000000,
		.size = PERSIST_MAP_SIZE,
	};
	int ret;

	if (!spec.udata)
		return -ENOMEM;
	ret = rb_add_set(batch, table, &spec);
	nftnl_udata_buf_free(spec.udata);
	return ret;
}

int persist_add_service_rule(struct nfnl_batch *batch, const char *table,
			     const struct knlb_service *svc, enum knlb_family f,
			     uint32_t set_id)
{
	char chain[RULESET_NAME_MAX], map[RULESET_NAME_MAX];
	char what[2 * RULESET_NAME_MAX + 16];
	/* as ruleset.c's rule_needs_nfproto() */
	bool nfproto = svc->n_families > 1 || f == KNLB_FAMILY_IPV6;
	struct rule_builder rb;

	ruleset_chain_name(svc, chain, sizeof(chain));
	persist_map_name(svc, f, map, sizeof(map));
	rb.rule = rb_rule_new(table, chain);
	rb.failed = false;
	if (!rb.rule)
		return -ENOMEM;
	if (nfproto)
		rb_require_nfproto(&rb, shapes[f].nfproto);
	ruleset_put_service_head(&rb, svc);
	if (!nfproto)	/* nft puts the payload's dependency here */
		rb_require_nfproto(&rb, shapes[f].nfproto);
	rb_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER, shapes[f].saddr_off,
		   shapes[f].addr_len, NFT_REG_1);
	rb_lookup(&rb, map, set_id, NFT_REG_1, NFT_REG_1);
	rb_nat(&rb, NFT_NAT_DNAT, shapes[f].nfproto, NFT_REG_1,
	       rb_reg32(shapes[f].addr_len / 4));
	snprintf(what, sizeof(what), "service %s: persistence rule", svc->cfg->name);
	return rb_add_rule(batch, &rb, what);
}

/* ct mark MARK update @NAME_persist[6] { ip[6] saddr : ip[6] daddr . P dport } */
static int add_learn_rule(struct nfnl_batch *batch, const char *table,
			  const struct knlb_service *svc, enum knlb_family f,
			  uint32_t set_id)
{
	struct rule_builder rb = { .rule = rb_rule_new(table, PERSIST_CHAIN) };
	char map[RULESET_NAME_MAX], what[RULESET_NAME_MAX + 32];
	uint32_t w = shapes[f].addr_len / 4;

	if (!rb.rule)
		return -ENOMEM;
	rb_ct_load_mark(&rb);
	if (svc->ct_mark_mask != UINT32_MAX)
		rb_bitwise(&rb, svc->ct_mark_mask, 0);
	rb_cmp_eq_u32(&rb, NFT_REG_1, svc->ct_mark);
	rb_require_nfproto(&rb, shapes[f].nfproto);
	rb_meta(&rb, NFT_META_L4PROTO, NFT_REG_1);
	rb_cmp_eq_u8(&rb, NFT_REG_1, (uint8_t)svc->cfg->proto);
	rb_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER, shapes[f].saddr_off,
		   shapes[f].addr_len, NFT_REG_1);
	rb_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER, shapes[f].daddr_off,
		   shapes[f].addr_len, NFT_REG_2);
	rb_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, rb_reg32(4 + w));
	rb_dynset_update(&rb, persist_map_name(svc, f, map, sizeof(map)), set_id,
			 NFT_REG_1, NFT_REG_2);
	snprintf(what, sizeof(what), "service %s: learning rule", svc->cfg->name);
	return rb_add_rule(batch, &rb, what);
}

int persist_add_learn_chain(struct nfnl_batch *batch,
			    const struct knlb_model *pool)
{
	const char *table = pool->config->global.table;
	int ret;

	if (!persist_any(pool))
		return 0;
	ret = rb_add_chain(batch, table, PERSIST_CHAIN, NULL, -1, 0);
	for (size_t i = 0; ret == 0 && i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];

		for (size_t k = 0; ret == 0 && persist_enabled(svc) &&
				   k < svc->n_families; k++)
			ret = add_learn_rule(batch, table, svc,
					     svc->families[k].family,
					     persist_set_id(i, k));
	}
	return ret;
}

int persist_add_learn_jumps(struct nfnl_batch *batch,
			    const struct knlb_model *pool)
{
	const char *table = pool->config->global.table;
	int ret;

	if (!persist_any(pool))
		return 0;
	ret = ruleset_add_new_flow_jump(batch, table, RULESET_FILTER_PREROUTING,
					PERSIST_CHAIN);
	if (ret == 0)
		ret = ruleset_add_new_flow_jump(batch, table, RULESET_FILTER_OUTPUT,
						PERSIST_CHAIN);
	return ret;
}
