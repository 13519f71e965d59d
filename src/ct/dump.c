/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dumps on the query socket, and resync: correcting the flowtab from a
 * full dump after the kernel dropped events (ENOBUFS), on request
 * (ct_resync()) and at ct_open().  See include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ct-int.h"
#include "knlb/lib/log.h"

struct dump_ctx {
	struct ct *ct;
	ct_dump_fn fn;
	void *arg;
	int err;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	struct ct_msg m;

	if (ctx->err || (nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
		return MNL_CB_OK;
	ct_msg_parse(nlh, &m);
	ctx->err = ctx->fn(ctx->ct, &m, ctx->arg);
	return MNL_CB_OK;
}

int ct_dump_request(char *buf, uint32_t seq, uint32_t mark, uint32_t mask)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (mark) {
		struct nfct_filter_dump_mark fm = { .val = mark, .mask = mask };
		struct nfct_filter_dump *f = nfct_filter_dump_create();

		if (!f)
			return -ENOMEM;
		nfct_filter_dump_set_attr(f, NFCT_FILTER_DUMP_MARK, &fm);
		nfct_nlmsg_build_filter(nlh, f);
		nfct_filter_dump_destroy(f);
	}
	return 0;
}

/*
 * CTA_FILTER_ORIG_FLAGS' bit for the original tuple's protocol: the
 * kernel's (net/netfilter/nf_internals.h), not in the uapi headers.
 */
#define CTA_FILTER_F_PROTO_NUM (1U << 3)

/*
 * A family's entries of one L4 protocol only: the kernel then copies out
 * no other (it walks the whole table all the same).  It refuses the
 * filter with AF_UNSPEC: one dump per family.
 */
static void put_proto_filter(struct nlmsghdr *nlh, uint8_t family,
			     uint8_t l4proto)
{
	struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	struct nlattr *nest, *proto;

	nfg->nfgen_family = family;
	nest = mnl_attr_nest_start(nlh, CTA_FILTER);
	mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, CTA_FILTER_F_PROTO_NUM);
	mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, 0);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, l4proto);
	mnl_attr_nest_end(nlh, proto);
	mnl_attr_nest_end(nlh, nest);
}

int ct_dump(struct ct *ct, uint32_t mark, ct_dump_fn fn, void *arg)
{
	return ct_dump_proto(ct, mark, AF_UNSPEC, 0, fn, arg);
}

int ct_dump_proto(struct ct *ct, uint32_t mark, uint8_t family,
		  uint8_t l4proto, ct_dump_fn fn, void *arg)
{
	struct dump_ctx ctx = { .ct = ct, .fn = fn, .arg = arg };
	struct nlmsghdr *nlh;
	uint32_t seq;
	int ret;

	if (ct->query_busy)
		return -EBUSY;
	if (!ct->query) {
		ret = ct_query_open(ct);
		if (ret < 0)
			return ret;
	}
	seq = ++ct->seq;
	ret = ct_dump_request(ct->query_buf, seq, mark, ct->mask);
	if (ret < 0)
		return ret;
	nlh = (struct nlmsghdr *)ct->query_buf;
	if (l4proto)
		put_proto_filter(nlh, family, l4proto);
	if (mnl_socket_sendto(ct->query, nlh, nlh->nlmsg_len) == -1) {
		ret = -errno;
		ct_query_reset(ct);
		return ret;
	}
	ct->query_busy = true;
	ct->st.dumps++;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(ct->query, ct->query_buf, CT_QUERY_BUF);

		if (n == -1) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			ct_query_reset(ct);
			break;
		}
		ret = mnl_cb_run(ct->query_buf, (size_t)n, seq,
				 mnl_socket_get_portid(ct->query), dump_cb, &ctx);
		if (ret == MNL_CB_STOP) {
			ret = ctx.err;
			break;
		}
		if (ret == MNL_CB_ERROR) {
			/* The kernel refused the request, or a stray reply. */
			ret = -errno;
			ct_query_reset(ct);
			break;
		}
	}
	ct->query_busy = false;
	return ret;
}

/* ---- resync ---- */

static int resync_one(struct ct *ct, const struct ct_msg *m, void *arg)
{
	struct flow f;
	int ret;

	(void)arg;
	if (!ct_msg_flow(ct, m, &f) || f.mark == 0)
		return 0;
	/* An unfiltered dump standing in for many filtered ones. */
	if (ct->ft_scoped_pass && !flowtab_resync_in_scope(ct->ft, f.mark))
		return ct->pass_reads_traffic ? ct_traffic_live(ct, &f, m) : 0;
	ret = flowtab_resync_seen(ct->ft, &f);
	if (ct->pass_reads_traffic) {
		int t = ct_traffic_live(ct, &f, m);

		if (t < 0)
			return t;
	} else {
		ct_traffic_seen(ct, &f, m);
	}
	return ret < 0 && ret != -EINVAL ? ret : 0;
}

/* A dump now could miss drops the kernel has not reported yet. */
static bool congested(const struct ct *ct)
{
	return ct->events.congested || ct->updates.congested;
}

