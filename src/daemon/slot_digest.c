/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The slot table digest knlbctl status and the metrics show, so an
 * operator can compare two gateways at a glance (slot_digest.h).  FNV-1a
 * over a byte sequence that depends neither on the host's byte order nor
 * on the order backends are listed in: a collision is possible in theory,
 * but this is a check that two tables built from one config agree, not a
 * defence against a forger.
 */
#include <stdio.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/slot_digest.h"
#include "knlb/pool/pool-t.h"
#include "knlb/sched/sched.h"

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

static uint64_t fnv_bytes(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV64_PRIME;
	}
	return h;
}

/* One slot: a tag byte (0 empty, 4 or 6 the family), address, port (BE). */
static uint64_t fnv_slot(uint64_t h, const struct knlb_service *svc, uint32_t b)
{
	const struct knlb_backend_config *cfg;
	unsigned char tag = 0, port[2];

	if (b == SCHED_SLOT_EMPTY || b >= svc->n_backends)
		return fnv_bytes(h, &tag, 1);
	cfg = svc->backends[b].cfg;
	tag = cfg->addr.family == AF_INET6 ? 6 : 4;
	h = fnv_bytes(h, &tag, 1);
	if (tag == 6)
		h = fnv_bytes(h, &cfg->addr.in6, sizeof(cfg->addr.in6));
	else
		h = fnv_bytes(h, &cfg->addr.in, sizeof(cfg->addr.in));
	port[0] = (unsigned char)(cfg->port >> 8);
	port[1] = (unsigned char)(cfg->port & 0xff);
	return fnv_bytes(h, port, sizeof(port));
}

uint64_t slot_digest(const struct knlb_service *svc, const uint32_t *slots)
{
	uint64_t h = FNV64_OFFSET;

	for (uint32_t i = 0; i < svc->cfg->table_size; i++)
		h = fnv_slot(h, svc, slots[i]);
	return h;
}

char *slot_digest_format(uint64_t digest, char buf[SLOT_DIGEST_STRLEN])
{
	snprintf(buf, SLOT_DIGEST_STRLEN, "%016llx", (unsigned long long)digest);
	return buf;
}
