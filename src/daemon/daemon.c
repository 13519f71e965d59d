/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd's wiring: the objects of struct knlbd, how events flow between
 * them (health -> pool -> commit -> flush; conntrack -> drain notices and
 * wlc weights), and their release.  No policy of its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "knlb/lib/grow.h"
#include "knlb/lib/addr.h"
#include "knlb/health/check.h"
#include "knlb/nft/commit.h"
#include "knlb/config/config.h"
#include "knlb/ct/ct.h"
#include "knlb/ctl/server.h"
#include "knlb/daemon/ctl_commands.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/observe.h"
#include "knlb/daemon/host_watch.h"
#include "knlb/daemon/metrics.h"
#include "knlb/daemon/metrics_link.h"
#include "knlb/lib/loop.h"
#include "knlb/daemon/adopt.h"
#include "knlb/daemon/announce.h"
#include "knlb/ct/flowtab.h"
#include "knlb/health/health.h"
#include "knlb/health/prober.h"
#include "knlb/lib/privsep.h"
#include "knlb/lib/log.h"
#include "knlb/nft/nfnl.h"
#include "knlb/pool/pool.h"
#include "knlb/nft/ruleset.h"
#include "knlb/nft/sync.h"

/* How often scheduler = wlc looks at the flow counts. */
#define WLC_INTERVAL_NS 1000000000ULL

int daemon_program_kernel(struct knlbd *d)
{
	struct sync_result res;
	char err[512];
	int ret;

	ret = nfnl_sock_open(&d->nfnl);
	if (ret < 0) {
		log_error("cannot open netfilter netlink socket: %s%s", strerror(-ret),
			  ret == -EPERM ? " (knlbd needs CAP_NET_ADMIN)" : "");
		return ret;
	}
	/* Start from what the kernel maps, so the replace moves nothing. */
	ret = daemon_adopt_table(d);
	if (ret < 0)
		return ret;
	ret = sync_replace(d->nfnl, d->pool, &res, err, sizeof(err));
	if (ret < 0) {
		log_error("programming table inet %s failed, kernel state unchanged: %s%s",
			  d->config->global.table, err,
			  ret == -EPERM ? " (knlbd needs CAP_NET_ADMIN)" : "");
		return ret;
	}
	log_info("programmed table inet %s: %zu service%s, %zu slot elements, 1 transaction of %zu messages (%zu bytes) in %.1f ms%s",
		 d->config->global.table, d->pool->n_services,
		 d->pool->n_services == 1 ? "" : "s", res.elements,
		 res.messages, res.bytes, res.elapsed_ms,
		 res.in_place ? ", in place over the running table" : "");
	if (res.shared)
		log_info("slot maps: %zu services share base maps with others: each writes only where its table differs (docs/architecture.md, \"Shared base maps\")",
			 res.shared);
	if (res.persist_kept || res.persist_unread)
		log_info("persistence: %zu entries carried over from the table replaced%s",
			 res.persist_kept, res.persist_unread ?
			 " (some maps could not be read: they start empty)" : "");
	return 0;
}

static bool backend_in_service(const struct knlb_backend *be)
{
	return be->up && be->admin == KNLB_ADMIN_ENABLED;
}

void daemon_queue_flush(struct knlbd *d, const struct knlb_service *svc,
			size_t b)
{
	const struct knlb_backend_config *be = svc->backends[b].cfg;
	struct pending_flush *f;

	if (!svc->cfg->flush)
		return;
	if (grow(&d->flushes, &d->flushes_cap, d->n_flushes + 1,
		 sizeof(*d->flushes), 8) < 0) {
		log_error("%s/%s: out of memory: its flows are not flushed",
			  svc->cfg->name, be->id);
		return;
	}
	f = &d->flushes[d->n_flushes++];
	*f = (struct pending_flush){
		.mark = svc->ct_mark, .addr = be->addr, .port = be->port,
		.proto = (uint8_t)svc->cfg->proto,
	};
	snprintf(f->what, sizeof(f->what), "%s/%s", svc->cfg->name, be->id);
}

/*
 * flush = yes: a dead backend's flows of this service are deleted, so its
 * clients get a fresh backend (UDP) or a prompt reset (TCP) instead of
 * sending into a dead host.  Not at the verdict but after the slot delta
 * is in the kernel: flushed earlier, the next packet of a flow would go
 * through the old map, back to the dead backend, in a new entry nobody
 * flushes.
 */
static void on_transition(struct knlb_model *pool, size_t s, size_t b, bool up,
			  void *arg)
{
	if (!up)
		daemon_queue_flush(arg, &pool->services[s], b);
}

