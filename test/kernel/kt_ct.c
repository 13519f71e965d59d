/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Conntrack entries made in bulk for the ct kernel tests (kt_ct.h). */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "kt_ct.h"

/*
 * Not nfct_open()/nfct_query(): knlb's own nfnl_sock_open()
 * (src/nft/nfnl.c) interposes libnfnetlink's in any binary linking
 * libknlb.a.
 */
int kt_ct_batch(unsigned int first, unsigned int n, uint32_t mark,
		in_addr_t backend, int tcp_state, bool destroy, bool ack)
{
	enum { CHUNK = 64 };
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nf_conntrack *c = nfct_new();
	static char buf[CHUNK * 512], reply[8192];
	uint32_t seq = 0;
	int err = 0;

	if (!nl || !c || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1)
		return -EIO;
	for (unsigned int i = first; i < first + n && !err;) {
		size_t len = 0;
		unsigned int k, acked = 0;

		for (k = 0; k < CHUNK && i < first + n; k++, i++) {
			uint32_t client = htonl(0x0a020000u + i / 50000);
			uint16_t sport = htons((uint16_t)(1024 + i % 50000));
			struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + len);
			struct nfgenmsg *nfg;

			nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) |
				(destroy ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW);
			nlh->nlmsg_flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0) |
				(destroy ? 0 : NLM_F_CREATE | NLM_F_EXCL);
			nlh->nlmsg_seq = ++seq;
			nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
			nfg->nfgen_family = AF_INET;
			nfg->version = NFNETLINK_V0;
			nfct_set_attr_u8(c, ATTR_L3PROTO, AF_INET);
			nfct_set_attr_u32(c, ATTR_IPV4_SRC, client);
			nfct_set_attr_u32(c, ATTR_IPV4_DST, htonl(0xc000020a));
			nfct_set_attr_u8(c, ATTR_L4PROTO, IPPROTO_TCP);
			/* Without these the kernel refuses the reply tuple. */
			nfct_set_attr_u8(c, ATTR_REPL_L3PROTO, AF_INET);
			nfct_set_attr_u8(c, ATTR_REPL_L4PROTO, IPPROTO_TCP);
			nfct_set_attr_u16(c, ATTR_PORT_SRC, sport);
			nfct_set_attr_u16(c, ATTR_PORT_DST, htons(80));
			nfct_set_attr_u32(c, ATTR_REPL_IPV4_SRC, backend);
			nfct_set_attr_u32(c, ATTR_REPL_IPV4_DST, client);
			nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(8080));
			nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, sport);
			nfct_set_attr_u8(c, ATTR_TCP_STATE, (uint8_t)tcp_state);
			nfct_set_attr_u32(c, ATTR_TIMEOUT, 300);
			nfct_set_attr_u32(c, ATTR_MARK, mark);
			nfct_nlmsg_build(nlh, c);
			len += NLMSG_ALIGN(nlh->nlmsg_len);
		}
		if (mnl_socket_sendto(nl, buf, len) == -1)
			err = -errno;
		while (ack && !err && acked < k) {
			ssize_t got = mnl_socket_recvfrom(nl, reply, sizeof(reply));
			const struct nlmsghdr *nlh = (const void *)reply;
			int left = (int)got;

			if (got == -1) {
				err = -errno;
				break;
			}
			for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				if (nlh->nlmsg_type != NLMSG_ERROR)
					continue;
				if (e->error && !err)
					err = e->error;
				acked++;
			}
		}
	}
	nfct_destroy(c);
	mnl_socket_close(nl);
	return err;
}

