/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CT_H
#define KNLB_CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knlb/lib/addr-t.h"

/*
 * Conntrack: which flows each backend of each service holds, kept in a
 * struct flowtab (see flowtab.h), plus listing and flushing those flows.
 * Knows ct marks and addresses, not services or health.
 *
 * Attribution.  The service chain sets the service's bits of the ct mark
 * (under ct_mark_mask) before the DNAT; the flow belongs to the service
 * whose mark equals (ct mark & mask) and to the backend equal to the
 * source of the conntrack REPLY tuple (the DNAT target).  The mark is set
 * in nat prerouting, before the entry is confirmed, so the NEW event
 * already carries it.  A mark value passed to this API is the service's
 * masked value (e.g. 0x01000000 under mask 0xff000000).
 *
 * Three netlink sockets.  Events: subscribed to NEW and DESTROY, with a
 * BPF filter in the kernel that drops every flow with (mark & mask) == 0
 * before it is queued, non-blocking, read from the loop.  Updates: the
 * same, subscribed to UPDATE, whose filter also drops all but TCP entries
 * in TIME_WAIT or CLOSE, so about one update per TCP flow reaches us: the
 * moment its connection is over, minutes before its DESTROY (see "active"
 * below).  Queries: dumps and deletes, request/response.
 *
 * "Active" is "not yet seen ending": a TCP flow ends at TIME_WAIT or
 * CLOSE (its update) or at its DESTROY, whichever comes first; any other
 * flow (UDP: 30 s unreplied, 120 s once it saw a reply and a second
 * packet; see nf_conntrack_udp_timeout*) at its DESTROY only.  FIN_WAIT,
 * CLOSE_WAIT and LAST_ACK still count as active: a half-closed connection
 * may carry data one way.  A dump knows the state too: a dumped TCP entry
 * in TIME_WAIT or CLOSE is not active.  The two sockets are not ordered
 * against each other: a closing update for a flow whose NEW is not read
 * yet reads the event socket first; one whose DESTROY came first counts
 * nothing (flowtab.h).
 *
 * Events are best effort: the kernel drops them when the receive buffer
 * is full and reports ENOBUFS.  Then the buffer is doubled (up to 64 MiB)
 * (on either listening socket) and the flow table is resynchronised from
 * a full dump, so counts are never silently wrong: while a resync is pending, ct_get_stats() says so.
 * The kernel reports ENOBUFS once and then drops silently until the queue
 * has been read empty, so the dump waits for that; under a sustained
 * overload that never lets the queue empty, counts stay flagged stale.
 * Resyncs are spaced at least 1 s (and 4x the last dump's duration) apart,
 * so an event storm cannot keep the loop dumping.  DESTROY events can
 * come late (conntrack's garbage collector reaps expired entries in
 * batches): the TCP closing update does not wait for them.
 *
 * Needs net.netfilter.nf_conntrack_events != 0 (1, or the default 2 which
 * enables events once a listener exists); with 0 ct_open() warns and only
 * the dumps count.  CAP_NET_ADMIN is needed to subscribe, to raise the
 * buffer above net.core.rmem_max and to delete entries.
 *
 * SYNCHRONOUS CALLS: ct_open() (its initial dump), ct_resync(),
 * ct_flush_backend() and ct_list() each do a dump on the query socket and
 * block the caller until it ends (a ct_listing does not): about 3-5 us per conntrack entry in
 * the table (0.6-1 s for 200k on a 2-core box, `make bench-ct`), most of
 * it the kernel's.  Each read waits at most 5 s.  The event path never
 * blocks.
 */

struct ct;
struct loop;
struct flowtab;
struct flow_traffic;

/* One conntrack entry as ct_list() reports it.  Ports are host order. */
struct ct_flow {
	uint32_t id;			/* conntrack id */
	uint32_t mark;			/* ct mark & mask: the service */
	uint32_t ct_mark;		/* the whole ct mark */
	uint32_t status;		/* IPS_* bits (ASSURED, SEEN_REPLY, ...) */
	uint16_t zone;
	uint8_t proto;			/* IPPROTO_* */
	struct knlb_addr client;	/* original source */
	uint16_t client_port;
	struct knlb_addr vip;		/* original destination */
	uint16_t vip_port;
	struct knlb_addr backend;	/* reply source: the DNAT target */
	uint16_t backend_port;
	struct knlb_addr reply_dst;	/* the client, or the SNAT address */
	uint16_t reply_dst_port;
	const char *state;		/* "ESTABLISHED", ...; "" if stateless */
	int64_t timeout_s;		/* seconds until expiry, -1 unknown */
	int64_t age_s;			/* -1 unless nf_conntrack_timestamp=1 */
	bool has_counters;		/* nf_conntrack_acct=1 at creation */
	uint64_t orig_packets, orig_bytes;	/* client -> backend */
	uint64_t reply_packets, reply_bytes;	/* backend -> client */
};

