/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_PROC_NUMBER_H
#define KNLB_PROC_NUMBER_H

#include <stdint.h>

/*
 * The unsigned number in the file dir/rel, as /proc/sys keeps them (one
 * number, an optional newline): 0, or -errno (-EINVAL: not one number).
 * dir is the /proc root or a directory under it; tests pass a fake one.
 */
int proc_number_read(const char *dir, const char *rel, uint64_t *out);

#endif
