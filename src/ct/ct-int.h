/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the pieces of src/ct/ share (see include/knlb/ct/ct.h for the
 * API):
 *   msg.c     a ctnetlink message -> knlb's flow record (struct flow,
 *             struct ct_flow)
 *   socket.c  the three netlink sockets: buffers, kernel filters
 *   events.c  NEW/DESTROY and TCP closing updates -> the flowtab
 *   dump.c    dumps on the query socket, and resync from one
 *   open.c    ct_open()/ct_close(): the sockets wired into the loop
 *   list.c    listing entries for `knlbctl flows`: at once (ct_list) or
 *             piece by piece on a socket of their own (ct_listing_*)
 *   flush.c   deleting one backend's entries
 *   query.c   looking flows up one by one (GET), for passive health
 * "Resync" here always means: correct the flowtab from a full dump.
 */
#ifndef KNLB_CT_INT_H
#define KNLB_CT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>

#include "knlb/ct/ct.h"
#include "knlb/ct/flowtab.h"
#include "knlb/ct/unseen.h"
#include "knlb/lib/addr-t.h"
#include "knlb/lib/loop.h"

#define CT_RCVBUF_START (4 << 20)
#define CT_RCVBUF_MAX (64 << 20)
#define CT_RCVBUF_MIN 4096
/*
 * One event is one datagram of a few hundred bytes; recvmmsg takes many.
 * (-DCT_BATCH=N builds another size, for the intake bench.)
 */
#ifndef CT_BATCH
#define CT_BATCH 64
#endif
#define CT_MSG_SIZE 2048
/*
 * Events handled per wakeup before returning to the loop, so a storm
 * cannot starve timers and probes; epoll calls us again at once.
 */
#define CT_BUDGET 8192
/* The kernel fills dump datagrams up to 32 KiB when the reader allows. */
#define CT_QUERY_BUF (64 * 1024)
#define CT_QUERY_TIMEOUT_S 5
/* Deletes per sendmsg: their ACKs must fit the default receive buffer. */
#define CT_DEL_CHUNK 64
#define CT_RESYNC_MIN_GAP_NS 1000000000ULL
/* Bounded mode samples the NEW event rate this long after each pass. */
#define CT_SAMPLE_NS 100000000ULL

/*
 * One subscribed, kernel-filtered, non-blocking socket and what reading
 * it needs: the event socket (NEW, DESTROY) and the update socket (TCP
 * entries reaching TIME_WAIT or CLOSE).
 */
struct ct_listener {
	const char *name;		/* for the log: "events", "updates" */
	struct mnl_socket *nl;
	int fd;
	bool watching;
	int rcvbuf_req;
	/*
	 * Between an ENOBUFS and the read that finds the queue empty.  The
	 * kernel reports one ENOBUFS per such episode and drops silently
	 * for the rest of it, so a dump started now could miss later drops.
	 */
	bool congested;
	uint64_t congested_since_ns;	/* its ENOBUFS */
	char *buf;			/* CT_BATCH * CT_MSG_SIZE */
	struct mmsghdr msgs[CT_BATCH];
	struct iovec iov[CT_BATCH];
};

struct ct {
	struct loop *loop;
	struct flowtab *ft;
	uint32_t mask;

	struct ct_listener events;	/* NEW, DESTROY */
	struct ct_listener updates;	/* UPDATE: TCP TIME_WAIT, CLOSE */

	/* Request/response: dumps and deletes. */
	struct mnl_socket *query;
	uint32_t seq;
	bool query_busy;		/* a dump is being read */
	char *query_buf;		/* CT_QUERY_BUF */

	struct loop_timer resync_timer;
	bool in_resync;
	bool ft_scoped_pass;		/* the dump being read is a scoped pass's */
	bool pass_reads_traffic;	/* the pass is a reader's: unfiltered,
					   every knlb flow's counters read */
	bool traffic_read;		/* ct_refresh_counts(ct, true)'s pass
					   did; ct_traffic_refresh() takes it */
	uint64_t last_resync_end_ns;
	uint64_t last_resync_dur_ns;

