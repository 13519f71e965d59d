/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd: wiring and lifecycle.  Reads the config, computes the pool,
 * programs the kernel in one transaction, then waits on the event loop.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "knlb/addr.h"
#include "knlb/check.h"
#include "knlb/commit.h"
#include "knlb/config.h"
#include "knlb/ct.h"
#include "knlb/flowtab.h"
#include "knlb/health.h"
#include "knlb/log.h"
#include "knlb/loop.h"
#include "knlb/metrics.h"
#include "knlb/nfnl.h"
#include "knlb/pool.h"
#include "knlb/render.h"
#include "knlb/ruleset.h"
#include "knlb/sync.h"
#include "knlb/version.h"

#define DEFAULT_CONFIG "/etc/knlb/knlb.conf"

/* Exit codes, documented in --help. */
enum {
	EXIT_OK = 0,
	EXIT_CONFIG = 1,
	EXIT_USAGE = 2,
	EXIT_KERNEL = 3,
	EXIT_INTERNAL = 4,
};

struct options {
	const char *config_path;
	bool check_only;
	bool render;
	bool flush_on_exit;
};

struct daemon {
	struct options opt;
	struct knlb_config *config;
	struct knlb_pool *pool;
	struct nfnl_sock *nfnl;
	struct loop *loop;
	struct committer *committer;
	struct checker *checker;
	struct health *health;
	struct flowtab *flows;
	struct ct *ct;			/* NULL when conntrack is unavailable */
	struct metrics *metrics;	/* NULL without metrics_listen */
	struct metrics_sources msrc;	/* what a scrape reads */
	struct daemon_counters counters;
	/* backends gone down with flush = yes, flushed once the map is in */
	struct pending_flush { size_t svc, backend; } *flushes;
	size_t n_flushes, flushes_cap;
	int sigfd;
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: knlbd [-c FILE] [-t | --render] [--flush-on-exit]\n"
"\n"
"knlb load-balancing daemon: programs DNAT/SNAT rules and slot maps into\n"
"the nftables table it owns (inet, name from the config) and keeps them in\n"
"line with the configuration.  Runs in the foreground and logs to stderr.\n"
"\n"
"  -c, --config FILE    configuration file (default " DEFAULT_CONFIG ")\n"
"  -t, --test           check the configuration, print a summary, exit\n"
"      --render         print the nftables table that would be programmed,\n"
"                       in nft syntax, without touching the kernel\n"
"      --flush-on-exit  delete the table on SIGTERM/SIGINT (default: keep it,\n"
"                       so forwarding continues and a restart is hitless)\n"
"  -h, --help           this help\n"
"  -V, --version        print the version\n"
"\n"
"Signals: SIGTERM, SIGINT stop knlbd (the kernel keeps forwarding).\n"
"\n"
"Exit status: 0 ok, 1 invalid configuration, 2 usage error,\n"
"3 the kernel rejected the ruleset or netlink failed, 4 internal error.\n"
"\n"
"See knlb.conf documentation in docs/configuration.md.\n");
}

static int parse_args(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "render", no_argument, NULL, 'r' },
		{ "flush-on-exit", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->config_path = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->config_path = optarg;
			break;
		case 't':
			opt->check_only = true;
			break;
		case 'r':
			opt->render = true;
			break;
		case 'F':
			opt->flush_on_exit = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("knlbd %s\n", KNLB_VERSION);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "knlbd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (opt->check_only && opt->render) {
		fprintf(stderr, "knlbd: -t and --render are exclusive\n");
		return -1;
	}
	return 0;
}

static size_t count_backends(const struct knlb_config *config)
{
	size_t n = 0;

	for (size_t i = 0; i < config->n_services; i++)
		n += config->services[i].n_backends;
	return n;
}

/*
 * One line per service: what the operator asked for and how far the slot
 * shares are from the weights; one line per backend at debug level (a
 * thousand-backend service should not flood the log at info).
 */
static void log_pool(const struct knlb_pool *pool)
{
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		const struct knlb_service_config *cfg = svc->cfg;
		char vip[KNLB_ADDRSTRLEN];
		double total = 0, worst = 0;

		for (size_t b = 0; b < svc->n_backends; b++)
			total += pool_effective_weight(svc, b);
		for (size_t b = 0; b < svc->n_backends; b++) {
			uint32_t n = pool_slots_of(svc, b);
			double want = total > 0 ? pool_effective_weight(svc, b) / total : 0;
			double got = (double)n / cfg->table_size;

			if (want > 0 && fabs(got - want) / want > worst)
				worst = fabs(got - want) / want;
			log_debug("backend %s/%s: weight %g, %u slots (%.2f%%, weight share %.2f%%)",
				  cfg->name, svc->backends[b].cfg->id,
				  pool_effective_weight(svc, b), n, 100.0 * got,
				  100.0 * want);
		}
		log_info("service %s: %s/%s scheduler %s, %u slots, %zu backends, ct mark 0x%08x, slot shares within %.2f%% of weights",
			 cfg->name, addr_port_format(&cfg->vip, cfg->port, vip, sizeof(vip)),
			 config_proto_name(cfg->proto),
			 config_scheduler_name(cfg->scheduler), cfg->table_size,
			 svc->n_backends, svc->ct_mark, 100.0 * worst);
	}
}

