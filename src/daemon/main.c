/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbd: wiring and lifecycle.  Reads the config, computes the pool,
 * programs the kernel in one transaction, then waits on the event loop.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/config/keywords.h"
#include "knlb/daemon/announce.h"
#include "knlb/daemon/daemon.h"
#include "knlb/daemon/traffic.h"
#include "knlb/daemon/host_checks.h"
#include "knlb/lib/log.h"
#include "knlb/nft/commit.h"
#include "knlb/lib/loop.h"
#include "knlb/lib/notify.h"
#include "knlb/pool/pool.h"
#include "knlb/lib/privs.h"
#include "knlb/nft/render.h"
#include "knlb/config/table_size.h"
#include "knlb/lib/version.h"

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
	const char *control_socket;
	bool check_only;
	bool render;
	bool flush_on_exit;
	bool syslog;
};

struct daemon {
	struct options opt;
	struct knlbd d;
	int sigfd;
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: knlbd [-c FILE] [-s SOCKET] [-t | --render] [--flush-on-exit] [--syslog]\n"
"\n"
"knlb load-balancing daemon: programs DNAT/SNAT rules and slot maps into\n"
"the nftables table it owns (inet, name from the config) and keeps them in\n"
"line with the configuration.  Runs in the foreground and logs to stderr\n"
"(to the journal, with priorities, when stderr is journald's stream).\n"
"\n"
"  -c, --config FILE    configuration file (default " DEFAULT_CONFIG ")\n"
"  -s, --socket PATH    control socket for knlbctl (overrides control_socket,\n"
"                       default " KNLB_DEFAULT_CONTROL_SOCKET ")\n"
"  -t, --test           check the configuration, print a summary, exit\n"
"      --render         print the nftables table that would be programmed,\n"
"                       in nft syntax, without touching the kernel\n"
"      --flush-on-exit  delete the table on SIGTERM/SIGINT, and turn conntrack's\n"
"                       accounting off again if knlbd turned it on (default:\n"
"                       keep both, so forwarding continues and a restart is\n"
"                       hitless)\n"
"      --syslog         log through syslog(3) (daemon facility), not stderr\n"
"  -h, --help           this help\n"
"  -V, --version        print the version\n"
"\n"
"Signals: SIGTERM, SIGINT stop knlbd (the kernel keeps forwarding);\n"
"SIGHUP re-reads the configuration and applies the difference in one\n"
"transaction (knlbctl reload does the same and reports the result).\n"
"\n"
"Exit status: 0 ok, 1 invalid configuration, 2 usage error,\n"
"3 the kernel rejected the ruleset or netlink failed, 4 internal error.\n"
"\n"
"See knlbd(8), knlb.conf(5) and docs/operations.md.\n");
}

