/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The three conntrack netlink sockets: the two listeners (events,
 * updates) with their receive buffers and kernel filters, and the query
 * socket for dumps and deletes.  See include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "ct-int.h"
#include "knlb/lib/log.h"

int ct_listener_init(struct ct_listener *l, const char *name)
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

/* The kernel's figure (twice what was asked) into the stats. */
static void note_rcvbuf(struct ct *ct, const struct ct_listener *l)
{
	int got = 0;
	socklen_t len = sizeof(got);

	if (getsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == -1)
		return;
	if (l == &ct->events)
		ct->st.rcvbuf = got;
	else
		ct->st.update_rcvbuf = got;
}

int ct_listener_set_rcvbuf(struct ct *ct, struct ct_listener *l, int bytes)
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
	ret = ct_listener_set_rcvbuf(ct, &ct->events, bytes);
	if (ret == 0)
		ret = ct_listener_set_rcvbuf(ct, &ct->updates, bytes);
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
int ct_listener_open(struct ct *ct, struct ct_listener *l, unsigned int groups,
		     bool closing_only, bool *filtered, const char **what)
{
	int ret;

	*what = "socket";
	l->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!l->nl)
		return -errno;
	l->fd = mnl_socket_get_fd(l->nl);
	*what = "receive buffer";
	ret = ct_listener_set_rcvbuf(ct, l, CT_RCVBUF_START);
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

int ct_listener_join(struct ct_listener *l, const int *groups, size_t n,
		     bool on)
{
	for (size_t i = 0; i < n; i++)
		if (setsockopt(l->fd, SOL_NETLINK,
			       on ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP,
			       &groups[i], sizeof(groups[i])) == -1)
			return -errno;
	return 0;
}

const int ct_event_groups[2] = {
	NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY,
};
const int ct_update_group[1] = { NFNLGRP_CONNTRACK_UPDATE };

int ct_set_closing_updates(struct ct *ct, bool on)
{
	int ret;

	if (on == ct->st.closing_updates)
		return 0;
	/*
	 * Bounded, or no service on events: no group is joined; going back
	 * to events joins it.
	 */
	if (ct->st.bounded || ct->st.events_off) {
		ct->st.closing_updates = on;
		return 0;
	}
	ret = ct_listener_join(&ct->updates, ct_update_group, 1, on);
	if (ret < 0)
		return ret;
	ct->st.closing_updates = on;
	if (on) {
		/* Subscribed first: a flow closing during the dump is not missed. */
		ct->st.resync_pending = true;
		ct_maybe_resync(ct);
	}
	return 0;
}

/* Leave (on false) or join the groups events are followed by.  0 or -errno. */
static int join_event_groups(struct ct *ct, bool on)
{
	int ret = ct_listener_join(&ct->events, ct_event_groups, 2, on);

	if (ret == 0 && ct->st.closing_updates) {
		ret = ct_listener_join(&ct->updates, ct_update_group, 1, on);
		if (ret < 0)	/* as it was */
			ct_listener_join(&ct->events, ct_event_groups, 2, !on);
	}
	return ret;
}

int ct_set_following_events(struct ct *ct, bool on)
{
	int ret;

	if (on == !ct->st.events_off)
		return 0;
	if (!on && ct->st.bounded) {
		/* Bounded already left every group. */
		ct_bounded_quit(ct);
		ct->st.events_off = true;
		return 0;
	}
	ret = join_event_groups(ct, on);
	if (ret < 0)
		return ret;
	ct->st.events_off = !on;
	if (on) {
		/* Subscribed first, then the dump: no flow born in between is missed. */
		ct->rate_start_ns = 0;
		ct->st.resync_pending = true;
		ct_maybe_resync(ct);
	}
	return 0;
}

void ct_listener_close(struct ct *ct, struct ct_listener *l)
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

void ct_query_close(struct ct *ct)
{
	if (ct->query)
		mnl_socket_close(ct->query);
	ct->query = NULL;
}

int ct_query_open(struct ct *ct)
{
	struct timeval tv = { .tv_sec = CT_QUERY_TIMEOUT_S };
	int one = 1;

	ct->query = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!ct->query)
		return -errno;
	if (mnl_socket_bind(ct->query, 0, MNL_SOCKET_AUTOPID) == -1)
		goto fail;
	/* Bounded: a dump that stalls fails instead of freezing the loop. */
	if (setsockopt(mnl_socket_get_fd(ct->query), SOL_SOCKET, SO_RCVTIMEO, &tv,
		       sizeof(tv)) == -1)
		goto fail;
	/* ACKs of deletes without a copy of the request: more fit the buffer. */
	mnl_socket_setsockopt(ct->query, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
fail:
	one = -errno;
	ct_query_close(ct);
	return one;
}

/*
 * After a failed exchange the socket may still hold the rest of a dump
 * or stray ACKs that would be read as the answer to the next request:
 * start over on a fresh one.
 */
void ct_query_reset(struct ct *ct)
{
	ct_query_close(ct);
	if (ct_query_open(ct) < 0)
		log_warn("ct: reopening the conntrack query socket: %s",
			 strerror(errno));
}
