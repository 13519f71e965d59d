/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The in-place table replace (include/knlb/nft/replace_in_place.h): read
 * which sets and chains the running table has, flush them at the head of
 * the replace transaction, and delete at its end those the new ruleset
 * does not add again.
 *
 * Why not DELTABLE then the whole table, which is simpler: measured in a
 * namespace (300,000 connections through a DNAT vmap, a transaction in a
 * loop: netns-lab/replace-race.sh), delete-and-add of the table refused
 * 16 connections in 1,513 transactions; flushing the rules and the sets'
 * elements and adding them again refused none in 1,795, nor did rules
 * alone (1,530) or elements alone (1,921).  So the miss comes with the
 * set deletion; our reading, not checked in the kernel's source: a packet
 * already in the old rules looks the deleted set up with the new
 * generation's mask, misses, and leaves with no NAT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "knlb/lib/grow.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/replace_in_place.h"
#include "elem_dump-int.h"
#include "rule_build-int.h"

/* Dump datagrams are at most 32 KiB; a bounded wait for each. */
#define OBJECTS_BUF (64 * 1024)
#define OBJECTS_TIMEOUT_MS 2000

/* Collects a table's objects into t; the first error in err. */
struct collect {
	struct table_objects *t;
	const char *table;
	size_t sets_cap, defs_cap, chains_cap;
	int err;
};

/* Add a copy of name to v; 0 or -ENOMEM. */
static int push_name(char ***v, size_t *n, size_t *cap, const char *name)
{
	char *copy = strdup(name);

	if (!copy || grow(v, cap, *n + 1, sizeof(**v), 16) < 0) {
		free(copy);
		return -ENOMEM;
	}
	(*v)[(*n)++] = copy;
	return 0;
}

/*
 * What defines a set, as "name flags key data size timeout udata-hex":
 * the kernel keeps an existing set when the new one matches on what it
 * compares, but not its user data (nft's typeof text): a set whose
 * definition changed in any of these makes a whole-table replace.
 */
static char *set_signature(const struct nftnl_set *s)
{
	static const uint16_t attrs[] = {
		NFTNL_SET_FLAGS, NFTNL_SET_KEY_TYPE, NFTNL_SET_KEY_LEN,
		NFTNL_SET_DATA_TYPE, NFTNL_SET_DATA_LEN, NFTNL_SET_DESC_SIZE,
	};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const unsigned char *ud;
	uint32_t ud_len = 0;

	if (!f)
		return NULL;
	fprintf(f, "%s", nftnl_set_get_str(s, NFTNL_SET_NAME));
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		/* a verdict's length is the kernel's, never given */
		fprintf(f, " %u", nftnl_set_is_set(s, attrs[i]) &&
			!(attrs[i] == NFTNL_SET_DATA_LEN &&
			  nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE) &&
			  nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE) == NFT_DATA_VERDICT) ?
			nftnl_set_get_u32(s, attrs[i]) : 0);
	fprintf(f, " %llu ", nftnl_set_is_set(s, NFTNL_SET_TIMEOUT) ?
		(unsigned long long)nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT) : 0ull);
	ud = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &ud_len);
	for (uint32_t i = 0; ud && i < ud_len; i++)
		fprintf(f, "%02x", ud[i]);
	fclose(f);
	return out;
}

/* The set in nlh (a dump's answer, or a batch's NEWSET) into c->t. */
static int add_set(struct collect *c, const struct nlmsghdr *nlh)
{
	struct nftnl_set *s = nftnl_set_alloc();
	const char *table, *name;
	char *sig = NULL;
	int ret = 0;

	if (!s || nftnl_set_nlmsg_parse(nlh, s) < 0) {
		ret = s ? -EINVAL : -ENOMEM;
		goto out;
	}
	table = nftnl_set_get_str(s, NFTNL_SET_TABLE);
	name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	/* an anonymous set belongs to its rule and goes with it */
	if (!table || !name || strcmp(table, c->table) ||
	    (nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS))
		goto out;
	sig = set_signature(s);
	if (!sig || grow(&c->t->set_defs, &c->defs_cap, c->t->n_sets + 1,
			 sizeof(*c->t->set_defs), 16) < 0 ||
	    push_name(&c->t->sets, &c->t->n_sets, &c->sets_cap, name) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	c->t->set_defs[c->t->n_sets - 1] = sig;	/* beside its name */
	sig = NULL;
out:
	free(sig);
	nftnl_set_free(s);
	return ret;
}

/* The chain in nlh into c->t. */
static int add_chain(struct collect *c, const struct nlmsghdr *nlh)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	const char *table, *name;
	int ret = 0;

	if (!ch || nftnl_chain_nlmsg_parse(nlh, ch) < 0) {
		ret = ch ? -EINVAL : -ENOMEM;
	} else {
		table = nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE);
		name = nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME);
		if (table && name && !strcmp(table, c->table))
			ret = push_name(&c->t->chains, &c->t->n_chains,
					&c->chains_cap, name);
	}
	nftnl_chain_free(ch);
	return ret;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct collect *c = data;
	uint16_t type = nlh->nlmsg_type & 0xff;

	c->err = type == NFT_MSG_NEWSET ? add_set(c, nlh) :
		 type == NFT_MSG_NEWCHAIN ? add_chain(c, nlh) : 0;
	return c->err ? MNL_CB_ERROR : MNL_CB_OK;
}

