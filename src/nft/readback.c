/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Read-back of the running table (see include/knlb/nft/readback.h).  Dumps are
 * request/response, unlike nfnl.c's batches: a socket of its own, one
 * request at a time, every receive bounded by SO_RCVTIMEO.  The shapes it
 * recognises are the ones ruleset.c writes:
 *
 *   map NAME_slots      key u32 (slot), data 8 bytes: IPv4 addr, port (BE),
 *                       each padded to 32 bits
 *   map NAME_slots6     the same with a 16-byte IPv6 address (20 bytes)
 *   map NAME_fb<i>      the same shapes, either family (the fallback shape)
 *
 * and the rules (readback_rules.c): marks, and which backends the
 * fallback chain sends to their map.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "knlb/nft/readback.h"
#include "knlb/nft/ruleset.h"
#include "readback-int.h"

/* The slot maps of each family: name suffix, address and value length. */
static const struct {
	const char *suffix;
	sa_family_t af;
	uint32_t addr_len, data_len;
} slot_maps[KNLB_FAMILIES] = {
	[KNLB_FAMILY_IPV4] = { SLOTS_SUFFIX, AF_INET, 4, 8 },
	[KNLB_FAMILY_IPV6] = { SLOTS_SUFFIX "6", AF_INET6, 16, 20 },
};

/* The kernel fills dump datagrams up to 32 KiB; room for more. */
#define ADOPT_BUF (64 * 1024)
/*
 * Reads that saw the table move (another commit, a hash resize) are
 * repeated, ADOPT_RETRY_MS x try apart: a resize of a 65537-element map
 * takes milliseconds; a table still moving after that is being rewritten
 * by someone else.
 */
#define ADOPT_TRIES 8
#define ADOPT_RETRY_MS 10

static void fail(char *err, size_t errlen, const char *table, const char *what,
		 int ret)
{
	snprintf(err, errlen, "reading table inet %s: %s: %s", table, what,
		 ret == -ETIMEDOUT ? "no answer within the timeout" :
		 strerror(-ret));
}

static int reader_open(struct reader *r)
{
	struct timeval tv = {
		.tv_sec = ADOPT_TIMEOUT_MS / 1000,
		.tv_usec = (ADOPT_TIMEOUT_MS % 1000) * 1000,
	};
	int ret;

	r->buf = malloc(ADOPT_BUF);
	if (!r->buf)
		return -ENOMEM;
	r->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!r->nl)
		return -errno;
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) == -1)
		return -errno;
	/* Bounded: a read that stalls fails instead of holding up the start. */
	ret = setsockopt(mnl_socket_get_fd(r->nl), SOL_SOCKET, SO_RCVTIMEO,
			 &tv, sizeof(tv));
	if (ret == -1)
		return -errno;
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->nl)
		mnl_socket_close(r->nl);
	r->nl = NULL;
	free(r->buf);
	r->buf = NULL;
	free(r->values);
	r->values = NULL;
	r->values_cap = 0;
	free(r->keys);
	r->keys = NULL;
	r->keys_cap = 0;
}

/*
 * Send the request in r->buf and run cb on every reply until the dump's
 * DONE or the request's ACK.  0, or -errno (-ETIMEDOUT when the kernel
 * stops answering, the kernel's errno when it refused the request).
 */
int readback_exchange(struct reader *r, struct nlmsghdr *nlh, mnl_cb_t cb)
{
	uint32_t seq = nlh->nlmsg_seq;
	uint32_t portid = mnl_socket_get_portid(r->nl);
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) == -1)
		return -errno;
	r->err = 0;
	for (;;) {
		int left;

		n = mnl_socket_recvfrom(r->nl, r->buf, ADOPT_BUF);
		if (n == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ?
			       -ETIMEDOUT : -errno;
		/* The table changed while the kernel was filling this dump. */
		left = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)r->buf;
		     mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left))
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				r->interrupted = true;
		ret = mnl_cb_run(r->buf, (size_t)n, seq, portid, cb, r);
		if (ret == MNL_CB_ERROR)
			return -errno;
		if (ret == MNL_CB_STOP)
			return r->err;
	}
}

