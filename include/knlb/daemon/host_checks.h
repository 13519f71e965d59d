/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HOST_CHECKS_H
#define KNLB_HOST_CHECKS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/addr-t.h"
#include "knlb/config/config-t.h"

/*
 * What knlb needs from the host it runs on and cannot program itself:
 * forwarding for the families it serves, the snat addresses on an
 * interface, a conntrack table with room.  Any of them missing turns the
 * gateway into a silent black hole: the table is programmed, status says
 * all is well, and every flow dies.
 *
 * Two halves: the facts (read from a /proc tree under a root the caller
 * names, and from the interfaces' addresses), and a pure evaluation of a
 * configuration against the facts into a list of problems.  Tests feed
 * the evaluation a fake /proc tree and a hand-made address list.
 */

/* One row per check: the metric's label, a series each (0 when fine). */
enum host_check {
	HOST_CHECK_IP_FORWARD,		/* net.ipv4.ip_forward, IPv4 VIPs */
	HOST_CHECK_IPV6_FORWARDING,	/* net.ipv6.conf.all.forwarding, IPv6 VIPs */
	HOST_CHECK_SNAT_ADDRESS,	/* snat = ADDRESS not on an up interface */
	HOST_CHECK_CONNTRACK,		/* nf_conntrack not loaded */
	HOST_CHECK_CONNTRACK_MAX,	/* nf_conntrack_max below the floor */
	HOST_CHECK_CONNTRACK_FULL,	/* above HOST_CT_FULL_PERCENT, or full */
	HOST_CHECK_COUNT,
};

/* "ip_forward", "snat_address", ...: the metric label and status prefix. */
const char *host_check_name(enum host_check check);

/* The floor for nf_conntrack_max: this, or this many per backend if more. */
#define HOST_CT_MAX_FLOOR		16384U
#define HOST_CT_MAX_PER_BACKEND		1024U
/*
 * Percent of nf_conntrack_max in use above which new flows are at risk:
 * a burst fills the rest in seconds.  docs/operations.md documents it.
 */
#define HOST_CT_FULL_PERCENT		90U

/* The forwarding switch of each family knlb may serve. */
enum host_family { HOST_FAMILY_IPV4, HOST_FAMILY_IPV6, HOST_FAMILY_COUNT };

/* A forwarding sysctl that could not be read (absent: IPv6 disabled). */
#define HOST_UNKNOWN (-1)

struct host_addr {
	struct knlb_addr addr;
	char ifname[IF_NAMESIZE];
	bool up;			/* IFF_UP: its local route exists */
};

/*
 * The conntrack table of this network namespace: count is per namespace,
 * max is the host's (read-only outside the initial namespace), and each
 * namespace's count is held against it.
 */
struct host_ct {
	bool loaded;			/* the nf_conntrack sysctls exist */
	uint64_t count, max;
};

enum host_ct_fill {
	HOST_CT_ROOMY,		/* at or below HOST_CT_FULL_PERCENT */
	HOST_CT_HIGH,		/* above it: new flows at risk */
	HOST_CT_FULL,		/* count >= max: the kernel drops new flows */
};

/* Read ct from proc_root's nf_conntrack_count and _max (loaded false if absent). */
void host_ct_read(const char *proc_root, struct host_ct *ct);
/* How full ct is; ROOMY when not loaded (that is another problem). */
enum host_ct_fill host_ct_fill(const struct host_ct *ct);
/* "roomy", "high", "full": status --json's conntrack.state. */
const char *host_ct_fill_name(enum host_ct_fill fill);

struct host_facts {
	int forwarding[HOST_FAMILY_COUNT];	/* 1, 0 or HOST_UNKNOWN */
	struct host_ct ct;
	struct host_addr *addrs;	/* every address of every interface */
	size_t n_addrs, addrs_cap;
};

/*
 * Fill the sysctl facts from proc_root (normally "/proc"): a missing file
 * is a fact (HOST_UNKNOWN, ct.loaded false), not an error.  Always 0.
 */
int host_facts_read_proc(const char *proc_root, struct host_facts *f);
/* The interfaces' addresses (getifaddrs(3)), appended.  0 or -errno. */
int host_facts_read_addrs(struct host_facts *f);
/* Append one address (tests and host_facts_read_addrs).  0 or -ENOMEM. */
int host_facts_add_addr(struct host_facts *f, const struct knlb_addr *addr,
			const char *ifname, bool up);
void host_facts_free(struct host_facts *f);

struct host_problem {
	enum host_check check;
	char subject[KNLB_NAME_MAX];	/* the service it concerns, or "" */
	/*
	 * How bad, within one check (conntrack_full: enum host_ct_fill): a
	 * worse or better level is a new log line, not the same problem.
	 */
	unsigned level;
	char text[384];			/* what, the consequence, the fix */
};

struct host_problems {
	struct host_problem *v;
	size_t n, cap;
};

/*
 * Leave out what knlbd itself provides once it has programmed its table:
 * for knlbd -t, which runs before (and maybe on another machine), nft
 * loading nf_conntrack is still to come.
 */
#define HOST_CHECKS_BEFORE_START	0x1u

/*
 * The problems of config on a host with facts f, in check order, into out
 * (emptied first).  Pure.  0, or -ENOMEM with out emptied.
 */
int host_checks_evaluate(const struct knlb_config *config,
			 const struct host_facts *f, unsigned flags,
			 struct host_problems *out);

/*
 * Read the facts of this host (proc_root, its interfaces) and evaluate
 * config against them; the conntrack facts into ct when not NULL.  0, or
 * -errno (the addresses unreadable: nothing judged rather than every
 * snat address reported missing).
 */
int host_checks_run(const struct knlb_config *config, const char *proc_root,
		    unsigned flags, struct host_problems *out,
		    struct host_ct *ct);

/* The same problem (check and subject), whatever its text says now. */
bool host_problem_same(const struct host_problem *a,
		       const struct host_problem *b);
/* The same problem at the same level: nothing new to say about it. */
bool host_problem_unchanged(const struct host_problem *a,
			    const struct host_problem *b);
/* Some problem of this check is in p. */
bool host_problems_have(const struct host_problems *p, enum host_check check);
void host_problems_free(struct host_problems *p);

#endif
