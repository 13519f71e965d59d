/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drain, enable, disable and weight: the operator's runtime changes to one
 * backend.  Each is committed to the kernel before the reply is written,
 * so "OK" means the kernel has it.  Replies are text, or with --json one
 * object (docs/control-protocol.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "knlb/config/config-t.h"
#include "knlb/daemon/daemon.h"
#include "knlb/lib/json.h"
#include "knlb/lib/loop.h"
#include "knlb/nft/commit.h"
#include "knlb/pool/pool.h"
#include "ctl-int.h"

/* What sending the change to the kernel did. */
struct commit_result {
	bool sent;		/* a delta went out (some slot changed) */
	uint32_t moved;
	size_t elements;
	double ack_ms;
};

/*
 * Send what the change made dirty now, not at the end of this loop
 * iteration, so the reply can say whether the kernel took it.  -EIO (with
 * the reason in out) when the kernel refused.
 */
static int commit_now(struct knlbd *d, struct commit_result *res, FILE *out)
{
	struct commit_stats before, after;

	committer_get_stats(d->committer, &before);
	committer_run(d->committer);
	committer_get_stats(d->committer, &after);
	if (after.failures != before.failures) {
		fprintf(out, "the kernel refused the slot update; knlbd replaces the whole table (see its log)\n");
		return -EIO;
	}
	*res = (struct commit_result){
		.sent = after.transactions != before.transactions,
		.moved = after.last_moved,
		.elements = after.last_elements,
		.ack_ms = after.last_ack_ms,
	};
	return 0;
}

static void text_commit(const struct commit_result *res,
			const struct knlb_service *svc, FILE *out)
{
	if (res->sent)
		fprintf(out, "kernel: %u of %u slots moved, %zu elements in 1 transaction, %.2f ms\n",
			res->moved, svc->cfg->table_size, res->elements, res->ack_ms);
	else
		fprintf(out, "kernel: no slot changed\n");
}

static void json_commit(struct json_writer *w, const struct commit_result *res,
			const struct knlb_service *svc)
{
	json_key(w, "kernel");
	if (!res->sent) {
		json_null(w);
		return;
	}
	json_object_begin(w);
	json_key(w, "slots_moved");
	json_uint(w, res->moved);
	json_key(w, "table_size");
	json_uint(w, svc->cfg->table_size);
	json_key(w, "elements");
	json_uint(w, res->elements);
	json_key(w, "ack_ms");
	json_double(w, res->ack_ms);
	json_object_end(w);
}

static void json_head(struct json_writer *w, const struct knlb_service *svc,
		      size_t b, FILE *out)
{
	json_init(w, out);
	json_object_begin(w);
	json_key(w, "service");
	json_string(w, svc->cfg->name);
	json_key(w, "backend");
	json_string(w, svc->backends[b].cfg->id);
}

static const char *admin_effect(const struct knlb_service *svc,
				enum knlb_admin admin)
{
	switch (admin) {
	case KNLB_ADMIN_ENABLED:
		return "takes new flows while healthy";
	case KNLB_ADMIN_DRAIN:
		return "takes no new flows; its established flows go on (knlbd logs when none are left)";
	case KNLB_ADMIN_DISABLED:
		return svc->cfg->flush ?
		       "takes no new flows; its flows are deleted (flush = yes)" :
		       "takes no new flows; its established flows go on (flush = no)";
	}
	return "";
}

static enum knlb_admin admin_of(const struct ctl_command *cmd)
{
	if (cmd == &ctl_commands[CTL_CMD_DRAIN])
		return KNLB_ADMIN_DRAIN;
	if (cmd == &ctl_commands[CTL_CMD_DISABLE])
		return KNLB_ADMIN_DISABLED;
	return KNLB_ADMIN_ENABLED;
}

/* drain, enable, disable SERVICE BACKEND */
enum ctl_status ctl_admin_cmd(struct knlbd *d, const struct ctl_request *req,
			      FILE *out)
{
	enum knlb_admin admin = admin_of(req->cmd), was;
	struct commit_result res = { 0 };
	struct knlb_service *svc;
	struct json_writer w;
	uint64_t active;
	bool changed;
	long b;

	svc = ctl_service(d, req->argv[0], out);
	if (!svc || (b = ctl_backend(svc, req->argv[1], out)) < 0)
		return CTL_ERROR;
	/* Before the drain: its "drained" then comes from one place. */
	daemon_refresh_counts(d, false);
	was = svc->backends[b].admin;
	changed = was != admin;
	if (!changed) {
		active = daemon_backend_active(d, svc, (size_t)b);
		if (!req->json)
			fprintf(out, "%s/%s is already %s; nothing changed\n",
				svc->cfg->name, svc->backends[b].cfg->id,
				pool_admin_name(admin));
	} else {
		pool_set_admin(svc, (size_t)b, admin, loop_now_ns());
		daemon_admin_changed(d, svc, (size_t)b);
		active = daemon_backend_active(d, svc, (size_t)b);
		if (!req->json)
			fprintf(out, "%s/%s: %s (was %s): %s; %" PRIu64 " active flows\n",
				svc->cfg->name, svc->backends[b].cfg->id,
				pool_admin_name(admin), pool_admin_name(was),
				admin_effect(svc, admin), active);
		if (commit_now(d, &res, out) < 0)
			return CTL_ERROR;
		if (!req->json)
			text_commit(&res, svc, out);
		if (!req->json && svc->empty)
			fprintf(out, "warning: service %s has no usable backend now: on_empty applies\n",
				svc->cfg->name);
	}
	if (req->json) {
		json_head(&w, svc, (size_t)b, out);
		json_key(&w, "admin");
		json_string(&w, pool_admin_name(admin));
		json_key(&w, "was");
		json_string(&w, pool_admin_name(was));
		json_key(&w, "changed");
		json_bool(&w, changed);
		json_key(&w, "active_flows");
		json_uint(&w, active);
		json_commit(&w, &res, svc);
		json_key(&w, "service_empty");
		json_bool(&w, svc->empty);
		json_object_end(&w);
	}
	return changed && svc->empty ? CTL_WARN : CTL_OK;
}

/* weight SERVICE BACKEND N: N was checked against the registry already. */
enum ctl_status ctl_weight_cmd(struct knlbd *d, const struct ctl_request *req,
			       FILE *out)
{
	struct commit_result res;
	struct knlb_service *svc;
	struct json_writer w;
	uint32_t weight, was;
	long b;

	if (ctl_parse_weight(req->argv[2], &weight) < 0)
		return CTL_ERROR;	/* unreachable: the dispatch checked it */
	svc = ctl_service(d, req->argv[0], out);
	if (!svc || (b = ctl_backend(svc, req->argv[1], out)) < 0)
		return CTL_ERROR;
	was = svc->backends[b].weight;
	pool_set_weight(svc, (size_t)b, weight, loop_now_ns());
	if (!req->json)
		fprintf(out, "%s/%s: weight %u (was %u, %u in the file)%s\n",
			svc->cfg->name, svc->backends[b].cfg->id, weight, was,
			svc->backends[b].cfg->weight,
			svc->backends[b].weight_set ?
			"; kept across reloads unless the file changes this backend's weight" : "");
	if (commit_now(d, &res, out) < 0)
		return CTL_ERROR;
	if (req->json) {
		json_head(&w, svc, (size_t)b, out);
		json_key(&w, "weight");
		json_uint(&w, weight);
		json_key(&w, "was");
		json_uint(&w, was);
		json_key(&w, "config_weight");
		json_uint(&w, svc->backends[b].cfg->weight);
		json_key(&w, "kept_across_reloads");
		json_bool(&w, svc->backends[b].weight_set);
		json_commit(&w, &res, svc);
		json_object_end(&w);
		return CTL_OK;
	}
	text_commit(&res, svc, out);
	return CTL_OK;
}