/* --- the table's objects --- */

/* The entry for name, added when new; NULL when it cannot be ours or on ENOMEM. */
struct adopt_service *readback_service_of(struct reader *r, const char *name,
					    size_t len)
{
	struct adopt_table *t = r->t;
	struct adopt_service *s;

	/* Longer than a service name may be: not a table knlbd wrote. */
	if (len == 0 || len >= KNLB_NAME_MAX)
		return NULL;
	for (size_t i = 0; i < t->n_services; i++)
		if (strncmp(t->services[i].name, name, len) == 0 &&
		    t->services[i].name[len] == '\0')
			return &t->services[i];
	if (grow(&t->services, &r->services_cap, t->n_services + 1,
		 sizeof(*t->services), 8) < 0) {
		r->err = -ENOMEM;
		return NULL;
	}
	s = &t->services[t->n_services++];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, len);
	return s;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reader *r = data;
	struct nftnl_gen *gen = nftnl_gen_alloc();

	if (!gen) {
		r->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_gen_nlmsg_parse(nlh, gen) < 0)
		r->err = -EPROTO;
	else
		r->t->genid = nftnl_gen_get_u32(gen, NFTNL_GEN_ID);
	nftnl_gen_free(gen);
	return MNL_CB_OK;
}

static int read_genid(struct reader *r, uint32_t *out)
{
	struct nlmsghdr *nlh;
	int ret;

	nlh = nftnl_nlmsg_build_hdr(r->buf, NFT_MSG_GETGEN, AF_UNSPEC,
				    NLM_F_ACK, ++r->seq);
	ret = readback_exchange(r, nlh, gen_cb);
	if (ret == 0)
		*out = r->t->genid;
	return ret;
}

static int ignore_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

/* 0 when `inet table` exists, -ENOENT when not, else -errno. */
static int read_table(struct reader *r, const char *table)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nlh = nftnl_table_nlmsg_build_hdr(r->buf, NFT_MSG_GETTABLE, NFPROTO_INET,
					  NLM_F_ACK, ++r->seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return readback_exchange(r, nlh, ignore_cb);
}

/* Whether name is NAME_slots[6]: the family, and the length of NAME. */
/* The override maps of the shared base shape, per family. */
static const char *const ovr_suffix[KNLB_FAMILIES] = {
	RULESET_SHARE_OVR, RULESET_SHARE_OVR "6",
};

/* NAME_slots[6] (shared false) or NAME_ovr[6] (shared true): f and NAME's length. */
static bool slot_map_name(const char *name, bool shared, enum knlb_family *f,
			  size_t *stem)
{
	size_t len = name ? strlen(name) : 0;

	for (int k = 0; k < KNLB_FAMILIES; k++) {
		const char *suffix = shared ? ovr_suffix[k] : slot_maps[k].suffix;
		size_t sfx = strlen(suffix);

		if (len > sfx && strcmp(name + len - sfx, suffix) == 0) {
			*f = k;
			*stem = len - sfx;
			return true;
		}
	}
	return false;
}

/*
 * A map NAME_slots[6], or NAME_ovr[6] (the shared base shape), shaped as
 * ruleset.c makes it marks service NAME.
 */
static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reader *r = data;
	struct nftnl_set *s = nftnl_set_alloc();
	enum knlb_family f;
	const char *name;
	bool shared = false;
	size_t stem;

	if (!s) {
		r->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_set_nlmsg_parse(nlh, s) < 0) {
		r->err = -EPROTO;
		goto out_free_set;
	}
	name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	if (!slot_map_name(name, false, &f, &stem) &&
	    !(shared = slot_map_name(name, true, &f, &stem)))
		goto out_free_set;
	if (!(nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_MAP) ||
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN) != SLOT_KEY_LEN ||
	    nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN) != slot_maps[f].data_len)
		goto out_free_set;
	{
		struct adopt_service *svc = readback_service_of(r, name, stem);

		if (svc) {
			svc->has_map = true;
			svc->maps |= 1u << f;
			svc->shared_maps |= shared ? 1u << f : 0;
		}
	}