/* The backend a pending flush names, if the running pool still has it. */
static const struct knlb_backend *flush_target(const struct knlbd *d,
					       const struct pending_flush *f)
{
	for (size_t s = 0; s < d->pool->n_services; s++) {
		const struct knlb_service *svc = &d->pool->services[s];

		if (svc->ct_mark != f->mark || (uint8_t)svc->cfg->proto != f->proto)
			continue;
		for (size_t b = 0; b < svc->n_backends; b++)
			if (svc->backends[b].cfg->port == f->port &&
			    addr_equal(&svc->backends[b].cfg->addr, &f->addr))
				return &svc->backends[b];
	}
	return NULL;
}

static void flush_backend(struct knlbd *d, const struct pending_flush *f)
{
	const struct knlb_backend *be = flush_target(d, f);
	size_t deleted = 0;
	int ret;

	if (be && backend_in_service(be))
		return;		/* came back before the commit: keep its flows */
	if (!d->ct) {
		log_warn("%s: flush = yes but conntrack is not available: its flows are kept",
			 f->what);
		return;
	}
	ret = ct_flush_backend(d->ct, f->mark, &f->addr, f->port, f->proto,
			       &deleted);
	if (ret < 0)
		log_error("%s: flushing its conntrack entries: %s (%zu deleted)",
			  f->what, strerror(-ret), deleted);
	else
		log_info("%s: flushed %zu conntrack entries (flush = yes)",
			 f->what, deleted);
}

/* Where the one commit per loop iteration happens (docs/architecture.md, "Kernel contract"). */
static void before_sleep(struct loop *loop, void *arg)
{
	struct knlbd *d = arg;

	(void)loop;
	daemon_check_maxconn(d);
	committer_run(d->committer);
	announcer_sync(d);
	/* Only once the kernel no longer maps the dead backends. */
	if (!d->n_flushes || !committer_synced(d->committer))
		return;
	for (size_t i = 0; i < d->n_flushes; i++)
		flush_backend(d, &d->flushes[i]);
	d->n_flushes = 0;
}

uint64_t daemon_backend_active(const struct knlbd *d,
			       const struct knlb_service *svc, size_t b)
{
	const struct knlb_backend_config *be = svc->backends[b].cfg;
	struct flow_counts c;

	if (!d->flows || flowtab_backend_counts(d->flows, svc->ct_mark, &be->addr,
						be->port, (uint8_t)svc->cfg->proto,
						&c) < 0)
		return 0;
	return c.active;
}

static void log_drained(const struct knlb_service *svc, size_t b)
{
	log_info("%s/%s drained: no active flows left", svc->cfg->name,
		 svc->backends[b].cfg->id);
}

void daemon_admin_changed(struct knlbd *d, struct knlb_service *svc, size_t b)
{
	enum knlb_admin admin = svc->backends[b].admin;
	uint64_t active = daemon_backend_active(d, svc, b);

	log_info("%s/%s admin state %s (%" PRIu64 " active flows)", svc->cfg->name,
		 svc->backends[b].cfg->id, pool_admin_name(admin), active);
	if (admin == KNLB_ADMIN_DRAIN && svc->cfg->track == KNLB_TRACK_OFF)
		log_info("%s/%s: its flows are not tracked (track = off): knlbd cannot tell when it is drained",
			 svc->cfg->name, svc->backends[b].cfg->id);
	else if (admin == KNLB_ADMIN_DRAIN && d->ct && active == 0)
		log_drained(svc, b);
	if (admin == KNLB_ADMIN_DISABLED)
		daemon_queue_flush(d, svc, b);
	daemon_follow_flows(d);
}

/* flowtab: a backend's active count reached 0.  Tell the operator draining it. */
static void on_drained(void *arg, uint32_t mark, const struct knlb_addr *addr,
		       uint16_t port, uint8_t proto)
{
	struct knlbd *d = arg;

	for (size_t s = 0; s < d->pool->n_services; s++) {
		struct knlb_service *svc = &d->pool->services[s];

		if (svc->ct_mark != mark || (uint8_t)svc->cfg->proto != proto)
			continue;
		for (size_t b = 0; b < svc->n_backends; b++) {
			const struct knlb_backend *be = &svc->backends[b];

			if (be->admin == KNLB_ADMIN_DRAIN && be->cfg->port == port &&
			    addr_equal(&be->cfg->addr, addr))
				log_drained(svc, b);
		}
	}
}

/*
 * scheduler = wlc: re-weight from conntrack's active counts once per
 * interval; the pool's hysteresis keeps a steady load from rewriting
 * the map.
 */
