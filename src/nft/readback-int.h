/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What readback.c shares with readback_rules.c: the reader and its dumps. */
#ifndef KNLB_NFT_READBACK_INT_H
#define KNLB_NFT_READBACK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libmnl/libmnl.h>

#include "knlb/lib/addr-t.h"
#include "knlb/pool/adopt-t.h"

#define SLOTS_SUFFIX "_slots"
#define CHAIN_PREFIX "svc_"
#define FALLBACK_CHAIN_PREFIX "fb_"
#define FALLBACK_MAP_INFIX "_fb"
#define SLOT_KEY_LEN 4

struct reader {
	struct mnl_socket *nl;
	char *buf;
	uint32_t seq;
	/* a dump said NLM_F_DUMP_INTR, or listed a slot twice: read again */
	bool interrupted;
	struct adopt_table *t;
	size_t services_cap;	/* of t->services, which only we append to */
	/*
	 * The maps of the service being read: every element's key, and its
	 * value (a backend; .slots unused), then counted.
	 */
	uint32_t *keys;
	struct adopt_backend *values;
	/* of the map being read; KNLB_FAMILIES: from each value's length */
	enum knlb_family family;
	size_t n_values, values_cap, keys_cap;
	int err;		/* first error a callback met (-errno) */
};

/*
 * Send the request in r->buf and run cb on every reply until the dump's
 * end: 0, or the first error (a callback's in r->err).
 */
int readback_exchange(struct reader *r, struct nlmsghdr *nlh, mnl_cb_t cb);

/* The entry for name, added when new; NULL when it cannot be ours or on ENOMEM. */
struct adopt_service *readback_service_of(struct reader *r, const char *name,
					  size_t len);

/* Every rule of table: marks from chains svc_NAME, dead backends from fb_NAME. */
int readback_read_rules(struct reader *r, const char *table);

#endif