out_free_set:
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int read_sets(struct reader *r, const char *table)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		return -ENOMEM;
	nlh = nftnl_set_nlmsg_build_hdr(r->buf, NFT_MSG_GETSET, NFPROTO_INET,
					NLM_F_DUMP, ++r->seq);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return readback_exchange(r, nlh, set_cb);
}

static int push_value(struct reader *r, uint32_t key,
		      const struct adopt_backend *v)
{
	if (grow(&r->values, &r->values_cap, r->n_values + 1,
		 sizeof(*r->values), 1024) < 0 ||
	    grow(&r->keys, &r->keys_cap, r->n_values + 1, sizeof(*r->keys),
		 1024) < 0)
		return -ENOMEM;
	r->keys[r->n_values] = key;
	r->values[r->n_values++] = *v;
	return 0;
}

/* fn on each element of a GETSETELEM reply, until one sets r->err. */
static int each_element(const struct nlmsghdr *nlh, struct reader *r,
			void (*fn)(struct reader *r, struct nftnl_set_elem *e))
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it = NULL;
	struct nftnl_set_elem *e;

	if (!s) {
		r->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		r->err = -EPROTO;
		goto out_free_set;
	}
	it = nftnl_set_elems_iter_create(s);
	if (!it) {
		r->err = -ENOMEM;
		goto out_free_set;
	}
	for (e = nftnl_set_elems_iter_next(it); e && !r->err;
	     e = nftnl_set_elems_iter_next(it))
		fn(r, e);
	nftnl_set_elems_iter_destroy(it);
out_free_set:
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* A slot map's element: its slot and backend onto r's values. */
static void slot_element(struct reader *r, struct nftnl_set_elem *e)
{
	struct adopt_backend v = { 0 };
	const uint8_t *d, *k;
	uint32_t dlen = 0, klen = 0, key, alen;
	enum knlb_family f = r->family;
	uint16_t port;

	k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dlen);
	if (f == KNLB_FAMILIES)
		f = dlen == slot_maps[KNLB_FAMILY_IPV6].data_len ?
		    KNLB_FAMILY_IPV6 : KNLB_FAMILY_IPV4;
	if (!k || klen != SLOT_KEY_LEN || !d || dlen != slot_maps[f].data_len) {
		r->err = -EPROTO;
		return;
	}
	alen = slot_maps[f].addr_len;
	memcpy(&key, k, sizeof(key));
	v.addr.family = slot_maps[f].af;
	memcpy(f == KNLB_FAMILY_IPV6 ? (void *)&v.addr.in6 : (void *)&v.addr.in,
	       d, alen);
	memcpy(&port, d + alen, sizeof(port));
	v.port = ntohs(port);
	r->err = push_value(r, key, &v);
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	return each_element(nlh, data, slot_element);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A hash set is dumped in chunks, each resuming by skipping the elements
 * already sent.  While the kernel resizes the hash table (it does so in
 * the background after a large insert) the walk order changes between
 * chunks: some elements come twice and as many never.  A repeated key is
 * the trace; the caller reads again.
 */
static bool keys_repeat(struct reader *r, const uint32_t *keys, size_t n)
{
	uint32_t *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	bool repeat = false;

	if (!sorted) {
		r->err = -ENOMEM;
		return false;
	}
	memcpy(sorted, keys, n * sizeof(*keys));
	qsort(sorted, n, sizeof(*sorted), cmp_u32);
	for (size_t i = 1; i < n && !repeat; i++)
		repeat = sorted[i] == sorted[i - 1];
	free(sorted);
	return repeat;
}

