/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness: the config loader.  A config file is the operator's, but
 * knlbctl check-config and reload read any file they are pointed at, and
 * a truncated or corrupted file must come back as FILE:LINE errors, never
 * as a crash or a half-read config (issue 13).  The input is the whole
 * text of the file; it goes through config_load_stream() as a real file
 * would, with every error message written out, and the loaded config (or
 * NULL) freed.  Seeds: the files of conf/.  See docs/fuzzing.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "knlb/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct knlb_config *config = NULL;
	char *msgs = NULL;
	size_t msgs_len = 0;
	FILE *in, *errors;

	/* fmemopen refuses a zero size: an empty file is /dev/null. */
	in = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
	errors = open_memstream(&msgs, &msgs_len);
	if (!in || !errors)
		abort();
	config_load_stream(in, "fuzz.conf", &config, errors);
	config_free(config);
	fclose(errors);
	free(msgs);
	fclose(in);
	return 0;
}
