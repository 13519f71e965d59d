/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The elements of the persistence maps: the kernel writes them, knlbd
 * reads them (one GETSETELEM dump per map, parsed with libmnl), purges the
 * ones whose backend left the slot table, and carries them over a table
 * replace.  See include/knlb/nft/persist.h.
 *
 * Purges use DESTROYSETELEM (Linux 6.3): an element that expires between
 * the dump and the commit is no error, where a DELSETELEM of an absent key
 * would abort the whole transaction, slot changes included.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>

#include "knlb/config/config-t.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "knlb/nft/persist.h"
#include "knlb/nft/ruleset.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "elem_dump-int.h"
#include "rule_build-int.h"

#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30	/* Linux 6.3; Debian 12's headers predate it */
#endif

#define DUMP_BUF (64 * 1024)
#define DUMP_TIMEOUT_MS 2000
/* Elements per message: <= ~80 bytes each, well under NFNL_MSG_MAX. */
#define ELEMS_PER_MSG 512

/* ---- reading ---------------------------------------------------------- */

/* The NFTA_DATA_VALUE inside nest a, when it is len bytes long. */
static const void *data_value(const struct nlattr *a, uint32_t len)
{
	const struct nlattr *v;

	mnl_attr_for_each_nested(v, a)
		if (mnl_attr_get_type(v) == NFTA_DATA_VALUE &&
		    mnl_attr_get_payload_len(v) == len)
			return mnl_attr_get_payload(v);
	return NULL;
}

struct read_ctx {
	struct persist_table *t;
	enum knlb_family family;
	int err;
};

static int parse_elem(const struct nlattr *elem, struct read_ctx *ctx)
{
	enum knlb_family f = ctx->family;
	const uint8_t *key = NULL, *data = NULL;
	uint64_t expires = 0;
	const struct nlattr *a;
	struct persist_entry *e;
	uint32_t alen = persist_key_len(f);
	uint16_t port;

	mnl_attr_for_each_nested(a, elem) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_KEY:
			key = data_value(a, alen);
			break;
		case NFTA_SET_ELEM_DATA:
			data = data_value(a, persist_data_len(f));
			break;
		case NFTA_SET_ELEM_EXPIRATION:
			if (mnl_attr_get_payload_len(a) == sizeof(uint64_t))
				expires = be64toh(mnl_attr_get_u64(a));
			break;
		}
	}
	if (!key || !data)
		return -EPROTO;
	if (grow(&ctx->t->e, &ctx->t->cap, ctx->t->n + 1, sizeof(*ctx->t->e), 64) < 0)
		return -ENOMEM;
	e = &ctx->t->e[ctx->t->n++];
	*e = (struct persist_entry){ .family = f, .expires_ms = expires };
	e->client.family = e->backend.family = f == KNLB_FAMILY_IPV6 ? AF_INET6 : AF_INET;
	memcpy(f == KNLB_FAMILY_IPV6 ? (void *)&e->client.in6 : (void *)&e->client.in,
	       key, alen);
	memcpy(f == KNLB_FAMILY_IPV6 ? (void *)&e->backend.in6 : (void *)&e->backend.in,
	       data, alen);
	memcpy(&port, data + alen, 2);
	e->port = ntohs(port);
	return 0;
}

static int read_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct read_ctx *ctx = arg;
	const struct nlattr *a, *elem;

	if (ctx->err || NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWSETELEM)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, a)
			if (ctx->err == 0 && mnl_attr_get_type(elem) == NFTA_LIST_ELEM)
				ctx->err = parse_elem(elem, ctx);
	}
	return MNL_CB_OK;
}

static int dump_map(struct mnl_socket *nl, char *buf, const char *table,
		    const char *map, struct read_ctx *ctx, uint32_t seq)
{
	int ret = elem_dump(nl, buf, DUMP_BUF, table, map, seq, read_cb, ctx);

	return ctx->err ? ctx->err : ret;	/* the callback knows best */
}

int persist_read(const char *table, const struct knlb_service *svc,
		 struct persist_table *out, char *err, size_t errlen)
{
	char *buf = calloc(1, DUMP_BUF);
	char map[RULESET_NAME_MAX] = "";
	struct mnl_socket *nl = NULL;
	int ret = 0;

	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	nl = elem_dump_open(DUMP_TIMEOUT_MS);
	if (!nl) {
		ret = -errno;
		goto out;
	}
	for (size_t k = 0; ret == 0 && k < svc->n_families; k++) {
		struct read_ctx ctx = { .t = out, .family = svc->families[k].family };

		persist_map_name(svc, ctx.family, map, sizeof(map));
		ret = dump_map(nl, buf, table, map, &ctx, (uint32_t)k + 1);
		if (ret == -ENOENT)	/* no such table or map (yet): nothing kept */
			ret = 0;
	}
out:
	if (ret < 0)
		snprintf(err, errlen, "reading map %s of table inet %s: %s", map,
			 table, ret == -ETIMEDOUT ? "no answer within the timeout"
						  : strerror(-ret));
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return ret;
}

void persist_table_free(struct persist_table *t)
{
	free(t->e);
	*t = (struct persist_table){ 0 };
}

/* ---- what to keep ----------------------------------------------------- */

