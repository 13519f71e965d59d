/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parsing: a ctnetlink message into knlb's flow records (struct flow for
 * the flowtab, struct ct_flow for ct_list()); see include/knlb/ct/ct.h.
 *
 * Messages are parsed with libmnl straight from the netlink buffer rather
 * than through nf_conntrack objects: the event path then allocates
 * nothing per event and reads only the five attributes it needs.
 * libnetfilter_conntrack provides what would be error-prone to redo: the
 * BPF mark filter and the dump filter attribute.
 */
#include <endian.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "ct-int.h"

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

bool ct_parse_tuple(const struct nlattr *nest, struct ct_tuple *t)
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
void ct_msg_parse(const struct nlmsghdr *nlh, struct ct_msg *m)
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

static inline uint64_t attr_be64(const struct nlattr *a)
{
	return be64toh(mnl_attr_get_u64(a));
}

static int tcp_state_num(const struct nlattr *protoinfo);
static bool tcp_state_ending(int state);

int ct_msg_tcp_state(const struct nlattr *protoinfo)
{
	return tcp_state_num(protoinfo);
}

static void put_addr(struct nlmsghdr *nlh, uint16_t type,
		     const struct knlb_addr *a)
{
	if (a->family == AF_INET)
		mnl_attr_put(nlh, type, sizeof(a->in), &a->in);
	else
		mnl_attr_put(nlh, type, sizeof(a->in6), &a->in6);
}

void ct_msg_put_orig_tuple(struct nlmsghdr *nlh, const struct ct_tuple *t)
{
	bool v4 = t->src.family == AF_INET;
	struct nlattr *tuple, *nest;

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
}

bool ct_msg_flow(const struct ct *ct, const struct ct_msg *m, struct flow *f)
{
	struct ct_tuple o, r;

	memset(f, 0, sizeof(*f));
	f->mark = ct_attr_be32(m->mark) & ct->mask;
	if (!m->id || !ct_parse_tuple(m->orig, &o) ||
	    !ct_parse_tuple(m->reply, &r))
		return false;
	f->key.id = ct_attr_be32(m->id);
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

bool ct_msg_traffic(const struct ct_msg *m, struct flow_traffic *t)
{
	memset(t, 0, sizeof(*t));
	return counters(m->counters[0], &t->pkts_in, &t->bytes_in) &&
	       counters(m->counters[1], &t->pkts_out, &t->bytes_out);
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

bool ct_msg_list_entry(uint32_t mask, const struct ct_msg *m,
		       uint64_t now_real_ns, struct ct_flow *out)
{
	struct ct_tuple o, r;

	memset(out, 0, sizeof(*out));
	if (!m->id || !ct_parse_tuple(m->orig, &o) ||
	    !ct_parse_tuple(m->reply, &r))
		return false;
	out->id = ct_attr_be32(m->id);
	out->ct_mark = ct_attr_be32(m->mark);
	out->mark = out->ct_mark & mask;
	out->status = ct_attr_be32(m->status);
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
	out->timeout_s = m->timeout ? (int64_t)ct_attr_be32(m->timeout) : -1;
	out->age_s = age_s(m->timestamp, now_real_ns);
	out->has_counters =
		counters(m->counters[0], &out->orig_packets, &out->orig_bytes) &&
		counters(m->counters[1], &out->reply_packets, &out->reply_bytes);
	return true;
}
