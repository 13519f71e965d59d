/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Listing the conntrack entries of a service or backend, as `knlbctl
 * flows` shows them: ct_list() from one dump on the query socket, at
 * once; a ct_listing piece by piece from the loop, on a socket of its
 * own.  See include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ct-int.h"
#include "knlb/lib/addr.h"

/* What to keep, and whom to tell. */
struct list_filter {
	uint32_t mask, mark;
	struct knlb_addr backend;
	bool by_backend;
	uint16_t port;
	uint64_t now_real_ns;
	ct_flow_fn cb;
	void *arg;
	long count;
};

struct ct_listing {
	struct mnl_socket *nl;
	uint32_t seq, portid;
	struct list_filter filter;
	char buf[CT_QUERY_BUF];
};

static uint64_t now_real_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

static void filter_init(struct list_filter *lf, uint32_t mask, uint32_t mark,
			const struct knlb_addr *backend, uint16_t port)
{
	lf->mask = mask;
	lf->mark = mark;
	lf->by_backend = backend != NULL;
	if (backend)
		lf->backend = *backend;
	lf->port = port;
	lf->now_real_ns = now_real_ns();
}

static void filter_one(struct list_filter *lf, const struct ct_msg *m)
{
	struct ct_flow f;

	if (!ct_msg_list_entry(lf->mask, m, lf->now_real_ns, &f) || f.mark == 0 ||
	    (lf->mark && f.mark != lf->mark))
		return;
	if (lf->by_backend && (!addr_equal(&f.backend, &lf->backend) ||
			       (lf->port != 0 && f.backend_port != lf->port)))
		return;
	lf->cb(&f, lf->arg);
	lf->count++;
}

static int list_one(struct ct *ct, const struct ct_msg *m, void *arg)
{
	(void)ct;
	filter_one(arg, m);
	return 0;
}

long ct_list(struct ct *ct, uint32_t mark, const struct knlb_addr *backend,
	     uint16_t port, ct_flow_fn cb, void *arg)
{
	struct list_filter lf = { .cb = cb, .arg = arg };
	int ret;

	if (!cb || (mark & ~ct->mask))
		return -EINVAL;
	filter_init(&lf, ct->mask, mark, backend, port);
	ret = ct_dump(ct, mark, list_one, &lf);
	return ret < 0 ? ret : lf.count;
}

/* ---- piece by piece ---- */

int ct_listing_open(struct ct *ct, uint32_t mark, const struct knlb_addr *backend,
		    uint16_t port, struct ct_listing **out)
{
	struct ct_listing *l;
	int ret;

	if (mark & ~ct->mask)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	filter_init(&l->filter, ct->mask, mark, backend, port);
	l->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!l->nl) {
		ret = -errno;
		goto out_free;
	}
	if (mnl_socket_bind(l->nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		ret = -errno;
		goto out_close;
	}
	l->portid = mnl_socket_get_portid(l->nl);
	l->seq = ++ct->seq;
	ret = ct_dump_request(l->buf, l->seq, mark, ct->mask);
	if (ret < 0)
		goto out_close;
	if (mnl_socket_sendto(l->nl, l->buf, ((struct nlmsghdr *)l->buf)->nlmsg_len) == -1) {
		ret = -errno;
		goto out_close;
	}
	ct->st.dumps++;
	*out = l;
	return 0;

out_close:
	mnl_socket_close(l->nl);
out_free:
	free(l);
	return ret;
}

int ct_listing_fd(const struct ct_listing *l)
{
	return mnl_socket_get_fd(l->nl);
}

static int listing_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_msg m;

	if ((nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
		return MNL_CB_OK;
	ct_msg_parse(nlh, &m);
	filter_one(data, &m);
	return MNL_CB_OK;
}

int ct_listing_read(struct ct_listing *l, unsigned max_reads, ct_flow_fn cb,
		    void *arg)
{
	l->filter.cb = cb;
	l->filter.arg = arg;
	for (unsigned i = 0; i < max_reads; ) {
		ssize_t n = mnl_socket_recvfrom(l->nl, l->buf, sizeof(l->buf));
		int ret;

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -errno;
		}
		ret = mnl_cb_run(l->buf, (size_t)n, l->seq, l->portid, listing_cb,
				 &l->filter);
		if (ret == MNL_CB_STOP)
			return 0;
		if (ret == MNL_CB_ERROR)
			return -errno;
		i++;
	}
	return 1;
}

long ct_listing_count(const struct ct_listing *l)
{
	return l->filter.count;
}

void ct_listing_close(struct ct_listing *l)
{
	if (!l)
		return;
	mnl_socket_close(l->nl);
	free(l);
}
