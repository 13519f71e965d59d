/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CONFIG_T_H
#define KNLB_CONFIG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "knlb/lib/addr-t.h"
#include "knlb/config/check-t.h"

/*
 * What the operator wrote, validated and nothing more.  Runtime state
 * (health, effective weight, slot tables) lives in struct knlb_model, which
 * points at these: configuration stays flat and read-only once loaded.
 */

#define KNLB_NAME_MAX		64	/* service names, backend ids, table */
#define KNLB_PATH_MAX		108	/* sun_path */
#define KNLB_DEFAULT_TABLE	"knlb"
#define KNLB_DEFAULT_SEED	0x5eedU
#define KNLB_MAX_SLOTS		131071U	/* prime; bounds one batch's size */
/* A table_size not given is derived from the backends (config/table_size.h). */
#define KNLB_MAGLEV_MIN_SLOTS	1021U	/* prime */
#define KNLB_MAGLEV_SLOTS_PER_BACKEND	100U	/* 1 % balance (Maglev paper) */
/*
 * maglev tables with at least this many slots per backend of a family get
 * per-backend fallback maps (pool/fallback.h): below it, rewriting a dead
 * backend's slots (2 x M/N elements, ~1.1 us each) stays under a
 * millisecond and the maps would only double the elements to program.
 */
#define KNLB_FALLBACK_SLOTS_PER_BACKEND	256U
#define KNLB_ROUND_MIN_SLOTS	100U	/* wrr, random, wlc: 1 point */
#define KNLB_ROUND_SLOTS_PER_BACKEND	10U
#define KNLB_MAX_WEIGHT		65535U
#define KNLB_MAX_MAXCONN	10000000U
#define KNLB_DEFAULT_CONTROL_SOCKET "/run/knlb/knlb.sock"
#define KNLB_DEFAULT_CT_MARK_MASK 0xffffffffU
/* Flow counts are checked against a conntrack dump this often (0 = never). */
#define KNLB_DEFAULT_CT_RESYNC_NS	300000000000ULL

/* Health-check defaults, as HAProxy's: inter 2s, timeout 1s, rise 2, fall 3. */
#define KNLB_DEFAULT_INTERVAL_NS	2000000000ULL
#define KNLB_DEFAULT_TIMEOUT_NS		1000000000ULL
#define KNLB_DEFAULT_RISE		2U
#define KNLB_DEFAULT_FALL		3U
#define KNLB_MAX_RISE_FALL		100U

enum knlb_proto {
	KNLB_PROTO_TCP = IPPROTO_TCP,
	KNLB_PROTO_UDP = IPPROTO_UDP,
};

enum knlb_scheduler {
	KNLB_SCHED_MAGLEV,	/* jhash of hash_key -> slot */
	KNLB_SCHED_WRR,		/* numgen inc -> slot */
	KNLB_SCHED_RANDOM,	/* numgen random -> slot */
	KNLB_SCHED_WLC,		/* numgen inc -> slot, weights / (1 + active flows) */
};

enum knlb_hash_key {
	KNLB_HASH_SRC_IP,
	KNLB_HASH_SRC_IP_PORT,
	KNLB_HASH_5TUPLE,
};

enum knlb_snat {
	KNLB_SNAT_NONE,
	KNLB_SNAT_MASQUERADE,
	KNLB_SNAT_ADDRESS,
};

/* Where a service's table_size came from (knlbctl status, --render). */
enum knlb_table_size_source {
	KNLB_TABLE_SIZE_SET,		/* table_size in the file */
	KNLB_TABLE_SIZE_DERIVED,	/* from the backends (config_table_size_derive) */
	KNLB_TABLE_SIZE_KEPT,		/* derived, but the running size was kept */
};

enum knlb_on_empty {
	KNLB_ON_EMPTY_REJECT,	/* TCP reset / ICMP port unreachable */
	KNLB_ON_EMPTY_DROP,
};

/*
 * Scale-out (docs/scale-out.md): whether knlbd tells a routing daemon to
 * attract this VIP, by a route in its own kernel table, while it can serve.
 */
enum knlb_announce {
	KNLB_ANNOUNCE_NO,
	KNLB_ANNOUNCE_ROUTE,
};
#define KNLB_DEFAULT_ANNOUNCE_TABLE	4242U

/*
 * Who counts each backend's packets and bytes (traffic_counters).  0 is
 * "not counted", so that a plain truth test asks "counted at all?".
 */
enum knlb_traffic {
	KNLB_TRAFFIC_OFF,	/* no: new flows only */
	KNLB_TRAFFIC_RULES,	/* yes: a rule per packet (nft/stats.h) */
	KNLB_TRAFFIC_CONNTRACK,	/* conntrack's accounting, summed by knlbd */
	KNLB_TRAFFIC_AUTO,	/* auto: CONNTRACK where knlbd can turn the
				   accounting on, else RULES; resolved at
				   start (daemon/traffic.h) */
};

