/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading one number from a /proc/sys file.  See include/knlb/lib/proc_number.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "knlb/lib/proc_number.h"

int proc_number_read(const char *dir, const char *rel, uint64_t *out)
{
	char path[512], buf[64], *end;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return -EINVAL;
	return 0;
}