static void arm_resync(struct ct *ct)
{
	uint64_t gap = ct->last_resync_dur_ns * 4;

	if (gap < CT_RESYNC_MIN_GAP_NS)
		gap = CT_RESYNC_MIN_GAP_NS;
	if (!loop_timer_armed(&ct->resync_timer))
		loop_timer_arm_at(ct->loop, &ct->resync_timer,
				  ct->last_resync_end_ns + gap);
}

/*
 * The dumps of one pass: the kernel filters by mark when that is cheaper,
 * else by protocol when the marks' flows are all of one (f->l4proto).
 */
static int dump_pass(struct ct *ct, const uint32_t *marks, size_t n,
		     const struct ct_pass_filter *f)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	int ret;

	/* A reader's: the whole table once, for the counts and the bytes. */
	if (ct->pass_reads_traffic) {
		flowtab_traffic_untracked_begin(ct->ft);
		return ct_dump(ct, 0, resync_one, NULL);
	}
	if (marks && n <= CT_PERIODIC_MAX_FILTERED) {
		for (size_t i = 0; i < n; i++) {
			ret = ct_dump(ct, marks[i], resync_one, NULL);
			if (ret < 0)
				return ret;
		}
		return 0;
	}
	if (!marks || !f || !f->l4proto || !f->families)
		return ct_dump(ct, 0, resync_one, NULL);
	for (size_t i = 0; i < 2; i++) {
		if (!(f->families & CT_FAMILY_BIT(families[i])))
			continue;
		ret = ct_dump_proto(ct, 0, families[i], f->l4proto, resync_one,
				    NULL);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int ct_resync_pass(struct ct *ct, const uint32_t *marks, size_t n,
		   struct flowtab_resync *res)
{
	return ct_resync_pass_filtered(ct, marks, n, NULL, res);
}

int ct_resync_pass_filtered(struct ct *ct, const uint32_t *marks, size_t n,
			    const struct ct_pass_filter *f,
			    struct flowtab_resync *res)
{
	uint64_t start = loop_now_ns();
	int ret = 0;

	ct->in_resync = true;
	flowtab_resync_begin(ct->ft);
	if (marks)
		ret = flowtab_resync_scope(ct->ft, marks, n);
	ct->ft_scoped_pass = marks != NULL;
	if (ret == 0)
		ret = dump_pass(ct, marks, n, f);
	ct->ft_scoped_pass = false;
	if (ret == 0)
		flowtab_resync_end(ct->ft, res);
	else
		flowtab_resync_abort(ct->ft);
	ct->in_resync = false;
	ct->last_resync_end_ns = loop_now_ns();
	ct->last_resync_dur_ns = ct->last_resync_end_ns - start;
	return ret;
}

int ct_resync_dump(struct ct *ct, struct flowtab_resync *res)
{
	return ct_resync_pass(ct, NULL, 0, res);
}

int ct_resync(struct ct *ct)
{
	struct flowtab_resync res;
	int ret;

	if (ct->in_resync)
		return -EBUSY;
	ret = ct_resync_dump(ct, &res);
	if (ret < 0) {
		ct->st.resync_errors++;
		ct->st.resync_pending = true;
		log_warn("ct: resync from a conntrack dump failed: %s; flow counts are stale, retrying",
			 strerror(-ret));
		arm_resync(ct);
		return ret;
	}
	ct->st.resyncs++;
	/* Drops after this dump began would go unreported: do it again. */
	ct->st.resync_pending = congested(ct);
	ct->st.last_resync_opened = res.opened;
	ct->st.last_resync_closed = res.closed;
	ct->st.last_resync_moved = res.moved;
	ct->st.last_resync_ended = res.ended;
	ct->st.last_resync_ms = ct->last_resync_dur_ns / 1000000;
	loop_timer_cancel(ct->loop, &ct->resync_timer);
	if (res.opened || res.closed || res.moved || res.ended || res.reopened)
		log_info("ct: resync corrected %llu opened, %llu closed, %llu moved, %llu ended, %llu reopened flows in %llu ms",
			 (unsigned long long)res.opened,
			 (unsigned long long)res.closed,
			 (unsigned long long)res.moved,
			 (unsigned long long)res.ended,
			 (unsigned long long)res.reopened,
			 (unsigned long long)ct->st.last_resync_ms);
	return 0;
}

/*
 * Resync now unless the last one ended too recently (then on a timer),
 * and only once the event queue was found empty since the last ENOBUFS
 * (the read handler calls again when it is).
 */
void ct_maybe_resync(struct ct *ct)
{
	uint64_t gap = ct->last_resync_dur_ns * 4;

	if (!ct->st.resync_pending || ct->in_resync || congested(ct))
		return;
	if (gap < CT_RESYNC_MIN_GAP_NS)
		gap = CT_RESYNC_MIN_GAP_NS;
	if (ct->last_resync_end_ns &&
	    loop_now_ns() < ct->last_resync_end_ns + gap) {
		arm_resync(ct);
		return;
	}
	ct_resync(ct);
}

void ct_on_resync_timer(struct loop *loop, struct loop_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	ct_maybe_resync(arg);
}
