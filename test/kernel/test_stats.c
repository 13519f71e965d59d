/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's per-backend counters end to end: real TCP connections from
 * a client namespace through knlbd's gateway (this test's namespace) to a
 * backend namespace, forwarded and masqueraded as in production, then the
 * `stats` reply.  The client and the backend are forked children that
 * unshare their own namespace: nothing named is left behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(stats, .init = kt_enter_netns, .timeout = 60);

#define N_CONNS		7
#define REQ_BYTES	1000
#define RESP_BYTES	3000

/* A child in a namespace of its own: says "ready", waits for "go", runs fn. */
struct peer {
	pid_t pid;
	int to_child, from_child;
};

static struct peer peer_start(int (*fn)(int report))
{
	int down[2], up[2];
	struct peer p;
	char c;

	cr_assert_eq(pipe(down), 0);
	cr_assert_eq(pipe(up), 0);
	p.pid = fork();
	cr_assert_neq(p.pid, -1);
	if (p.pid == 0) {
		close(down[1]);
		close(up[0]);
		if (unshare(CLONE_NEWNET) == -1 || write(up[1], "r", 1) != 1 ||
		    read(down[0], &c, 1) != 1)
			_exit(100);
		_exit(fn(up[1]));
	}
	close(down[0]);
	close(up[1]);
	p.to_child = down[1];
	p.from_child = up[0];
	cr_assert_eq(read(p.from_child, &c, 1), 1, "child did not start");
	return p;
}

static void peer_go(struct peer *p)
{
	cr_assert_eq(write(p->to_child, "g", 1), 1);
}

static int peer_wait(struct peer *p)
{
	int status;

	close(p->to_child);
	close(p->from_child);
	cr_assert_eq(waitpid(p->pid, &status, 0), p->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

static int io_all(int fd, char *buf, size_t len, bool send_it)
{
	while (len) {
		ssize_t n = send_it ? write(fd, buf, len) : read(fd, buf, len);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 10.0.0.11:8080: N_CONNS requests of REQ_BYTES, each answered with RESP_BYTES. */
static int backend_main(int report)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(8080) };
	static char buf[RESP_BYTES];
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	inet_pton(AF_INET, "10.0.0.11", &sin.sin_addr);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(l, 16) == -1)
		return 1;
	if (write(report, "l", 1) != 1)
		return 2;
	for (int i = 0; i < N_CONNS; i++) {
		int c = accept(l, NULL, NULL);

		if (c == -1 || io_all(c, buf, REQ_BYTES, false) < 0 ||
		    io_all(c, buf, RESP_BYTES, true) < 0)
			return 3;
		close(c);
	}
	return 0;
}

static int client_main(int report)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	static char buf[RESP_BYTES];

	(void)report;
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	for (int i = 0; i < N_CONNS; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(c, (struct sockaddr *)&sin, sizeof(sin)) == -1)
			return 10 + errno % 50;
		if (io_all(c, buf, REQ_BYTES, true) < 0 ||
		    io_all(c, buf, RESP_BYTES, false) < 0 || read(c, buf, 1) != 0)
			return 4;
		close(c);
	}
	return 0;
}

static uint64_t field(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	cr_assert_not_null(p, "no %s in %s", key, json);
	return strtoull(p + strlen(pat), NULL, 10);
}

/* What a run of N_CONNS connections left in knlbd's replies. */
struct counted {
	char *stats;		/* the `stats` reply */
	char *rate;		/* knlbctl --json status --rate */
	char *metrics;		/* a scrape */
	char *status;		/* knlbctl status */
	char *ruleset;		/* nft list table */
	char *entries;		/* conntrack -L of the VIP's entries (not MASQUERADE) */
	char *log;		/* knlbd's log */
};

/*
 * The client's N_CONNS connections through a knlbd started with global
 * (more [global] lines), then what it says about them.
 */