static void on_signal(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("received %s, stopping", strsignal((int)si.ssi_signo));
			loop_stop(loop);
			break;
		case SIGHUP:
			log_warn("SIGHUP: reloading is not implemented yet; restart knlbd to apply a new configuration (established flows are kept)");
			break;
		default:
			break;
		}
	}
}

static int setup_signals(struct daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd == -1)
		return -errno;
	return loop_add_fd(d->loop, d->sigfd, EPOLLIN, on_signal, d);
}

static int program_kernel(struct daemon *d)
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
	ret = sync_replace(d->nfnl, d->pool, &res, err, sizeof(err));
	if (ret < 0) {
		log_error("programming table inet %s failed, kernel state unchanged: %s%s",
			  d->config->global.table, err,
			  ret == -EPERM ? " (knlbd needs CAP_NET_ADMIN)" : "");
		return ret;
	}
	log_info("programmed table inet %s: %zu services, %zu slot elements, 1 transaction of %zu messages (%zu bytes) in %.1f ms",
		 d->config->global.table, d->pool->n_services, res.elements,
		 res.messages, res.bytes, res.elapsed_ms);
	return 0;
}


/*
 * flush = yes: a dead backend's flows of this service are deleted, so its
 * clients get a fresh backend (UDP) or a prompt reset (TCP) instead of
 * sending into a dead host.  Not here but after the slot delta is in the
 * kernel: flushed earlier, the next packet of a flow would go through the
 * old map, back to the dead backend, in a new entry nobody flushes.
 */
static void on_transition(struct knlb_pool *pool, size_t s, size_t b, bool up,
			  void *arg)
{
	struct daemon *d = arg;

	if (up || !pool->services[s].cfg->flush)
		return;
	if (d->n_flushes == d->flushes_cap) {
		size_t cap = d->flushes_cap ? 2 * d->flushes_cap : 8;
		struct pending_flush *f = realloc(d->flushes, cap * sizeof(*f));

		if (!f) {
			log_error("%s/%s: out of memory: its flows are not flushed",
				  pool->services[s].cfg->name,
				  pool->services[s].backends[b].cfg->id);
			return;
		}
		d->flushes = f;
		d->flushes_cap = cap;
	}
	d->flushes[d->n_flushes++] = (struct pending_flush){ s, b };
}

static void flush_backend(struct daemon *d, size_t s, size_t b)
{
	const struct knlb_service *svc = &d->pool->services[s];
	const struct knlb_backend_config *be = svc->backends[b].cfg;
	size_t deleted = 0;
	int ret;

	if (svc->backends[b].up)
		return;		/* came back before the commit: keep its flows */
	if (!d->ct) {
		log_warn("%s/%s: flush = yes but conntrack is not available: its flows are kept",
			 svc->cfg->name, be->id);
		return;
	}
	ret = ct_flush_backend(d->ct, svc->ct_mark, &be->addr, be->port,
			       (uint8_t)svc->cfg->proto, &deleted);
	if (ret < 0)
		log_error("%s/%s: flushing its conntrack entries: %s (%zu deleted)",
			  svc->cfg->name, be->id, strerror(-ret), deleted);
	else
		log_info("%s/%s: flushed %zu conntrack entries (flush = yes)",
			 svc->cfg->name, be->id, deleted);
}

/* Where the one commit per loop iteration happens (DESIGN 2). */
static void before_sleep(struct loop *loop, void *arg)
{
	struct daemon *d = arg;

	(void)loop;
	committer_run(d->committer);
	/* Only once the kernel no longer maps the dead backends. */
	if (!d->n_flushes || !committer_synced(d->committer))
		return;
	for (size_t i = 0; i < d->n_flushes; i++)
		flush_backend(d, d->flushes[i].svc, d->flushes[i].backend);
	d->n_flushes = 0;
}

