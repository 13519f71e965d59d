/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The order of a table replace's messages (nft/ruleset.c): a map's
 * elements come after every rule that reads the map.  A rule binds the
 * maps it reads, and the kernel walks every element already there when it
 * does (nf_tables_bind_set()): 5 % of programming 2 M slots.  The kernel
 * accepts either order, so only this test sees the slow one come back.
 */
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include "config-test.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/ruleset.h"
#include "knlb/nft/sync.h"
#include "knlb/pool/fallback.h"
#include "knlb/pool/pool.h"

/* web: 4099 slots for 4 backends (the fallback shape); api: derived. */
#define CONF "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 4099\n" \
	"backend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080\n" \
	"backend = 10.0.0.13:8080\nbackend = 10.0.0.14:8080\n" \
	"[service api]\nvip = 192.0.2.10\nvip = 2001:db8::10\nport = 81\n" \
	"backend = 10.0.0.11:9090\nbackend = [2001:db8::11]:9090\n"

/* The string attribute `type` of message nlh (after its nfgenmsg), or "". */
static const char *msg_string(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == type)
			return mnl_attr_get_str(a);
	return "";
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A chain whose rules read service name's maps: svc_NAME, fb<b>_NAME. */
static bool reads_maps_of(const char *chain, const char *name)
{
	size_t n = strlen(chain), k = strlen(name);

	if (starts_with(chain, "svc_"))
		return strcmp(chain + 4, name) == 0;
	return starts_with(chain, "fb") && n > k + 1 && chain[2] != '_' &&
	       chain[n - k - 1] == '_' && strcmp(chain + n - k, name) == 0;
}

/* A slot map or a fallback map of service name. */
static bool map_of(const char *set, const char *name)
{
	size_t k = strlen(name);

	return strncmp(set, name, k) == 0 &&
	       (starts_with(set + k, "_slots") || starts_with(set + k, "_fb"));
}

static void expect_elements_after_rules(const struct nfnl_batch *batch,
					const char *name)
{
	size_t last_rule = 0, first_elem = SIZE_MAX, rules = 0;

	for (size_t i = 0; i < nfnl_batch_count(batch); i++) {
		const struct nlmsghdr *nlh = nfnl_batch_msg(batch, i);
		uint16_t type = nlh->nlmsg_type & 0xff;

		if (type == NFT_MSG_NEWRULE &&
		    reads_maps_of(msg_string(nlh, NFTA_RULE_CHAIN), name)) {
			last_rule = i;
			rules++;
		}
		if (type == NFT_MSG_NEWSETELEM && first_elem == SIZE_MAX &&
		    map_of(msg_string(nlh, NFTA_SET_ELEM_LIST_SET), name))
			first_elem = i;
	}
	cr_assert_gt(rules, 0, "no rule of service %s found", name);
	cr_assert_neq(first_elem, SIZE_MAX, "no element of service %s found", name);
	cr_expect_lt(last_rule, first_elem,
		     "service %s: a map element (message %zu) before a rule reading it (message %zu)",
		     name, first_elem, last_rule);
}

Test(replace_order, map_elements_come_after_the_rules_that_read_them)
{
	struct result r = load_ok(CONF);
	struct knlb_model *pool;
	struct fallback_state *fb;
	struct nfnl_batch *batch = nfnl_batch_new(NULL);

	cr_assert_not_null(batch);
	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	for (size_t i = 0; i < pool->n_services; i++)
		cr_assert_eq(pool_compute_slots(&pool->services[i]), 0);
	fb = sync_fallback_states_new(pool, true);
	cr_assert_not_null(fb);
	cr_assert_not_null(fb[0].base, "web is not in the fallback shape");
	cr_assert_eq(ruleset_add_replace(batch, pool, fb, NULL, NULL), 0);
	expect_elements_after_rules(batch, "web");
	expect_elements_after_rules(batch, "api");
	sync_fallback_states_free(fb, pool->n_services);
	nfnl_batch_free(batch);
	pool_free(pool);
	result_free(&r);
}
