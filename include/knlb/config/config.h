/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_H
#define KNLB_CONFIG_H

#include <stdio.h>
#include "knlb/config/config-t.h"

/*
 * Read and validate an INI file.  On success returns 0 and a config the
 * caller frees with config_free().  On failure returns -1, *out is NULL and
 * every problem found has been written to errors, one per line, as
 * "FILE:LINE: message" (FILE: message when there is no line, e.g. open
 * failures).  Never touches the kernel.
 */
int config_load(const char *path, struct knlb_config **out, FILE *errors);

/* Same, from a stream already open; name is used in messages. */
int config_load_stream(FILE *in, const char *name, struct knlb_config **out,
		       FILE *errors);

void config_free(struct knlb_config *config);

const char *config_proto_name(enum knlb_proto proto);
const char *config_scheduler_name(enum knlb_scheduler sched);
const char *config_hash_key_name(enum knlb_hash_key key);

#endif