typedef void (*ct_flow_fn)(const struct ct_flow *flow, void *arg);

struct ct_stats {
	uint64_t events_new;		/* NEW events applied */
	uint64_t events_destroy;	/* DESTROY events applied */
	uint64_t events_closing;	/* TCP TIME_WAIT/CLOSE updates applied */
	uint64_t closings_unknown;	/* of those, for no known flow (its
					   DESTROY came first, or NEW lost) */
	uint64_t updates_other;		/* other updates that reached us: no
					   TCP state in them (a mark or status
					   change), or no kernel state filter */
	uint64_t events_foreign;	/* (mark & mask) == 0: kernel filter leaked */
	uint64_t events_bad;		/* unparsable or truncated */
	uint64_t overflows;		/* ENOBUFS: the kernel dropped events */
	uint64_t resyncs;		/* after overflows, or ct_resync() */
	uint64_t resync_errors;		/* dumps that failed; retried */
	uint64_t dumps;			/* table dumps asked of the kernel, for
					   any reason: each walks its whole
					   table, filtered or not */
	uint64_t last_resync_opened;	/* corrections of the last resync */
	uint64_t last_resync_closed;
	uint64_t last_resync_moved;
	uint64_t last_resync_ended;	/* active, the dump showed TIME_WAIT/CLOSE */
	uint64_t last_resync_ms;	/* its duration */
	uint64_t initial_flows;		/* found by the dump at ct_open() */
	int rcvbuf;			/* event buffer bytes, as the kernel has it */
	int update_rcvbuf;		/* update buffer bytes, likewise */
	bool resync_pending;		/* counts are known to be stale */
	bool kernel_filter;		/* the BPF mark filter is attached */
	bool update_filter;		/* the BPF mark+state filter is attached */
	bool events_disabled;		/* net.netfilter.nf_conntrack_events=0 */
	bool closing_updates;		/* subscribed to closing updates: a
					   closed TCP flow stops counting
					   active at once, not at its DESTROY
					   (wanted: not while bounded) */
	bool events_off;		/* no event group joined: no service
					   follows events (ct_set_following_
					   events) */
	/* Counting by dumps: track = periodic services, and bounded mode. */
	size_t periodic_services;	/* marks counted by periodic dumps */
	uint64_t periodic_passes;	/* dumps of periodic counting */
	uint64_t periodic_errors;	/* of those, failed (retried) */
	uint64_t last_pass_ms;		/* the last one's duration */
	uint64_t last_pass_cpu_us;	/* and knlbd's CPU time in it */
	uint64_t periodic_interval_ms;	/* counts are this old at most when
					   read: track_interval, or 4x the
					   last dump's duration, or 20x its
					   CPU time, when longer */
	uint64_t unread_interval_ms;	/* 0: a pass every interval; else
					   nothing acts on the counts as they
					   change, and a pass comes this often
					   and when they are read (ct_set_
					   counts_acted_on) */
	uint64_t new_flow_rate;		/* flows/s the last pass found new,
					   with the unseen ones below (without
					   a counter source, flows shorter than
					   an interval are not seen: a lower
					   bound) */
	uint64_t flows_unseen;		/* periodic: flows that opened and
					   ended between two dumps, from the
					   kernel's per-backend counters */
	uint64_t new_flows_errors;	/* reading those counters failed */
	uint64_t sampled_rate;		/* bounded: new flows/s at the last
					   pass, from the kernel's counters,
					   or NEW events/s in a sample (NEW
					   joined for 100 ms after the pass) */
	bool rate_from_counters;	/* sampled_rate is the counters' */
	bool bounded;			/* the event intake is overloaded:
					   every tracked service is counted by
					   dumps, no event is subscribed */
	uint64_t bounded_entries;	/* times it went bounded */
	uint64_t intake_rate;		/* NEW events/s read when it went */
	bool bounded_by_rate;		/* it went because the new-flow rate
					   passed events_limit, not because
					   the intake overflowed */
	uint64_t events_limit;		/* new flows/s followed with events at
					   most (0: no limit) */
	uint64_t events_rate;		/* NEW events/s over the last second
					   read (not bounded) */
	uint64_t bounded_exit_rate;	/* it returns to events below this
					   new-flow rate (flows/s) */
};