static int parse_args(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "test", no_argument, NULL, 't' },
		{ "render", no_argument, NULL, 'r' },
		{ "flush-on-exit", no_argument, NULL, 'F' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "list-keys", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->config_path = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:s:thV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->config_path = optarg;
			break;
		case 's':
			opt->control_socket = optarg;
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
		case 'S':
			opt->syslog = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("knlbd %s\n", KNLB_VERSION);
			exit(EXIT_OK);
		case 'K':
			/* For make test-docs: the keyword table, one key a line. */
			config_keywords_print(stdout);
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
	if (opt->control_socket && opt->control_socket[0] != '/') {
		fprintf(stderr, "knlbd: --socket %s: not an absolute path\n",
			opt->control_socket);
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
static void log_pool(const struct knlb_model *pool)
{
	for (size_t i = 0; i < pool->n_services; i++) {
		const struct knlb_service *svc = &pool->services[i];
		const struct knlb_service_config *cfg = svc->cfg;
		char vip[CONFIG_VIPS_STRLEN];
		double total[KNLB_FAMILIES] = { 0 }, worst = 0;
		/* One pass over the table, not one per backend: at 1000
		 * backends and 100003 slots that is 10^8 reads a service. */
		uint32_t *counts = calloc(svc->n_backends ? svc->n_backends : 1,
					  sizeof(*counts));

		if (!counts) {
			log_warn("service %s: out of memory for the slot shares",
				 cfg->name);
			continue;
		}
		pool_count_slots(svc, counts);
		/* Each family has a table of its own: shares are per family. */
		for (size_t b = 0; b < svc->n_backends; b++)
			total[addr_family_index(&svc->backends[b].cfg->addr)] +=
				pool_effective_weight(svc, b);
		for (size_t b = 0; b < svc->n_backends; b++) {
			double sum = total[addr_family_index(&svc->backends[b].cfg->addr)];
			uint32_t n = counts[b];
			double want = sum > 0 ? pool_effective_weight(svc, b) / sum : 0;
			double got = (double)n / cfg->table_size;

			if (want > 0 && fabs(got - want) / want > worst)
				worst = fabs(got - want) / want;
			log_debug("backend %s/%s: weight %g, %u slots (%.2f%%, weight share %.2f%%)",
				  cfg->name, svc->backends[b].cfg->id,
				  pool_effective_weight(svc, b), n, 100.0 * got,
				  100.0 * want);
		}
		log_info("service %s: %s/%s scheduler %s, %u slots (%s), %zu backend%s, ct mark 0x%08x, slot shares within %.2f%% of weights",
			 cfg->name, config_service_vips(cfg, vip, sizeof(vip)),
			 config_proto_name(cfg->proto),
			 config_scheduler_name(cfg->scheduler), cfg->table_size,
			 config_table_size_source_name(cfg->table_size_source),
			 svc->n_backends, svc->n_backends == 1 ? "" : "s",
			 svc->ct_mark, 100.0 * worst);
		free(counts);
	}
}

/*
 * One line per service whose table_size is not in the file: its size and
 * how it was derived (a size the file sets needs no explaining).
 */
static void print_table_sizes(FILE *out, const struct knlb_config *config)
{
	char line[384];

	for (size_t i = 0; i < config->n_services; i++) {
		if (config->services[i].table_size_source == KNLB_TABLE_SIZE_SET)
			continue;
		config_table_size_explain(&config->services[i], line, sizeof(line));
		fprintf(out, "knlbd: service %s: %s\n", config->services[i].name,
			line);
	}
}

/*
 * -t: what this host lacks for the configuration, as warnings only: the
 * file may be checked on a machine other than the gateway.
 */
static void print_host_problems(const struct knlb_config *config)
{
	struct host_problems p = { 0 };
	int ret = host_checks_run(config, "/proc", HOST_CHECKS_BEFORE_START, &p,
				  NULL);

	if (ret < 0)
		fprintf(stderr, "knlbd: warning: host not checked: %s\n",
			strerror(-ret));
	for (size_t i = 0; i < p.n; i++)
		fprintf(stderr, "knlbd: warning: host: %s\n", p.v[i].text);
	host_problems_free(&p);
}

static void on_signal(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct daemon *dm = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("received %s, stopping", strsignal((int)si.ssi_signo));
			notify_stopping();
			loop_stop(loop);
			break;
		case SIGHUP:
			log_info("received SIGHUP, reloading %s", dm->d.config_path);
			daemon_reload(&dm->d, NULL);
			break;
		default:
			break;
		}
	}
}

static int setup_signals(struct daemon *dm)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	dm->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (dm->sigfd == -1)
		return -errno;
	return loop_add_fd(dm->d.loop, dm->sigfd, EPOLLIN, on_signal, dm);
}

/*
 * user = an account others run as: each of their processes may drain,
 * reweight and reload through the control socket, which is handed to it.
 * Allowed (it works), but said at every start.
 */
static void warn_shared_user(const char *user)
{
	struct passwd *pw = getpwnam(user);
	struct group *gr;
	char why[256];

	if (!pw)
		return;		/* privs_drop says so */
	gr = getgrgid(pw->pw_gid);
	if (privs_account_shared(pw, gr ? gr->gr_name : NULL, why, sizeof(why)))
		log_warn("user %s: %s: every process running as it can drive knlbd through the control socket (drain, weight, reload); run knlbd as a dedicated user (adduser --system --group --no-create-home knlb; see docs/security.md)",
			 user, why);
}

/*
 * Every socket is open: from here on only CAP_NET_ADMIN is needed.  With
 * user =, the control socket goes to that user first, so it can still
 * serve (and remove) it.
 */
static int drop_privileges(struct knlbd *d)
{
	const char *user = d->config->global.user;
	char err[512];

	if (user[0])
		warn_shared_user(user);
	if (d->ctl && privs_chown_path(d->control_socket ? d->control_socket :
				       d->config->global.control_socket,
				       user, err, sizeof(err)) < 0) {
		log_error("control socket: %s", err);
		return -1;
	}
	if (privs_drop(user, err, sizeof(err)) < 0) {
		log_error("dropping privileges: %s", err);
		return -1;
	}
	return 0;
}

