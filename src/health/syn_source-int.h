/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HEALTH_SYN_SOURCE_INT_H
#define KNLB_HEALTH_SYN_SOURCE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/*
 * The IPv4 source of a half-open probe towards each backend address
 * (check_syn.c: the checksum covers it, so it is chosen before the SYN is
 * sent).  An open-addressing table by destination, at most half full,
 * whose entries are never removed: one per backend address ever probed.
 * It is looked up once per probe, 5,000 times a second for 10,000
 * backends every 2 s, so the slot a lookup starts from must spread the
 * addresses of a subnet (test_syn_source.c).
 */
struct syn_source {
	struct in_addr dst, src;
	uint64_t expires_ns;
	bool used;
};

struct syn_sources {
	struct syn_source *slots;
	size_t n, used;
};

/*
 * dst's entry, made (unused, to be filled in by the caller, who then
 * counts it with syn_sources_used()) when it has none: NULL when out of
 * memory.
 */
struct syn_source *syn_sources_slot(struct syn_sources *t, struct in_addr dst);
/* A slot syn_sources_slot() returned unused is now in use. */
void syn_sources_used(struct syn_sources *t, struct syn_source *s);
/* The slots a lookup of dst reads (1: found where it hashes): for tests. */
size_t syn_sources_reads(const struct syn_sources *t, struct in_addr dst);
void syn_sources_free(struct syn_sources *t);

#endif
