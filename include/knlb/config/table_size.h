/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_TABLE_SIZE_H
#define KNLB_CONFIG_TABLE_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/config/config-t.h"

/*
 * A service without table_size gets a size that fits it (docs/configuration.md,
 * "table_size"), N being every backend of the service, backups included:
 *
 * - maglev: the smallest prime >= max(KNLB_MAGLEV_MIN_SLOTS, 100 x N), so
 *   every backend is within 1 % of its weighted share (Maglev paper);
 * - wrr, random, wlc: the smallest multiple of S >= max(KNLB_ROUND_MIN_SLOTS,
 *   10 x N), S the sum of the weights divided by their gcd: with every
 *   backend in the table each one's share is exactly its weight's, and
 *   with any subset (a backend down, backups only) within one slot of it,
 *   at most 1 point as M >= 100;
 *
 * capped at KNLB_MAX_SLOTS (for wrr: the largest multiple of S below the
 * cap, or the cap when S is above it).
 */
uint32_t config_table_size_derive(const struct knlb_service_config *svc);

/*
 * Is a table of m slots, running already, still good enough for svc (its
 * new backend list) to be kept rather than resized?  Half the derivation's
 * margin: maglev prime and m >= 50 x N (shares within about 2 %), the
 * others m >= max(100, 5 x N) (within 1 point); and m >= N, m <=
 * KNLB_MAX_SLOTS.  Resizing the table replaces it and reshuffles every
 * flow's slot, so a derived size is not shrunk or grown for less.
 */
bool config_table_size_adequate(const struct knlb_service_config *svc,
				uint32_t m);

/*
 * Reload: every service of next whose table_size is derived and that also
 * runs in running (same name, same scheduler) keeps the running size when
 * that is adequate for next's backends; its table_size_source becomes
 * KNLB_TABLE_SIZE_KEPT.  An explicit table_size always wins.
 */
void config_keep_table_sizes(const struct knlb_config *running,
			     struct knlb_config *next);

/*
 * Restart: the running map of service svc holds m slots (0: unknown or
 * empty).  Keeps m as above and returns true when svc's size changed.
 */
bool config_keep_table_size(struct knlb_service_config *svc, uint32_t m);

/*
 * Whether svc's kernel table takes the fallback shape (pool/fallback.h,
 * docs/architecture.md): maglev, and table_size >=
 * KNLB_FALLBACK_SLOTS_PER_BACKEND x the backends of its largest family
 * (backups included).  A derived size (100 x N) never does: it is for the
 * tables an operator made large on purpose.
 */
bool config_table_has_fallback_maps(const struct knlb_service_config *svc);

/* "set", "derived" or "kept". */
const char *config_table_size_source_name(enum knlb_table_size_source src);

/*
 * How svc's table_size came about, for --render and the log: "table_size
 * 1021, derived: maglev, 4 backends, smallest prime >= max(1021, 100 x 4)".
 * Truncated to len (always terminated).
 */
void config_table_size_explain(const struct knlb_service_config *svc,
			       char *buf, size_t len);

#endif
