/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-backend figures readers show, from where [global]
 * traffic_counters counts them (include/knlb/daemon/traffic.h), and
 * turning conntrack's accounting on when that is conntrack (and back off
 * at --flush-on-exit when knlbd was the one to turn it on).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "knlb/ct/ct.h"
#include "knlb/ct/flowtab.h"
#include "knlb/daemon/traffic.h"
#include "knlb/lib/log.h"
#include "knlb/pool/pool-t.h"

#define ACCT_SYSCTL "sys/net/netfilter/nf_conntrack_acct"

/* VALUE ("0\n" or "1\n") into path: 0, or -errno. */
static int acct_write(const char *path, const char *value)
{
	int fd, ret = 0;

	errno = 0;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd == -1 || write(fd, value, 2) != 2)
		ret = errno ? -errno : -EIO;
	if (fd != -1)
		close(fd);
	return ret;
}

/*
 * Turns nf_conntrack_acct on under proc_root: 0, or -errno (path filled).
 * Read first, write only when off: a read-only /proc/sys (the operator
 * set it at boot) is no failure when the accounting is on already.
 */
static int accounting_on(const char *proc_root, char *path, size_t pathlen,
			 bool *changed)
{
	char now = 0;
	int fd, ret = 0;

	*changed = false;
	snprintf(path, pathlen, "%s/" ACCT_SYSCTL, proc_root);
	errno = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || read(fd, &now, 1) != 1)
		ret = errno ? -errno : -EIO;	/* an empty file: no sysctl */
	if (fd != -1)
		close(fd);
	if (ret < 0 || now == '1')
		return ret;
	ret = acct_write(path, "1\n");
	*changed = ret == 0;
	return ret;
}

/* auto, resolved: counted by TO from now on, remembered as auto. */
static void auto_becomes(struct knlb_global_config *g, enum knlb_traffic to)
{
	g->traffic_counters = to;
	g->traffic_auto = true;
}

int traffic_accounting_on(struct knlb_global_config *g, const char *proc_root,
			  bool *turned_on)
{
	bool automatic = g->traffic_counters == KNLB_TRAFFIC_AUTO, changed;
	char path[512];
	int ret;

	*turned_on = false;
	if (g->traffic_counters != KNLB_TRAFFIC_CONNTRACK && !automatic)
		return 0;
	ret = accounting_on(proc_root, path, sizeof(path), &changed);
	if (ret < 0 && automatic) {
		auto_becomes(g, KNLB_TRAFFIC_RULES);
		log_warn("traffic_counters = auto: cannot turn on conntrack accounting (%s: %s): counting packets and bytes with a rule per packet instead (as traffic_counters = yes)",
			 path, strerror(-ret));
		return 0;
	}
	if (ret < 0) {
		log_error("traffic_counters = conntrack: cannot turn on conntrack accounting (%s: %s); set net.netfilter.nf_conntrack_acct = 1, or count with traffic_counters = yes",
			  path, strerror(-ret));
		return ret;
	}
	if (automatic)
		auto_becomes(g, KNLB_TRAFFIC_CONNTRACK);
	*turned_on = changed;
	if (changed)
		log_info("traffic_counters = %s: turned on conntrack accounting (net.netfilter.nf_conntrack_acct = 1; each conntrack entry grows by 32 bytes); flows opened before now carry no counters",
			 automatic ? "auto" : "conntrack");
	else
		log_info("traffic_counters = %s: conntrack accounting was on already (net.netfilter.nf_conntrack_acct = 1)",
			 automatic ? "auto" : "conntrack");
	return 0;
}

void traffic_accounting_restore(const char *proc_root, bool turned_on)
{
	char path[512];
	int ret;

	if (!turned_on) {
		log_info("leaving conntrack accounting on (net.netfilter.nf_conntrack_acct = 1): it was on when knlbd started");
		return;
	}
	snprintf(path, sizeof(path), "%s/" ACCT_SYSCTL, proc_root);
	ret = acct_write(path, "0\n");
	if (ret < 0)
		log_error("cannot turn conntrack accounting back off (%s: %s): it stays on; set net.netfilter.nf_conntrack_acct = 0 by hand",
			  path, strerror(-ret));
	else
		log_info("turned conntrack accounting back off (net.netfilter.nf_conntrack_acct = 0), as knlbd found it");
}