/* What happens to the connections' entries before knlbd is asked. */
enum entries {
	MASQUERADE,	/* snat = masquerade, as in production */
	LIVE,		/* no snat: listed, left in TIME_WAIT */
	DELETED,	/* no snat: listed, then deleted (DESTROY events) */
	/*
	 * The same, the service counted by dumps (track = periodic): no
	 * event at all, the entries read by a pass, deleted, then gone
	 * from the next pass.
	 */
	PERIODIC_DELETED,
};

static struct counted run_connections_then(const char *global, enum entries e)
{
	/*
	 * Without masquerade the backend routes its replies back through
	 * the gateway; with it, the backend's veth going away with its
	 * namespace would make the kernel delete the masqueraded entries
	 * (nf_nat_masquerade's device notifier) before they are read.
	 */
	const char *snat = e == MASQUERADE ? "masquerade" : "none";
	struct peer backend = peer_start(backend_main);
	struct peer client = peer_start(client_main);
	char dir[] = "/tmp/knlb-stats-XXXXXX", script[2048], conf[128],
	     args[512], log[160], sock[160], bin[512];
	struct counted r;
	char *out, c;
	int status;
	pid_t k;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/k.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(sock, sizeof(sock), "%s/knlb.sock", dir);
	snprintf(script, sizeof(script),
		 "set -e\n"
		 "ip link set lo up; sysctl -qw net.ipv4.ip_forward=1\n"
		 "ip link add vc type veth peer name eth0 netns %d\n"
		 "ip link add vb type veth peer name eth0 netns %d\n"
		 "ip addr add 198.51.100.1/24 dev vc; ip link set vc up\n"
		 "ip addr add 10.0.0.1/24 dev vb; ip link set vb up\n"
		 "nsenter -t %d -n sh -c 'ip link set lo up; ip addr add 198.51.100.2/24 dev eth0;"
		 " ip link set eth0 up; ip route add default via 198.51.100.1'\n"
		 "nsenter -t %d -n sh -c 'ip link set lo up; ip addr add 10.0.0.11/24 dev eth0;"
		 " ip link set eth0 up; ip route add default via 10.0.0.1'\n"
		 "printf '[global]\\nmetrics_listen = 127.0.0.1:9410\\n%s[service web]\\nvip = 192.0.2.10\\nport = 80\\ncheck = none\\n"
		 "snat = %s\\nbackend = 10.0.0.11:8080\\n%s' > %s\n",
		 client.pid, backend.pid, client.pid, backend.pid, global, snat,
		 e == PERIODIC_DELETED ? "track = periodic\\n" : "", conf);
	out = kt_run(script, &status);
	cr_assert_eq(status, 0, "setup: %s", out);
	free(out);

	snprintf(args, sizeof(args), "-c %s -s %s", conf, sock);
	k = kt_start_knlbd(args, log);
	cr_assert(kt_wait_for_log(log, "programmed table inet knlb", 5000), "%s",
		  kt_read_file(log));

	peer_go(&backend);
	cr_assert_eq(read(backend.from_child, &c, 1), 1, "backend did not listen");
	peer_go(&client);
	cr_expect_eq(peer_wait(&client), 0, "client failed");
	cr_expect_eq(peer_wait(&backend), 0, "backend failed");

