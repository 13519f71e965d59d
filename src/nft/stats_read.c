/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading the kernel's per-backend counters (include/knlb/nft/stats.h):
 * one GETSETELEM dump per counting set, parsed with libmnl directly (an
 * element is a key and a counter: no need to allocate a libnftnl object
 * for each).  Reading only; nothing is changed.
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

#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "knlb/nft/stats.h"
#include "elem_dump-int.h"

/* mark . addr . proto . port, each padded to 32 bits */
#define STATS_KEY_LEN 16
#define STATS_KEY6_LEN 28
#define STATS_BUF (64 * 1024)

struct counter_value {
	uint64_t packets, bytes;
	bool found;
};

/* NFTA_EXPR_NAME "counter" + NFTA_EXPR_DATA { BYTES, PACKETS } */
static int parse_counter_expr(const struct nlattr *expr, struct counter_value *v)
{
	const struct nlattr *a, *d;
	const char *name = NULL;
	const struct nlattr *data = NULL;

	mnl_attr_for_each_nested(a, expr) {
		if (mnl_attr_get_type(a) == NFTA_EXPR_NAME) {
			/* strcmp below must not run past the attribute. */
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
				return -EPROTO;
			name = mnl_attr_get_str(a);
		} else if (mnl_attr_get_type(a) == NFTA_EXPR_DATA) {
			data = a;
		}
	}
	if (!name || strcmp(name, "counter") != 0 || !data)
		return 0;	/* another expression: not ours to read */
	mnl_attr_for_each_nested(d, data) {
		if (mnl_attr_get_payload_len(d) != sizeof(uint64_t))
			return -EPROTO;
		if (mnl_attr_get_type(d) == NFTA_COUNTER_PACKETS)
			v->packets = be64toh(mnl_attr_get_u64(d));
		else if (mnl_attr_get_type(d) == NFTA_COUNTER_BYTES)
			v->bytes = be64toh(mnl_attr_get_u64(d));
	}
	v->found = true;
	return 0;
}

static bool same_key(const struct stats_counter *c, uint32_t mark,
		     const struct knlb_addr *addr, uint8_t proto, uint16_t port)
{
	return c->mark == mark && c->proto == proto && c->port == port &&
	       addr_equal(&c->addr, addr);
}

static struct stats_counter *entry_of(struct stats_table *t, uint32_t mark,
				      const struct knlb_addr *addr, uint8_t proto,
				      uint16_t port)
{
	for (size_t i = 0; i < t->n; i++)
		if (same_key(&t->c[i], mark, addr, proto, port))
			return &t->c[i];
	if (grow(&t->c, &t->cap, t->n + 1, sizeof(*t->c), 16) < 0)
		return NULL;
	t->c[t->n] = (struct stats_counter){ .mark = mark, .addr = *addr,
					     .proto = proto, .port = port };
	return &t->c[t->n++];
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static int parse_elem(const struct nlattr *elem, enum stats_set which,
		      struct stats_table *t)
{
	const uint8_t *key = NULL;
	struct counter_value v = { 0 };
	const struct nlattr *a, *k, *l;
	struct stats_counter *c;
	struct knlb_addr addr = { 0 };
	uint32_t mark, alen = 4;
	uint16_t port;
	int ret = 0;

	mnl_attr_for_each_nested(a, elem) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_KEY:
			mnl_attr_for_each_nested(k, a)
				if (mnl_attr_get_type(k) == NFTA_DATA_VALUE &&
				    (mnl_attr_get_payload_len(k) == STATS_KEY_LEN ||
				     mnl_attr_get_payload_len(k) == STATS_KEY6_LEN)) {
					key = mnl_attr_get_payload(k);
					alen = mnl_attr_get_payload_len(k) - 12;
				}
			break;
		case NFTA_SET_ELEM_EXPR:	/* the kernel's form for one expression */
			ret = parse_counter_expr(a, &v);
			break;
		case NFTA_SET_ELEM_EXPRESSIONS:
			mnl_attr_for_each_nested(l, a)
				if (ret == 0 && mnl_attr_get_type(l) == NFTA_LIST_ELEM)
					ret = parse_counter_expr(l, &v);
			break;
		}
		if (ret < 0)
			return ret;
	}
	if (!key)
		return -EPROTO;
	if (!v.found)
		return 0;	/* no counter: nothing to add */
	memcpy(&mark, key, 4);			/* host order, as ct mark loads */
	addr.family = alen == 16 ? AF_INET6 : AF_INET;
	memcpy(alen == 16 ? (void *)&addr.in6 : (void *)&addr.in, key + 4, alen);
	memcpy(&port, key + 8 + alen, 2);
	c = entry_of(t, mark, &addr, key[4 + alen], ntohs(port));
	if (!c)
		return -ENOMEM;
	/* A dump may repeat an element (the hash resizing): count it once. */
	switch (which) {
	case STATS_NEW:
		c->new_flows = max_u64(c->new_flows, v.packets);
		break;
	case STATS_IN:
		c->pkts_in = max_u64(c->pkts_in, v.packets);
		c->bytes_in = max_u64(c->bytes_in, v.bytes);
		break;
	case STATS_OUT:
		c->pkts_out = max_u64(c->pkts_out, v.packets);
		c->bytes_out = max_u64(c->bytes_out, v.bytes);
		break;
	}
	return 0;
}