/* Flow counting is an aid, not a precondition: run without it if need be. */
static int start_conntrack(struct daemon *d)
{
	char err[256] = "";
	int ret;

	d->flows = flowtab_new();
	if (!d->flows)
		return -ENOMEM;
	ret = ct_open(d->loop, d->config->global.ct_mark_mask, d->flows, &d->ct,
		      err, sizeof(err));
	if (ret < 0) {
		d->ct = NULL;
		log_warn("conntrack: %s: flow counts and flush are off", err[0] ? err : strerror(-ret));
	}
	return 0;
}

static int start_health(struct daemon *d)
{
	int ret;

	ret = checker_new(d->loop, &d->checker);
	if (ret == 0)
		ret = health_new(d->loop, d->pool, d->checker, &d->health);
	if (ret == 0) {
		health_set_transition_fn(d->health, on_transition, d);
		ret = health_start(d->health);
	}
	return ret;
}

/*
 * [global] metrics_listen.  Bound before the kernel is touched, so a port
 * in use stops knlbd with the table as it was; msrc is filled once every
 * module exists (no scrape is served before the loop runs).
 */
static int open_metrics(struct daemon *d)
{
	char err[256];
	int ret;

	d->counters.start_time_unix = (uint64_t)time(NULL);
	if (!d->config->global.metrics_listen[0])
		return 0;
	ret = metrics_open(d->loop, d->config->global.metrics_listen, &d->msrc,
			   &d->metrics, err, sizeof(err));
	if (ret < 0)
		log_error("%s; nothing changed", err);
	else
		log_info("metrics: serving http://%s/metrics",
			 d->config->global.metrics_listen);
	return ret;
}

static void fill_metrics_sources(struct daemon *d)
{
	d->msrc = (struct metrics_sources){
		.pool = d->pool,
		.health = d->health,
		.flows = d->ct ? d->flows : NULL,	/* counts need conntrack */
		.ct = d->ct,
		.committer = d->committer,
		.daemon = &d->counters,
	};
}

static void flush_table(struct daemon *d)
{
	struct nfnl_batch *batch = nfnl_batch_new();
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

static void daemon_release(struct daemon *d)
{
	if (d->sigfd >= 0)
		close(d->sigfd);
	metrics_close(d->metrics);
	health_free(d->health);
	checker_free(d->checker);
	ct_close(d->ct);
	flowtab_free(d->flows);
	free(d->flushes);
	committer_free(d->committer);
	loop_free(d->loop);
	nfnl_sock_close(d->nfnl);
	pool_free(d->pool);
	config_free(d->config);
}

static int run(struct daemon *d)
{
	int ret;

	if (config_load(d->opt.config_path, &d->config, stderr) < 0) {
		fprintf(stderr, "knlbd: %s: configuration not valid, nothing changed\n",
			d->opt.config_path);
		return EXIT_CONFIG;
	}
	log_set_level((enum log_level)d->config->global.log_level);
	ret = pool_create(d->config, &d->pool);
	if (ret < 0) {
		log_error("computing slot tables: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	if (d->opt.check_only) {
		printf("%s: configuration OK: %zu services, %zu backends, table inet %s\n",
		       d->opt.config_path, d->config->n_services,
		       count_backends(d->config), d->config->global.table);
		return EXIT_OK;
	}
	if (d->opt.render)
		return render_ruleset(stdout, d->pool) < 0 ? EXIT_INTERNAL : EXIT_OK;

	log_info("knlbd %s starting with %s", KNLB_VERSION, d->opt.config_path);
	ret = loop_new(&d->loop);
	if (ret == 0)
		ret = setup_signals(d);
	if (ret < 0) {
		log_error("setting up the event loop: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	if (open_metrics(d) < 0)
		return EXIT_CONFIG;
	if (program_kernel(d) < 0)
		return EXIT_KERNEL;
	log_pool(d->pool);
	ret = committer_new(d->loop, d->pool, d->nfnl, &d->committer);
	if (ret < 0) {
		log_error("%s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	loop_set_before_sleep(d->loop, before_sleep, d);
	ret = start_conntrack(d);
	if (ret == 0)
		ret = start_health(d);
	if (ret < 0) {
		log_error("starting health checks: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	fill_metrics_sources(d);

	ret = loop_run(d->loop);
	if (ret < 0) {
		log_error("event loop: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	if (d->opt.flush_on_exit)
		flush_table(d);
	else
		log_info("leaving table inet %s in place: the kernel keeps forwarding",
			 d->config->global.table);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct daemon d = { .sigfd = -1 };
	int status;

	if (parse_args(argc, argv, &d.opt) < 0)
		return EXIT_USAGE;
	status = run(&d);
	daemon_release(&d);
	return status;
}