	r.entries = NULL;
	if (e == PERIODIC_DELETED)
		usleep(1500 * 1000);	/* a pass (track_interval 1 s) reads them */
	if (e != MASQUERADE)
		r.entries = kt_run("conntrack -L -d 192.0.2.10 -o extended 2>/dev/null", &status);
	if (e == DELETED || e == PERIODIC_DELETED) {
		free(kt_run("conntrack -D -d 192.0.2.10 2>&1", &status));
		cr_expect_eq(WEXITSTATUS(status), 0, "conntrack -D");
	}
	if (e == PERIODIC_DELETED)
		usleep(1500 * 1000);	/* the next pass no longer sees them */
	r.stats = kt_ctl(sock, "stats");
	/* knlbctl (beside the knlbd under test) divides two such samples. */
	snprintf(bin, sizeof(bin), "%.*sknlbctl -s %s",
		 (int)(strlen(kt_knlbd()) - strlen("knlbd")), kt_knlbd(), sock);
	snprintf(script, sizeof(script),
		 "%s --json status --rate --interval 200ms 2>&1", bin);
	r.rate = kt_run(script, &status);
	cr_expect_eq(WEXITSTATUS(status), 0, "%s", r.rate);
	snprintf(script, sizeof(script), "%s status 2>&1", bin);
	r.status = kt_run(script, &status);
	/* The same counters at a scrape, read from the kernel then. */
	r.metrics = kt_run("curl -sS --max-time 5 http://127.0.0.1:9410/metrics 2>&1",
			   &status);
	r.ruleset = kt_nft_list("knlb");
	kt_stop_knlbd(k);
	r.log = kt_read_file(log);
	snprintf(script, sizeof(script), "rm -rf %s", dir);
	free(kt_run(script, &status));
	cr_assert_not_null(r.stats);
	cr_assert(strncmp(r.stats, "OK\n", 3) == 0, "%s", r.stats);
	cr_expect(strstr(r.stats, "\"id\":\"10.0.0.11:8080\""), "%s", r.stats);
	return r;
}

static struct counted run_connections(const char *global)
{
	return run_connections_then(global, MASQUERADE);
}

static void counted_free(struct counted *r)
{
	free(r->entries);
	free(r->log);
	free(r->stats);
	free(r->rate);
	free(r->metrics);
	free(r->status);
	free(r->ruleset);
}

Test(stats, forwarded_connections_are_counted_per_backend)
{
	struct counted r = run_connections("");
	uint64_t new_flows, pi, bi, po, bo;
	const char *reply = r.stats;

	cr_expect(strstr(r.rate, "{\"interval_s\":0.2") &&
		  strstr(r.rate, "\"backends\":[{\"id\":\"10.0.0.11:8080\",\"address\":\"10.0.0.11:8080\",\"cps\":0,\"in_pps\":0,"),
		  "%s", r.rate);
	cr_expect(strstr(r.metrics, "knlb_kernel_counters_read 1\n"), "%s", r.metrics);
	cr_expect(strstr(r.metrics, "knlb_backend_kernel_new_flows_total{service=\"web\",backend=\"10.0.0.11:8080\",address=\"10.0.0.11:8080\"} 7\n"),
		  "%s", r.metrics);
	cr_expect(strstr(r.metrics, "knlb_backend_bytes_total{service=\"web\",backend=\"10.0.0.11:8080\",address=\"10.0.0.11:8080\",direction=\"out\"} "),
		  "%s", r.metrics);
	cr_expect(strstr(reply, "\"traffic_counters\":true"), "%s", reply);
	cr_expect_null(strstr(r.status, "traffic counters: off"), "%s", r.status);
	new_flows = field(reply, "new_flows");
	pi = field(reply, "packets_in");
	bi = field(reply, "bytes_in");
	po = field(reply, "packets_out");
	bo = field(reply, "bytes_out");
	/* New flows are counted on the first packet only, before masquerade. */
	cr_expect_eq(new_flows, N_CONNS, "%s", reply);
	/* Every payload byte each way, plus at least an IP and a TCP header per packet. */
	cr_expect_geq(bi, N_CONNS * REQ_BYTES + pi * 40, "%s", reply);
	cr_expect_geq(bo, N_CONNS * RESP_BYTES + po * 40, "%s", reply);
	/* SYN, data, FIN at least; and no more than a few dozen per connection. */
	cr_expect_geq(pi, N_CONNS * 3, "%s", reply);
	cr_expect_geq(po, N_CONNS * 3, "%s", reply);
	cr_expect_leq(pi + po, N_CONNS * 40, "%s", reply);
	counted_free(&r);
}

