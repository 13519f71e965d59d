/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct_flush_backend(): delete the conntrack entries of one backend of one
 * service, picked from a dump and deleted by original tuple and id, in
 * chunks whose ACKs fit the receive buffer.  See include/knlb/ct/ct.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ct-int.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"

struct victim {
	struct ct_tuple orig;
	uint32_t id;
	uint16_t zone;
	bool has_zone;
};

struct flush_ctx {
	uint32_t mark;
	const struct knlb_addr *addr;
	uint16_t port;
	uint8_t proto;
	struct victim *v;
	size_t n, cap;
};

static int flush_pick(struct ct *ct, const struct ct_msg *m, void *arg)
{
	struct flush_ctx *ctx = arg;
	struct ct_tuple o, r;
	struct victim *v;

	/* The kernel filtered on the mark already; check it all again. */
	if (!m->id || (ct_attr_be32(m->mark) & ct->mask) != ctx->mark ||
	    !ct_parse_tuple(m->orig, &o) || !ct_parse_tuple(m->reply, &r) ||
	    o.proto != ctx->proto || r.sport != ctx->port ||
	    !addr_equal(&r.src, ctx->addr))
		return 0;
	if (grow(&ctx->v, &ctx->cap, ctx->n + 1, sizeof(*ctx->v), 256) < 0)
		return -ENOMEM;
	v = &ctx->v[ctx->n++];
	v->orig = o;
	v->id = ct_attr_be32(m->id);
	v->has_zone = m->zone != NULL;
	v->zone = m->zone ? mnl_attr_get_u16(m->zone) : 0;	/* kept in BE */
	return 0;
}

/* DELETE by original tuple + id: the kernel checks both. */
static void build_delete(char *buf, uint32_t seq, const struct victim *v)
{
	const struct ct_tuple *t = &v->orig;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)t->src.family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;

	ct_msg_put_orig_tuple(nlh, t);
	mnl_attr_put_u32(nlh, CTA_ID, htonl(v->id));
	if (v->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, v->zone);
}

/* A deleted entry leaves the flowtab at once (see delete_chunk). */
static void forget_victim(struct ct *ct, const struct victim *v)
{
	struct flow_key key = {
		.id = v->id, .proto = v->orig.proto,
		.src_port = v->orig.sport, .src = v->orig.src,
	};

	flowtab_flow_destroy(ct->ft, &key);
}

struct delete_ctx {
	const struct victim *v;
	size_t *deleted;
	int *first_err;
};

static void build_one_delete(char *buf, uint32_t seq, size_t i, void *arg)
{
	const struct delete_ctx *dc = arg;

	build_delete(buf, seq, &dc->v[i]);
}

static bool note_ack(struct ct *ct, const struct nlmsghdr *nlh, size_t i,
		     void *arg)
{
	const struct delete_ctx *dc = arg;
	const struct nlmsgerr *e;

	if (nlh->nlmsg_type != NLMSG_ERROR ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return false;
	e = mnl_nlmsg_get_payload(nlh);
	if (e->error == 0)
		(*dc->deleted)++;
	else if (e->error != -ENOENT && *dc->first_err == 0)
		*dc->first_err = e->error;
	/*
	 * Gone either way: count it closed now.  An entry older than our
	 * listener sends no DESTROY event at all (nf_conntrack_events=2); a
	 * late one is then an unknown destroy, which the flowtab ignores.
	 */
	if (e->error == 0 || e->error == -ENOENT)
		forget_victim(ct, &dc->v[i]);
	return true;
}

/*
 * Send up to CT_DEL_CHUNK deletes in one sendmsg (the kernel handles them
 * in order) and read one ACK per delete.  Returns 0 or -errno of the
 * exchange; per-entry errors other than ENOENT go to *first_err.
 */
static int delete_chunk(struct ct *ct, const struct victim *v, size_t n,
			size_t *deleted, int *first_err)
{
	struct delete_ctx dc = { .v = v, .deleted = deleted, .first_err = first_err };

	return ct_query_exchange(ct, n, build_one_delete, note_ack, &dc);
}

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_UDPLITE ||
	       proto == IPPROTO_DCCP;
}

int ct_flush_backend(struct ct *ct, uint32_t mark, const struct knlb_addr *addr,
		     uint16_t port, uint8_t proto, size_t *deleted)
{
	struct flush_ctx ctx = {
		.mark = mark, .addr = addr, .port = port, .proto = proto,
	};
	size_t done = 0;
	int first_err = 0, ret;

	if (deleted)
		*deleted = 0;
	if (mark == 0 || (mark & ~ct->mask) || !addr || port == 0 ||
	    (addr->family != AF_INET && addr->family != AF_INET6))
		return -EINVAL;
	if (!has_ports(proto))
		return -EPROTONOSUPPORT;
	ret = ct_dump(ct, mark, flush_pick, &ctx);
	for (size_t i = 0; ret == 0 && i < ctx.n; i += CT_DEL_CHUNK) {
		size_t n = ctx.n - i < CT_DEL_CHUNK ? ctx.n - i : CT_DEL_CHUNK;

		ret = delete_chunk(ct, ctx.v + i, n, &done, &first_err);
		if (ret < 0)
			ct_query_reset(ct);
	}
	free(ctx.v);
	if (deleted)
		*deleted = done;
	return ret < 0 ? ret : first_err;
}
