/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Conntrack events, dumps and deletes; see include/knlb/ct/ct.h.
 *
 * Messages are parsed with libmnl straight from the netlink buffer rather
 * than through nf_conntrack objects: the event path then allocates
 * nothing per event and reads only the five attributes it needs.
 * libnetfilter_conntrack provides what would be error-prone to redo: the
 * BPF mark filter and the dump filter attribute.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "knlb/lib/addr.h"
#include "knlb/ct/ct.h"
#include "knlb/ct/flowtab.h"
#include "knlb/lib/log.h"
#include "knlb/lib/loop.h"

#define CT_RCVBUF_START (4 << 20)
#define CT_RCVBUF_MAX (64 << 20)
#define CT_RCVBUF_MIN 4096
/* One event is one datagram of a few hundred bytes; recvmmsg takes many. */
#define CT_BATCH 64
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
#define CT_EVENTS_SYSCTL "/proc/sys/net/netfilter/nf_conntrack_events"

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
	char *buf;			/* CT_BATCH * CT_MSG_SIZE */
	struct mmsghdr msgs[CT_BATCH];
	struct iovec iov[CT_BATCH];
};

struct ct {
	struct loop *loop;
	struct flowtab *ft;
	uint32_t mask;

	struct ct_listener ev;		/* NEW, DESTROY */
	struct ct_listener up;		/* UPDATE: TCP TIME_WAIT, CLOSE */

	struct mnl_socket *q;
	uint32_t seq;
	bool q_busy;			/* a dump is being read */
	char *q_buf;			/* CT_QUERY_BUF */

	struct loop_timer resync_timer;
	bool in_resync;
	uint64_t last_resync_end_ns;
	uint64_t last_resync_dur_ns;

	struct ct_stats st;
};

/* --- parsing --- */

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

static void set_addr(struct knlb_addr *a, int family, const void *bytes)
{
	memset(a, 0, sizeof(*a));
	a->family = (sa_family_t)family;
	if (family == AF_INET)
		memcpy(&a->in, bytes, sizeof(a->in));
	else
		memcpy(&a->in6, bytes, sizeof(a->in6));
}

static void parse_tuple_ip(const struct nlattr *nest, struct ct_tuple *t)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest) {
		uint16_t type = mnl_attr_get_type(a);
		uint16_t len = mnl_attr_get_payload_len(a);
		bool v4 = type == CTA_IP_V4_SRC || type == CTA_IP_V4_DST;
		bool v6 = type == CTA_IP_V6_SRC || type == CTA_IP_V6_DST;
		struct knlb_addr *dst;

		if ((!v4 || len != 4) && (!v6 || len != 16))
			continue;
		dst = type == CTA_IP_V4_SRC || type == CTA_IP_V6_SRC ?
		      &t->src : &t->dst;
		set_addr(dst, v4 ? AF_INET : AF_INET6, mnl_attr_get_payload(a));
	}
	t->has_ip = t->src.family != AF_UNSPEC && t->src.family == t->dst.family;
}

static void parse_tuple_proto(const struct nlattr *nest, struct ct_tuple *t)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case CTA_PROTO_NUM:
			if (mnl_attr_validate(a, MNL_TYPE_U8) == 0) {
				t->proto = mnl_attr_get_u8(a);
				t->has_proto = true;
			}
			break;
		case CTA_PROTO_SRC_PORT:
		case CTA_PROTO_ICMP_ID:
		case CTA_PROTO_ICMPV6_ID:
			if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
				t->sport = ntohs(mnl_attr_get_u16(a));
			break;
		case CTA_PROTO_DST_PORT:
			if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
				t->dport = ntohs(mnl_attr_get_u16(a));
			break;
		}
	}
}