/*
 * traffic_counters = no: new flows still counted exactly, packets and
 * bytes said to be unknown everywhere an operator reads them (null,
 * absent from the metrics, a status line), and none of the counting
 * chains every packet walks, the point of the option.
 */
Test(stats, without_traffic_counters_new_flows_are_counted_and_nothing_per_packet)
{
	struct counted r = run_connections("traffic_counters = no\\n");

	cr_expect_eq(field(r.stats, "new_flows"), N_CONNS, "%s", r.stats);
	cr_expect(strstr(r.stats, "\"traffic_counters\":false"), "%s", r.stats);
	cr_expect(strstr(r.stats, "\"packets_in\":null,\"bytes_in\":null,\"packets_out\":null,\"bytes_out\":null"),
		  "%s", r.stats);
	/* the rate of new flows is known, the traffic's is not */
	cr_expect(strstr(r.rate, "\"backends\":[{\"id\":\"10.0.0.11:8080\",\"address\":\"10.0.0.11:8080\",\"cps\":0,\"in_pps\":null,\"out_pps\":null,\"in_bps\":null,\"out_bps\":null,"),
		  "%s", r.rate);
	cr_expect(strstr(r.metrics, "knlb_backend_kernel_new_flows_total{service=\"web\",backend=\"10.0.0.11:8080\",address=\"10.0.0.11:8080\"} 7\n"),
		  "%s", r.metrics);
	cr_expect_null(strstr(r.metrics, "knlb_backend_bytes_total"), "%s", r.metrics);
	cr_expect_null(strstr(r.metrics, "knlb_backend_packets_total"), "%s", r.metrics);
	cr_expect(strstr(r.status, "traffic counters: off (traffic_counters = no)"), "%s", r.status);
	cr_expect(strstr(r.ruleset, "chain count_new {"), "%s", r.ruleset);
	cr_expect_null(strstr(r.ruleset, "chain count_forward"), "%s", r.ruleset);
	cr_expect_null(strstr(r.ruleset, "chain count_input"), "%s", r.ruleset);
	cr_expect_null(strstr(r.ruleset, "chain count_output"), "%s", r.ruleset);
	cr_expect_null(strstr(r.ruleset, "backend_in"), "%s", r.ruleset);
	counted_free(&r);
}

/*
 * Turning the counting off (or on) takes a restart, whose replace adds or
 * removes the chains; a reload says so and changes nothing.
 */
/* One service, no health check: the table is programmed at once. */
#define WEB_SVC "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = none\nbackend = 10.0.0.11:8080\n"

Test(stats, traffic_counters_change_with_a_restart_and_a_reload_refuses_it)
{
	static const char svc[] = WEB_SVC;
	char conf[512], *out, *before, *after;
	struct kt_knlbd r;
	int code;

	snprintf(conf, sizeof(conf), "[global]\ntraffic_counters = yes\n%s", svc);
	kt_knlbd_start(&r, "stats-on", conf);
	out = kt_nft_list("knlb");
	cr_expect(strstr(out, "chain count_forward {"), "%s", out);
	free(out);
	kt_knlbd_stop(&r);	/* the table stays: a restart follows */

	snprintf(conf, sizeof(conf), "[global]\ntraffic_counters = no\n%s", svc);
	kt_knlbd_start(&r, "stats-off", conf);
	before = kt_nft_list("knlb");
	cr_expect_null(strstr(before, "chain count_forward"), "%s", before);
	cr_expect_null(strstr(before, "backend_out"), "%s", before);
	cr_expect(strstr(before, "chain count_new {"), "%s", before);

	snprintf(conf, sizeof(conf), "[global]\ntraffic_counters = yes\n%s", svc);
	kt_knlbd_write_conf(&r, conf);
	out = kt_knlbctl(&r, "reload", &code);
	cr_expect_neq(code, 0, "%s", out);
	cr_expect(strstr(out, "traffic_counters changed") && strstr(out, "restart knlbd"),
		  "%s", out);
	free(out);
	after = kt_nft_list("knlb");
	cr_expect_str_eq(after, before, "a refused reload changed the table");
	free(before);
	free(after);
	kt_knlbd_stop(&r);
}