static int cmp_backend(const void *a, const void *b)
{
	const struct adopt_backend *x = a, *y = b;
	int c = addr_compare(&x->addr, &y->addr);

	return c ? c : (x->port > y->port) - (x->port < y->port);
}

/* r->values (one per element) -> svc->mapped (one per backend, counted). */
static int count_values(struct reader *r, struct adopt_service *svc)
{
	size_t n = 0;

	svc->n_elements = (uint32_t)r->n_values;
	qsort(r->values, r->n_values, sizeof(*r->values), cmp_backend);
	for (size_t i = 0; i < r->n_values; i++)
		n += i == 0 || cmp_backend(&r->values[i], &r->values[i - 1]);
	svc->mapped = calloc(n ? n : 1, sizeof(*svc->mapped));
	if (!svc->mapped)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_values; i++) {
		if (i == 0 || cmp_backend(&r->values[i], &r->values[i - 1]))
			svc->mapped[svc->n_mapped++] = r->values[i];
		svc->mapped[svc->n_mapped - 1].slots++;
	}
	return 0;
}

/* A dump request of set's elements, in r->buf; NULL on ENOMEM. */
static struct nlmsghdr *elements_request(struct reader *r, const char *table,
					 const char *set)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		return NULL;
	nlh = nftnl_set_nlmsg_build_hdr(r->buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
					NLM_F_DUMP, ++r->seq);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh;
}

/* Every element of map set (family f, or KNLB_FAMILIES: any), appended to r->values. */
static int read_map(struct reader *r, const char *table, const char *set,
		    enum knlb_family f)
{
	size_t first = r->n_values;
	struct nlmsghdr *nlh = elements_request(r, table, set);
	int ret;

	if (!nlh)
		return -ENOMEM;
	r->family = f;
	ret = readback_exchange(r, nlh, elem_cb);
	/* Keys repeat only within one map: a second family's may not count. */
	if (ret == 0 && keys_repeat(r, r->keys + first, r->n_values - first))
		r->interrupted = true;
	return ret ? ret : r->err;
}

static bool any_fallback_rule(const struct adopt_service *svc)
{
	for (int w = 0; w < ADOPT_FALLBACK_WORDS; w++)
		if (svc->fallback_rules[w])
			return true;
	return false;
}

/*
 * The fallback shape: the slots of each backend with a rule in chain
 * fb_<name> are forwarded where its map <name>_fb<i> says (when the map
 * has the slot).  Overlays r->values[0 .. n_slots) with those maps.
 */
static int overlay_fallbacks(struct reader *r, const char *table,
			     const struct adopt_service *svc, size_t n_slots)
{
	/* where each (family, key) is among the slot elements: keys < KNLB_MAX_SLOTS */
	uint32_t *at;
	int ret = 0;

	if (!any_fallback_rule(svc))
		return 0;
	at = malloc(KNLB_FAMILIES * (size_t)KNLB_MAX_SLOTS * sizeof(*at));
	if (!at)
		return -ENOMEM;
	for (size_t i = 0; i < KNLB_FAMILIES * (size_t)KNLB_MAX_SLOTS; i++)
		at[i] = UINT32_MAX;
	for (size_t s = 0; s < n_slots; s++)
		if (r->keys[s] < KNLB_MAX_SLOTS)
			at[(r->values[s].addr.family == AF_INET6) * KNLB_MAX_SLOTS +
			   r->keys[s]] = (uint32_t)s;
	for (uint32_t i = 0; ret == 0 && i < 32 * ADOPT_FALLBACK_WORDS; i++) {
		char set[KNLB_NAME_MAX + sizeof(FALLBACK_MAP_INFIX) + 8];
		size_t first = r->n_values;

		if (!(svc->fallback_rules[i / 32] & (1u << (i % 32))))
			continue;
		snprintf(set, sizeof(set), "%s%s%u", svc->name, FALLBACK_MAP_INFIX, i);
		ret = read_map(r, table, set, KNLB_FAMILIES);
		for (size_t e = first; ret == 0 && e < r->n_values; e++) {
			uint32_t s = r->keys[e] < KNLB_MAX_SLOTS ?
				at[(r->values[e].addr.family == AF_INET6) *
				   KNLB_MAX_SLOTS + r->keys[e]] : UINT32_MAX;

			if (s != UINT32_MAX)
				r->values[s] = r->values[e];
		}
		r->n_values = first;
	}
	free(at);
	return ret;
}

