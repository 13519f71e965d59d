/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * explain SERVICE CLIENT[:PORT]: where a new flow from CLIENT would go.
 * The choice is the pool's (pool/explain.c, with the kernel's jhash from
 * sched/jhash.c); this file words it, as text or one JSON object
 * (docs/control-protocol.md).
 */
#include <errno.h>
#include <string.h>

#include "knlb/config/config.h"
#include "knlb/daemon/daemon.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/json.h"
#include "knlb/nft/persist.h"
#include "knlb/pool/explain.h"
#include "knlb/pool/pool.h"
#include "knlb/sched/sched.h"
#include "ctl-int.h"

/*
 * persistence: the client's entry in the kernel's map, when it has one and
 * it points at one of svc's backends.  Such a client's next flow goes
 * there, whatever the slot table says.
 */
struct persisted {
	bool found;
	size_t backend;
	uint64_t expires_ms;
};

static struct persisted find_persisted(const struct knlbd *d,
				       const struct knlb_service *svc,
				       const struct knlb_addr *client)
{
	struct persisted p = { 0 };
	struct persist_table t = { 0 };
	char err[256];

	if (!persist_enabled(svc) ||
	    persist_read(d->config->global.table, svc, &t, err, sizeof(err)) < 0)
		goto out;
	for (size_t i = 0; i < t.n; i++) {
		long b = persist_entry_backend(svc, &t.e[i]);

		if (b >= 0 && addr_equal(&t.e[i].client, client)) {
			p = (struct persisted){ true, (size_t)b, t.e[i].expires_ms };
			break;
		}
	}
out:
	persist_table_free(&t);
	return p;
}

static double share_of(const struct knlb_service *svc, size_t b)
{
	return 100.0 * pool_slots_of(svc, b) / svc->cfg->table_size;
}

/* The backends of the client's family: the only ones its flows can reach. */
static bool listed(const struct knlb_service *svc, size_t b,
		   const struct pool_explanation *e)
{
	return addr_family_index(&svc->backends[b].cfg->addr) == e->family;
}

static void text_backends(const struct knlb_service *svc,
			  const struct pool_explanation *e, FILE *out)
{
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend_config *c = svc->backends[b].cfg;
		char addr[KNLB_ADDRSTRLEN];

		if (!listed(svc, b, e))
			continue;
		fprintf(out, "  %s %-20s %-22s %5.1f%% of slots  %s\n",
			b == e->backend ? "->" : "  ", c->id,
			addr_port_format(&c->addr, c->port, addr, sizeof(addr)),
			share_of(svc, b), pool_backend_why(svc, b));
	}
}

static void text_reply(const struct knlb_service *svc, const char *client,
		       const struct pool_explanation *e,
		       const struct persisted *p, FILE *out)
{
	const struct knlb_service_config *cfg = svc->cfg;

	if (p->found)
		fprintf(out, "client %s: persistence entry -> backend %s for %llus more (%s); the slot table below decides when it expires\n",
			client, svc->backends[p->backend].cfg->id,
			(unsigned long long)(p->expires_ms / 1000),
			pool_backend_why(svc, p->backend));

	fprintf(out, "service %s: scheduler %s", cfg->name,
		config_scheduler_name(cfg->scheduler));
	if (e->per_flow) {
		fprintf(out, "\nclient %s: the kernel picks per flow (numgen %s mod %u), not per client;\n"
			"a new flow goes to one of these, in proportion to its share:\n",
			client, cfg->scheduler == KNLB_SCHED_RANDOM ? "random" : "inc",
			cfg->table_size);
		text_backends(svc, e, out);
		return;
	}
	fprintf(out, ", jhash %s mod %u seed 0x%x\n", config_hash_key_name(cfg->hash_key),
		cfg->table_size, cfg->hash_seed);
	if (e->backend == SCHED_SLOT_EMPTY)
		fprintf(out, "client %s: slot %u is empty: no backend is usable, on_empty = %s\n",
			client, e->slot,
			cfg->on_empty == KNLB_ON_EMPTY_DROP ? "drop" : "reject");
	else
		fprintf(out, "client %s: slot %u -> backend %s (%s)\n", client, e->slot,
			svc->backends[e->backend].cfg->id,
			pool_backend_why(svc, e->backend));
	if (e->fallback_from != SCHED_SLOT_EMPTY)
		fprintf(out, "through the fallback: the slot's own backend %s is %s; %s is its next serving preference\n",
			svc->backends[e->fallback_from].cfg->id,
			pool_backend_why(svc, e->fallback_from),
			svc->backends[e->backend].cfg->id);
	if (e->pending)
		fputs("note: a change is not in the kernel yet; the kernel still has the previous table\n", out);
	fputs("an established flow keeps the backend conntrack bound it to\n", out);
	text_backends(svc, e, out);
}

