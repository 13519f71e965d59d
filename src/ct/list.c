/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct_list(): the conntrack entries of a service or backend, as
 * `knlbctl flows` shows them, from one dump.  See include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <time.h>

#include "ct-int.h"
#include "knlb/lib/addr.h"

struct list_ctx {
	uint32_t mark;
	const struct knlb_addr *backend;
	uint16_t port;
	ct_flow_fn cb;
	void *arg;
	uint64_t now_real_ns;
	long count;
};

static bool backend_matches(const struct ct_flow *f,
			    const struct knlb_addr *backend, uint16_t port)
{
	return !backend || (addr_equal(&f->backend, backend) &&
			    (port == 0 || f->backend_port == port));
}

static int list_one(struct ct *ct, const struct ct_msg *m, void *arg)
{
	struct list_ctx *ctx = arg;
	struct ct_flow f;

	if (!ct_msg_list_entry(ct, m, ctx->now_real_ns, &f) || f.mark == 0 ||
	    (ctx->mark && f.mark != ctx->mark) ||
	    !backend_matches(&f, ctx->backend, ctx->port))
		return 0;
	ctx->cb(&f, ctx->arg);
	ctx->count++;
	return 0;
}

long ct_list(struct ct *ct, uint32_t mark, const struct knlb_addr *backend,
	     uint16_t port, ct_flow_fn cb, void *arg)
{
	struct list_ctx ctx = {
		.mark = mark, .backend = backend, .port = port,
		.cb = cb, .arg = arg,
	};
	struct timespec now;
	int ret;

	if (!cb || (mark & ~ct->mask))
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &now);
	ctx.now_real_ns = (uint64_t)now.tv_sec * 1000000000ULL +
			  (uint64_t)now.tv_nsec;
	ret = ct_dump(ct, mark, list_one, &ctx);
	return ret < 0 ? ret : ctx.count;
}