/*
 * Open the three sockets, attach the filters, count the flows that exist
 * already (one dump) and watch the event and update sockets in loop.  mark_mask must
 * not be 0.  ft is not owned and must outlive the ct.  Returns 0, or
 * -errno with err (if not NULL) saying which step failed.
 */
int ct_open(struct loop *loop, uint32_t mark_mask, struct flowtab *ft,
	    struct ct **out, char *err, size_t errlen);
/*
 * Stops watching, closes the sockets.  The flowtab is left as it is.
 * Not from inside a ct_list() callback or a flowtab drained callback:
 * those run inside ct's own handlers.
 */
void ct_close(struct ct *ct);

/*
 * Listen to TCP closing updates (on) or not.  ct_open() starts listening.
 * While not, the kernel builds no UPDATE event at all (it builds one only
 * for a subscribed group), which is most of what following flows costs
 * the packet path; a TCP flow then counts active until its DESTROY (up to
 * nf_conntrack_tcp_timeout_time_wait, 120 s, after its close, plus the
 * garbage collector's delay).  Turning it on asks for a resync, which
 * ends the flows the dump shows in TIME_WAIT or CLOSE: from then on the
 * counts are exact again.  0 or -errno (nothing changed).
 */
int ct_set_closing_updates(struct ct *ct, bool on);

/*
 * Whether any flow is followed by its events (a track = events service).
 * Off: NEW, DESTROY and the closing updates are left, and no event group
 * is joined until it is on again.  The kernel decides when it creates a
 * conntrack entry whether to give it an event extension, and gives one to
 * every entry, in every namespace, while any socket on the host is
 * subscribed to a conntrack group; the extension is then paid on every
 * packet of the flow, whatever its rule's `ct event set` (0.9-1.3 % of the
 * box's samples in the UDP bench, docs/performance.md).  On again: joined
 * first, then a resync, so no flow born in between is missed; the flows
 * born while off make no event (counted by the resyncs).  Off while
 * bounded ends the bounded mode.  0 or -errno (nothing changed).
 */
int ct_set_following_events(struct ct *ct, bool on);

/*
 * Counting by dumps (track = periodic).  The flows of the services whose
 * marks are given make no event (their rule says `ct event set 0`); every
 * interval_ns (while the counts are acted on, see ct_set_counts_acted_on();
 * or 4x the last dump's duration, when longer: dumping takes
 * at most a fifth of the loop) one dump per mark, filtered by the kernel
 * (CTA_MARK/CTA_MARK_MASK: other flows are never copied out), corrects
 * their counts in the flowtab: a TCP entry in TIME_WAIT or CLOSE is not
 * active, a flow not in the dump is closed, so drains reach 0 and the
 * drained callback fires from the pass.  Counts are up to one interval
 * old; flows that open and end between two dumps are not in any dump:
 * with a counter source (ct_set_new_flows_source) they are added from the
 * kernel's backend_new counters, opened and closed; without, opened and
 * closed undercount.
 * With more than CT_PERIODIC_MAX_FILTERED marks one unfiltered dump is
 * read instead, knlbd skipping the other services' entries: each dump
 * walks the kernel's whole hash table (every bucket, with bottom halves
 * off bucket by bucket), which cost the bench's keep-alive workload
 * more than the entries copied.  The mark filter cannot ask for a set of
 * marks that leaves out 0 (no knlb flow) unless it is one mark.
 * n = 0 stops it.  marks are copied.  0 or -ENOMEM (nothing changed).
 */
int ct_set_periodic(struct ct *ct, const uint32_t *marks, size_t n,
		    uint64_t interval_ns);

/*
 * Where the periodic passes get the kernel's per-backend new-flow
 * counters (knlbd: stats_read_new() of its table), to count the flows of
 * the periodic services that opened and ended between two dumps
 * (include/knlb/ct/unseen.h): opened is then exact, not a lower bound.
 * fn fills *out and returns 0, or -errno (that pass keeps the dumps'
 * counts; counted in new_flows_errors).  NULL: dumps only.  It is called
 * just before each pass's dump, and once after the first.
 */
struct stats_table;
typedef int (*ct_new_flows_fn)(void *arg, struct stats_table *out);
void ct_set_new_flows_source(struct ct *ct, ct_new_flows_fn fn, void *arg);

