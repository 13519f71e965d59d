/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct_query_flows(): what became of a few flows, one GET each by original
 * tuple and id, sent in chunks on the query socket.  For passive health,
 * which asks about a sample of new flows once they are old enough to have
 * been answered: no dump, so the cost does not grow with the table.
 */
#include <errno.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ct-int.h"

void ct_set_new_flow_fn(struct ct *ct, ct_new_flow_fn fn, void *arg)
{
	ct->on_new = fn;
	ct->on_new_arg = arg;
}

/* GET by original tuple and id: a reply is the entry, or an error. */
static void build_get(char *buf, uint32_t seq, const struct ct_new_flow *f)
{
	struct ct_tuple t = {
		.src = f->client, .dst = f->vip, .sport = f->client_port,
		.dport = f->vip_port, .proto = f->proto,
	};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)f->client.family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	ct_msg_put_orig_tuple(nlh, &t);
	mnl_attr_put_u32(nlh, CTA_ID, htonl(f->id));
}

int ct_query_exchange(struct ct *ct, size_t n, ct_build_fn build,
		      ct_reply_fn reply, void *arg)
{
	uint32_t first = ct->seq + 1;
	size_t len = 0, answered = 0;

	for (size_t i = 0; i < n; i++) {
		build(ct->query_buf + len, ++ct->seq, i, arg);
		len += NLMSG_ALIGN(((struct nlmsghdr *)(ct->query_buf + len))->nlmsg_len);
	}
	if (mnl_socket_sendto(ct->query, ct->query_buf, len) == -1)
		return -errno;
	while (answered < n) {
		ssize_t got = mnl_socket_recvfrom(ct->query, ct->query_buf, CT_QUERY_BUF);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)ct->query_buf;
		int left = (int)got;

		if (got == -1)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if (nlh->nlmsg_seq >= first && nlh->nlmsg_seq <= ct->seq &&
			    reply(ct, nlh, nlh->nlmsg_seq - first, arg))
				answered++;
	}
	return 0;
}

struct query_ctx {
	const struct ct_new_flow *flows;
	struct ct_flow_now *out;
};

static void build_one_get(char *buf, uint32_t seq, size_t i, void *arg)
{
	const struct query_ctx *q = arg;

	build_get(buf, seq, &q->flows[i]);
}

/* The entry, or an error (ENOENT, or any refusal: no evidence either way). */
static bool note_reply(struct ct *ct, const struct nlmsghdr *nlh, size_t i,
		       void *arg)
{
	const struct query_ctx *q = arg;
	struct ct_flow_now *now = &q->out[i];
	struct ct_msg m;

	(void)ct;
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		now->found = false;
		return true;
	}
	ct_msg_parse(nlh, &m);
	now->found = true;
	now->status = ct_attr_be32(m.status);
	now->tcp_state = ct_msg_tcp_state(m.protoinfo);
	return true;
}

int ct_query_flows(struct ct *ct, const struct ct_new_flow *flows, size_t n,
		   struct ct_flow_now *out)
{
	int ret = 0;

	for (size_t i = 0; i < n; i++)
		out[i] = (struct ct_flow_now){ .found = false, .tcp_state = -1 };
	if (ct->query_busy)
		return -EBUSY;
	for (size_t i = 0; ret == 0 && i < n; i += CT_DEL_CHUNK) {
		size_t k = n - i < CT_DEL_CHUNK ? n - i : CT_DEL_CHUNK;

		struct query_ctx q = { .flows = flows + i, .out = out + i };

		ret = ct_query_exchange(ct, k, build_one_get, note_reply, &q);
		if (ret < 0)
			ct_query_reset(ct);
	}
	return ret;
}
