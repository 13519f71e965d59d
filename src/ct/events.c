/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The two listening sockets read from the loop: NEW and DESTROY events,
 * and TCP closing updates (TIME_WAIT, CLOSE), applied to the flowtab.
 * An overflow (ENOBUFS) grows the buffer and asks for a resync.  See
 * include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ct-int.h"
#include "knlb/lib/log.h"

static void on_overflow(struct ct *ct, struct ct_listener *l)
{
	int was = l->rcvbuf_req, max = ct->policy.max_rcvbuf;

	ct->st.overflows++;
	if (!l->congested)
		l->congested_since_ns = loop_now_ns();
	l->congested = true;
	/* Bounded: only a rate sample lost some; the passes count. */
	if (ct->st.bounded)
		return;
	if (l->rcvbuf_req < max)
		ct_listener_set_rcvbuf(ct, l, l->rcvbuf_req > max / 2 ?
					      max : l->rcvbuf_req * 2);
	/* One line per episode, not per lost batch. */
	if (!ct->st.resync_pending)
		log_warn("ct: conntrack %s lost (receive buffer full at %d KiB, now %d KiB); resyncing from a dump",
			 l->name, was / 1024, l->rcvbuf_req / 1024);
	ct->st.resync_pending = true;
	/* What is queued now is a backlog, not a rate: measure afresh. */
	ct->rate_start_ns = 0;
	ct_note_overflow(ct, was);
}

/*
 * What both listeners do first: keep a ctnetlink message of the types
 * the socket serves (NEW, and DELETE when deletes), parse it into f and
 * count it bad (no usable flow) or foreign (no service's mark).  Returns
 * its type (IPCTNL_MSG_CT_*), or -1 when there is nothing to apply.
 */
static int listener_flow(struct ct *ct, const struct nlmsghdr *nlh,
			 bool deletes, struct flow *f, struct ct_msg *mp)
{
	uint8_t type = nlh->nlmsg_type & 0xff;
	struct ct_msg m;

	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK ||
	    (type != IPCTNL_MSG_CT_NEW &&
	     (!deletes || type != IPCTNL_MSG_CT_DELETE)))
		return -1;
	ct_msg_parse(nlh, &m);
	if (!ct_msg_flow(ct, &m, f)) {
		ct->st.events_bad++;
		return -1;
	}
	if (f->mark == 0) {
		ct->st.events_foreign++;
		return -1;
	}
	if (mp)
		*mp = m;
	return type;
}

/* A new flow, or one reset unanswered, for passive health. */
static void tell_observer(struct ct *ct, const struct flow *f,
			  const struct ct_msg *m, bool destroyed)
{
	struct ct_new_flow nf = {
		.destroyed = destroyed, .status = ct_attr_be32(m->status),
		.id = f->key.id, .mark = f->mark, .proto = f->key.proto,
		.client = f->key.src, .client_port = f->key.src_port,
		.backend = f->backend, .backend_port = f->backend_port,
	};
	struct ct_tuple o;

	if (!ct_parse_tuple(m->orig, &o))
		return;
	nf.vip = o.dst;
	nf.vip_port = o.dport;
	ct->on_new(&nf, ct->on_new_arg);
}

/* NEW and DESTROY, from the event socket. */
static void handle_event(struct ct *ct, const struct nlmsghdr *nlh)
{
	struct flow f;
	struct ct_msg m;
	int type = listener_flow(ct, nlh, true, &f, &m);

	if (type < 0)
		return;
	if (type == IPCTNL_MSG_CT_DELETE) {
		ct->st.events_destroy++;
		ct_traffic_destroyed(ct, &f, &m);
		flowtab_flow_destroy(ct->ft, &f.key);
		if (ct->on_new && f.key.proto == IPPROTO_TCP &&
		    !(ct_attr_be32(m.status) & IPS_SEEN_REPLY))
			tell_observer(ct, &f, &m, true);
		return;
	}
	ct->st.events_new++;
	if (flowtab_flow_new(ct->ft, &f) == -ENOMEM) {
		if (!ct->st.resync_pending)
			log_warn("ct: out of memory counting flows; resyncing later");
		ct->st.resync_pending = true;
	}
	if (ct->on_new)
		tell_observer(ct, &f, &m, false);
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
	struct flow f;

	if (listener_flow(ct, nlh, false, &f, NULL) < 0)
		return;
	if (!f.ending) {
		/* No TCP state in it, or no kernel state filter. */
		ct->st.updates_other++;
		return;
	}
	ct->st.events_closing++;
	if (!flowtab_flow_known(ct->ft, &f.key))
		read_listener(ct, &ct->events, handle_event, CT_BUDGET);
	if (flowtab_flow_closing(ct->ft, &f.key) == -ENOENT)
		ct->st.closings_unknown++;
}

void ct_on_events(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ct *ct = arg;

	(void)loop;
	(void)fd;
	(void)events;
	read_listener(ct, &ct->events, handle_event, CT_BUDGET);
	ct_check_congestion(ct, &ct->events);
	ct_check_rate(ct);
	ct_maybe_resync(ct);
}

void ct_on_updates(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ct *ct = arg;

	(void)loop;
	(void)fd;
	(void)events;
	read_listener(ct, &ct->updates, handle_update, CT_BUDGET);
	ct_check_congestion(ct, &ct->updates);
	ct_maybe_resync(ct);
}