static bool parse_tuple(const struct nlattr *nest, struct ct_tuple *t)
{
	const struct nlattr *a;

	memset(t, 0, sizeof(*t));
	if (!nest)
		return false;
	mnl_attr_for_each_nested(a, nest) {
		if (mnl_attr_get_type(a) == CTA_TUPLE_IP &&
		    mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			parse_tuple_ip(a, t);
		else if (mnl_attr_get_type(a) == CTA_TUPLE_PROTO &&
			 mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			parse_tuple_proto(a, t);
	}
	return t->has_ip && t->has_proto;
}

/* Validated only when wanted: most attributes of an event are skipped. */
static void msg_attrs(const struct nlmsghdr *nlh, struct ct_msg *m)
{
	const struct nlattr *a;

	memset(m, 0, sizeof(*m));
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		const struct nlattr **slot = NULL;
		enum mnl_attr_data_type want = MNL_TYPE_NESTED;

		switch (mnl_attr_get_type(a)) {
		case CTA_TUPLE_ORIG: slot = &m->orig; break;
		case CTA_TUPLE_REPLY: slot = &m->reply; break;
		case CTA_PROTOINFO: slot = &m->protoinfo; break;
		case CTA_COUNTERS_ORIG: slot = &m->counters[0]; break;
		case CTA_COUNTERS_REPLY: slot = &m->counters[1]; break;
		case CTA_TIMESTAMP: slot = &m->timestamp; break;
		case CTA_ID: slot = &m->id; want = MNL_TYPE_U32; break;
		case CTA_MARK: slot = &m->mark; want = MNL_TYPE_U32; break;
		case CTA_STATUS: slot = &m->status; want = MNL_TYPE_U32; break;
		case CTA_TIMEOUT: slot = &m->timeout; want = MNL_TYPE_U32; break;
		case CTA_ZONE: slot = &m->zone; want = MNL_TYPE_U16; break;
		}
		if (slot && mnl_attr_validate(a, want) == 0)
			*slot = a;
	}
}

static inline uint32_t attr_be32(const struct nlattr *a)
{
	return a ? ntohl(mnl_attr_get_u32(a)) : 0;
}

static inline uint64_t attr_be64(const struct nlattr *a)
{
	return be64toh(mnl_attr_get_u64(a));
}

static int tcp_state_num(const struct nlattr *protoinfo);
static bool tcp_state_ending(int state);

/*
 * What the flowtab needs.  false if the message is not a usable flow; a
 * flow of no service comes back with mark 0 (an event has no CTA_MARK
 * when the mark is 0).  ending: a TCP entry in TIME_WAIT or CLOSE.
 */
static bool msg_flow(const struct ct *ct, const struct ct_msg *m,
		     struct flow *f)
{
	struct ct_tuple o, r;

	memset(f, 0, sizeof(*f));
	f->mark = attr_be32(m->mark) & ct->mask;
	if (!m->id || !parse_tuple(m->orig, &o) || !parse_tuple(m->reply, &r))
		return false;
	f->key.id = attr_be32(m->id);
	f->key.proto = o.proto;
	f->key.src_port = o.sport;
	f->key.src = o.src;
	f->backend = r.src;
	f->backend_port = r.sport;
	f->ending = o.proto == IPPROTO_TCP &&
		    tcp_state_ending(tcp_state_num(m->protoinfo));
	return true;
}

static const char *const tcp_state_names[] = {
	[TCP_CONNTRACK_NONE] = "NONE",
	[TCP_CONNTRACK_SYN_SENT] = "SYN_SENT",
	[TCP_CONNTRACK_SYN_RECV] = "SYN_RECV",
	[TCP_CONNTRACK_ESTABLISHED] = "ESTABLISHED",
	[TCP_CONNTRACK_FIN_WAIT] = "FIN_WAIT",
	[TCP_CONNTRACK_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_CONNTRACK_LAST_ACK] = "LAST_ACK",
	[TCP_CONNTRACK_TIME_WAIT] = "TIME_WAIT",
	[TCP_CONNTRACK_CLOSE] = "CLOSE",
	[TCP_CONNTRACK_SYN_SENT2] = "SYN_SENT2",
};

/* TCP_CONNTRACK_*, or -1 when the message carries no TCP state. */
static int tcp_state_num(const struct nlattr *protoinfo)
{
	const struct nlattr *tcp, *a;

	if (!protoinfo)
		return -1;
	mnl_attr_for_each_nested(tcp, protoinfo) {
		if (mnl_attr_get_type(tcp) != CTA_PROTOINFO_TCP ||
		    mnl_attr_validate(tcp, MNL_TYPE_NESTED) < 0)
			continue;
		mnl_attr_for_each_nested(a, tcp) {
			if (mnl_attr_get_type(a) == CTA_PROTOINFO_TCP_STATE &&
			    mnl_attr_validate(a, MNL_TYPE_U8) == 0)
				return mnl_attr_get_u8(a);
		}
	}
	return -1;
}

static const char *tcp_state(const struct nlattr *protoinfo)
{
	int s = tcp_state_num(protoinfo);

	if (s < 0)
		return "";
	if ((size_t)s < sizeof(tcp_state_names) / sizeof(tcp_state_names[0]) &&
	    tcp_state_names[s])
		return tcp_state_names[s];
	return "?";
}

/*
 * Where a TCP connection is over although its entry lingers: TIME_WAIT
 * (after FINs both ways) and CLOSE (after an RST).  Not the half-closed
 * states: FIN_WAIT, CLOSE_WAIT and LAST_ACK may still carry data one way.
 */
static bool tcp_state_ending(int state)
{
	return state == TCP_CONNTRACK_TIME_WAIT || state == TCP_CONNTRACK_CLOSE;
}

static bool counters(const struct nlattr *nest, uint64_t *packets,
		     uint64_t *bytes)
{
	const struct nlattr *a;
	bool found = false;

	if (!nest)
		return false;
	mnl_attr_for_each_nested(a, nest) {
		if (mnl_attr_validate(a, MNL_TYPE_U64) < 0)
			continue;
		if (mnl_attr_get_type(a) == CTA_COUNTERS_PACKETS) {
			*packets = attr_be64(a);
			found = true;
		} else if (mnl_attr_get_type(a) == CTA_COUNTERS_BYTES) {
			*bytes = attr_be64(a);
		}
	}
	return found;
}

/* Seconds since the entry was created, or -1 without timestamps. */
static int64_t age_s(const struct nlattr *nest, uint64_t now_real_ns)
{
	const struct nlattr *a;

	if (!nest)
		return -1;
	mnl_attr_for_each_nested(a, nest) {
		uint64_t start;

		if (mnl_attr_get_type(a) != CTA_TIMESTAMP_START ||
		    mnl_attr_validate(a, MNL_TYPE_U64) < 0)
			continue;
		start = attr_be64(a);
		return start > now_real_ns ? 0 :
		       (int64_t)((now_real_ns - start) / 1000000000ULL);
	}
	return -1;
}

static bool msg_ct_flow(const struct ct *ct, const struct ct_msg *m,
			uint64_t now_real_ns, struct ct_flow *out)
{
	struct ct_tuple o, r;

	memset(out, 0, sizeof(*out));
	if (!m->id || !parse_tuple(m->orig, &o) || !parse_tuple(m->reply, &r))
		return false;
	out->id = attr_be32(m->id);
	out->ct_mark = attr_be32(m->mark);
	out->mark = out->ct_mark & ct->mask;
	out->status = attr_be32(m->status);
	out->zone = m->zone ? ntohs(mnl_attr_get_u16(m->zone)) : 0;
	out->proto = o.proto;
	out->client = o.src;
	out->client_port = o.sport;
	out->vip = o.dst;
	out->vip_port = o.dport;
	out->backend = r.src;
	out->backend_port = r.sport;
	out->reply_dst = r.dst;
	out->reply_dst_port = r.dport;
	out->state = o.proto == IPPROTO_TCP ? tcp_state(m->protoinfo) : "";
	out->timeout_s = m->timeout ? (int64_t)attr_be32(m->timeout) : -1;
	out->age_s = age_s(m->timestamp, now_real_ns);
	out->has_counters =
		counters(m->counters[0], &out->orig_packets, &out->orig_bytes) &&
		counters(m->counters[1], &out->reply_packets, &out->reply_bytes);
	return true;
}

/* --- sockets --- */

/* The kernel's figure (twice what was asked) into the stats. */
static void note_rcvbuf(struct ct *ct, const struct ct_listener *l)
{
	int got = 0;
	socklen_t len = sizeof(got);

	if (getsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == -1)
		return;
	if (l == &ct->ev)
		ct->st.rcvbuf = got;
	else
		ct->st.update_rcvbuf = got;
}

static int set_rcvbuf(struct ct *ct, struct ct_listener *l, int bytes)
{
	/* FORCE goes past net.core.rmem_max; needs CAP_NET_ADMIN. */
	if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes,
		       sizeof(bytes)) == -1 &&
	    setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &bytes,
		       sizeof(bytes)) == -1)
		return -errno;
	l->rcvbuf_req = bytes;
	note_rcvbuf(ct, l);
	return 0;
}