void traffic_without_conntrack(struct knlb_global_config *g)
{
	if (g->traffic_counters != KNLB_TRAFFIC_AUTO)
		return;
	auto_becomes(g, KNLB_TRAFFIC_RULES);
	log_warn("traffic_counters = auto: conntrack is not available: counting packets and bytes with a rule per packet instead (as traffic_counters = yes)");
}

void traffic_render_as(struct knlb_global_config *g)
{
	if (g->traffic_counters == KNLB_TRAFFIC_AUTO)
		auto_becomes(g, KNLB_TRAFFIC_CONNTRACK);
}

void traffic_keep_running(const struct knlb_global_config *running,
			  struct knlb_global_config *g)
{
	if (g->traffic_counters == KNLB_TRAFFIC_AUTO)
		auto_becomes(g, running->traffic_counters);
}

int traffic_view_read(struct traffic_view *v, const struct knlb_global_config *g,
		      struct ct *ct, char *err, size_t errlen)
{
	bool rules = g->traffic_counters == KNLB_TRAFFIC_RULES;
	int ret;

	memset(v, 0, sizeof(*v));
	ret = stats_read(g->table, g->ct_mark_mask, rules, &v->t, err, errlen);
	if (ret < 0)
		return ret;
	v->counted = rules;
	if (g->traffic_counters != KNLB_TRAFFIC_CONNTRACK || !ct)
		return 0;
	ret = ct_traffic_refresh(ct, err, errlen);
	if (ret < 0) {
		stats_table_free(&v->t);
		return ret;
	}
	v->ct = ct;
	v->counted = true;
	return 0;
}

struct stats_counter traffic_view_backend(const struct traffic_view *v,
					  const struct knlb_service *svc,
					  size_t b)
{
	const struct knlb_backend_config *be = svc->backends[b].cfg;
	uint8_t proto = (uint8_t)svc->cfg->proto;
	const struct stats_counter *c = stats_find(&v->t, svc->ct_mark,
						   &be->addr, proto, be->port);
	struct stats_counter out = { 0 };
	struct flow_traffic t;

	if (c)
		out = *c;	/* else nothing counted yet, or expired idle */
	if (!v->ct)
		return out;
	ct_traffic_backend(v->ct, svc->ct_mark, &be->addr, be->port, proto, &t);
	out.pkts_in = t.pkts_in;
	out.bytes_in = t.bytes_in;
	out.pkts_out = t.pkts_out;
	out.bytes_out = t.bytes_out;
	return out;
}

void traffic_view_free(struct traffic_view *v)
{
	stats_table_free(&v->t);
}

bool traffic_known(const struct knlb_global_config *g, const struct ct *ct)
{
	return g->traffic_counters == KNLB_TRAFFIC_RULES ||
	       (g->traffic_counters == KNLB_TRAFFIC_CONNTRACK && ct);
}

const char *traffic_source(const struct knlb_global_config *g,
			   const struct ct *ct)
{
	if (!traffic_known(g, ct))
		return NULL;
	return g->traffic_counters == KNLB_TRAFFIC_RULES ? "rules" : "conntrack";
}

const char *traffic_status_line(const struct knlb_global_config *g,
				const struct ct *ct)
{
	switch (g->traffic_counters) {
	case KNLB_TRAFFIC_OFF:
		return "traffic counters: off (traffic_counters = no): the kernel counts each backend's new flows, not its packets or bytes";
	case KNLB_TRAFFIC_CONNTRACK:
		if (!ct)
			return "traffic counters: unknown: traffic_counters = conntrack sums conntrack's accounting, and conntrack is not available";
#define SUMMED ", summed by knlbd from each flow's last reading: a lower bound for the ended flows of track = off services and for flows opened before the accounting was on"
		return g->traffic_auto ?
		       "traffic counters: conntrack's accounting (traffic_counters = auto)" SUMMED :
		       "traffic counters: conntrack's accounting (traffic_counters = conntrack)" SUMMED;
#undef SUMMED
	case KNLB_TRAFFIC_RULES:
		if (g->traffic_auto)
			return "traffic counters: a rule per packet (traffic_counters = auto: knlbd could not turn on conntrack's accounting at start, its log says why)";
		break;
	case KNLB_TRAFFIC_AUTO:
		break;	/* resolved at start */
	}
	return NULL;
}