	struct ct_stats st;

	/* periodic.c: counting by dumps */
	uint32_t *periodic_marks;
	size_t n_periodic, periodic_cap;
	uint64_t periodic_interval_ns;
	struct loop_timer periodic_timer;
	uint64_t last_pass_start_ns;	/* 0: no pass yet (no rate) */
	uint64_t counted_at_ns;		/* the last pass's start; 0: none */
	bool counts_acted_on;		/* a pass every interval, not only
					   every unread_interval_ns and
					   when read (ct_set_counts_acted_on) */
	uint64_t unread_interval_ns;	/* the shortest of unread[]'s, or
					   CT_UNREAD_INTERVAL_NS */
	/* unread.c: each counted mark's interval, sorted by mark */
	struct ct_unread_mark *unread;
	size_t n_unread;
	uint32_t *due;			/* a tick's due marks */
	size_t due_cap;
	uint32_t *due_unseen;		/* of them, the periodic ones */
	size_t due_unseen_cap;
	struct ct_bounded_policy policy;
	uint64_t window_start_ns;	/* overflows counted since */
	unsigned window_overflows;
	uint64_t window_news;		/* events_new then */
	uint64_t rate_start_ns;		/* events_limit: this second's start */
	uint64_t rate_news;		/* events_new then */
	uint64_t bounded_since_ns;
	uint64_t bounded_left_ns;	/* when it last returned to events */
	uint64_t hold_ns;		/* this episode's minimum */
	unsigned calm_passes;
	/* Bounded: the rate from the kernel's counters, the last reading. */
	ct_event_flows_fn event_flows_fn;
	void *event_flows_arg;
	uint64_t counted_flows;
	uint64_t counted_ns;		/* 0: no reading yet (a baseline next) */
	/* Bounded, no counters: NEW joined for CT_SAMPLE_NS after each pass. */
	struct loop_timer sample_timer;
	bool sampling;
	uint64_t sample_start_ns, sample_news, sample_overflows;
	/* The periodic services' flows no dump saw, from kernel counters. */
	ct_new_flows_fn new_flows_fn;
	void *new_flows_arg;
	struct unseen unseen;

	ct_new_flow_fn on_new;		/* observe = yes: NEW events */
	void *on_new_arg;

	/* traffic.c: traffic_counters = conntrack */
	bool count_traffic;		/* sum DESTROY events' counters */
};

/* ---- msg.c ---- */

struct ct_tuple {
	struct knlb_addr src, dst;
	uint16_t sport, dport;		/* host order; ICMP id as sport */
	uint8_t proto;
	bool has_ip, has_proto;
};

/* The top-level attributes we read, in one pass over the message. */
struct ct_msg {
	const struct nlattr *orig, *reply, *id, *mark, *status, *timeout;
	const struct nlattr *protoinfo, *counters[2], *timestamp, *zone;
};

static inline uint32_t ct_attr_be32(const struct nlattr *a)
{
	return a ? ntohl(mnl_attr_get_u32(a)) : 0;
}

/* Find the attributes of a ctnetlink message (validated when wanted). */
void ct_msg_parse(const struct nlmsghdr *nlh, struct ct_msg *m);
/* The IP and proto parts of a tuple nest; false if either is missing. */
bool ct_parse_tuple(const struct nlattr *nest, struct ct_tuple *t);
/*
 * What the flowtab needs.  false if the message is not a usable flow; a
 * flow of no service comes back with mark 0 (an event has no CTA_MARK
 * when the mark is 0).  ending: a TCP entry in TIME_WAIT or CLOSE.
 */
bool ct_msg_flow(const struct ct *ct, const struct ct_msg *m, struct flow *f);
/*
 * Everything ct_list() reports, the service's mark under mask.  false if
 * the message is not a usable flow.
 */