static int run(struct daemon *dm)
{
	struct knlbd *d = &dm->d;
	int ret;

	d->config_path = dm->opt.config_path;
	d->control_socket = dm->opt.control_socket;
	d->flush_on_exit = dm->opt.flush_on_exit;
	if (config_load(d->config_path, &d->config, stderr) < 0) {
		fprintf(stderr, "knlbd: %s: configuration not valid, nothing changed\n",
			d->config_path);
		return EXIT_CONFIG;
	}
	log_set_level((enum log_level)d->config->global.log_level);
	/*
	 * The spawner of the unprivileged workers forks while knlbd still has
	 * every privilege, and before the slot tables exist: a child shares
	 * its parent's pages until one of them writes, and the spawner lives
	 * as long as knlbd, so each page knlbd had at the fork cost a copy
	 * (and a TLB shootdown) the first time knlbd wrote it afterwards:
	 * 3-5 ms on the first failover of a 65537-slot service, and the
	 * tables' memory twice over once written.
	 */
	if (!dm->opt.check_only && !dm->opt.render && daemon_start_spawner(d) < 0)
		return EXIT_KERNEL;
	if (dm->opt.render)
		traffic_render_as(&d->config->global);
	ret = pool_create(d->config, &d->pool);
	if (ret < 0) {
		log_error("computing slot tables: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	if (dm->opt.check_only) {
		size_t ns = d->config->n_services, nb = count_backends(d->config);

		if (ns == 0)
			printf("%s: configuration OK: no services (knlbd will run idle), table inet %s\n",
			       d->config_path, d->config->global.table);
		else
			printf("%s: configuration OK: %zu service%s, %zu backend%s, table inet %s\n",
			       d->config_path, ns, ns == 1 ? "" : "s", nb,
			       nb == 1 ? "" : "s", d->config->global.table);
		fflush(stdout);
		print_host_problems(d->config);
		return EXIT_OK;
	}
	if (dm->opt.render) {
		/* stdout is the ruleset, diffable with nft list: sizes to stderr. */
		print_table_sizes(stderr, d->config);
		return render_ruleset(stdout, d->pool) < 0 ? EXIT_INTERNAL : EXIT_OK;
	}

	log_info("knlbd %s starting with %s", KNLB_VERSION, d->config_path);
	ret = loop_new(&d->loop);
	if (ret == 0)
		ret = setup_signals(dm);
	if (ret < 0) {
		log_error("setting up the event loop: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	/* A socket or port taken: exit with the running table as it was. */
	if (daemon_open_listeners(d) < 0)
		return EXIT_CONFIG;
	if (daemon_start_conntrack(d) < 0)
		return EXIT_INTERNAL;
	/*
	 * Before the table forwards, so that the flows it makes carry
	 * counters; after conntrack is open, whose first request loads
	 * nf_conntrack, the module the sysctl belongs to.
	 */
	if (!d->ct)
		traffic_without_conntrack(&d->config->global);
	if (traffic_accounting_on(&d->config->global, "/proc", &d->acct_turned_on) < 0)
		return EXIT_KERNEL;
	daemon_count_traffic(d);
	if (daemon_program_kernel(d) < 0) {
		/* nothing of this start is left: nor the accounting it turned on */
		if (d->acct_turned_on)
			traffic_accounting_restore("/proc", true);
		return EXIT_KERNEL;
	}
	log_pool(d->pool);
	/* A standby gateway: its table exists, empty, so a reload adds deltas. */
	if (d->pool->n_services == 0)
		log_info("no services in %s: running idle with an empty table inet %s",
			 d->config_path, d->config->global.table);
	if (daemon_start_services(d) < 0)
		return EXIT_INTERNAL;
	if (drop_privileges(d) < 0)
		return EXIT_KERNEL;
	notify_ready("serving: table programmed, health checks running");

	ret = loop_run(d->loop);
	if (ret < 0) {
		log_error("event loop: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	if (d->flush_on_exit) {
		/* First the routers stop sending, then the table goes. */
		announcer_withdraw_all(d);
		daemon_flush_table(d);
		/* the flows left carry counters still; no new one will */
		if (d->config->global.traffic_counters == KNLB_TRAFFIC_CONNTRACK)
			traffic_accounting_restore("/proc", d->acct_turned_on);
	} else {
		/* Fallback maps still waiting to be filled (nft/commit.c):
		 * leave the table whole, as the render shows it. */
		committer_refresh_fallbacks(d->committer, NULL);
		log_info("leaving table inet %s in place: the kernel keeps forwarding%s",
			 d->config->global.table, d->acct_turned_on ?
			 ", with the conntrack accounting knlbd turned on (--flush-on-exit turns it back off)" : "");
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct daemon dm = { .sigfd = -1 };
	int status;

	if (parse_args(argc, argv, &dm.opt) < 0)
		return EXIT_USAGE;
	log_open(dm.opt.syslog);
	/*
	 * A failover's scratch (a slot table's size: 256 KiB at M = 65537)
	 * comes from heap pages the table's programming already touched.
	 * glibc's defaults gave each such block a fresh mapping the first
	 * times, then returned the heap's top to the kernel: the first
	 * failover paid a page fault per 4 KiB (about 15 us each on a VM),
	 * 1-3 ms.  Mappings stay for the batch buffers of full replaces
	 * (nft/nfnl.c maps those itself); RSS at rest is unchanged.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	status = run(&dm);
	daemon_release(&dm.d);
	if (dm.sigfd >= 0)
		close(dm.sigfd);
	log_close();
	return status;
}