/*
 * r->values[first .. n_base) are a base map's, r->values[n_base ..) an
 * override map's: each override replaces the base's value of its slot
 * and goes; one for a slot the base lacks stays.  Keys are slots < M.
 */
static int overlay_values(struct reader *r, size_t first, size_t n_base)
{
	uint32_t top = 0, *at;
	size_t out = n_base;

	for (size_t i = first; i < r->n_values; i++)
		top = r->keys[i] > top ? r->keys[i] : top;
	at = malloc(((size_t)top + 1) * sizeof(*at));
	if (!at)
		return -ENOMEM;
	for (size_t i = 0; i <= top; i++)
		at[i] = UINT32_MAX;
	for (size_t i = first; i < n_base; i++)
		at[r->keys[i]] = (uint32_t)i;
	for (size_t i = n_base; i < r->n_values; i++) {
		uint32_t *slot = &at[r->keys[i]];

		if (*slot != UINT32_MAX && *slot < n_base) {
			r->values[*slot] = r->values[i];
			continue;
		}
		*slot = (uint32_t)i;
		r->keys[out] = r->keys[i];
		r->values[out++] = r->values[i];
	}
	r->n_values = out;
	free(at);
	return 0;
}

/*
 * The shared base shape, family f: the base map the chain reads, then
 * the service's override map over it (a slot in both is forwarded where
 * the override says).  Nothing when the family is not dispatched.
 */
static int read_shared(struct reader *r, const char *table,
		       const struct adopt_service *svc, enum knlb_family f)
{
	char set[KNLB_NAME_MAX + sizeof(RULESET_SHARE_BASE "6")];
	size_t first = r->n_values, n_base;
	int ret;

	if (!(svc->dispatched & (1u << f)))
		return 0;
	if (!svc->share_lead[f][0])
		return -EPROTO;	/* an override map and no base rule: not ours */
	snprintf(set, sizeof(set), "%s%s%s", svc->share_lead[f], RULESET_SHARE_BASE,
		 ruleset_family_suffix(f));
	ret = read_map(r, table, set, f);
	n_base = r->n_values;
	snprintf(set, sizeof(set), "%s%s", svc->name, ovr_suffix[f]);
	if (ret == 0)
		ret = read_map(r, table, set, f);
	if (ret < 0)
		return ret;
	return overlay_values(r, first, n_base);
}

static int read_elements(struct reader *r, const char *table,
			 struct adopt_service *svc)
{
	char set[KNLB_NAME_MAX + sizeof(SLOTS_SUFFIX) + 1];
	int ret = 0;

	r->n_values = 0;
	for (int f = 0; ret == 0 && f < KNLB_FAMILIES; f++) {
		if (!(svc->maps & (1u << f)))
			continue;
		if (svc->shared_maps & (1u << f)) {
			ret = read_shared(r, table, svc, f);
			continue;
		}
		snprintf(set, sizeof(set), "%s%s", svc->name, slot_maps[f].suffix);
		ret = read_map(r, table, set, f);
	}
	if (ret == 0)
		ret = overlay_fallbacks(r, table, svc, r->n_values);
	if (ret == 0)
		ret = count_values(r, svc);
	return ret;
}

