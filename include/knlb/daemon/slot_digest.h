/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_DAEMON_SLOT_DIGEST_H
#define KNLB_DAEMON_SLOT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

struct knlb_service;

/* 16 hex digits and a NUL. */
#define SLOT_DIGEST_STRLEN 17

/*
 * A 64-bit digest (FNV-1a) of the slot table slots (svc->cfg->table_size
 * long, indices into svc->backends or SCHED_SLOT_EMPTY) as the sequence
 * slot -> backend address:port, each address in network byte order: two
 * gateways with the same digest send every hash key to the same backend
 * (docs/high-availability.md).  Backend indices, ids and weights do not
 * enter it, only where each slot leads.
 */
uint64_t slot_digest(const struct knlb_service *svc, const uint32_t *slots);

/* The digest as 16 lower-case hex digits; returns buf. */
char *slot_digest_format(uint64_t digest, char buf[SLOT_DIGEST_STRLEN]);

#endif