/*
 * Bounded mode's new-flow rate without a single event: fn sets *total to
 * the new flows the kernel has counted (backend_new) for the services
 * that follow flows with events, 0 or -errno.  After each bounded pass ct
 * reads it and decides from the difference, or from the flows the pass
 * found new when more (entries that no rule counted, conntrackd's say).
 * Without it, or when it fails, ct samples NEW events for CT_SAMPLE_NS
 * instead, and the kernel builds the events of that time.
 */
typedef int (*ct_event_flows_fn)(void *arg, uint64_t *total);
void ct_set_event_flows_source(struct ct *ct, ct_event_flows_fn fn, void *arg);

/*
 * Bounded mode.  When the event intake cannot follow (`overflows` ENOBUFS
 * within window_ns with the event buffer at max_rcvbuf, which it reaches
 * by doubling at each overflow; or one ENOBUFS there and a queue never
 * read empty for congested_ns since: the kernel reports no other until it
 * is), ct leaves the
 * event groups (the kernel then builds no event at all: the cost goes
 * from the packet path too) and counts every service by full dumps every
 * periodic interval (as ct_set_counts_acted_on() says), logging it once.
 * Every interval, dump or not, it measures the
 * rate of new flows (a dump cannot see flows shorter than its interval)
 * from the kernel's counters (ct_set_event_flows_source()), or else
 * joins the NEW group for 100 ms to sample it.  It returns to events when
 * the measured rate stays below half the rate it read events at before (and
 * at least min_exit_rate) for CT_BOUNDED_CALM_PASSES intervals in a row,
 * after hold_ns at least; hold_ns doubles (up to 64x) when it goes
 * bounded again soon after leaving, so a load at the edge alternates
 * slowly, never in a loop of overflow and resync.
 */
struct ct_bounded_policy {
	unsigned overflows;		/* 0: never bounded */
	uint64_t window_ns;
	uint64_t hold_ns;
	int max_rcvbuf;			/* bytes; also where doubling stops */
	uint64_t min_exit_rate;		/* flows/s */
	uint64_t congested_ns;		/* a queue full this long since its
					   ENOBUFS at max_rcvbuf (the kernel
					   reports one per episode): overload */
};
#define CT_BOUNDED_DEFAULT_OVERFLOWS	3
#define CT_BOUNDED_DEFAULT_WINDOW_NS	30000000000ULL
#define CT_BOUNDED_DEFAULT_HOLD_NS	10000000000ULL
#define CT_BOUNDED_DEFAULT_MIN_EXIT	1000
#define CT_BOUNDED_DEFAULT_CONGESTED_NS	3000000000ULL
#define CT_BOUNDED_CALM_PASSES		3
#define CT_PERIODIC_MAX_FILTERED	1
void ct_set_bounded_policy(struct ct *ct, const struct ct_bounded_policy *p);

/*
 * The highest new-flow rate followed with events ([global]
 * track_events_limit), 0 for none.  Events cost per flow, in the packet
 * path (the kernel builds two messages per flow) and in knlbd (reading
 * them): when NEW events arrive faster than per_second over
 * CT_RATE_WINDOW_NS (at the read that passes a window's worth, not at
 * the window's end), ct goes bounded as on overload, and returns below
 * half of it (the same samples, calm passes and hold time).
 */
void ct_set_events_limit(struct ct *ct, uint64_t per_second);
#define CT_RATE_WINDOW_NS		1000000000ULL
/* Dumps take at most 1/CT_DUMP_CPU_SHARE of a core (periodic.c). */
#define CT_DUMP_CPU_SHARE		20

/*
 * One periodic pass now (synchronous), as the timer does; for tests and
 * `knlbctl`.  0, -EAGAIN when there is nothing to count by dumps, or
 * -errno of the dump.
 */
int ct_periodic_pass(struct ct *ct);

/*
 * Whether something acts on the counts by dumps as they change: wlc
 * weighs backends by them, maxconn lets a full backend back in when its
 * count falls, a drain waits for zero.  Then (the default) a pass comes
 * every interval.  Else nobody needs them until somebody reads them, and
 * each dump costs the box what it costs whether read or not (the bench's
 * close workload: 2.5 % of the box's samples in knlbd, 0.75 of them in
 * ctnetlink's side of the dump, at a pass a second, docs/performance.md):
 * a pass comes every unread interval (ct_set_unread_marks(); the
 * interval, when longer), and ct_refresh_counts() makes one for a reader
 * who finds the counts older than the interval.  Bounded mode still
 * measures the new-flow rate every interval from the kernel's counters,
 * which costs no dump.
 */