/* A dispatch element that jumps to chain svc_NAME marks NAME's family. */
static void dispatch_element(struct reader *r, struct nftnl_set_elem *e)
{
	const char *chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
	size_t pfx = strlen(CHAIN_PREFIX);
	struct adopt_service *svc;

	if (!chain || strncmp(chain, CHAIN_PREFIX, pfx) != 0)
		return;
	svc = readback_service_of(r, chain + pfx, strlen(chain + pfx));
	if (svc)
		svc->dispatched |= 1u << r->family;
}

static int dispatch_cb(const struct nlmsghdr *nlh, void *data)
{
	return each_element(nlh, data, dispatch_element);
}

/* Which families of which services the dispatch maps send to their chain. */
static int read_dispatch(struct reader *r, const char *table)
{
	for (int f = 0; f < KNLB_FAMILIES; f++) {
		char set[RULESET_NAME_MAX];
		struct nlmsghdr *nlh;
		int ret;

		snprintf(set, sizeof(set), "%s%s", RULESET_DISPATCH_MAP,
			 ruleset_family_suffix(f));
		nlh = elements_request(r, table, set);
		if (!nlh)
			return -ENOMEM;
		r->family = f;
		ret = readback_exchange(r, nlh, dispatch_cb);
		if (ret == -ENOENT)	/* an IPv4 table has no svc_dispatch6 */
			continue;
		if (ret < 0 || r->err)
			return ret ? ret : r->err;
	}
	return 0;
}

static bool any_shared(const struct adopt_table *t)
{
	for (size_t i = 0; i < t->n_services; i++)
		if (t->services[i].shared_maps)
			return true;
	return false;
}

/* One pass over the table; what failed goes to what. */
static int read_once(struct reader *r, const char *table, const char **what)
{
	int ret;

	*what = "table";
	ret = read_table(r, table);
	if (ret == -ENOENT)
		return 0;	/* nothing to adopt */
	if (ret < 0)
		return ret;
	r->t->exists = true;
	*what = "sets";
	ret = read_sets(r, table);
	if (ret < 0)
		return ret;
	/* rules before elements: the fallback rules say which maps overlay */
	*what = "rules";
	ret = readback_read_rules(r, table);
	if (ret < 0)
		return ret;
	/* the shared base shape says an empty family by its dispatch element */
	if (any_shared(r->t)) {
		*what = "dispatch map elements";
		ret = read_dispatch(r, table);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < r->t->n_services; i++) {
		if (!r->t->services[i].has_map)
			continue;
		*what = "slot map elements";
		ret = read_elements(r, table, &r->t->services[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int adopt_read(const char *table, struct adopt_table **out, char *err,
	       size_t errlen)
{
	struct reader r = { 0 };
	const char *what = "netlink socket";
	uint32_t before, after;
	int ret;

	*out = NULL;
	ret = reader_open(&r);
	if (ret < 0)
		goto out_close;
	for (int tries = 0; tries < ADOPT_TRIES; tries++) {
		if (tries) {
			struct timespec ts = {
				.tv_nsec = (long)tries * ADOPT_RETRY_MS * 1000000L,
			};

			nanosleep(&ts, NULL);
		}
		adopt_table_free(r.t);
		r.t = calloc(1, sizeof(*r.t));
		r.services_cap = 0;
		if (!r.t) {
			ret = -ENOMEM;
			goto out_close;
		}
		r.interrupted = false;
		what = "generation id";
		ret = read_genid(&r, &before);
		if (ret == 0)
			ret = read_once(&r, table, &what);
		if (ret == 0) {
			what = "generation id";
			ret = read_genid(&r, &after);
		}
		if (ret < 0)
			goto out_close;
		/* Another writer committed meanwhile: the parts may not match. */
		if (before == after && !r.interrupted) {
			r.t->genid = before;
			r.t->reads = (unsigned int)tries + 1;
			*out = r.t;
			r.t = NULL;
			goto out_close;
		}
	}
	what = "the table kept changing while it was read";
	ret = -EAGAIN;
out_close:
	if (ret < 0)
		fail(err, errlen, table, what, ret);
	adopt_table_free(r.t);
	reader_close(&r);
	return ret;
}