static void json_reply(const struct knlb_service *svc, const char *client,
		       const struct pool_explanation *e,
		       const struct persisted *p, FILE *out)
{
	struct json_writer w;

	json_init(&w, out);
	json_object_begin(&w);
	json_key(&w, "service");
	json_string(&w, svc->cfg->name);
	json_key(&w, "client");
	json_string(&w, client);
	json_key(&w, "scheduler");
	json_string(&w, config_scheduler_name(svc->cfg->scheduler));
	json_key(&w, "per_flow");
	json_bool(&w, e->per_flow);
	json_key(&w, "slot");
	if (e->per_flow)
		json_null(&w);
	else
		json_uint(&w, e->slot);
	json_key(&w, "backend");
	if (p->found)
		json_string(&w, svc->backends[p->backend].cfg->id);
	else if (e->backend == SCHED_SLOT_EMPTY)
		json_null(&w);
	else
		json_string(&w, svc->backends[e->backend].cfg->id);
	json_key(&w, "fallback_from");
	if (e->fallback_from == SCHED_SLOT_EMPTY)
		json_null(&w);
	else
		json_string(&w, svc->backends[e->fallback_from].cfg->id);
	json_key(&w, "persistence");
	if (p->found) {
		json_object_begin(&w);
		json_key(&w, "backend");
		json_string(&w, svc->backends[p->backend].cfg->id);
		json_key(&w, "expires_s");
		json_uint(&w, p->expires_ms / 1000);
		json_object_end(&w);
	} else {
		json_null(&w);
	}
	json_key(&w, "pending");
	json_bool(&w, e->pending);
	json_key(&w, "backends");
	json_array_begin(&w);
	for (size_t b = 0; b < svc->n_backends; b++) {
		char addr[KNLB_ADDRSTRLEN];
		const struct knlb_backend_config *c = svc->backends[b].cfg;

		if (!listed(svc, b, e))
			continue;
		json_object_begin(&w);
		json_key(&w, "id");
		json_string(&w, c->id);
		json_key(&w, "address");
		json_string(&w, addr_port_format(&c->addr, c->port, addr, sizeof(addr)));
		json_key(&w, "share_pct");
		json_double(&w, share_of(svc, b));
		json_key(&w, "why");
		json_string(&w, pool_backend_why(svc, b));
		json_object_end(&w);
	}
	json_array_end(&w);
	json_object_end(&w);
}

enum ctl_status ctl_explain_cmd(struct knlbd *d, const struct ctl_request *req,
				FILE *out)
{
	struct knlb_service *svc = ctl_service(d, req->argv[0], out);
	struct pool_explanation e;
	struct persisted p;
	struct knlb_addr client;
	uint16_t port;
	int ret;

	if (!svc)
		return CTL_ERROR;
	if (ctl_parse_client(req->argv[1], &client, &port) < 0) {
		fprintf(out, "explain: bad client '%s'\n", req->argv[1]);
		return CTL_ERROR;
	}
	ret = pool_explain(svc, &client, port, &e);
	if (ret == -EINVAL) {
		fprintf(out, "explain: service %s hashes %s: give the client's port too (CLIENT:PORT)\n",
			svc->cfg->name, config_hash_key_name(svc->cfg->hash_key));
		return CTL_ERROR;
	}
	if (ret == -EAFNOSUPPORT) {
		fprintf(out, "explain: service %s has no %s VIP: a client %s cannot reach it\n",
			svc->cfg->name, addr_family_name(addr_family_index(&client)),
			req->argv[1]);
		return CTL_ERROR;
	}
	p = find_persisted(d, svc, &client);
	if (req->json)
		json_reply(svc, req->argv[1], &e, &p, out);
	else
		text_reply(svc, req->argv[1], &e, &p, out);
	return CTL_OK;
}
