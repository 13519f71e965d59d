/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one table of configuration keys.  Everything about a key is its row:
 * where it may appear and where it is stored (an offset into the section's
 * struct), the parser that reads it and the limits that parser applies,
 * what it applies to, its default and its documentation line.  The loader
 * dispatches on it, checks.c reads what keys apply to from it, defaults.c
 * sets the defaults from it, and `knlbd --list-keys` prints it for
 * `make test-docs`.  To add a key, add a row here next to its feature.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/keywords.h"
#include "config-int.h"

#define G(field)	offsetof(struct knlb_global_config, field)
#define S(field)	offsetof(struct knlb_service_config, field)
#define H(field)	offsetof(struct knlb_service_config, health.field)
#define NOWHERE		CONFIG_NOWHERE
#define SIZE(type, field)	sizeof(((type *)0)->field)

#define KIND(k)		(1u << (k))
#define ANY_CHECK	(KIND(CHECK_TCP) | KIND(CHECK_HTTP) | \
			 KIND(CHECK_HTTPS) | KIND(CHECK_UDP))
#define HTTP_CHECK	(KIND(CHECK_HTTP) | KIND(CHECK_HTTPS))

static const struct config_keyword keywords[] = {
	/* ---- [global] ---- */
	{ .name = "table", .global_offset = G(table), .service_offset = NOWHERE,
	  .parse = config_parse_table_name, .def = KNLB_DEFAULT_TABLE,
	  .doc = "the one nft table (family inet) knlb owns" },
	{ .name = "log_level", .global_offset = G(log_level),
	  .service_offset = NOWHERE, .parse = config_parse_log_level,
	  .def = "info", .doc = "error, warning, info or debug" },
	{ .name = "hash_seed", .global_offset = G(hash_seed),
	  .service_offset = S(hash_seed), .parse = config_parse_hex_u32,
	  .min = 0, .max = UINT32_MAX, .def = "0x5eed",
	  .doc = "Maglev and jhash seed: the same on every gateway gives the same tables; a service's own overrides [global]'s" },
	{ .name = "control_socket", .global_offset = G(control_socket),
	  .service_offset = NOWHERE, .parse = config_parse_control_socket,
	  .max = SIZE(struct knlb_global_config, control_socket),
	  .def = KNLB_DEFAULT_CONTROL_SOCKET,
	  .doc = "the unix socket knlbctl talks to" },
	{ .name = "ct_mark_mask", .global_offset = G(ct_mark_mask),
	  .service_offset = NOWHERE, .parse = config_parse_hex_u32,
	  .min = 1, .max = UINT32_MAX, .def = "0xffffffff",
	  .doc = "the bits of the conntrack mark knlb owns (one contiguous run)" },
	{ .name = "ct_resync_interval", .global_offset = G(ct_resync_interval_ns),
	  .service_offset = NOWHERE, .parse = config_parse_ct_resync,
	  .def = "300s",
	  .doc = "how often flow counts are checked against a conntrack dump; 0s turns it off" },
	{ .name = "track_interval", .global_offset = G(track_interval_ns),
	  .service_offset = NOWHERE, .parse = config_parse_duration_key,
	  .min = 100000000, .max = 60000000000UL, .def = "1s",
	  .doc = "track = periodic, and the bounded mode of an overloaded event intake: flow counts are refreshed from a kernel-filtered conntrack dump this often while a drain, wlc or maxconn acts on them; else each service's every half the shortest conntrack timeout of its protocol (5 s TCP, 15 s UDP) and when read (status, stats, a scrape) older than this" },
	{ .name = "track_events_limit", .global_offset = G(track_events_limit),
	  .service_offset = NOWHERE, .parse = config_parse_u32,
	  .min = 0, .max = 100000000, .def = "10000",
	  .doc = "new flows per second knlbd follows with conntrack events at most; once more than that are read within one second, every tracked service is counted from a conntrack dump every track_interval (bounded mode) until the rate is under half of it; 0: no limit" },
	{ .name = "ct_events", .global_offset = G(ct_events),
	  .service_offset = NOWHERE, .parse = config_parse_word,
	  .words = config_ct_events_words, .def = "lean",
	  .doc = "conntrack events the kernel builds for knlb's flows: lean (new, destroy and TCP state: what knlbd and conntrackd's TCP sync read) or all (every kind); restart to change" },
	{ .name = "ct_closing", .global_offset = G(ct_closing),
	  .service_offset = NOWHERE, .parse = config_parse_word,
	  .words = config_ct_closing_words, .def = "needed",
	  .doc = "listen to TCP closing updates always, or only when needed (a backend draining, a wlc service); otherwise a closed TCP flow counts active until its entry is destroyed" },
	{ .name = "traffic_counters", .global_offset = G(traffic_counters),
	  .service_offset = NOWHERE, .parse = config_parse_word,
	  .words = config_traffic_words, .def = "auto",
	  .doc = "count each backend's packets and bytes: auto, conntrack where knlbd can turn conntrack's accounting on, else yes; conntrack, from conntrack's accounting (turned on), summed by knlbd from each flow's last reading: no rule per packet; yes, in the kernel at a rule per packet; no: new flows only; restart to change" },
	{ .name = "metrics_listen", .global_offset = G(metrics_listen),
	  .service_offset = NOWHERE, .parse = config_parse_listen,
	  .max = SIZE(struct knlb_global_config, metrics_listen),
	  .doc = "ADDR:PORT or [IPV6]:PORT of the Prometheus endpoint; off when absent" },
	{ .name = "user", .global_offset = G(user), .service_offset = NOWHERE,
	  .parse = config_parse_user,
	  .max = SIZE(struct knlb_global_config, user),
	  .doc = "run as this user after setup, keeping only CAP_NET_ADMIN" },

	/* ---- [service NAME]: where traffic comes in ---- */
	{ .name = "vip", .global_offset = NOWHERE, .service_offset = S(vip),
	  .parse = config_parse_vip,
	  .flags = CONFIG_KW_REQUIRED | CONFIG_KW_REPEATABLE,
	  .doc = "the virtual address, IPv4 or IPv6 (required); once per family for a dual-stack service" },
	{ .name = "port", .global_offset = NOWHERE, .service_offset = S(port),
	  .parse = config_parse_u16, .min = 1, .max = 65535,
	  .flags = CONFIG_KW_REQUIRED, .doc = "the service port (required)" },
	{ .name = "proto", .global_offset = NOWHERE, .service_offset = S(proto),
	  .parse = config_parse_word, .words = config_proto_words, .def = "tcp",
	  .doc = "tcp or udp" },

	/* ---- scheduling ---- */
	{ .name = "scheduler", .global_offset = NOWHERE,
	  .service_offset = S(scheduler), .parse = config_parse_word,
	  .words = config_scheduler_words, .def = "maglev",
	  .doc = "maglev, wrr, random or wlc" },
	{ .name = "hash_key", .global_offset = NOWHERE,
	  .service_offset = S(hash_key), .parse = config_parse_word,
	  .words = config_hash_key_words,
	  .schedulers = KIND(KNLB_SCHED_MAGLEV), .def = "src-ip-port",
	  .doc = "what Maglev hashes: src-ip, src-ip-port or 5-tuple" },
	{ .name = "table_size", .global_offset = NOWHERE,
	  .service_offset = S(table_size), .parse = config_parse_u32,
	  .min = MIN_SLOTS, .max = KNLB_MAX_SLOTS,
	  .def = "derived from the backends", .flags = CONFIG_KW_DERIVED,
	  .doc = "slots M; prime for maglev; when absent, sized to the backends (maglev: prime >= 100 x N)" },
	{ .name = "snat", .global_offset = NOWHERE, .service_offset = S(snat),
	  .parse = config_parse_snat, .def = "none",
	  .flags = CONFIG_KW_REPEATABLE,
	  .doc = "masquerade, none, or one address per family the service serves (on one line or two)" },
	{ .name = "backend", .global_offset = NOWHERE,
	  .service_offset = S(backends), .parse = config_parse_backend,
	  .flags = CONFIG_KW_REPEATABLE | CONFIG_KW_REQUIRED,
	  .doc = "ADDR:PORT [weight=N] [id=NAME] [backup] [check_port=N], one line each (at least one)" },

	/* ---- health checks ---- */
	{ .name = "check", .global_offset = NOWHERE,
	  .service_offset = H(check.kind), .parse = config_parse_word,
	  .words = config_check_words, .def = "none",
	  .doc = "none, tcp, http, https or udp" },
	{ .name = "check_port", .global_offset = NOWHERE,
	  .service_offset = H(check.port), .parse = config_parse_u16,
	  .min = 1, .max = 65535, .check_kinds = ANY_CHECK,
	  .def = "the backend's port", .flags = CONFIG_KW_DERIVED,
	  .doc = "probe this port instead of the backend's" },
	{ .name = "check_path", .global_offset = NOWHERE,
	  .service_offset = H(check.path), .parse = config_parse_check_path,
	  .max = CHECK_TEXT_MAX, .check_kinds = HTTP_CHECK, .def = "/",
	  .doc = "the path an http(s) check GETs" },
	{ .name = "check_host", .global_offset = NOWHERE,
	  .service_offset = H(check.host), .parse = config_parse_check_host,
	  .max = CHECK_TEXT_MAX, .check_kinds = HTTP_CHECK,
	  .def = "the backend's address", .flags = CONFIG_KW_DERIVED,
	  .doc = "Host header and SNI of an http(s) check" },
	{ .name = "check_expect", .global_offset = NOWHERE,
	  .service_offset = H(check.expect_status),
	  .parse = config_parse_check_expect, .check_kinds = HTTP_CHECK,
	  .def = "2xx,3xx", .doc = "statuses that pass: 200, 2xx, 200-299, comma-separated" },
	{ .name = "check_body", .global_offset = NOWHERE,
	  .service_offset = H(check.body), .parse = config_parse_text,
	  .max = CHECK_TEXT_MAX, .check_kinds = HTTP_CHECK,
	  .flags = CONFIG_KW_TEXT, .doc = "text the response body must contain" },
	{ .name = "check_send", .global_offset = NOWHERE,
	  .service_offset = H(check.send), .parse = config_parse_check_send,
	  .check_kinds = KIND(CHECK_UDP), .flags = CONFIG_KW_TEXT,
	  .doc = "the udp probe's payload: text, or hex:BYTES" },
	{ .name = "check_expect_reply", .global_offset = NOWHERE,
	  .service_offset = H(check.expect_reply),
	  .parse = config_parse_check_expect_reply,
	  .check_kinds = KIND(CHECK_UDP), .flags = CONFIG_KW_TEXT,
	  .doc = "what the udp reply must start with: text, or hex:BYTES; any reply when absent" },
	{ .name = "interval", .global_offset = NOWHERE,
	  .service_offset = H(interval_ns), .parse = config_parse_duration_key,
	  .min = MIN_INTERVAL_NS, .check_kinds = ANY_CHECK, .def = "2s",
	  .doc = "between probes of an up backend" },
	{ .name = "timeout", .global_offset = NOWHERE,
	  .service_offset = H(check.timeout_ns),
	  .parse = config_parse_duration_key, .min = MIN_INTERVAL_NS,
	  .check_kinds = ANY_CHECK, .def = "1s",
	  .doc = "a probe's deadline; at most interval" },
	{ .name = "rise", .global_offset = NOWHERE, .service_offset = H(rise),
	  .parse = config_parse_u32, .min = 1, .max = KNLB_MAX_RISE_FALL,
	  .check_kinds = ANY_CHECK, .def = "2",
	  .doc = "passed probes in a row to come up" },
	{ .name = "fall", .global_offset = NOWHERE, .service_offset = H(fall),
	  .parse = config_parse_u32, .min = 1, .max = KNLB_MAX_RISE_FALL,
	  .check_kinds = ANY_CHECK, .def = "3",
	  .doc = "failed probes in a row to go down" },
	{ .name = "fastinter", .global_offset = NOWHERE,
	  .service_offset = H(fastinter_ns), .parse = config_parse_duration_key,
	  .min = MIN_INTERVAL_NS, .check_kinds = ANY_CHECK,
	  .def = "interval", .flags = CONFIG_KW_DERIVED,
	  .doc = "between probes while a backend is rising or falling" },
	{ .name = "downinter", .global_offset = NOWHERE,
	  .service_offset = H(downinter_ns), .parse = config_parse_duration_key,
	  .min = MIN_INTERVAL_NS, .check_kinds = ANY_CHECK,
	  .def = "interval", .flags = CONFIG_KW_DERIVED,
	  .doc = "between probes of a down backend" },
	{ .name = "slowstart", .global_offset = NOWHERE,
	  .service_offset = H(slowstart_ns), .parse = config_parse_duration_key,
	  .min = 0, .def = "0s",
	  .doc = "a recovered backend's weight ramps up over this long; 0s = at once" },
	{ .name = "observe", .global_offset = NOWHERE, .service_offset = H(observe),
	  .parse = config_parse_yes_no, .words = config_yes_no_words, .def = "no",
	  .check_kinds = ANY_CHECK,
	  .doc = "passive health: mark a backend down when its new TCP flows go unanswered or are reset" },
	{ .name = "observe_timeout", .global_offset = NOWHERE,
	  .service_offset = H(observe_timeout_ns), .parse = config_parse_duration_key,
	  .min = 100000000, .max = 60000000000UL, .def = "1s",
	  .check_kinds = ANY_CHECK,
	  .doc = "observe: a new flow still in SYN_SENT this long after it began counts as unanswered" },
	{ .name = "observe_min_flows", .global_offset = NOWHERE,
	  .service_offset = H(observe_min_flows), .parse = config_parse_u32,
	  .min = 1, .max = 1000, .def = "10",
	  .check_kinds = ANY_CHECK,
	  .doc = "observe: judged new flows in the window before a verdict" },
	{ .name = "observe_fail_pct", .global_offset = NOWHERE,
	  .service_offset = H(observe_fail_pct), .parse = config_parse_u32,
	  .min = 1, .max = 100, .def = "50",
	  .check_kinds = ANY_CHECK,
	  .doc = "observe: down when at least this percentage of judged new flows went unanswered" },
	{ .name = "latency_weights", .global_offset = NOWHERE,
	  .service_offset = H(latency_weights), .parse = config_parse_yes_no,
	  .words = config_yes_no_words, .def = "no", .check_kinds = ANY_CHECK,
	  .schedulers = KIND(KNLB_SCHED_MAGLEV) | KIND(KNLB_SCHED_WRR) | KIND(KNLB_SCHED_RANDOM),
	  .doc = "least response time: weights divided by the backend's smoothed check latency (+1 ms), with hysteresis" },

	/* ---- when backends go ---- */
	{ .name = "on_empty", .global_offset = NOWHERE,
	  .service_offset = S(on_empty), .parse = config_parse_word,
	  .words = config_on_empty_words, .def = "reject",
	  .doc = "with no usable backend: reject (TCP reset, ICMP unreachable) or drop" },
	{ .name = "flush", .global_offset = NOWHERE, .service_offset = S(flush),
	  .parse = config_parse_yes_no, .words = config_yes_no_words,
	  .def = "yes for udp, no for tcp", .flags = CONFIG_KW_DERIVED,
	  .doc = "delete a dead backend's conntrack entries (yes) or let them drain (no)" },
	{ .name = "track", .global_offset = NOWHERE, .service_offset = S(track),
	  .parse = config_parse_word, .words = config_track_words, .def = "events",
	  .doc = "follow the service's flows with conntrack events (exact counts, drain, wlc), with a conntrack dump every track_interval (periodic: the kernel builds no event for them; counts refreshed every track_interval) or not at all (off)" },

	{ .name = "persistence", .global_offset = NOWHERE,
	  .service_offset = S(persistence_ns), .parse = config_parse_persistence,
	  .max = 3600000000000ULL, .def = "0s",
	  .doc = "source-IP persistence: a client's new flows keep its backend this long after its last one (kernel map NAME_persist); 0s = off" },

	/* ---- scale-out: telling the routing daemon (docs/scale-out.md) ---- */
	{ .name = "announce", .global_offset = G(announce),
	  .service_offset = S(announce), .parse = config_parse_word,
	  .words = config_announce_words, .def = "no",
	  .doc = "route: a route to the VIP in announce_table while the service has a usable backend, for BIRD or FRR to export; a service's own overrides [global]'s" },
	{ .name = "announce_table", .global_offset = G(announce_table),
	  .service_offset = NOWHERE, .parse = config_parse_route_table,
	  .min = 1, .max = 0xfffffffe, .def = "4242",
	  .doc = "the kernel routing table knlbd puts announced VIPs in (not main, local or default)" },
};