int ct_set_rcvbuf(struct ct *ct, int bytes)
{
	int ret;

	if (bytes < CT_RCVBUF_MIN)
		bytes = CT_RCVBUF_MIN;
	ret = set_rcvbuf(ct, &ct->ev, bytes);
	if (ret == 0)
		ret = set_rcvbuf(ct, &ct->up, bytes);
	return ret;
}

/*
 * Flows with (mark & mask) == 0 are dropped in the kernel, never queued.
 * closing_only adds, for the update socket: TCP, and only in TIME_WAIT or
 * CLOSE.  libnetfilter_conntrack's state test lets a message without
 * CTA_PROTOINFO through (an update of a TCP entry's mark or status that
 * changed no state): those few are dropped in userspace and counted.
 */
static int attach_filter(struct ct *ct, int fd, bool closing_only)
{
	struct nfct_filter_dump_mark none = { .val = 0, .mask = ct->mask };
	struct nfct_filter_proto time_wait = {
		.proto = IPPROTO_TCP, .state = TCP_CONNTRACK_TIME_WAIT,
	};
	struct nfct_filter_proto rst_close = {
		.proto = IPPROTO_TCP, .state = TCP_CONNTRACK_CLOSE,
	};
	struct nfct_filter *filter = nfct_filter_create();
	int ret;

	if (!filter)
		return -ENOMEM;
	nfct_filter_add_attr(filter, NFCT_FILTER_MARK, &none);
	ret = nfct_filter_set_logic(filter, NFCT_FILTER_MARK,
				    NFCT_FILTER_LOGIC_NEGATIVE);
	if (ret == 0 && closing_only) {
		nfct_filter_add_attr_u32(filter, NFCT_FILTER_L4PROTO,
					 IPPROTO_TCP);
		nfct_filter_add_attr(filter, NFCT_FILTER_L4PROTO_STATE,
				     &time_wait);
		nfct_filter_add_attr(filter, NFCT_FILTER_L4PROTO_STATE,
				     &rst_close);
	}
	if (ret == 0)
		ret = nfct_filter_attach(fd, filter);
	ret = ret == -1 ? -errno : 0;
	nfct_filter_destroy(filter);
	return ret;
}