#define ACCT_SYSCTL "/proc/sys/net/netfilter/nf_conntrack_acct"

/* conntrack -L loads nf_conntrack, whose sysctl it is; then off. */
static void acct_off(void)
{
	cr_assert_eq(system("conntrack -L >/dev/null 2>&1; sysctl -qw net.netfilter.nf_conntrack_acct=0"), 0);
}

/*
 * The accounting sysctl at VALUE, then read-only for this test and the
 * knlbd it starts (a mount namespace of the test's own), as under a unit
 * with ProtectKernelTunables and no ReadWritePaths for net/netfilter.
 */
static void acct_read_only(char value)
{
	char cmd[128];

	acct_off();
	snprintf(cmd, sizeof(cmd), "sysctl -qw net.netfilter.nf_conntrack_acct=%c", value);
	cr_assert_eq(system(cmd), 0);
	if (unshare(CLONE_NEWNS) == -1)
		cr_skip_test("unshare(CLONE_NEWNS): %s", strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "%s", strerror(errno));
	cr_assert_eq(mount(ACCT_SYSCTL, ACCT_SYSCTL, NULL, MS_BIND, NULL), 0, "%s", strerror(errno));
	cr_assert_eq(mount(NULL, ACCT_SYSCTL, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0,
		     "%s", strerror(errno));
}

/* One service, [global] left to its defaults (traffic_counters = auto). */
static const char auto_conf[] = "[global]\n" WEB_SVC;

static char acct_now(void)
{
	char *v = kt_read_file(ACCT_SYSCTL), c;

	cr_assert_not_null(v);
	c = v[0];
	free(v);
	return c;
}

/*
 * The default, auto: knlbd turns conntrack's accounting on in its
 * namespace and programs no per-packet counting chain; a reload keeps
 * that source (auto again, or conntrack named), and refuses yes.
 */
Test(stats, auto_turns_the_accounting_on_and_a_reload_keeps_it)
{
	static const char svc[] = WEB_SVC;
	char conf[512], *out, *before, *after;
	struct kt_knlbd r;
	int code;

	acct_off();
	snprintf(conf, sizeof(conf), "[global]\n%s", svc);
	kt_knlbd_start(&r, "stats-auto", conf);
	cr_expect_eq(acct_now(), '1', "auto left nf_conntrack_acct off");
	cr_expect(kt_count_in_log(r.log, "traffic_counters = auto: turned on conntrack accounting") == 1,
		  "%s", kt_read_file(r.log));
	before = kt_nft_list("knlb");
	cr_expect_null(strstr(before, "chain count_forward"), "%s", before);
	cr_expect_null(strstr(before, "set backend_in"), "%s", before);
	cr_expect(strstr(before, "chain count_new {"), "%s", before);
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "traffic counters: conntrack's accounting (traffic_counters = auto)"),
		  "%s", out);
	free(out);
	out = kt_knlbctl(&r, "stats", &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "\"traffic_source\":\"conntrack\""), "%s", out);
	free(out);

	out = kt_knlbctl(&r, "reload", &code);
	cr_expect_eq(code, 0, "auto again: %s", out);
	free(out);
	snprintf(conf, sizeof(conf), "[global]\ntraffic_counters = conntrack\n%s", svc);
	kt_knlbd_write_conf(&r, conf);
	out = kt_knlbctl(&r, "reload", &code);
	cr_expect_eq(code, 0, "conntrack named: %s", out);
	free(out);
	snprintf(conf, sizeof(conf), "[global]\ntraffic_counters = yes\n%s", svc);
	kt_knlbd_write_conf(&r, conf);
	out = kt_knlbctl(&r, "reload", &code);
	cr_expect_neq(code, 0, "%s", out);
	cr_expect(strstr(out, "traffic_counters changed"), "%s", out);
	free(out);
	after = kt_nft_list("knlb");
	cr_expect_str_eq(after, before, "the reloads changed the table");
	free(before);
	free(after);
	kt_knlbd_stop(&r);
}

