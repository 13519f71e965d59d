/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The checks that need the whole file: required keys, keys that mean
 * nothing for the service's check kind or scheduler, Maglev's prime table
 * size, duplicate backends, VIPs and ids, the ct mark room.  They report
 * and never set a value: defaults are defaults.c's.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/values.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/prime.h"
#include "config-int.h"

static int key_line(const struct config_parser *p, size_t i, const char *name)
{
	return p->meta[i].key_line[config_keyword_index(name)];
}

static bool key_bad(const struct config_parser *p, size_t i, const char *name)
{
	return p->meta[i].key_bad[config_keyword_index(name)];
}

static void check_required(struct config_parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	size_t n;
	const struct config_keyword *kw = config_keywords(&n);

	for (size_t k = 0; k < n; k++)
		if ((kw[k].flags & CONFIG_KW_REQUIRED) &&
		    config_keyword_in_service(&kw[k]) && !p->meta[i].key_line[k])
			config_report(p, svc->line, "service %s has no %s",
				      svc->name, kw[k].name);
}

/* A key that means nothing for this check kind or scheduler is a mistake worth a line. */
static void check_keys_apply(struct config_parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	const struct service_meta *meta = &p->meta[i];
	unsigned int kind = 1u << svc->health.check.kind;
	unsigned int sched = 1u << svc->scheduler;
	bool check_bad = key_bad(p, i, "check");
	bool sched_bad = key_bad(p, i, "scheduler");
	size_t n;
	const struct config_keyword *kw = config_keywords(&n);
	char which[128];

	for (size_t k = 0; k < n; k++) {
		int line = meta->key_line[k];

		if (!line)
			continue;
		if (kw[k].check_kinds && !(kw[k].check_kinds & kind) && !check_bad) {
			config_word_list(config_check_words, kw[k].check_kinds,
					 which, sizeof(which));
			config_report(p, line,
				      "%s applies only to check = %s (service %s has check = %s)",
				      kw[k].name, which, svc->name,
				      config_word_name(config_check_words,
						       (int)svc->health.check.kind));
		}
		if (kw[k].schedulers && !(kw[k].schedulers & sched) && !sched_bad) {
			config_word_list(config_scheduler_words, kw[k].schedulers,
					 which, sizeof(which));
			config_report(p, line,
				      "%s applies only to scheduler = %s (service %s uses %s)",
				      kw[k].name, which, svc->name,
				      config_scheduler_name(svc->scheduler));
		}
	}
}

static void check_table_size(struct config_parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	int line = key_line(p, i, "table_size");
	unsigned long m = svc->table_size, below, above;

	if (key_bad(p, i, "table_size"))
		return;
	if (!key_bad(p, i, "scheduler") &&
	    svc->scheduler == KNLB_SCHED_MAGLEV && !is_prime((uint32_t)m)) {
		/* m >= MIN_SLOTS and KNLB_MAX_SLOTS is prime: both exist. */
		for (below = m - 1; !is_prime((uint32_t)below); below--)
			;
		for (above = m + 1; !is_prime((uint32_t)above); above++)
			;
		config_report(p, line,
			      "table_size %lu is not prime (Maglev needs a prime; nearest primes: %lu, %lu)",
			      m, below, above);
	}
	if (svc->n_backends > m)
		config_report(p, line ? line : svc->line,
			      "table_size %lu is smaller than the number of backends (%zu) of service %s: each backend needs a slot",
			      m, svc->n_backends, svc->name);
}

static int endpoint_cmp(const struct knlb_backend_config *a,
			const struct knlb_backend_config *b)
{
	int c = addr_compare(&a->addr, &b->addr);

	return c ? c : (a->port > b->port) - (a->port < b->port);
}