/*
 * Open l non-blocking, size its buffer, attach its filter and only then
 * subscribe to groups, so nothing unfiltered is ever queued.  A filter
 * that cannot be attached is a warning (*filtered false): userspace then
 * filters at a higher cost.  Returns 0 or -errno with *what the step.
 */
static int open_listener(struct ct *ct, struct ct_listener *l,
			 unsigned int groups, bool closing_only,
			 bool *filtered, const char **what)
{
	int ret;

	*what = "socket";
	l->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!l->nl)
		return -errno;
	l->fd = mnl_socket_get_fd(l->nl);
	*what = "receive buffer";
	ret = set_rcvbuf(ct, l, CT_RCVBUF_START);
	if (ret < 0)
		return ret;
	ret = attach_filter(ct, l->fd, closing_only);
	if (ret < 0)
		log_warn("ct: kernel filter for conntrack %s not attached (%s); filtering in userspace",
			 l->name, strerror(-ret));
	*filtered = ret == 0;
	*what = "subscribing";
	if (mnl_socket_bind(l->nl, groups, MNL_SOCKET_AUTOPID) == -1)
		return -errno;
	return 0;
}

static void close_listener(struct ct *ct, struct ct_listener *l)
{
	if (l->watching)
		loop_del_fd(ct->loop, l->fd);
	l->watching = false;
	if (l->nl)
		mnl_socket_close(l->nl);
	l->nl = NULL;
	l->fd = -1;
	free(l->buf);
	l->buf = NULL;
}

static void close_query(struct ct *ct)
{
	if (ct->q)
		mnl_socket_close(ct->q);
	ct->q = NULL;
}

static int open_query(struct ct *ct)
{
	struct timeval tv = { .tv_sec = CT_QUERY_TIMEOUT_S };
	int one = 1;

	ct->q = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!ct->q)
		return -errno;
	if (mnl_socket_bind(ct->q, 0, MNL_SOCKET_AUTOPID) == -1)
		goto fail;
	/* Bounded: a dump that stalls fails instead of freezing the loop. */
	if (setsockopt(mnl_socket_get_fd(ct->q), SOL_SOCKET, SO_RCVTIMEO, &tv,
		       sizeof(tv)) == -1)
		goto fail;
	/* ACKs of deletes without a copy of the request: more fit the buffer. */
	mnl_socket_setsockopt(ct->q, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
fail:
	one = -errno;
	close_query(ct);
	return one;
}

/*
 * After a failed exchange the socket may still hold the rest of a dump
 * or stray ACKs that would be read as the answer to the next request:
 * start over on a fresh one.
 */
static void reset_query(struct ct *ct)
{
	close_query(ct);
	if (open_query(ct) < 0)
		log_warn("ct: reopening the conntrack query socket: %s",
			 strerror(errno));
}

/* --- dumps --- */

/* Returns 0, or -errno to stop calling (the dump is still read to its end). */
typedef int (*dump_fn)(struct ct *ct, const struct ct_msg *m, void *arg);

struct dump_ctx {
	struct ct *ct;
	dump_fn fn;
	void *arg;
	int err;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	struct ct_msg m;