long persist_entry_backend(const struct knlb_service *svc,
			   const struct persist_entry *e)
{
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend_config *c = svc->backends[b].cfg;

		if (c->port == e->port && addr_equal(&c->addr, &e->backend))
			return (long)b;
	}
	return -1;
}

/*
 * live[b]: backend b has a slot in svc's tables, or has none only because
 * maxconn holds it full (its clients keep it: a full backend is no gone one).
 */
static bool *live_backends(const struct knlb_service *svc)
{
	bool *live = calloc(svc->n_backends ? svc->n_backends : 1, sizeof(*live));

	for (size_t s = 0; live && s < pool_slots_len(svc); s++)
		if (svc->slots[s] < svc->n_backends)
			live[svc->slots[s]] = true;
	for (size_t b = 0; live && b < svc->n_backends; b++)
		if (svc->backends[b].full && pool_backend_serving(&svc->backends[b]))
			live[b] = true;
	return live;
}

/* ---- writing ---------------------------------------------------------- */

/*
 * One DESTROYSETELEM (keep false) or NEWSETELEM with its remaining time
 * (keep true) per entry whose backend is (not) live, keys only for the
 * former.  Counts what it added into *n.
 */
static int add_entries(struct nfnl_batch *batch, const char *table,
		       const struct knlb_service *svc,
		       const struct persist_table *t, bool keep, size_t *n)
{
	uint64_t timeout_ms = svc->cfg->persistence_ns / 1000000;
	bool *live = live_backends(svc);
	struct nlmsghdr *nlh = NULL;
	struct nlattr *list = NULL;
	enum knlb_family cur = KNLB_FAMILIES;
	size_t in_msg = 0;

	*n = 0;
	if (!live)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const struct persist_entry *e = &t->e[i];
		long b = persist_entry_backend(svc, e);
		uint32_t alen = persist_key_len(e->family);
		struct nlattr *elem;

		if ((b >= 0 && live[b]) != keep)
			continue;
		if (!nlh || e->family != cur || in_msg == ELEMS_PER_MSG) {
			char map[RULESET_NAME_MAX], what[2 * RULESET_NAME_MAX + 48];

			if (nlh)
				mnl_attr_nest_end(nlh, list);
			cur = e->family;
			in_msg = 0;
			persist_map_name(svc, cur, map, sizeof(map));
			snprintf(what, sizeof(what), "service %s: map %s: %s",
				 svc->cfg->name, map, keep ? "carrying entries over"
							   : "purging entries");
			nlh = rb_elem_msg(batch, keep ? NFT_MSG_NEWSETELEM
						      : NFT_MSG_DESTROYSETELEM,
					  table, map, what, &list);
			if (!nlh) {
				free(live);
				return -ENOMEM;
			}
		}
		elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		rb_put_data_value(nlh, NFTA_SET_ELEM_KEY,
				  e->family == KNLB_FAMILY_IPV6 ? (const void *)&e->client.in6
								: (const void *)&e->client.in,
				  alen);
		if (keep) {
			uint8_t value[20] = { 0 };
			uint16_t port = htons(e->port);
			uint64_t left = e->expires_ms < timeout_ms ? e->expires_ms
								   : timeout_ms;

			memcpy(value, e->family == KNLB_FAMILY_IPV6 ?
				      (const void *)&e->backend.in6 :
				      (const void *)&e->backend.in, alen);
			memcpy(value + alen, &port, 2);
			rb_put_data_value(nlh, NFTA_SET_ELEM_DATA, value,
					  persist_data_len(e->family));
			mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT, htobe64(timeout_ms));
			mnl_attr_put_u64(nlh, NFTA_SET_ELEM_EXPIRATION,
					 htobe64(left ? left : 1));
		}
		mnl_attr_nest_end(nlh, elem);
		in_msg++;
		(*n)++;
	}
	if (nlh)
		mnl_attr_nest_end(nlh, list);
	free(live);
	return 0;
}

int persist_add_purge(struct nfnl_batch *batch, const char *table,
		      const struct knlb_service *svc,
		      const struct persist_table *t, size_t *purged)
{
	return add_entries(batch, table, svc, t, false, purged);
}

int persist_add_carry_over(struct nfnl_batch *batch, const char *table,
			   const struct knlb_service *svc,
			   const struct persist_table *t, size_t *kept)
{
	return add_entries(batch, table, svc, t, true, kept);
}

bool persist_lost_backend(const struct knlb_service *svc,
			  const uint32_t *old_slots)
{
	bool *live = live_backends(svc);
	bool lost = false;

	if (!live)
		return true;	/* purging when unsure costs a dump, no more */
	for (size_t s = 0; !lost && s < pool_slots_len(svc); s++)
		lost = old_slots[s] != SCHED_SLOT_EMPTY &&
		       (old_slots[s] >= svc->n_backends || !live[old_slots[s]]);
	free(live);
	return lost;
}

void persist_count(const struct knlb_service *svc,
		   const struct persist_table *t, uint64_t *counts)
{
	for (size_t i = 0; i < t->n; i++) {
		long b = persist_entry_backend(svc, &t->e[i]);

		if (b >= 0)
			counts[b]++;
	}
}
