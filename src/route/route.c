/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rtnetlink for announced VIPs: one request, read until its ACK (or the
 * end of a dump).  See include/knlb/route/route.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "knlb/lib/grow.h"
#include "knlb/route/route.h"

/* MNL_SOCKET_BUFFER_SIZE is a run-time value; a dump part is at most 32 KiB. */
#define ROUTE_BUF_SIZE	32768

struct route_sock {
	struct mnl_socket *nl;
	unsigned int portid;
	uint32_t seq;
	char buf[ROUTE_BUF_SIZE];
};

int route_sock_open(struct route_sock **out)
{
	struct route_sock *rs = calloc(1, sizeof(*rs));
	int ret;

	if (!rs)
		return -ENOMEM;
	rs->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!rs->nl) {
		ret = -errno;
		goto out_free;
	}
	if (mnl_socket_bind(rs->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out_close;
	}
	rs->portid = mnl_socket_get_portid(rs->nl);
	rs->seq = (uint32_t)time(NULL);
	*out = rs;
	return 0;

out_close:
	mnl_socket_close(rs->nl);
out_free:
	free(rs);
	return ret;
}

void route_sock_close(struct route_sock *rs)
{
	if (!rs)
		return;
	mnl_socket_close(rs->nl);
	free(rs);
}

static size_t addr_len(const struct knlb_addr *a)
{
	return a->family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

/* A host route of knlb's in table: the header every request shares. */
static struct nlmsghdr *route_msg(struct route_sock *rs, uint16_t type,
				  uint16_t flags, uint32_t table,
				  const struct knlb_addr *vip)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(rs->buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++rs->seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)vip->family;
	rtm->rtm_dst_len = (unsigned char)(addr_len(vip) * 8);
	/* Tables above 255 exist only as RTA_TABLE. */
	rtm->rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = KNLB_RTPROT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_BLACKHOLE;
	mnl_attr_put(nlh, RTA_DST, addr_len(vip), &vip->in6);
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	return nlh;
}

/* Send nlh, read every answer to it through cb until the ACK or DONE. */
static int route_talk(struct route_sock *rs, struct nlmsghdr *nlh,
		      mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(rs->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(rs->nl, rs->buf, sizeof(rs->buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(rs->buf, (size_t)n, seq, rs->portid, cb, data);
		if (ret == MNL_CB_ERROR)
			return -errno;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

static bool family_ok(const struct knlb_addr *vip)
{
	return vip->family == AF_INET || vip->family == AF_INET6;
}

int route_announce(struct route_sock *rs, uint32_t table,
		   const struct knlb_addr *vip)
{
	if (!family_ok(vip))
		return -EAFNOSUPPORT;
	return route_talk(rs, route_msg(rs, RTM_NEWROUTE,
					NLM_F_CREATE | NLM_F_REPLACE, table, vip),
			  NULL, NULL);
}

int route_withdraw(struct route_sock *rs, uint32_t table,
		   const struct knlb_addr *vip)
{
	int ret;

	if (!family_ok(vip))
		return -EAFNOSUPPORT;
	/* The kernel deletes only a route whose protocol and type match. */
	ret = route_talk(rs, route_msg(rs, RTM_DELROUTE, 0, table, vip), NULL,
			 NULL);
	return ret == -ESRCH || ret == -ENOENT ? 0 : ret;
}

struct list_ctx {
	uint32_t table;
	struct knlb_addr *addrs;
	size_t n, cap;
	int err;
};

static int list_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int list_route(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	struct list_ctx *ctx = data;
	struct knlb_addr a = { .family = rtm->rtm_family };
	uint32_t table = rtm->rtm_table;

	if (rtm->rtm_protocol != KNLB_RTPROT || !family_ok(&a) ||
	    rtm->rtm_dst_len != addr_len(&a) * 8)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), list_attr, tb);
	if (tb[RTA_TABLE])
		table = mnl_attr_get_u32(tb[RTA_TABLE]);
	if (table != ctx->table || !tb[RTA_DST] ||
	    mnl_attr_get_payload_len(tb[RTA_DST]) != addr_len(&a))
		return MNL_CB_OK;
	memcpy(&a.in6, mnl_attr_get_payload(tb[RTA_DST]), addr_len(&a));
	if (grow(&ctx->addrs, &ctx->cap, ctx->n + 1, sizeof(*ctx->addrs), 8) < 0) {
		ctx->err = -ENOMEM;
		return MNL_CB_OK;	/* read the dump to its end all the same */
	}
	ctx->addrs[ctx->n++] = a;
	return MNL_CB_OK;
}

static int list_family(struct route_sock *rs, struct list_ctx *ctx,
		       unsigned char family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(rs->buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++rs->seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family;
	return route_talk(rs, nlh, list_route, ctx);
}

int route_list(struct route_sock *rs, uint32_t table, struct knlb_addr **out,
	       size_t *n)
{
	struct list_ctx ctx = { .table = table };
	int ret;

	ret = list_family(rs, &ctx, AF_INET);
	/* A kernel without IPv6 has no IPv6 routes of knlb's either. */
	if (ret == 0) {
		ret = list_family(rs, &ctx, AF_INET6);
		if (ret == -EAFNOSUPPORT)
			ret = 0;
	}
	if (ret == 0)
		ret = ctx.err;
	if (ret < 0) {
		free(ctx.addrs);
		return ret;
	}
	*out = ctx.addrs;
	*n = ctx.n;
	return 0;
}