void ct_set_counts_acted_on(struct ct *ct, bool on);

/*
 * The unread interval of each counted service's flows: under the
 * shortest time conntrack keeps such a flow's entry after its last
 * packet, so that a pass still sees every flow's last accounting before
 * the entry goes, and no flow opens and ends between two passes.  knlbd
 * gives half of ct_shortest_timeout_ns() for the service's protocol
 * (TCP's CLOSE, 10 s by default: 5 s; UDP's 30 s: 15 s).  While nothing
 * acts on the counts, a tick passes over the marks that are due only,
 * the kernel filtering on their mark or protocol (ct_resync_pass_
 * filtered()): a gateway with TCP and UDP services dumps its UDP flows a
 * third as often.  When every counted mark is due, or a reader asks
 * (ct_refresh_counts()), one whole pass as before.  Marks not given, or
 * n = 0: CT_UNREAD_INTERVAL_NS, half TCP's default, a whole pass.
 * Copied; 0 or -ENOMEM (nothing changed).
 */
#define CT_FAMILY_BIT(af)	((af) == AF_INET6 ? 2 : 1)
struct ct_unread_mark {
	uint32_t mark;			/* a counted service's */
	uint8_t l4proto;		/* its flows': IPPROTO_TCP or _UDP */
	uint8_t families;		/* CT_FAMILY_BIT()s of its VIPs */
	uint64_t every_ns;		/* its unread interval */
	uint64_t at_ns;			/* ct's: its last pass's start */
	bool periodic;			/* ct's: a track = periodic service's */
};
int ct_set_unread_marks(struct ct *ct, const struct ct_unread_mark *m,
			size_t n);
/*
 * How often l4proto's services are dumped while nothing acts on the
 * counts, in ms (their interval, or the count interval when longer); 0
 * while the counts are acted on, or without such a service.
 */
uint64_t ct_unread_proto_ms(const struct ct *ct, uint8_t l4proto);
#define CT_UNREAD_INTERVAL_NS		5000000000ULL

/*
 * The shortest of l4proto's (IPPROTO_TCP or IPPROTO_UDP) conntrack
 * timeouts in proc_root's sys/net/netfilter (normally "/proc"; per
 * network namespace), every state's: a flow may end in any.  0 when none
 * can be read (no nf_conntrack loaded, another protocol).
 */
uint64_t ct_shortest_timeout_ns(const char *proc_root, int l4proto);

/*
 * For a reader (knlbctl status, stats, a scrape, an admin change) about
 * to show or act on the counts by dumps: a pass now when they are older
 * than the interval and no pass keeps them so (ct_set_counts_acted_on()
 * off).  0 when they are fresh or were refreshed, else what
 * ct_periodic_pass() returned (the counts are then as they were).
 * with_traffic: the reader shows the bytes next (ct_traffic_refresh()),
 * so a pass made now is one unfiltered dump that reads every knlb flow's
 * counters too, and the reader's own dump is skipped: a stale `knlbctl
 * stats` or scrape walks the table once, not twice.
 */
int ct_refresh_counts(struct ct *ct, bool with_traffic);

/*
 * Resynchronise the flowtab from a full dump now (synchronous).  0 or
 * -errno; on error the flowtab is left uncorrected and a resync stays
 * pending.
 */
int ct_resync(struct ct *ct);

/*
 * Set the event and update receive buffers (bytes each; the kernel
 * doubles it internally).  Overflows double one again, up to 64 MiB.
 * For tuning and tests.
 */
int ct_set_rcvbuf(struct ct *ct, int bytes);

/*
 * Delete every conntrack entry whose (mark & mask) == mark, whose protocol
 * is proto and whose reply source is addr:port; nothing else (synchronous).
 * Each delete names the entry by its original tuple and conntrack id, so
 * an entry created after the dump with the same tuple survives.  Entries
 * already gone are not errors.  *deleted (may be NULL) counts what the
 * kernel acknowledged.  The DESTROY events update the flowtab as usual.
 * Returns 0, -EINVAL (mark 0 or outside the mask, addr NULL, port 0),
 * -EPROTONOSUPPORT (a protocol without ports), or the first -errno the
 * kernel returned.
 */
int ct_flush_backend(struct ct *ct, uint32_t mark, const struct knlb_addr *addr,
		     uint16_t port, uint8_t proto, size_t *deleted);

