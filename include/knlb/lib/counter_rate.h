/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_COUNTER_RATE_H
#define KNLB_COUNTER_RATE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Per-second rate of a monotonic counter between two samples dt_s seconds
 * apart.  A counter that went backwards was restarted (a kernel set
 * element that expired idle, a table replaced): it counted from zero
 * within the interval, so the rate is cur / dt_s, never negative and never
 * a wrap-around.  false (no rate yet) without a previous sample or for an
 * interval that is not positive.
 */
bool counter_rate(const uint64_t *prev, uint64_t cur, double dt_s, double *out);

/*
 * v with an SI suffix in at most 6 characters: "0", "950", "12.3K",
 * "4.56M", "1.2G"... (1000-based, as ipvsadm --rate and most dashboards).
 */
const char *counter_human(double v, char *buf, unsigned int len);

#endif