static void on_wlc_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct knlbd *d = arg;
	uint64_t now = loop_now_ns();

	for (size_t s = 0; s < d->pool->n_services; s++) {
		struct knlb_service *svc = &d->pool->services[s];
		uint64_t *active;

		if (svc->cfg->scheduler != KNLB_SCHED_WLC)
			continue;
		if (!d->ct) {
			if (!d->wlc_no_ct_logged)
				log_warn("service %s: scheduler wlc needs conntrack, which is not available: it balances as wrr",
					 svc->cfg->name);
			d->wlc_no_ct_logged = true;
			continue;
		}
		active = calloc(svc->n_backends ? svc->n_backends : 1, sizeof(*active));
		if (!active) {
			log_error("service %s: wlc: out of memory", svc->cfg->name);
			continue;
		}
		for (size_t b = 0; b < svc->n_backends; b++)
			active[b] = daemon_backend_active(d, svc, b);
		if (pool_apply_wlc(svc, active, now) < 0)
			log_error("service %s: wlc: out of memory", svc->cfg->name);
		free(active);
	}
	if (loop_timer_arm(loop, t, WLC_INTERVAL_NS) < 0)
		log_error("wlc: cannot schedule the next pass: out of memory");
}

static bool any_wlc(const struct knlb_model *pool)
{
	for (size_t s = 0; s < pool->n_services; s++)
		if (pool->services[s].cfg->scheduler == KNLB_SCHED_WLC)
			return true;
	return false;
}

void daemon_arm_wlc(struct knlbd *d)
{
	if (!any_wlc(d->pool)) {
		loop_timer_cancel(d->loop, &d->wlc_timer);
		return;
	}
	if (!loop_timer_armed(&d->wlc_timer) &&
	    loop_timer_arm(d->loop, &d->wlc_timer, WLC_INTERVAL_NS) < 0)
		log_error("wlc: cannot schedule re-weighting: out of memory");
}

/*
 * The flow-count audit.  Events miss what they cannot report: with the
 * default nf_conntrack_events = 2 an entry created while no knlbd was
 * listening (before the first start, or between a crash and a restart)
 * never sends its DESTROY, so it would count as active for ever and skew
 * wlc.  A periodic resync from a dump closes such ghosts.  It blocks the
 * loop for the dump (a few microseconds per conntrack entry), hence the
 * long default interval.
 */
static void on_audit_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct knlbd *d = arg;

	(void)loop;
	(void)t;
	if (d->ct)
		ct_resync(d->ct);	/* logs what it corrected, retries on error */
	daemon_arm_audit(d);
}

void daemon_arm_audit(struct knlbd *d)
{
	uint64_t every = d->config->global.ct_resync_interval_ns;

	loop_timer_cancel(d->loop, &d->audit_timer);
	if (d->ct && every && loop_timer_arm(d->loop, &d->audit_timer, every) < 0)
		log_error("conntrack: cannot schedule the flow-count audit: out of memory");
}

/* Flow counting is an aid, not a precondition: run without it if need be. */
int daemon_start_conntrack(struct knlbd *d)
{
	struct ct_stats st;
	char err[256] = "";
	int ret;

	d->flows = flowtab_new();
	if (!d->flows)
		return -ENOMEM;
	flowtab_set_drained_fn(d->flows, on_drained, d);
	ret = ct_open(d->loop, d->config->global.ct_mark_mask, d->flows, &d->ct,
		      err, sizeof(err));
	if (ret < 0) {
		d->ct = NULL;
		log_warn("conntrack: %s: flow counts, flush and wlc are off%s",
			 err[0] ? err : strerror(-ret),
			 d->config->global.traffic_counters == KNLB_TRAFFIC_CONNTRACK ?
			 ", and packets and bytes are unknown (traffic_counters = conntrack)" : "");
		return 0;
	}
	ct_get_stats(d->ct, &st);
	if (daemon_events_needed(d->config))
		log_info("conntrack: following flows by their events, before the table forwards; %" PRIu64 " of knlb's flows in conntrack's table now",
			 st.initial_flows);
	else if ((ret = ct_set_following_events(d->ct, false)) < 0)
		log_warn("conntrack: leaving the event groups: %s", strerror(-ret));
	else
		log_info("conntrack: no service has track = events: subscribed to no conntrack event; %" PRIu64 " of knlb's flows in conntrack's table now",
			 st.initial_flows);
	/* 0: the kernel gives the event extension only to the flows a rule sets a mask for. */
	if (st.events_disabled && d->config->global.ct_events == KNLB_CT_EVENTS_LEAN)
		log_info("conntrack: net.netfilter.nf_conntrack_events is 0: only the flows whose rule sets an event mask make events; knlb's do (ct_events = lean)");
	else if (st.events_disabled)
		log_warn("conntrack: net.netfilter.nf_conntrack_events is 0 and ct_events = all: knlb's flows make no event, flow counts change only on resync; ct_events = lean makes the kernel send theirs");
	return 0;
}

