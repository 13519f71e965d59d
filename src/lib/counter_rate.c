/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Rates from counter samples (include/knlb/lib/counter_rate.h). */
#include <math.h>
#include <stdio.h>

#include "knlb/lib/counter_rate.h"

bool counter_rate(const uint64_t *prev, uint64_t cur, double dt_s, double *out)
{
	uint64_t delta;

	if (!prev || !(dt_s > 0))
		return false;
	/* Backwards: restarted from zero during the interval. */
	delta = cur >= *prev ? cur - *prev : cur;
	*out = (double)delta / dt_s;
	return true;
}

const char *counter_human(double v, char *buf, unsigned int len)
{
	static const char units[] = " KMGTPE";
	unsigned int u = 0;

	if (!(v >= 0) || isinf(v)) {
		snprintf(buf, len, "-");
		return buf;
	}
	while (v >= 999.95 && u + 1 < sizeof(units) - 1) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, v == floor(v) || v >= 100 ? "%.0f" : "%.1f", v);
	else
		snprintf(buf, len, v >= 100 ? "%.0f%c" : v >= 10 ? "%.1f%c" : "%.2f%c",
			 v, units[u]);
	return buf;
}