	if (ctx->err || (nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
		return MNL_CB_OK;
	msg_attrs(nlh, &m);
	ctx->err = ctx->fn(ctx->ct, &m, ctx->arg);
	return MNL_CB_OK;
}

/*
 * One dump on the query socket, all families.  mark != 0 asks the kernel
 * to return only entries with (ct mark & mask) == mark.
 */
static int ct_dump(struct ct *ct, uint32_t mark, dump_fn fn, void *arg)
{
	struct dump_ctx ctx = { .ct = ct, .fn = fn, .arg = arg };
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	uint32_t seq;
	int ret;

	if (ct->q_busy)
		return -EBUSY;
	if (!ct->q) {
		ret = open_query(ct);
		if (ret < 0)
			return ret;
	}
	nlh = mnl_nlmsg_put_header(ct->q_buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq = ++ct->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (mark) {
		struct nfct_filter_dump_mark fm = { .val = mark, .mask = ct->mask };
		struct nfct_filter_dump *f = nfct_filter_dump_create();

		if (!f)
			return -ENOMEM;
		nfct_filter_dump_set_attr(f, NFCT_FILTER_DUMP_MARK, &fm);
		nfct_nlmsg_build_filter(nlh, f);
		nfct_filter_dump_destroy(f);
	}
	if (mnl_socket_sendto(ct->q, nlh, nlh->nlmsg_len) == -1) {
		ret = -errno;
		reset_query(ct);
		return ret;
	}
	ct->q_busy = true;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(ct->q, ct->q_buf, CT_QUERY_BUF);

		if (n == -1) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			reset_query(ct);
			break;
		}
		ret = mnl_cb_run(ct->q_buf, (size_t)n, seq,
				 mnl_socket_get_portid(ct->q), dump_cb, &ctx);
		if (ret == MNL_CB_STOP) {
			ret = ctx.err;
			break;
		}
		if (ret == MNL_CB_ERROR) {
			/* The kernel refused the request, or a stray reply. */
			ret = -errno;
			reset_query(ct);
			break;
		}
	}
	ct->q_busy = false;
	return ret;
}

/* --- resync --- */

static int resync_one(struct ct *ct, const struct ct_msg *m, void *arg)
{
	struct flow f;
	int ret;

	(void)arg;
	if (!msg_flow(ct, m, &f) || f.mark == 0)
		return 0;
	ret = flowtab_resync_seen(ct->ft, &f);
	return ret < 0 && ret != -EINVAL ? ret : 0;
}

/* A dump now could miss drops the kernel has not reported yet. */
static bool congested(const struct ct *ct)
{
	return ct->ev.congested || ct->up.congested;
}

static void arm_resync(struct ct *ct)
{
	uint64_t gap = ct->last_resync_dur_ns * 4;

	if (gap < CT_RESYNC_MIN_GAP_NS)
		gap = CT_RESYNC_MIN_GAP_NS;
	if (!loop_timer_armed(&ct->resync_timer))
		loop_timer_arm_at(ct->loop, &ct->resync_timer,
				  ct->last_resync_end_ns + gap);
}

static int do_resync(struct ct *ct, struct flowtab_resync *res)
{
	uint64_t start = loop_now_ns();
	int ret;

	ct->in_resync = true;
	flowtab_resync_begin(ct->ft);
	ret = ct_dump(ct, 0, resync_one, NULL);
	if (ret == 0)
		flowtab_resync_end(ct->ft, res);
	else
		flowtab_resync_abort(ct->ft);
	ct->in_resync = false;
	ct->last_resync_end_ns = loop_now_ns();
	ct->last_resync_dur_ns = ct->last_resync_end_ns - start;
	return ret;
}

int ct_resync(struct ct *ct)
{
	struct flowtab_resync res;
	int ret;

	if (ct->in_resync)
		return -EBUSY;
	ret = do_resync(ct, &res);
	if (ret < 0) {
		ct->st.resync_errors++;
		ct->st.resync_pending = true;
		log_warn("ct: resync from a conntrack dump failed: %s; flow counts are stale, retrying",
			 strerror(-ret));
		arm_resync(ct);
		return ret;
	}
	ct->st.resyncs++;
	/* Drops after this dump began would go unreported: do it again. */
	ct->st.resync_pending = congested(ct);
	ct->st.last_resync_opened = res.opened;
	ct->st.last_resync_closed = res.closed;
	ct->st.last_resync_moved = res.moved;
	ct->st.last_resync_ended = res.ended;
	ct->st.last_resync_ms = ct->last_resync_dur_ns / 1000000;
	loop_timer_cancel(ct->loop, &ct->resync_timer);
	if (res.opened || res.closed || res.moved || res.ended || res.reopened)
		log_info("ct: resync corrected %llu opened, %llu closed, %llu moved, %llu ended, %llu reopened flows in %llu ms",
			 (unsigned long long)res.opened,
			 (unsigned long long)res.closed,
			 (unsigned long long)res.moved,
			 (unsigned long long)res.ended,
			 (unsigned long long)res.reopened,
			 (unsigned long long)ct->st.last_resync_ms);
	return 0;
}

/*
 * Resync now unless the last one ended too recently (then on a timer),
 * and only once the event queue was found empty since the last ENOBUFS
 * (the read handler calls again when it is).
 */
static void maybe_resync(struct ct *ct)
{
	uint64_t gap = ct->last_resync_dur_ns * 4;

	if (!ct->st.resync_pending || ct->in_resync || congested(ct))
		return;
	if (gap < CT_RESYNC_MIN_GAP_NS)
		gap = CT_RESYNC_MIN_GAP_NS;
	if (ct->last_resync_end_ns &&
	    loop_now_ns() < ct->last_resync_end_ns + gap) {
		arm_resync(ct);
		return;
	}
	ct_resync(ct);
}

static void on_resync_timer(struct loop *loop, struct loop_timer *timer,
			    void *arg)
{
	(void)loop;
	(void)timer;
	maybe_resync(arg);
}

/* --- events --- */

static void on_overflow(struct ct *ct, struct ct_listener *l)
{
	int was = l->rcvbuf_req;

	ct->st.overflows++;
	l->congested = true;
	if (l->rcvbuf_req < CT_RCVBUF_MAX)
		set_rcvbuf(ct, l, l->rcvbuf_req * 2 > CT_RCVBUF_MAX ?
				  CT_RCVBUF_MAX : l->rcvbuf_req * 2);
	/* One line per episode, not per lost batch. */
	if (!ct->st.resync_pending)
		log_warn("ct: conntrack %s lost (receive buffer full at %d KiB, now %d KiB); resyncing from a dump",
			 l->name, was / 1024, l->rcvbuf_req / 1024);
	ct->st.resync_pending = true;
}

/* NEW and DESTROY, from the event socket. */
static void handle_event(struct ct *ct, const struct nlmsghdr *nlh)
{
	uint8_t type = nlh->nlmsg_type & 0xff;
	struct ct_msg m;
	struct flow f;

	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK ||
	    (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE))
		return;
	msg_attrs(nlh, &m);
	if (!msg_flow(ct, &m, &f)) {
		ct->st.events_bad++;
		return;
	}
	if (f.mark == 0) {
		ct->st.events_foreign++;
		return;
	}
	if (type == IPCTNL_MSG_CT_DELETE) {
		ct->st.events_destroy++;
		flowtab_flow_destroy(ct->ft, &f.key);
		return;
	}
	ct->st.events_new++;
	if (flowtab_flow_new(ct->ft, &f) == -ENOMEM) {
		if (!ct->st.resync_pending)
			log_warn("ct: out of memory counting flows; resyncing later");
		ct->st.resync_pending = true;
	}
}