/* Once traffic_counters is resolved (daemon/traffic.h). */
void daemon_count_traffic(struct knlbd *d)
{
	int ret;

	if (!d->ct)
		return;
	ret = ct_count_traffic(d->ct, d->config->global.traffic_counters ==
				      KNLB_TRAFFIC_CONNTRACK);
	if (ret < 0)
		log_warn("conntrack: counting traffic: %s: packets and bytes count only the flows in the table at each read",
			 strerror(-ret));
}

int daemon_start_health(struct knlbd *d, struct knlb_model *pool,
			struct health **out)
{
	int ret = health_new(d->loop, pool, d->checker, out);

	if (ret == 0)
		health_set_transition_fn(*out, on_transition, d);
	return ret;
}

/*
 * The control socket and metrics_listen are bound before the kernel is
 * touched: another knlbd on the same socket, or a port in use, stops this
 * one with the running table as it was.  Requests are served only once
 * the loop runs, when every object exists.
 */
static int open_control(struct knlbd *d)
{
	const char *path = d->control_socket ? d->control_socket :
			   d->config->global.control_socket;
	char err[256] = "";
	int ret;

	ret = ctl_open(d->loop, path, ctl_commands_handle, d, &d->ctl, err,
		       sizeof(err));
	if (ret < 0) {
		log_error("control socket: %s; nothing changed", err[0] ? err : strerror(-ret));
		return ret;
	}
	log_info("control socket %s (knlbctl -s %s)", path, path);
	return 0;
}

void daemon_update_sources(struct knlbd *d)
{
	d->metrics_src = (struct metrics_sources){
		/* without conntrack the counts would be zeros, not facts */
		.pool = d->pool, .health = d->health, .flows = d->ct ? d->flows : NULL,
		.ct = d->ct, .committer = d->committer, .ctl = d->ctl,
		.daemon = &d->counters, .host = &d->host.current,
		.announcer = d->announcer,
		.proc_root = d->host.proc_root, .kernel_counters = true,
		.read_ct = d->ct,
	};
}

/* What the spawner can start; PRIVSEP_PROBER indexes it. */
enum { PRIVSEP_PROBER, PRIVSEP_METRICS };
static const privsep_worker_fn privsep_workers[] = {
	[PRIVSEP_PROBER] = prober_main,
	[PRIVSEP_METRICS] = metrics_worker_main,
};

/*
 * Probes parse what backends send (HTTP, TLS): they run in a process with
 * no capability, forked by a spawner that must start while knlbd can
 * still drop everything for it (docs/security.md).
 */
int daemon_start_spawner(struct knlbd *d)
{
	char err[512] = "";
	int ret;

	ret = privsep_spawner_new(d->config->global.user, privsep_workers,
				  sizeof(privsep_workers) / sizeof(privsep_workers[0]),
				  &d->spawner, err, sizeof(err));
	if (ret < 0)
		log_error("dropping privileges: %s", err);
	return ret;
}

/*
 * check = tcp runs here, from raw sockets (health/check_syn.c), when knlbd
 * may still open them: a third of the CPU of connect() probes, and the
 * prober keeps no capability.  Without CAP_NET_RAW they stay connect()s.
 */
static int start_prober(struct knlbd *d)
{
	int ret = checker_new_remote(d->loop, d->spawner, PRIVSEP_PROBER, &d->checker);

	if (ret < 0)
		return ret;
	ret = checker_open_raw(d->checker);
	if (ret == 0) {
		log_info("tcp probes: half-open, from raw sockets");
		daemon_quiet_probes(d);
	} else
		log_info("tcp probes: connect() in the prober (no raw socket: %s)",
			 strerror(-ret));
	return 0;
}

/* Scrapers' HTTP is parsed by a worker too; knlbd keeps the rendering. */
static int start_metrics_worker(struct knlbd *d)
{
	int ret;

	if (!d->metrics_bound)
		return 0;
	ret = metrics_link_new(d->loop, d->spawner, PRIVSEP_METRICS, d->metrics_fd,
			       d->metrics_port, &d->metrics_src, &d->metrics);
	if (ret < 0) {
		log_error("metrics: starting its worker: %s", strerror(-ret));
		return ret;
	}
	d->metrics_bound = false;	/* the link has the socket now */
	return 0;
}