bool ct_msg_list_entry(uint32_t mask, const struct ct_msg *m,
		       uint64_t now_real_ns, struct ct_flow *out);

/*
 * The entry's accounting (nf_conntrack_acct was on when it was made):
 * original direction in, reply out.  false, and zeroes, without it.
 */
bool ct_msg_traffic(const struct ct_msg *m, struct flow_traffic *t);

/* The original tuple nest of t, as a DELETE or a GET names an entry. */
void ct_msg_put_orig_tuple(struct nlmsghdr *nlh, const struct ct_tuple *t);
/* The TCP state in a CTA_PROTOINFO nest, or -1. */
int ct_msg_tcp_state(const struct nlattr *protoinfo);

/* ---- traffic.c ---- */

/*
 * When counting traffic: a DESTROY's final counters (call before
 * flowtab_flow_destroy()), and a pass's reading of a flow it saw.
 */
void ct_traffic_destroyed(struct ct *ct, const struct flow *f,
			  const struct ct_msg *m);
void ct_traffic_seen(struct ct *ct, const struct flow *f, const struct ct_msg *m);
/* A reader's reading of any knlb flow's counters, known or not (0 or -errno). */
int ct_traffic_live(struct ct *ct, const struct flow *f, const struct ct_msg *m);
/* Before a reader's dump (not inside a pass): the events queued now. */
void ct_traffic_read_events(struct ct *ct);

/* ---- query.c ---- */

/* Request i of an exchange into buf with sequence number seq. */
typedef void (*ct_build_fn)(char *buf, uint32_t seq, size_t i, void *arg);
/* A reply to request i; true when it is the one that request waits for. */
typedef bool (*ct_reply_fn)(struct ct *ct, const struct nlmsghdr *nlh,
			    size_t i, void *arg);
/*
 * Send n requests (n * their size must fit CT_QUERY_BUF) in one sendmsg on
 * the query socket and read until each has its reply.  0 or -errno of
 * the exchange; the caller resets the socket on error.
 */
int ct_query_exchange(struct ct *ct, size_t n, ct_build_fn build,
		      ct_reply_fn reply, void *arg);

/* ---- socket.c ---- */

/* The groups the events listener joins (NEW, DESTROY), and the updates'. */
extern const int ct_event_groups[2];
extern const int ct_update_group[1];

/* Buffers of l for recvmmsg.  0 or -ENOMEM. */
int ct_listener_init(struct ct_listener *l, const char *name);
int ct_listener_open(struct ct *ct, struct ct_listener *l, unsigned int groups,
		     bool closing_only, bool *filtered, const char **what);
void ct_listener_close(struct ct *ct, struct ct_listener *l);
int ct_listener_set_rcvbuf(struct ct *ct, struct ct_listener *l, int bytes);
int ct_query_open(struct ct *ct);
void ct_query_close(struct ct *ct);
void ct_query_reset(struct ct *ct);

/* ---- dump.c ---- */

/* Returns 0, or -errno to stop calling (the dump is still read to its end). */
typedef int (*ct_dump_fn)(struct ct *ct, const struct ct_msg *m, void *arg);

/*
 * The request of a dump, all families, into buf (MNL_SOCKET_BUFFER_SIZE
 * at least): mark != 0 asks the kernel for only the entries with
 * (ct mark & mask) == mark.  0 or -ENOMEM.
 */
int ct_dump_request(char *buf, uint32_t seq, uint32_t mark, uint32_t mask);
/*
 * One dump on the query socket, all families.  mark != 0 asks the kernel
 * to return only entries with (ct mark & mask) == mark.
 */
int ct_dump(struct ct *ct, uint32_t mark, ct_dump_fn fn, void *arg);
/*
 * The same, l4proto != 0: only family's (AF_INET or AF_INET6) entries of
 * that protocol, the kernel filtering on the original tuple.
 */
int ct_dump_proto(struct ct *ct, uint32_t mark, uint8_t family,
		  uint8_t l4proto, ct_dump_fn fn, void *arg);