int stats_parse_elems(const struct nlmsghdr *nlh, enum stats_set which,
		      struct stats_table *t)
{
	const struct nlattr *a, *elem;
	int ret;

	if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWSETELEM)
		return 0;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, a) {
			if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM)
				continue;
			ret = parse_elem(elem, which, t);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

void stats_table_fold(struct stats_table *t, uint32_t mark_mask)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct stats_counter c = t->c[i];
		size_t j;

		c.mark &= mark_mask;
		for (j = 0; j < n; j++)
			if (same_key(&t->c[j], c.mark, &c.addr, c.proto, c.port))
				break;
		if (j == n) {
			t->c[n++] = c;
			continue;
		}
		t->c[j].new_flows += c.new_flows;
		t->c[j].pkts_in += c.pkts_in;
		t->c[j].bytes_in += c.bytes_in;
		t->c[j].pkts_out += c.pkts_out;
		t->c[j].bytes_out += c.bytes_out;
	}
	t->n = n;
}

const struct stats_counter *stats_find(const struct stats_table *t,
				       uint32_t mark, const struct knlb_addr *addr,
				       uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < t->n; i++)
		if (same_key(&t->c[i], mark, addr, proto, port))
			return &t->c[i];
	return NULL;
}

void stats_table_free(struct stats_table *t)
{
	free(t->c);
	*t = (struct stats_table){ 0 };
}

/* ---- the dump --------------------------------------------------------- */

struct dump {
	struct stats_table *t;
	enum stats_set which;
	int err;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;

	if (d->err == 0)
		d->err = stats_parse_elems(nlh, d->which, d->t);
	return MNL_CB_OK;
}

static int dump_set(struct mnl_socket *nl, char *buf, const char *table,
		    const char *set, struct dump *d, uint32_t seq)
{
	int ret = elem_dump(nl, buf, STATS_BUF, table, set, seq, dump_cb, d);

	return d->err ? d->err : ret;	/* the callback knows best */
}

/* The sets named by which[] (i % 3 of the table below), in that order. */
static int read_sets(const char *table, uint32_t mark_mask, const int *which,
		     int n, struct stats_table *out, char *err, size_t errlen)
{
	static const char *const sets[] = { STATS_SET_NEW, STATS_SET_IN,
					    STATS_SET_OUT, STATS_SET_NEW "6",
					    STATS_SET_IN "6", STATS_SET_OUT "6" };
	struct mnl_socket *nl = NULL;
	const char *what = "netlink socket";
	char *buf = calloc(1, STATS_BUF);	/* attribute padding is sent as is */
	int ret = 0;

	*out = (struct stats_table){ 0 };
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	nl = elem_dump_open(STATS_TIMEOUT_MS);
	if (!nl) {
		ret = -errno;
		goto out;
	}
	for (int j = 0; ret == 0 && j < n; j++) {
		int i = which[j];
		struct dump d = { .t = out, .which = (enum stats_set)(i % 3) };

		what = sets[i];
		ret = dump_set(nl, buf, table, sets[i], &d, (uint32_t)j + 1);
		/* The IPv6 sets exist only while some VIP is IPv6. */
		if (i >= 3 && ret == -ENOENT)
			ret = 0;
	}
	if (ret == 0)
		stats_table_fold(out, mark_mask);
out:
	if (ret < 0) {
		snprintf(err, errlen, "reading counters of table inet %s: %s: %s",
			 table, what, ret == -ETIMEDOUT ?
			 "no answer within the timeout" : strerror(-ret));
		stats_table_free(out);
	}
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return ret;
}

int stats_read_new(const char *table, uint32_t mark_mask,
		   struct stats_table *out, char *err, size_t errlen)
{
	static const int new_only[] = { 0, 3 };

	return read_sets(table, mark_mask, new_only, 2, out, err, errlen);
}

int stats_read(const char *table, uint32_t mark_mask, bool traffic,
	       struct stats_table *out, char *err, size_t errlen)
{
	static const int all[] = { 0, 1, 2, 3, 4, 5 };

	if (!traffic)
		return stats_read_new(table, mark_mask, out, err, errlen);
	return read_sets(table, mark_mask, all, 6, out, err, errlen);
}
