/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The slot table digest two gateways compare (docs/high-availability.md):
 * the same config and seed give the same digest, built twice as two
 * gateways would; anything that moves a slot to another backend (a weight,
 * a seed, a backend's address) changes it; what moves no slot does not.
 */
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/daemon/slot_digest.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"

#include "config-test.h"

#define HEAD "[global]\ntable = knlb\ncontrol_socket = /tmp/x.sock\n"
#define WEB(sched) "[service web]\nvip = 192.0.2.10\nport = 80\nproto = tcp\n" \
	"scheduler = " sched "\ntable_size = 251\ncheck = none\nsnat = none\n"

/* The digest of service 0 of a pool built from text. */
static uint64_t digest_of(const char *text)
{
	struct result r = load_ok(text);
	struct knlb_pool *pool = NULL;
	uint64_t d;

	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	d = slot_digest(&pool->services[0], pool->services[0].slots);
	pool_free(pool);
	result_free(&r);
	return d;
}

static const char *maglev3 =
	HEAD "hash_seed = 0x5eed\n" WEB("maglev")
	"backend = 10.0.0.11:8080 weight=3\n"
	"backend = 10.0.0.12:8080 weight=1\n"
	"backend = 10.0.0.13:8080 weight=1\n";

Test(slot_digest, same_config_and_seed_same_digest)
{
	/* Two pools from one text: what two gateways do. */
	cr_expect_eq(digest_of(maglev3), digest_of(maglev3));
}

Test(slot_digest, weight_change_changes_it)
{
	const char *other =
		HEAD "hash_seed = 0x5eed\n" WEB("maglev")
		"backend = 10.0.0.11:8080 weight=2\n"
		"backend = 10.0.0.12:8080 weight=1\n"
		"backend = 10.0.0.13:8080 weight=1\n";

	cr_expect_neq(digest_of(maglev3), digest_of(other));
}

Test(slot_digest, seed_change_changes_it)
{
	const char *other =
		HEAD "hash_seed = 0x5eee\n" WEB("maglev")
		"backend = 10.0.0.11:8080 weight=3\n"
		"backend = 10.0.0.12:8080 weight=1\n"
		"backend = 10.0.0.13:8080 weight=1\n";

	cr_expect_neq(digest_of(maglev3), digest_of(other));
}

Test(slot_digest, wrr_same_config_same_digest_and_port_counts)
{
	const char *a = HEAD WEB("wrr")
		"backend = 10.0.0.11:8080 weight=1\n"
		"backend = 10.0.0.12:8080 weight=1\n";
	const char *b = HEAD WEB("wrr")
		"backend = 10.0.0.11:8080 weight=1\n"
		"backend = 10.0.0.12:8081 weight=1\n";

	cr_expect_eq(digest_of(a), digest_of(a));
	cr_expect_neq(digest_of(a), digest_of(b));
}

/* The digest reads the table it is given, not the pool's own. */
Test(slot_digest, reads_the_slots_given)
{
	struct result r = load_ok(maglev3);
	struct knlb_pool *pool = NULL;
	struct knlb_service *svc;
	uint32_t *copy;
	uint64_t before;

	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	svc = &pool->services[0];
	copy = malloc(svc->cfg->table_size * sizeof(*copy));
	cr_assert_not_null(copy);
	memcpy(copy, svc->slots, svc->cfg->table_size * sizeof(*copy));
	before = slot_digest(svc, copy);
	cr_expect_eq(before, slot_digest(svc, svc->slots));
	copy[7] = copy[7] == 0 ? 1 : 0;
	cr_expect_neq(before, slot_digest(svc, copy));
	copy[7] = SCHED_SLOT_EMPTY;
	cr_expect_neq(before, slot_digest(svc, copy));
	free(copy);
	pool_free(pool);
	result_free(&r);
}

Test(slot_digest, format_is_16_hex_digits)
{
	char buf[SLOT_DIGEST_STRLEN];

	cr_expect_str_eq(slot_digest_format(0x00ab00000000cd01ULL, buf),
			 "00ab00000000cd01");
	cr_expect_eq(strlen(slot_digest_format(UINT64_MAX, buf)), 16);
}
