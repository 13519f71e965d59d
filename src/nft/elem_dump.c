/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One GETSETELEM dump (see elem_dump-int.h). */
#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include "elem_dump-int.h"

struct mnl_socket *elem_dump_open(unsigned timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 };
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	int err;

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1 ||
	    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		       sizeof(tv)) == -1) {
		err = errno;
		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	return nl;
}

int elem_dump_exchange(struct mnl_socket *nl, char *buf, size_t len,
		       const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) == -1)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, len);
		int ret;

		if (n == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ?
			       -ETIMEDOUT : -errno;
		errno = 0;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (ret == MNL_CB_ERROR)
			return errno ? -errno : -EPROTO;	/* or cb's, in data */
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

int elem_dump(struct mnl_socket *nl, char *buf, size_t len, const char *table,
	      const char *set, uint32_t seq, mnl_cb_t cb, void *data)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = NFPROTO_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	return elem_dump_exchange(nl, buf, len, nlh, cb, data);
}
