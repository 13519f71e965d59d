/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_VALUES_H
#define KNLB_CONFIG_VALUES_H

#include <stddef.h>
#include <stdint.h>
#include "knlb/config/check-t.h"

/*
 * Parsers for the value syntaxes of health-check keys.  Each returns 0, or
 * -1 with a message (no file or line: the caller adds those) in err.
 */

/* "500ms", "0.5s", "2s", "1m", "1h": a number and a unit, no blanks. */
int config_parse_duration(const char *text, uint64_t *ns, char *err,
			  size_t errlen);

/* "200", "200,204", "2xx", "200-299", combined with commas. */
int config_parse_status_list(const char *text, struct check_spec *spec,
			     char *err, size_t errlen);

/* Text as written, or "hex:0a0b0c" for raw bytes. */
int config_parse_payload(const char *text, uint8_t *out, size_t cap,
			 size_t *len, char *err, size_t errlen);

/* "1.5s", "200ms": the shortest exact form of a duration, for messages. */
const char *config_format_duration(uint64_t ns, char *buf, size_t len);

#endif