/* Which conntrack events the service chain asks the kernel for (ct_events). */
enum knlb_ct_events {
	KNLB_CT_EVENTS_LEAN,	/* ct event set new,destroy,protoinfo */
	KNLB_CT_EVENTS_ALL,	/* no ct event statement: every kind */
};

/* Whether knlbd follows a service's flows (track). */
enum knlb_track {
	KNLB_TRACK_EVENTS,	/* conntrack events: counts, drain, wlc */
	KNLB_TRACK_OFF,		/* ct event set 0: no event, no count */
	KNLB_TRACK_PERIODIC,	/* ct event set 0; counts from a kernel-filtered
				   dump every track_interval */
};

/* When knlbd listens to TCP closing updates (ct_closing). */
enum knlb_ct_closing {
	KNLB_CT_CLOSING_NEEDED,	/* while a backend drains or a wlc service runs */
	KNLB_CT_CLOSING_ALWAYS,
};

struct knlb_backend_config {
	char id[KNLB_NAME_MAX];	/* id= when given, else "ADDR:PORT" */
	struct knlb_addr addr;
	uint16_t port;		/* host byte order */
	uint32_t weight;	/* 0..KNLB_MAX_WEIGHT */
	bool backup;		/* used only while no primary is usable */
	uint16_t check_port;	/* probe port; 0 = the service's check_port or port */
	uint32_t maxconn;	/* active flows that make it full; 0 = no limit */
	int line;		/* where it was declared, for messages */
};

/* How a service's backends are probed and judged. */
struct knlb_health_config {
	struct check_spec check;	/* check.port: service-wide check_port */
	uint64_t interval_ns;		/* between probes of an up backend */
	uint64_t fastinter_ns;		/* while rising or falling */
	uint64_t downinter_ns;		/* while down */
	uint32_t rise, fall;		/* consecutive results to change state */
	uint64_t slowstart_ns;		/* weight ramp after recovery; 0 = off */
	/* observe = yes: passive health from new TCP flows (health/observe.c) */
	bool observe;
	uint64_t observe_timeout_ns;	/* a SYN unanswered this long counts */
	uint32_t observe_min_flows, observe_fail_pct;
	bool latency_weights;		/* least response time (sched/lrt.c) */
};

struct knlb_service_config {
	char name[KNLB_NAME_MAX];
	/*
	 * One VIP per family (addr_family_index); family 0 where the service
	 * has none.  A dual-stack service has both and one slot table each.
	 */
	struct knlb_addr vip[KNLB_FAMILIES];
	int vip_line[KNLB_FAMILIES];
	uint16_t port;		/* host byte order */
	enum knlb_proto proto;
	enum knlb_scheduler scheduler;
	enum knlb_hash_key hash_key;
	uint32_t table_size;	/* slots, M */
	enum knlb_table_size_source table_size_source;
	uint32_t hash_seed;	/* global hash_seed unless overridden */
	enum knlb_snat snat;
	/* KNLB_SNAT_ADDRESS only: one per family the service serves */
	struct knlb_addr snat_addr[KNLB_FAMILIES];
	struct knlb_health_config health;
	enum knlb_on_empty on_empty;
	bool flush;		/* delete a dead backend's conntrack entries */
	/*
	 * Source-IP persistence: a client address keeps its backend this long
	 * after its last new flow (whole seconds); 0 = off.
	 */
	uint64_t persistence_ns;
	enum knlb_track track;
	enum knlb_announce announce;	/* [global]'s unless set here */
	struct knlb_backend_config *backends;
	size_t n_backends;
	int line;		/* line of the [service NAME] header */
};

struct knlb_global_config {
	char table[KNLB_NAME_MAX];	/* nft table, family inet */
	int log_level;			/* enum log_level */
	uint32_t hash_seed;
	char control_socket[KNLB_PATH_MAX];
	uint32_t ct_mark_mask;		/* bits of ct mark knlb owns */
	uint64_t ct_resync_interval_ns;	/* periodic flow-count audit; 0 = off */
	uint64_t track_interval_ns;	/* track = periodic (and bounded mode):
					   counts refreshed this often */
	uint32_t track_events_limit;	/* new flows/s followed with events
					   at most; above: bounded mode (0: no
					   limit) */
	enum knlb_ct_events ct_events;
	enum knlb_ct_closing ct_closing;
	enum knlb_traffic traffic_counters;	/* who counts each backend's
						   packets and bytes */
	bool traffic_auto;	/* traffic_counters was auto, now resolved */
	char metrics_listen[KNLB_ADDRSTRLEN];	/* "ADDR:PORT"; "" = off */
	char user[KNLB_NAME_MAX];	/* run as this user after setup; "" = stay root */
	enum knlb_announce announce;	/* services' default */
	uint32_t announce_table;	/* kernel routing table of announced VIPs */
};

struct knlb_config {
	char *path;			/* file it was read from */
	struct knlb_global_config global;
	struct knlb_service_config *services;
	size_t n_services;
};

#endif
