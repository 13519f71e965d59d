/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_RENDER_H
#define KNLB_RENDER_H

#include <stdio.h>

struct knlb_model;

/*
 * Print the table the pool describes in nft syntax, exactly as
 * `nft list table inet NAME` (nft 1.0.6) prints what ruleset.c programs:
 * the golden files in rules/ are compared against both.  Returns 0 or -EIO.
 */
int render_ruleset(FILE *out, const struct knlb_model *pool);

#endif
