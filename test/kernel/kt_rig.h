/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A committer on a programmed table, driven by health verdicts without
 * probes: what the failover and shared-map kernel tests walk.
 */
#ifndef KNLB_TEST_KT_RIG_H
#define KNLB_TEST_KT_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/nft/sync.h"

struct kt_rig {
	struct knlb_config *config;
	struct knlb_model *pool;
	struct nfnl_sock *sock;
	struct loop *loop;
	struct health *health;
	struct committer *committer;
	struct sync_result programmed;	/* the first replace's */
};

/* The config text, loaded as name, its table replaced in, then health and a committer. */
void kt_rig_up(struct kt_rig *g, const char *text, const char *name);
void kt_rig_down(struct kt_rig *g);
/* A check result for backend b of services[s]: it must change the backend's state. */
void kt_rig_verdict(struct kt_rig *g, size_t s, size_t b, bool up);

/*
 * The elements of an `nft list map` listing of a slot map, slot :
 * A.B.C.D . PORT, into out[slot] = D - 1 (the tests' backends are
 * x.y.z.(1 + index)); slots must be < m.  How many were listed.
 */
size_t kt_parse_slot_map(const char *listing, uint32_t m, uint32_t *out);

/*
 * The fallback shape as the packet path reads it, over out (service's
 * slots as its slot rules map them): where chain fb_<service> jumps to
 * chain fb<b>_<service> and map <service>_fb<b> has a slot owned by b,
 * the slot goes where that map says.  Nothing when the chain is absent
 * (the direct shape).
 */
void kt_overlay_fallback_maps(const char *service, uint32_t m, uint32_t *out);

#endif