#define N_KEYWORDS	(sizeof(keywords) / sizeof(keywords[0]))
_Static_assert(N_KEYWORDS <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX");

const struct config_keyword *config_keywords(size_t *n)
{
	*n = N_KEYWORDS;
	return keywords;
}

const struct config_keyword *config_keyword_find(const char *name)
{
	for (size_t i = 0; i < N_KEYWORDS; i++)
		if (strcmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

size_t config_keyword_index(const char *name)
{
	const struct config_keyword *kw = config_keyword_find(name);

	/* Callers name keys in code: a miss is a bug, caught by every test. */
	if (!kw)
		abort();
	return (size_t)(kw - keywords);
}

/* Levenshtein distance, giving up above limit; names are short. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 64 || lb >= 64)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0], best;

		row[0] = i;
		best = row[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t v = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			diag = up;
			row[j] = v;
			if (v < best)
				best = v;
		}
		if (best > limit)
			return limit + 1;
	}
	return row[lb];
}

const struct config_keyword *config_keyword_suggest(const char *name,
						    bool global)
{
	const struct config_keyword *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < N_KEYWORDS; i++) {
		const struct config_keyword *kw = &keywords[i];
		size_t d;

		if (global ? !config_keyword_in_global(kw)
			   : !config_keyword_in_service(kw))
			continue;
		d = edit_distance(name, kw->name, 2);
		if (d < best_d) {
			best = kw;
			best_d = d;
		}
	}
	return best;
}

static void print_row(FILE *out, const char *section,
		      const struct config_keyword *kw)
{
	fprintf(out, "%s\t%s\t%s\t%s\n", section, kw->name,
		kw->def ? kw->def : "-", kw->doc);
}

void config_keywords_print(FILE *out)
{
	for (size_t i = 0; i < N_KEYWORDS; i++) {
		if (config_keyword_in_global(&keywords[i]))
			print_row(out, "global", &keywords[i]);
		if (config_keyword_in_service(&keywords[i]))
			print_row(out, "service", &keywords[i]);
	}
}