/*
 * Call cb for every entry of service mark (0 = every service) and, unless
 * backend is NULL, whose reply source is backend (port 0 = any port).
 * Synchronous; cb runs during the dump and must not call ct functions.
 * Returns the number of entries reported, or -errno.
 */
long ct_list(struct ct *ct, uint32_t mark, const struct knlb_addr *backend,
	     uint16_t port, ct_flow_fn cb, void *arg);

/*
 * The same list piece by piece, for a caller on the loop (`knlbctl
 * flows`): ct_listing_open() sends the dump request on a non-blocking
 * netlink socket of the listing's own (not the query socket flush and
 * resync use), ct_listing_read() reads at most max_reads datagrams of it
 * (a few hundred entries each) when its fd is readable, calling cb for
 * each entry kept, and never blocks.  The kernel produces the next
 * datagram only when one is read, so a listing that is not read costs
 * nothing but its socket.  Entries created or deleted while it runs may
 * or may not be listed.  The listing keeps no pointer to ct: ct may be
 * closed first.
 */
struct ct_listing;
/* 0, or -errno (-EINVAL: mark outside the mask). */
int ct_listing_open(struct ct *ct, uint32_t mark, const struct knlb_addr *backend,
		    uint16_t port, struct ct_listing **out);
int ct_listing_fd(const struct ct_listing *l);
/* 1: more to come (wait for the fd), 0: the dump is complete, or -errno. */
int ct_listing_read(struct ct_listing *l, unsigned max_reads, ct_flow_fn cb,
		    void *arg);
/* Entries reported so far. */
long ct_listing_count(const struct ct_listing *l);
void ct_listing_close(struct ct_listing *l);

void ct_get_stats(const struct ct *ct, struct ct_stats *out);

/*
 * [global] traffic_counters = conntrack: per-backend packets and bytes
 * from conntrack's accounting (nf_conntrack_acct, which the caller turns
 * on), kept per flow and summed as flowtab.h's flowtab_traffic_* say.
 * ct_count_traffic() starts keeping each flow's counters from its DESTROY
 * event and from every resync or periodic pass (0 or -ENOMEM).
 * ct_traffic_refresh() reads the events queued now, then every knlb
 * flow's counters from one dump (synchronous, like ct_list()), unless
 * the ct_refresh_counts(ct, true) just before made that dump its pass;
 * 0, or -errno with err saying what failed.  ct_traffic_backend() is then one
 * backend's figures to show (a lower bound, exact when each flow was read
 * after its last packet; see flowtab.h).
 */
int ct_count_traffic(struct ct *ct, bool on);
int ct_traffic_refresh(struct ct *ct, char *err, size_t errlen);
void ct_traffic_backend(struct ct *ct, uint32_t mark,
			const struct knlb_addr *addr, uint16_t port,
			uint8_t proto, struct flow_traffic *out);

/*
 * Passive health (observe = yes) watches new flows: fn is called for
 * every NEW event of a service's flow, and for the DESTROY of a TCP flow
 * that never saw a reply (the kernel kills an entry at once when the only
 * reply to its SYN is a reset), from the event handler (it must not call
 * ct functions).  fn NULL stops it.
 */
struct ct_new_flow {
	bool destroyed;			/* a DESTROY without a reply seen */
	uint32_t status;		/* IPS_* bits */
	uint32_t id;			/* conntrack id */
	uint32_t mark;			/* ct mark & mask: the service */
	uint8_t proto;
	struct knlb_addr client, vip, backend;
	uint16_t client_port, vip_port, backend_port;	/* host order */
};
typedef void (*ct_new_flow_fn)(const struct ct_new_flow *flow, void *arg);
void ct_set_new_flow_fn(struct ct *ct, ct_new_flow_fn fn, void *arg);

/* What the kernel holds now for one flow, from ct_query_flows(). */
struct ct_flow_now {
	bool found;			/* false: the entry is gone (or the id changed) */
	int tcp_state;			/* TCP_CONNTRACK_*, -1 when none */
	uint32_t status;		/* IPS_* bits */
};

/*
 * Look n flows up by original tuple and id (one GET each, sent in chunks:
 * a few microseconds per flow, no dump), synchronous.  0 or -errno of the
 * exchange; out[i] says what became of flows[i].
 */
int ct_query_flows(struct ct *ct, const struct ct_new_flow *flows, size_t n,
		   struct ct_flow_now *out);

#endif
