/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * [global] traffic_counters = conntrack: each backend's packets and bytes
 * from conntrack's own accounting rather than from a rule on every packet.
 * The kernel keeps two counters per direction in each entry (two
 * additions per packet, in the entry it already holds); knlbd keeps each
 * flow's at their last reading (its DESTROY event, a resync or periodic
 * pass, the dump made when somebody reads the figures) and sums them per
 * backend.  See include/knlb/ct/ct.h and flowtab.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ct-int.h"

int ct_count_traffic(struct ct *ct, bool on)
{
	int ret = on ? flowtab_count_traffic(ct->ft) : 0;

	ct->count_traffic = on && ret == 0;
	return ret;
}

/* A flow's counters now: its own when known, else its backend's untracked or ended. */
static int traffic_reading(struct ct *ct, const struct flow *f,
			   const struct flow_traffic *t, bool gone)
{
	int ret = flowtab_flow_traffic(ct->ft, &f->key, t);

	if (ret != -ENOENT)
		return ret;
	return (gone ? flowtab_traffic_ended : flowtab_traffic_untracked)
		(ct->ft, f->mark, &f->backend, f->backend_port, f->key.proto, t);
}

void ct_traffic_destroyed(struct ct *ct, const struct flow *f,
			  const struct ct_msg *m)
{
	struct flow_traffic t;

	/* -ENOMEM: this flow's bytes are lost, as a lost event's would be. */
	if (ct->count_traffic && ct_msg_traffic(m, &t))
		(void)traffic_reading(ct, f, &t, true);
}

void ct_traffic_seen(struct ct *ct, const struct flow *f, const struct ct_msg *m)
{
	struct flow_traffic t;

	if (ct->count_traffic && ct_msg_traffic(m, &t))
		(void)flowtab_flow_traffic(ct->ft, &f->key, &t);
}

int ct_traffic_live(struct ct *ct, const struct flow *f, const struct ct_msg *m)
{
	struct flow_traffic t;

	if (!ct_msg_traffic(m, &t))
		return 0;
	return traffic_reading(ct, f, &t, false);
}

static int live_one(struct ct *ct, const struct ct_msg *m, void *arg)
{
	struct flow f;

	(void)arg;
	if (!ct_msg_flow(ct, m, &f) || f.mark == 0)
		return 0;
	return ct_traffic_live(ct, &f, m);
}

void ct_traffic_read_events(struct ct *ct)
{
	/*
	 * The DESTROYs queued now first: a flow that ended before the dump
	 * then has its final reading, not the one before.
	 */
	if (ct->events.watching)
		ct_on_events(ct->loop, ct->events.fd, 0, ct);
}

int ct_traffic_refresh(struct ct *ct, char *err, size_t errlen)
{
	int ret;

	/* The reader's pass just now read them (ct_refresh_counts()). */
	if (ct->traffic_read) {
		ct->traffic_read = false;
		return 0;
	}
	ct_traffic_read_events(ct);
	flowtab_traffic_untracked_begin(ct->ft);
	ret = ct_dump(ct, 0, live_one, NULL);
	if (ret < 0)
		snprintf(err, errlen, "reading conntrack's counters: %s",
			 strerror(-ret));
	return ret;
}

void ct_traffic_backend(struct ct *ct, uint32_t mark,
			const struct knlb_addr *addr, uint16_t port,
			uint8_t proto, struct flow_traffic *out)
{
	flowtab_traffic_shown(ct->ft, mark, addr, port, proto, out);
}
