/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct_open() and ct_close(): the sockets opened in the order that loses
 * no flow, the initial dump, and the listeners watched from the loop.
 * See include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ct-int.h"
#include "knlb/lib/proc_number.h"

static bool events_disabled(void)
{
	uint64_t v;

	return proc_number_read("/proc", "sys/net/netfilter/nf_conntrack_events",
				&v) == 0 && v == 0;
}

static int fail(char *err, size_t errlen, int ret, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "conntrack %s: %s", what, strerror(-ret));
	return ret;
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
	loop_timer_init(&ct->resync_timer, ct_on_resync_timer, ct);
	ct_periodic_init(ct);
	ct->query_buf = malloc(CT_QUERY_BUF);
	if (ct_listener_init(&ct->events, "events") < 0 ||
	    ct_listener_init(&ct->updates, "updates") < 0 || !ct->query_buf) {
		ret = fail(err, errlen, -ENOMEM, "open");
		goto out_free;
	}

	/*
	 * Both listeners before the initial dump: a flow born, or closing,
	 * while the dump runs is not missed.
	 */
	ret = ct_listener_open(ct, &ct->events, NF_NETLINK_CONNTRACK_NEW |
			       NF_NETLINK_CONNTRACK_DESTROY, false,
			       &ct->st.kernel_filter, &what);
	if (ret < 0) {
		snprintf(step, sizeof(step), "event socket: %s", what);
		fail(err, errlen, ret, step);
		goto out_free;
	}
	ret = ct_listener_open(ct, &ct->updates, NF_NETLINK_CONNTRACK_UPDATE,
			       true, &ct->st.update_filter, &what);
	if (ret < 0) {
		snprintf(step, sizeof(step), "update socket: %s", what);
		fail(err, errlen, ret, step);
		goto out_free;
	}
	/* What that means depends on the rules' event masks: the caller says. */
	ct->st.events_disabled = events_disabled();

	ret = ct_query_open(ct);
	if (ret < 0) {
		fail(err, errlen, ret, "query socket");
		goto out_free;
	}
	ret = ct_resync_dump(ct, &res);
	if (ret < 0) {
		fail(err, errlen, ret, "initial dump");
		goto out_free;
	}
	ct->st.initial_flows = res.opened;
	/* The initial dump must not delay the first overflow's resync. */
	ct->last_resync_end_ns = 0;

	ret = loop_add_fd(loop, ct->events.fd, EPOLLIN, ct_on_events, ct);
	if (ret < 0) {
		fail(err, errlen, ret, "watching events");
		goto out_free;
	}
	ct->events.watching = true;
	ret = loop_add_fd(loop, ct->updates.fd, EPOLLIN, ct_on_updates, ct);
	if (ret < 0) {
		fail(err, errlen, ret, "watching updates");
		goto out_free;
	}
	ct->updates.watching = true;
	ct->st.closing_updates = true;
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
	ct_periodic_close(ct);
	ct_listener_close(ct, &ct->events);
	ct_listener_close(ct, &ct->updates);
	ct_query_close(ct);
	free(ct->query_buf);
	free(ct);
}

void ct_get_stats(const struct ct *ct, struct ct_stats *out)
{
	*out = ct->st;
}