/* One resync from a dump, its outcome in *res; no stats, no log. */
int ct_resync_dump(struct ct *ct, struct flowtab_resync *res);
/* Resync now, later (timer) or not at all; see dump.c. */
void ct_maybe_resync(struct ct *ct);
void ct_on_resync_timer(struct loop *loop, struct loop_timer *timer, void *arg);

/*
 * One pass from dumps: marks NULL, one full dump (all knlb flows); else
 * one dump per mark, the kernel filtering, and a pass scoped to them
 * (n > CT_PERIODIC_MAX_FILTERED: one full dump, still scoped).  Its
 * outcome in *res; no stats, no log.
 */
int ct_resync_pass(struct ct *ct, const uint32_t *marks, size_t n,
		   struct flowtab_resync *res);
/*
 * A scoped pass whose marks' flows are all of one protocol, in the
 * families given: with more marks than CT_PERIODIC_MAX_FILTERED, the
 * kernel filters on the protocol instead (one dump per family), so a
 * TCP services' pass copies out no UDP entry.
 */
struct ct_pass_filter {
	uint8_t l4proto;		/* 0: none */
	uint8_t families;		/* CT_FAMILY_BIT()s */
};
int ct_resync_pass_filtered(struct ct *ct, const uint32_t *marks, size_t n,
			    const struct ct_pass_filter *f,
			    struct flowtab_resync *res);

/* ---- periodic.c ---- */

/* The interval in use: the configured one, or stretched by the dumps' cost. */
uint64_t ct_effective_interval(const struct ct *ct);
/* ct_stats.unread_interval_ms: 0 while the counts are acted on. */
uint64_t ct_unread_ms(const struct ct *ct);
/*
 * A pass over the n marks only, f the kernel's filter for them; the
 * unseen flows of the n_unseen periodic ones among them.  As
 * ct_periodic_pass() returns.
 */
int ct_periodic_pass_part(struct ct *ct, const uint32_t *marks, size_t n,
			  const struct ct_pass_filter *f,
			  const uint32_t *unseen_marks, size_t n_unseen);

/* ---- unread.c ---- */

/*
 * While nothing acts on the counts and each counted mark has its
 * interval: this tick's passes over the due marks (a whole pass when all
 * are, *whole then true).  1 when done so, 0 when the marks do not cover
 * what is counted (the single interval applies), or a pass's -errno.
 */
int ct_unread_tick(struct ct *ct, uint64_t now, bool *whole);
/* After a pass that started at start: over the n scope marks, or all. */
void ct_unread_passed(struct ct *ct, const uint32_t *scope, size_t n,
		      uint64_t start);
/* The longest of the marks' intervals in ms (ct_unread_ms() when one). */
uint64_t ct_unread_longest_ms(const struct ct *ct);
void ct_unread_free(struct ct *ct);
/* After ct_set_periodic(): the marks' periodic flags again. */
void ct_unread_mark_periodic(struct ct *ct);

void ct_periodic_init(struct ct *ct);
void ct_periodic_close(struct ct *ct);
/* An ENOBUFS on l, its buffer size before it grew: maybe go bounded. */
void ct_note_overflow(struct ct *ct, int rcvbuf_was);
void ct_check_rate(struct ct *ct);
/*
 * After reading: a queue that stayed full since its ENOBUFS (the kernel
 * reports one per episode) for policy.congested_ns is overload too.
 */
void ct_check_congestion(struct ct *ct, const struct ct_listener *l);
/* Bounded mode ended because no service follows events any more. */
void ct_bounded_quit(struct ct *ct);

/* ---- socket.c ---- */

/* Join (on) or leave the multicast groups of l.  0 or -errno. */
int ct_listener_join(struct ct_listener *l, const int *groups, size_t n,
		     bool on);

/* ---- events.c ---- */

void ct_on_events(struct loop *loop, int fd, uint32_t events, void *arg);
void ct_on_updates(struct loop *loop, int fd, uint32_t events, void *arg);

#endif
