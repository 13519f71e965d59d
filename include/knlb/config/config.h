/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_H
#define KNLB_CONFIG_H

#include <stdio.h>
#include <stdbool.h>
#include "knlb/config/config-t.h"
#include "knlb/lib/addr.h"

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

/* Whether svc has a VIP of family f (and so a slot table for it). */
static inline bool config_service_has_family(const struct knlb_service_config *svc,
					     enum knlb_family f)
{
	return svc->vip[f].family != 0;
}

/* The first VIP of svc (IPv4 before IPv6), for messages. */
static inline const struct knlb_addr *
config_service_first_vip(const struct knlb_service_config *svc)
{
	return svc->vip[KNLB_FAMILY_IPV4].family ? &svc->vip[KNLB_FAMILY_IPV4]
						 : &svc->vip[KNLB_FAMILY_IPV6];
}

/*
 * Every VIP of svc with its port, "192.0.2.10:80" or
 * "192.0.2.10:80,[2001:db8::10]:80" (one word, for status lines); returns buf.
 */
#define CONFIG_VIPS_STRLEN (KNLB_FAMILIES * KNLB_ADDRSTRLEN)
const char *config_service_vips(const struct knlb_service_config *svc,
				char *buf, size_t len);

const char *config_proto_name(enum knlb_proto proto);
const char *config_scheduler_name(enum knlb_scheduler sched);
const char *config_hash_key_name(enum knlb_hash_key key);

#endif