/*
 * The table forwards already; the serving backends' fallback maps, which
 * the replace left empty (nft/sync.h), go in now, before the health
 * checks start, so that the first failure is the O(1) one.  A failure of
 * this step costs only speed: the committer replaces the table later.
 */
static void fill_fallback_maps(struct knlbd *d)
{
	struct sync_result total;

	committer_refresh_fallbacks(d->committer, &total);
	if (total.messages)
		log_info("fallback maps filled after the table: %zu elements, %zu messages, %.1f ms",
			 total.elements, total.messages, total.elapsed_ms);
}

int daemon_start_services(struct knlbd *d)
{
	int ret;

	loop_timer_init(&d->wlc_timer, on_wlc_timer, d);
	loop_timer_init(&d->audit_timer, on_audit_timer, d);
	ret = committer_new(d->loop, d->pool, d->nfnl, &d->committer);
	if (ret < 0) {
		log_error("%s", strerror(-ret));
		return ret;
	}
	fill_fallback_maps(d);
	/* Without it knlbd still balances; status says why nothing is announced. */
	announcer_start(d);
	loop_set_before_sleep(d->loop, before_sleep, d);
	ret = observe_start(d);
	if (ret == 0)
		latency_weights_start(d);
	if (ret == 0)
		ret = start_prober(d);
	if (ret == 0)
		ret = start_metrics_worker(d);
	if (ret == 0)
		ret = daemon_start_health(d, d->pool, &d->health);
	if (ret == 0)
		ret = health_start(d->health);
	if (ret < 0) {
		log_error("starting health checks: %s", strerror(-ret));
		return ret;
	}
	/*
	 * After programming: the NAT table has made nft load nf_conntrack.
	 * Before following flows, which reads conntrack's timeouts there.
	 */
	host_watch_init(&d->host, d->loop, "/proc");
	daemon_arm_wlc(d);
	daemon_follow_flows(d);
	daemon_arm_audit(d);
	host_watch_check(&d->host, d->config, NULL);
	daemon_update_sources(d);
	return 0;
}

static int open_metrics(struct knlbd *d)
{
	const char *listen = d->config->global.metrics_listen;
	char err[256] = "";
	int ret;

	if (!listen[0])
		return 0;
	ret = metrics_listen_open(listen, &d->metrics_port, err, sizeof(err));
	if (ret >= 0) {
		d->metrics_fd = ret;
		d->metrics_bound = true;
	}
	if (ret < 0) {
		log_error("%s; nothing changed", err[0] ? err : strerror(-ret));
		return ret;
	}
	log_info("metrics: serving http://%s/metrics", listen);
	return 0;
}

int daemon_open_listeners(struct knlbd *d)
{
	int ret;

	d->counters.start_time_unix = (uint64_t)time(NULL);
	daemon_update_sources(d);
	ret = open_metrics(d);
	if (ret == 0)
		ret = open_control(d);
	return ret;
}

void daemon_flush_table(struct knlbd *d)
{
	struct nfnl_batch *batch = nfnl_batch_new(d->nfnl);
	char err[256];

	if (!batch || ruleset_add_delete_table(batch, d->config->global.table) < 0) {
		log_error("--flush-on-exit: out of memory; table inet %s left in place",
			  d->config->global.table);
	} else if (nfnl_batch_commit(d->nfnl, batch, err, sizeof(err)) < 0) {
		log_error("--flush-on-exit: deleting table inet %s: %s",
			  d->config->global.table, err);
	} else {
		log_info("deleted table inet %s", d->config->global.table);
	}
	nfnl_batch_free(batch);
}

void daemon_release(struct knlbd *d)
{
	daemon_unquiet_probes(d);
	ctl_close(d->ctl);
	d->ctl = NULL;
	metrics_link_free(d->metrics);
	d->metrics = NULL;
	if (d->metrics_bound)
		close(d->metrics_fd);
	d->metrics_bound = false;
	if (d->loop) {
		loop_timer_cancel(d->loop, &d->wlc_timer);
		loop_timer_cancel(d->loop, &d->audit_timer);
	}
	host_watch_stop(&d->host);
	observe_stop(d);
	latency_weights_stop(d);
	health_free(d->health);
	checker_free(d->checker);
	privsep_spawner_free(d->spawner);
	ct_close(d->ct);
	flowtab_free(d->flows);
	free(d->flushes);
	committer_free(d->committer);
	announcer_free(d->announcer);
	d->announcer = NULL;
	loop_free(d->loop);
	nfnl_sock_close(d->nfnl);
	pool_free(d->pool);
	config_free(d->config);
}