static int backend_endpoint_cmp(const void *a, const void *b)
{
	const struct knlb_backend_config *x = *(const void *const *)a;
	const struct knlb_backend_config *y = *(const void *const *)b;
	int c = endpoint_cmp(x, y);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int backend_id_cmp(const void *a, const void *b)
{
	const struct knlb_backend_config *x = *(const void *const *)a;
	const struct knlb_backend_config *y = *(const void *const *)b;
	int c = strcmp(x->id, y->id);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/*
 * Duplicates by sorting rather than comparing every pair: a service may
 * have as many backends as slots.  Each later copy is reported at its own
 * line, citing the first.
 */
static void check_backend_duplicates(struct config_parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	const struct knlb_backend_config **v;
	char ep[KNLB_ADDRSTRLEN];
	size_t n = svc->n_backends;

	if (n < 2)
		return;
	v = malloc(n * sizeof(*v));
	if (!v) {
		p->oom = true;
		return;
	}
	for (size_t k = 0; k < n; k++)
		v[k] = &svc->backends[k];

	qsort(v, n, sizeof(*v), backend_endpoint_cmp);
	for (size_t k = 1, first = 0; k < n; k++) {
		if (endpoint_cmp(v[first], v[k]) != 0) {
			first = k;
			continue;
		}
		config_report(p, v[k]->line, "backend %s is already listed on line %d",
			      addr_port_format(&v[k]->addr, v[k]->port, ep, sizeof(ep)),
			      v[first]->line);
	}

	qsort(v, n, sizeof(*v), backend_id_cmp);
	for (size_t k = 1, first = 0; k < n; k++) {
		if (strcmp(v[first]->id, v[k]->id) != 0) {
			first = k;
			continue;
		}
		/* Same endpoint too: already reported above. */
		if (endpoint_cmp(v[first], v[k]) == 0)
			continue;
		config_report(p, v[k]->line, "backend id %s is already used on line %d",
			      v[k]->id, v[first]->line);
	}
	free(v);
}

static void check_health(struct config_parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	const struct knlb_health_config *h = &svc->health;
	enum check_kind kind = h->check.kind;
	int timeout_line = key_line(p, i, "timeout");
	char a[32], b[32];

	for (size_t b_i = 0; b_i < svc->n_backends; b_i++)
		if (svc->backends[b_i].check_port && kind == CHECK_NONE &&
		    !key_bad(p, i, "check"))
			config_report(p, svc->backends[b_i].line,
				      "backend check_port needs a check (service %s has check = none)",
				      svc->name);

	if (kind != CHECK_NONE && !key_bad(p, i, "timeout") &&
	    !key_bad(p, i, "interval") && h->check.timeout_ns > h->interval_ns)
		config_report(p, timeout_line ? timeout_line
					      : key_line(p, i, "interval"),
			      "timeout %s is longer than interval %s (service %s): a probe must end before the next one starts",
			      config_format_duration(h->check.timeout_ns, a, sizeof(a)),
			      config_format_duration(h->interval_ns, b, sizeof(b)),
			      svc->name);
}

static bool service_has_endpoint(const struct config_parser *p, size_t i)
{
	return !p->meta[i].name_bad && key_line(p, i, "vip") &&
	       !key_bad(p, i, "vip") && key_line(p, i, "port") &&
	       !key_bad(p, i, "port") && !key_bad(p, i, "proto");
}

/* Two services on one VIP, proto and port: the dispatch map has one slot. */
static void check_vip_duplicates(struct config_parser *p)
{
	const struct knlb_service_config *s = p->config->services;
	char ep[KNLB_ADDRSTRLEN];

	for (size_t i = 0; i < p->config->n_services; i++) {
		if (!service_has_endpoint(p, i))
			continue;
		for (int f = 0; f < KNLB_FAMILIES; f++) {
			if (!config_service_has_family(&s[i], f))
				continue;
			for (size_t j = 0; j < i; j++) {
				if (!service_has_endpoint(p, j) ||
				    !addr_equal(&s[i].vip[f], &s[j].vip[f]) ||
				    s[i].port != s[j].port || s[i].proto != s[j].proto)
					continue;
				config_report(p, s[i].vip_line[f],
					      "%s/%s is already used by service %s (line %d)",
					      addr_port_format(&s[i].vip[f], s[i].port,
							       ep, sizeof(ep)),
					      config_proto_name(s[i].proto), s[j].name,
					      s[j].line);
				break;
			}
		}
	}
}

/*
 * Every family a service serves needs a backend of that family, and every
 * backend a VIP of its own family: knlb translates addresses, never
 * families (NAT46/NAT64 is out of scope).  SNAT addresses follow the VIPs.
 */
static void check_families(struct config_parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	size_t per_family[KNLB_FAMILIES] = { 0 };
	char ep[KNLB_ADDRSTRLEN];

	if (key_bad(p, i, "vip"))
		return;
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend_config *be = &svc->backends[b];
		enum knlb_family f = addr_family_index(&be->addr);

		per_family[f]++;
		if (!config_service_has_family(svc, f) && key_line(p, i, "vip"))
			config_report(p, be->line,
				      "backend %s is %s but service %s has no %s vip (knlb does not translate between IPv4 and IPv6)",
				      addr_port_format(&be->addr, be->port, ep, sizeof(ep)),
				      addr_family_name(f), svc->name, addr_family_name(f));
	}
	for (int f = 0; f < KNLB_FAMILIES; f++) {
		if (config_service_has_family(svc, f) && per_family[f] == 0 &&
		    svc->n_backends && !key_bad(p, i, "backend"))
			config_report(p, svc->vip_line[f],
				      "vip %s of service %s has no %s backend: add one, or remove the vip",
				      addr_format(&svc->vip[f], ep, sizeof(ep)),
				      svc->name, addr_family_name(f));
		if (svc->snat != KNLB_SNAT_ADDRESS || key_bad(p, i, "snat"))
			continue;
		if (config_service_has_family(svc, f) && !svc->snat_addr[f].family)
			config_report(p, key_line(p, i, "snat"),
				      "snat of service %s has no %s address for its %s vip %s (give one per family, or snat = masquerade)",
				      svc->name, addr_family_name(f), addr_family_name(f),
				      addr_format(&svc->vip[f], ep, sizeof(ep)));
		else if (!config_service_has_family(svc, f) && svc->snat_addr[f].family &&
			 key_line(p, i, "vip"))
			config_report(p, key_line(p, i, "snat"),
				      "snat %s is %s but service %s has no %s vip",
				      addr_format(&svc->snat_addr[f], ep, sizeof(ep)),
				      addr_family_name(f), svc->name, addr_family_name(f));
	}
}

/* Service marks are 1..N shifted under the mask: N must fit in it. */
static void check_mark_mask(struct config_parser *p)
{
	uint32_t mask = p->config->global.ct_mark_mask;
	uint32_t room = mask >> __builtin_ctz(mask);
	int line = p->global_key_line[config_keyword_index("ct_mark_mask")];

	if ((room & (room + 1)) != 0) {
		config_report(p, line,
			      "ct_mark_mask %#x is not one run of contiguous bits (e.g. 0xff000000)",
			      mask);
		return;
	}
	if (p->config->n_services > room)
		config_report(p, line,
			      "ct_mark_mask %#x has room for %u service%s, the file has %zu",
			      mask, room, room == 1 ? "" : "s",
			      p->config->n_services);
}

/* wlc weighs backends by their active flows: it needs them counted. */
static void check_track(struct config_parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];

	if (svc->track == KNLB_TRACK_OFF && svc->scheduler == KNLB_SCHED_WLC &&
	    !key_bad(p, i, "scheduler"))
		config_report(p, key_line(p, i, "track"),
			      "track = off: scheduler wlc needs the service's flows counted (track = events or periodic)");
}

void config_check(struct config_parser *p)
{
	for (size_t i = 0; i < p->config->n_services; i++) {
		check_required(p, i);
		check_keys_apply(p, i);
		check_table_size(p, i);
		check_backend_duplicates(p, i);
		check_families(p, i);
		check_health(p, i);
		check_track(p, i);
	}
	check_vip_duplicates(p);
	check_mark_mask(p);
}