/*
 * auto where /proc/sys is read-only (a systemd unit with
 * ProtectKernelTunables and no ReadWritePaths for net/netfilter, a
 * container): knlbd starts, counting with the rules, and says why.
 */
Test(stats, auto_counts_with_the_rules_where_the_sysctl_is_read_only)
{
	struct kt_knlbd r;
	char *out;
	int code;

	acct_read_only('0');
	kt_knlbd_start(&r, "stats-auto-ro", auto_conf);
	cr_expect_eq(acct_now(), '0');
	cr_expect(kt_count_in_log(r.log, "traffic_counters = auto: cannot turn on conntrack accounting") == 1,
		  "%s", kt_read_file(r.log));
	out = kt_nft_list("knlb");
	cr_expect(strstr(out, "chain count_forward {"), "%s", out);
	free(out);
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "traffic counters: a rule per packet (traffic_counters = auto"), "%s", out);
	free(out);
	out = kt_knlbctl(&r, "reload", &code);
	cr_expect_eq(code, 0, "auto again keeps the rules: %s", out);
	free(out);
	kt_knlbd_stop(&r);
}

/*
 * The same read-only /proc/sys with the accounting on already (set at
 * boot, as the unit's docs say): conntrack's accounting, nothing written.
 */
Test(stats, auto_uses_the_accounting_a_read_only_sysctl_has_on)
{
	struct kt_knlbd r;
	char *out, *table;
	int code;

	acct_read_only('1');
	kt_knlbd_start(&r, "stats-auto-on", auto_conf);
	cr_expect(kt_count_in_log(r.log, "traffic_counters = auto: conntrack accounting was on already") == 1,
		  "%s", kt_read_file(r.log));
	table = kt_nft_list("knlb");
	cr_expect_null(strstr(table, "chain count_forward"), "%s", table);
	free(table);
	out = kt_knlbctl(&r, "status", &code);
	cr_expect(strstr(out, "traffic counters: conntrack's accounting (traffic_counters = auto)"), "%s", out);
	free(out);
	kt_knlbd_stop(&r);
}

