/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CTL_JSON_LINES_H
#define KNLB_CTL_JSON_LINES_H

#include <stddef.h>

struct json_writer;

/*
 * key, then each line of text (len bytes, '\n'-separated, a last line
 * without '\n' included) as one string of an array: how the --json
 * replies carry a report written for people (reload, check-config).
 */
void ctl_json_lines(struct json_writer *w, const char *key, const char *text,
		    size_t len);

#endif