/* Send the request nlh and collect its answers; 0 or -errno. */
static int exchange(struct mnl_socket *nl, char *buf, struct nlmsghdr *nlh,
		    struct collect *c)
{
	int ret = elem_dump_exchange(nl, buf, OBJECTS_BUF, nlh, dump_cb, c);

	return c->err ? c->err : ret;
}

static int read_objects(struct mnl_socket *nl, char *buf, const char *table,
			struct table_objects *t, const char **what)
{
	uint32_t seq = (uint32_t)time(NULL);
	struct collect c = { .t = t, .table = table };
	struct nftnl_table *tb = nftnl_table_alloc();
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!tb || !s)
		goto out;
	*what = "the table";
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET,
				    NLM_F_ACK, ++seq);
	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, table);
	nftnl_table_nlmsg_build_payload(nlh, tb);
	ret = exchange(nl, buf, nlh, &c);
	if (ret == -ENOENT) {
		ret = 0;	/* nothing to keep */
		goto out;
	}
	if (ret < 0)
		goto out;
	t->exists = true;
	*what = "its sets";
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET,
				    NLM_F_DUMP, ++seq);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_nlmsg_build_payload(nlh, s);
	ret = exchange(nl, buf, nlh, &c);
	if (ret < 0)
		goto out;
	*what = "its chains";
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_INET,
				    NLM_F_DUMP, ++seq);
	ret = exchange(nl, buf, nlh, &c);
out:
	nftnl_table_free(tb);
	nftnl_set_free(s);
	return ret;
}

int table_objects_read(const char *table, struct table_objects *out,
		       char *err, size_t errlen)
{
	const char *what = "a netlink socket";
	struct mnl_socket *nl = elem_dump_open(OBJECTS_TIMEOUT_MS);
	char *buf = calloc(1, OBJECTS_BUF);	/* requests are sent whole */
	int ret;

	*out = (struct table_objects){ 0 };
	if (!nl || !buf)
		ret = nl ? -ENOMEM : -errno;
	else
		ret = read_objects(nl, buf, table, out, &what);
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	if (ret < 0) {
		snprintf(err, errlen, "reading the objects of table inet %s: %s: %s",
			 table, what, strerror(-ret));
		table_objects_free(out);
	}
	return ret;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void table_objects_free(struct table_objects *t)
{
	if (t->set_defs)
		free_names(t->set_defs, t->n_sets);
	free_names(t->sets, t->n_sets);
	free_names(t->chains, t->n_chains);
	*t = (struct table_objects){ 0 };
}

/* A DELSETELEM without elements flushes the set (rb_del_set() deletes it). */
static int flush_set(struct nfnl_batch *batch, const char *table,
		     const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	char what[320];

	if (!s)
		return -ENOMEM;
	snprintf(what, sizeof(what), "flushing set %s", name);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nlh = nfnl_batch_add(batch, NFT_MSG_DELSETELEM, NFPROTO_INET, 0, what);
	if (nlh)
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

int replace_in_place_flush(struct nfnl_batch *batch, const char *table,
			   const struct table_objects *t)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	int ret = 0;

	if (!r)
		return -ENOMEM;
	/* DELRULE naming only the table: every rule of every chain */
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nlh = nfnl_batch_add(batch, NFT_MSG_DELRULE, NFPROTO_INET, 0,
			     "flushing the rules");
	if (nlh)
		nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	if (!nlh)
		return -ENOMEM;
	for (size_t i = 0; ret == 0 && i < t->n_sets; i++)
		ret = flush_set(batch, table, t->sets[i]);
	return ret;
}

/* Index of name in v, or n when absent. */
static size_t find_name(char *const *v, size_t n, const char *name)
{
	size_t i = 0;

	while (i < n && strcmp(v[i], name))
		i++;
	return i;
}

int replace_in_place_drop_rest(struct nfnl_batch *batch, const char *table,
			       const struct table_objects *t)
{
	struct table_objects added = { 0 };
	struct collect c = { .t = &added, .table = table };
	int ret = 0;

	/* what the batch adds, read back from its own messages */
	for (size_t i = 0; ret == 0 && i < nfnl_batch_count(batch); i++)
		if (dump_cb(nfnl_batch_msg(batch, i), &c) != MNL_CB_OK)
			ret = c.err;
	/* the sets first: a set's last users were the flushed rules */
	for (size_t i = 0; ret == 0 && i < t->n_sets; i++) {
		size_t k = find_name(added.sets, added.n_sets, t->sets[i]);

		if (k == added.n_sets)
			ret = rb_del_set(batch, table, t->sets[i]);
		else if (strcmp(added.set_defs[k], t->set_defs[i]))
			ret = -ESTALE;	/* the kernel would keep the old one */
	}
	for (size_t i = 0; ret == 0 && i < t->n_chains; i++)
		if (find_name(added.chains, added.n_chains, t->chains[i]) ==
		    added.n_chains)
			ret = rb_del_chain(batch, table, t->chains[i]);
	table_objects_free(&added);
	return ret;
}