/* SIGTERM, then the log (the directory removed). */
static char *stop_for_log(struct kt_knlbd *r)
{
	char cmd[128], *log;

	cr_expect_eq(kt_stop_knlbd(r->pid), 0, "knlbd exit:\n%s", kt_read_file(r->log));
	log = kt_read_file(r->log);
	cr_assert_not_null(log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	cr_expect_eq(system(cmd), 0);
	return log;
}

/*
 * --flush-on-exit leaves the host's accounting as knlbd found it: off
 * again when knlbd turned it on (as user nobody, after the privilege
 * drop, as under the unit), on when it was on already; a plain stop
 * leaves it on with the table, and says so.
 */
Test(stats, flush_on_exit_turns_off_only_the_accounting_knlbd_turned_on)
{
	static const char conf[] = "[global]\nuser = nobody\n" WEB_SVC;
	struct kt_knlbd r;
	char *log;

	acct_off();
	kt_knlbd_start_full(&r, "stats-acct-flush", conf, "", "--flush-on-exit");
	cr_expect_eq(acct_now(), '1', "auto left nf_conntrack_acct off");
	log = stop_for_log(&r);
	cr_expect_eq(acct_now(), '0', "--flush-on-exit left knlbd's accounting on:\n%s", log);
	cr_expect(strstr(log, "turned conntrack accounting back off (net.netfilter.nf_conntrack_acct = 0)"),
		  "%s", log);
	free(log);

	cr_assert_eq(system("sysctl -qw net.netfilter.nf_conntrack_acct=1"), 0);
	kt_knlbd_start_full(&r, "stats-acct-flush-on", conf, "", "--flush-on-exit");
	log = stop_for_log(&r);
	cr_expect_eq(acct_now(), '1', "--flush-on-exit turned the operator's accounting off:\n%s", log);
	cr_expect(strstr(log, "leaving conntrack accounting on (net.netfilter.nf_conntrack_acct = 1): it was on when knlbd started"),
		  "%s", log);
	free(log);

	acct_off();
	kt_knlbd_start_full(&r, "stats-acct-keep", conf, "", "");
	log = stop_for_log(&r);
	cr_expect_eq(acct_now(), '1', "a stop that keeps the table turned the accounting off");
	cr_expect(strstr(log, "keeps forwarding, with the conntrack accounting knlbd turned on (--flush-on-exit turns it back off)"),
		  "%s", log);
	free(log);
}

/*
 * table inet knlb made by an nft -i of the test's own, with the owner
 * flag: nobody else may change it while that nft runs, so knlbd's
 * programming fails.  The pid; *to_nft closed ends nft, and the table.
 */
static pid_t owned_table(int *to_nft)
{
	static const char add[] = "add table inet knlb { flags owner; }\n";
	int fds[2];
	pid_t pid;
	char *tables = NULL;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp("nft", "nft", "-i", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	cr_assert_eq(write(fds[1], add, sizeof(add) - 1), (ssize_t)(sizeof(add) - 1));
	for (int i = 0; i < 100; i++) {
		free(tables);
		tables = kt_run_ok("nft list tables");
		if (strstr(tables, "table inet knlb"))
			break;
		usleep(20000);
	}
	cr_assert(strstr(tables, "table inet knlb"), "nft -i made no table: %s", tables);
	free(tables);
	*to_nft = fds[1];
	return pid;
}

/*
 * A start that cannot program its table leaves nothing of itself: not
 * the accounting it turned on either.
 */
Test(stats, a_start_that_cannot_program_turns_the_accounting_back_off)
{
	char dir[] = "/tmp/knlb-kt-acct-fail-XXXXXX", conf[96], log[96], args[256], cmd[128];
	int to_nft, status;
	pid_t nft, pid;
	FILE *f;

	acct_off();
	nft = owned_table(&to_nft);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/knlb.conf", dir);
	snprintf(log, sizeof(log), "%s/knlbd.log", dir);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fputs(auto_conf, f);
	fclose(f);
	snprintf(args, sizeof(args), "-c %s -s %s/knlb.sock", conf, dir);
	pid = kt_start_knlbd(args, log);
	cr_expect(kt_wait_for_log(log, "programming table inet knlb failed", 10000),
		  "%s", kt_read_file(log));
	cr_expect_eq(kt_stop_knlbd(pid), 3, "%s", kt_read_file(log));
	cr_expect_eq(acct_now(), '0', "a failed start left its accounting on:\n%s", kt_read_file(log));
	cr_expect_eq(kt_count_in_log(log, "turned conntrack accounting back off"), 1,
		     "%s", kt_read_file(log));
	close(to_nft);
	cr_expect_eq(waitpid(nft, &status, 0), nft);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/*
 * The sums of conntrack -L -o extended's accounting: per line the first
 * packets=/bytes= are the original direction (client -> backend), the
 * second the reply.  Returns the number of entries.
 */
static int sum_entries(const char *listing, uint64_t *pi, uint64_t *bi,
		       uint64_t *po, uint64_t *bo)
{
	int n = 0;

	*pi = *bi = *po = *bo = 0;
	for (const char *line = listing; line && *line; n++) {
		const char *end = strchr(line, '\n'), *p = line;
		uint64_t *sums[4] = { pi, bi, po, bo };

		for (int i = 0; i < 4; i++) {
			p = strstr(p, i % 2 ? "bytes=" : "packets=");
			cr_assert(p && (!end || p < end), "no accounting in %s", line);
			p = strchr(p, '=') + 1;
			*sums[i] += strtoull(p, NULL, 10);
		}
		line = end ? end + 1 : NULL;
	}
	return n;
}

/*
 * traffic_counters = conntrack: the figures equal what the kernel's
 * entries carry, listed by conntrack -L before knlbd is asked.
 */
static void expect_conntrack_figures(const struct counted *r)
{
	uint64_t pi, bi, po, bo;

	cr_assert_eq(sum_entries(r->entries, &pi, &bi, &po, &bo), N_CONNS, "[%s]",
		     r->entries);
	/* knlbd's log and status too when a figure differs: events lost? */
	cr_expect_eq(field(r->stats, "packets_in"), pi, "%s\n%s\nknlbd's log:\n%s\nstatus:\n%s",
		     r->stats, r->entries, r->log, r->status);
	cr_expect(strstr(r->log, "turned on conntrack accounting"), "%s", r->log);
	cr_expect(strstr(r->stats, "\"traffic_counters\":true,\"traffic_source\":\"conntrack\""),
		  "%s", r->stats);
	cr_expect_eq(field(r->stats, "new_flows"), N_CONNS, "%s", r->stats);
	/* Every payload byte each way, as the rules count them (the first test). */
	cr_expect_geq(bi, N_CONNS * REQ_BYTES + pi * 40, "%s", r->entries);
	cr_expect_geq(bo, N_CONNS * RESP_BYTES + po * 40, "%s", r->entries);
	cr_expect_eq(field(r->stats, "bytes_in"), bi, "%s\n%s", r->stats, r->entries);
	cr_expect_eq(field(r->stats, "packets_out"), po, "%s\n%s", r->stats, r->entries);
	cr_expect_eq(field(r->stats, "bytes_out"), bo, "%s\n%s", r->stats, r->entries);
	cr_expect(strstr(r->metrics, "knlb_backend_bytes_total{service=\"web\",backend=\"10.0.0.11:8080\",address=\"10.0.0.11:8080\",direction=\"out\"} "),
		  "%s", r->metrics);
	cr_expect(strstr(r->status, "traffic counters: conntrack's accounting (traffic_counters = conntrack)"),
		  "%s", r->status);
	/* No chain that every packet walks: the point of the setting. */
	cr_expect(strstr(r->ruleset, "chain count_new {"), "%s", r->ruleset);
	cr_expect_null(strstr(r->ruleset, "chain count_forward"), "%s", r->ruleset);
	cr_expect_null(strstr(r->ruleset, "backend_in"), "%s", r->ruleset);
}

/* Summed from the live entries: the connections sit in TIME_WAIT. */
Test(stats, conntrack_accounting_counts_the_live_flows)
{
	struct counted r = run_connections_then("traffic_counters = conntrack\\n", LIVE);

	expect_conntrack_figures(&r);
	counted_free(&r);
}

/*
 * No event at all: the figures of the entries a pass read before they
 * were deleted, kept when the next pass no longer sees them.
 */
Test(stats, conntrack_accounting_counts_flows_no_event_follows)
{
	struct counted r = run_connections_then("traffic_counters = conntrack\\n",
						PERIODIC_DELETED);

	expect_conntrack_figures(&r);
	counted_free(&r);
}

/* Summed from the DESTROY events of the entries deleted before the read. */
Test(stats, conntrack_accounting_counts_the_ended_flows)
{
	struct counted r = run_connections_then("traffic_counters = conntrack\\n", DELETED);

	expect_conntrack_figures(&r);
	counted_free(&r);
}