typedef void (*ct_msg_fn)(struct ct *ct, const struct nlmsghdr *nlh);

/*
 * Read l until its queue is empty or budget messages were handled.
 * Returns how many were handled.  ENOBUFS grows the buffer and asks for
 * a resync; the queue read empty ends the congestion it reported.
 */
static int read_listener(struct ct *ct, struct ct_listener *l, ct_msg_fn fn,
			 int budget)
{
	int handled = 0;

	while (handled < budget) {
		int n = recvmmsg(l->fd, l->msgs, CT_BATCH, MSG_DONTWAIT, NULL);

		if (n == -1) {
			if (errno == ENOBUFS) {
				on_overflow(ct, l);
				handled++;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				l->congested = false;
			else
				log_warn("ct: reading conntrack %s: %s",
					 l->name, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			const struct nlmsghdr *nlh = l->iov[i].iov_base;
			int flags = l->msgs[i].msg_hdr.msg_flags;
			int left = (int)l->msgs[i].msg_len;

			l->msgs[i].msg_hdr.msg_flags = 0;
			if (flags & MSG_TRUNC) {
				/* An event we cannot read is an event lost. */
				ct->st.events_bad++;
				ct->st.resync_pending = true;
				continue;
			}
			for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
				fn(ct, nlh);
		}
		handled += n;
	}
	return handled;
}

/*
 * A TCP entry reached TIME_WAIT or CLOSE, from the update socket (the
 * kernel queues an update as IPCTNL_MSG_CT_NEW without NLM_F_CREATE).
 * The two sockets are not ordered against each other, but the kernel
 * queues a flow's NEW before its closing update: a closing for a flow not
 * known yet reads the event socket up to now and looks again.  Still
 * unknown, its DESTROY came first (the flow was counted closed then) or
 * its NEW was lost (a resync is pending): nothing to count.
 */
static void handle_update(struct ct *ct, const struct nlmsghdr *nlh)
{
	struct ct_msg m;
	struct flow f;

	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK ||
	    (nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
		return;
	msg_attrs(nlh, &m);
	if (!msg_flow(ct, &m, &f)) {
		ct->st.events_bad++;
		return;
	}
	if (f.mark == 0) {
		ct->st.events_foreign++;
		return;
	}
	if (!f.ending) {
		/* No TCP state in it, or no kernel state filter. */
		ct->st.updates_other++;
		return;
	}
	ct->st.events_closing++;
	if (!flowtab_flow_known(ct->ft, &f.key))
		read_listener(ct, &ct->ev, handle_event, CT_BUDGET);
	if (flowtab_flow_closing(ct->ft, &f.key) == -ENOENT)
		ct->st.closings_unknown++;
}

static void on_events(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ct *ct = arg;

	(void)loop;
	(void)fd;
	(void)events;
	read_listener(ct, &ct->ev, handle_event, CT_BUDGET);
	maybe_resync(ct);
}

static void on_updates(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ct *ct = arg;

	(void)loop;
	(void)fd;
	(void)events;
	read_listener(ct, &ct->up, handle_update, CT_BUDGET);
	maybe_resync(ct);
}

/* --- open / close --- */

static bool events_disabled(void)
{
	FILE *f = fopen(CT_EVENTS_SYSCTL, "r");
	int v = -1;

	if (!f)
		return false;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v == 0;
}

static int fail(char *err, size_t errlen, int ret, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "conntrack %s: %s", what, strerror(-ret));
	return ret;
}

/* Buffers of l for recvmmsg.  0 or -ENOMEM. */
static int init_listener(struct ct_listener *l, const char *name)
{
	l->name = name;
	l->fd = -1;
	l->buf = malloc((size_t)CT_BATCH * CT_MSG_SIZE);
	if (!l->buf)
		return -ENOMEM;
	for (int i = 0; i < CT_BATCH; i++) {
		l->iov[i].iov_base = l->buf + (size_t)i * CT_MSG_SIZE;
		l->iov[i].iov_len = CT_MSG_SIZE;
		l->msgs[i].msg_hdr.msg_iov = &l->iov[i];
		l->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

int ct_open(struct loop *loop, uint32_t mark_mask, struct flowtab *ft,
	    struct ct **out, char *err, size_t errlen)
{
	struct flowtab_resync res;
	const char *what;
	char step[64];
	struct ct *ct;
	int ret;

	if (!loop || !ft || !out || mark_mask == 0)
		return fail(err, errlen, -EINVAL, "open");
	ct = calloc(1, sizeof(*ct));
	if (!ct)
		return fail(err, errlen, -ENOMEM, "open");
	ct->loop = loop;
	ct->ft = ft;
	ct->mask = mark_mask;
	loop_timer_init(&ct->resync_timer, on_resync_timer, ct);
	ct->q_buf = malloc(CT_QUERY_BUF);
	if (init_listener(&ct->ev, "events") < 0 ||
	    init_listener(&ct->up, "updates") < 0 || !ct->q_buf) {
		ret = fail(err, errlen, -ENOMEM, "open");
		goto out_free;
	}

	/*
	 * Both listeners before the initial dump: a flow born, or closing,
	 * while the dump runs is not missed.
	 */
	ret = open_listener(ct, &ct->ev, NF_NETLINK_CONNTRACK_NEW |
			    NF_NETLINK_CONNTRACK_DESTROY, false,
			    &ct->st.kernel_filter, &what);
	if (ret < 0) {
		snprintf(step, sizeof(step), "event socket: %s", what);
		fail(err, errlen, ret, step);
		goto out_free;
	}
	ret = open_listener(ct, &ct->up, NF_NETLINK_CONNTRACK_UPDATE, true,
			    &ct->st.update_filter, &what);
	if (ret < 0) {
		snprintf(step, sizeof(step), "update socket: %s", what);
		fail(err, errlen, ret, step);
		goto out_free;
	}
	ct->st.events_disabled = events_disabled();
	if (ct->st.events_disabled)
		log_warn("ct: net.netfilter.nf_conntrack_events is 0: flow counts change only on resync");

	ret = open_query(ct);
	if (ret < 0) {
		fail(err, errlen, ret, "query socket");
		goto out_free;
	}
	ret = do_resync(ct, &res);
	if (ret < 0) {
		fail(err, errlen, ret, "initial dump");
		goto out_free;
	}
	ct->st.initial_flows = res.opened;
	/* The initial dump must not delay the first overflow's resync. */
	ct->last_resync_end_ns = 0;

	ret = loop_add_fd(loop, ct->ev.fd, EPOLLIN, on_events, ct);
	if (ret < 0) {
		fail(err, errlen, ret, "watching events");
		goto out_free;
	}
	ct->ev.watching = true;
	ret = loop_add_fd(loop, ct->up.fd, EPOLLIN, on_updates, ct);
	if (ret < 0) {
		fail(err, errlen, ret, "watching updates");
		goto out_free;
	}
	ct->up.watching = true;
	*out = ct;
	return 0;

out_free:
	ct_close(ct);
	return ret;
}

void ct_close(struct ct *ct)
{
	if (!ct)
		return;
	loop_timer_cancel(ct->loop, &ct->resync_timer);
	close_listener(ct, &ct->ev);
	close_listener(ct, &ct->up);
	close_query(ct);
	free(ct->q_buf);
	free(ct);
}

void ct_get_stats(const struct ct *ct, struct ct_stats *out)
{
	*out = ct->st;
}

/* --- list --- */

struct list_ctx {
	uint32_t mark;
	const struct knlb_addr *backend;
	uint16_t port;
	ct_flow_fn cb;
	void *arg;
	uint64_t now_real_ns;
	long count;
};

static bool backend_matches(const struct ct_flow *f,
			    const struct knlb_addr *backend, uint16_t port)
{
	return !backend || (addr_equal(&f->backend, backend) &&
			    (port == 0 || f->backend_port == port));
}

static int list_one(struct ct *ct, const struct ct_msg *m, void *arg)
{
	struct list_ctx *ctx = arg;
	struct ct_flow f;

	if (!msg_ct_flow(ct, m, ctx->now_real_ns, &f) || f.mark == 0 ||
	    (ctx->mark && f.mark != ctx->mark) ||
	    !backend_matches(&f, ctx->backend, ctx->port))
		return 0;
	ctx->cb(&f, ctx->arg);
	ctx->count++;
	return 0;
}

long ct_list(struct ct *ct, uint32_t mark, const struct knlb_addr *backend,
	     uint16_t port, ct_flow_fn cb, void *arg)
{
	struct list_ctx ctx = {
		.mark = mark, .backend = backend, .port = port,
		.cb = cb, .arg = arg,
	};
	struct timespec now;
	int ret;

	if (!cb || (mark & ~ct->mask))
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &now);
	ctx.now_real_ns = (uint64_t)now.tv_sec * 1000000000ULL +
			  (uint64_t)now.tv_nsec;
	ret = ct_dump(ct, mark, list_one, &ctx);
	return ret < 0 ? ret : ctx.count;
}

/* --- flush --- */

struct victim {
	struct ct_tuple orig;
	uint32_t id;
	uint16_t zone;
	bool has_zone;
};

struct flush_ctx {
	uint32_t mark;
	const struct knlb_addr *addr;
	uint16_t port;
	uint8_t proto;
	struct victim *v;
	size_t n, cap;
};

static int flush_pick(struct ct *ct, const struct ct_msg *m, void *arg)
{
	struct flush_ctx *ctx = arg;
	struct ct_tuple o, r;
	struct victim *v;

	/* The kernel filtered on the mark already; check it all again. */
	if (!m->id || (attr_be32(m->mark) & ct->mask) != ctx->mark ||
	    !parse_tuple(m->orig, &o) || !parse_tuple(m->reply, &r) ||
	    o.proto != ctx->proto || r.sport != ctx->port ||
	    !addr_equal(&r.src, ctx->addr))
		return 0;
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 256;

		v = realloc(ctx->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ctx->v = v;
		ctx->cap = cap;
	}
	v = &ctx->v[ctx->n++];
	v->orig = o;
	v->id = attr_be32(m->id);
	v->has_zone = m->zone != NULL;
	v->zone = m->zone ? mnl_attr_get_u16(m->zone) : 0;	/* kept in BE */
	return 0;
}

static void put_addr(struct nlmsghdr *nlh, uint16_t type,
		     const struct knlb_addr *a)
{
	if (a->family == AF_INET)
		mnl_attr_put(nlh, type, sizeof(a->in), &a->in);
	else
		mnl_attr_put(nlh, type, sizeof(a->in6), &a->in6);
}

/* DELETE by original tuple + id: the kernel checks both. */
static void build_delete(char *buf, uint32_t seq, const struct victim *v)
{
	const struct ct_tuple *t = &v->orig;
	bool v4 = t->src.family == AF_INET;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	struct nlattr *tuple, *nest;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)t->src.family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;

	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	put_addr(nlh, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, &t->src);
	put_addr(nlh, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, &t->dst);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t->proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
	mnl_attr_put_u32(nlh, CTA_ID, htonl(v->id));
	if (v->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, v->zone);
}

/*
 * Send up to CT_DEL_CHUNK deletes in one sendmsg (the kernel handles them
 * in order) and read one ACK per delete.  Returns 0 or -errno of the
 * exchange; per-entry errors other than ENOENT go to *first_err.
 */
static void forget_victim(struct ct *ct, const struct victim *v)
{
	struct flow_key key = {
		.id = v->id, .proto = v->orig.proto,
		.src_port = v->orig.sport, .src = v->orig.src,
	};

	flowtab_flow_destroy(ct->ft, &key);
}

static int delete_chunk(struct ct *ct, const struct victim *v, size_t n,
			size_t *deleted, int *first_err)
{
	uint32_t first = ct->seq + 1;
	size_t len = 0, acked = 0;

	for (size_t i = 0; i < n; i++) {
		build_delete(ct->q_buf + len, ++ct->seq, &v[i]);
		len += NLMSG_ALIGN(((struct nlmsghdr *)(ct->q_buf + len))->nlmsg_len);
	}
	if (mnl_socket_sendto(ct->q, ct->q_buf, len) == -1)
		return -errno;
	while (acked < n) {
		ssize_t got = mnl_socket_recvfrom(ct->q, ct->q_buf, CT_QUERY_BUF);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)ct->q_buf;
		int left = (int)got;

		if (got == -1)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_seq < first || nlh->nlmsg_seq > ct->seq ||
			    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			acked++;
			if (e->error == 0)
				(*deleted)++;
			else if (e->error != -ENOENT && *first_err == 0)
				*first_err = e->error;
			/*
			 * Gone either way: count it closed now.  An entry older
			 * than our listener sends no DESTROY event at all
			 * (nf_conntrack_events=2); a late one is then an
			 * unknown destroy, which the flowtab ignores.
			 */
			if (e->error == 0 || e->error == -ENOENT)
				forget_victim(ct, &v[nlh->nlmsg_seq - first]);
		}
	}
	return 0;
}

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_UDPLITE ||
	       proto == IPPROTO_DCCP;
}

int ct_flush_backend(struct ct *ct, uint32_t mark, const struct knlb_addr *addr,
		     uint16_t port, uint8_t proto, size_t *deleted)
{
	struct flush_ctx ctx = {
		.mark = mark, .addr = addr, .port = port, .proto = proto,
	};
	size_t done = 0;
	int first_err = 0, ret;

	if (deleted)
		*deleted = 0;
	if (mark == 0 || (mark & ~ct->mask) || !addr || port == 0 ||
	    (addr->family != AF_INET && addr->family != AF_INET6))
		return -EINVAL;
	if (!has_ports(proto))
		return -EPROTONOSUPPORT;
	ret = ct_dump(ct, mark, flush_pick, &ctx);
	for (size_t i = 0; ret == 0 && i < ctx.n; i += CT_DEL_CHUNK) {
		size_t n = ctx.n - i < CT_DEL_CHUNK ? ctx.n - i : CT_DEL_CHUNK;

		ret = delete_chunk(ct, ctx.v + i, n, &done, &first_err);
		if (ret < 0)
			reset_query(ct);
	}
	free(ctx.v);
	if (deleted)
		*deleted = done;
	return ret < 0 ? ret : first_err;
}
