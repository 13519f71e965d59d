/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Adopting the running table, each test in a throwaway netns: the
 * read-back returns what was programmed; knlbd killed with SIGKILL and
 * started again leaves every slot where it was, keeps a dead backend out
 * of the map and keeps the marks that reloads gave, so old flows are
 * still counted as their service's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/nft/readback.h"
#include "knlb/config/config.h"
#include "knlb/nft/nfnl.h"
#include "knlb/pool/pool.h"
#include "knlb/pool/adopt_plan.h"
#include "knlb/nft/sync.h"
#include "kt.h"
#include "../common/loopback.h"

TestSuite(adopt, .init = kt_enter_netns, .timeout = 90);

static void sh(const char *cmd)
{
	int status;
	char *out = kt_run(cmd, &status);

	cr_assert_eq(status, 0, "%s:\n%s", cmd, out);
	free(out);
}

static struct adopt_table *read_back(const char *table)
{
	struct adopt_table *t;
	char err[512];
	int ret = adopt_read(table, &t, err, sizeof(err));

	cr_assert_eq(ret, 0, "adopt_read: %d %s", ret, err);
	cr_assert_not_null(t);
	return t;
}

/* The read-back holds exactly svc's slot counts and mark. */
static void expect_service(const struct adopt_table *t,
			   const struct knlb_service *svc)
{
	const struct adopt_service *as = adopt_find(t, svc->cfg->name);
	uint32_t *counts = calloc(svc->n_backends, sizeof(*counts));
	size_t mapped = 0;

	cr_assert_not_null(counts);
	cr_assert_not_null(as, "service %s not read back", svc->cfg->name);
	cr_expect(as->has_map && as->has_chain && as->has_mark, "%s", svc->cfg->name);
	cr_expect_eq(as->mark, svc->ct_mark, "%s: mark 0x%x", svc->cfg->name, as->mark);
	cr_expect_eq(as->mark_mask, svc->ct_mark_mask, "%s", svc->cfg->name);
	cr_expect_eq(as->n_elements, svc->cfg->table_size, "%s", svc->cfg->name);
	pool_count_slots(svc, counts);
	for (size_t b = 0; b < svc->n_backends; b++) {
		const struct knlb_backend_config *be = svc->backends[b].cfg;

		cr_expect_eq(adopt_slots_of(as, &be->addr, be->port), counts[b],
			     "%s/%s: %u read back, %u programmed", svc->cfg->name, be->id,
			     adopt_slots_of(as, &be->addr, be->port), counts[b]);
		mapped += counts[b] > 0;
	}
	cr_expect_eq(as->n_mapped, mapped, "%s: values that are no backend",
		     svc->cfg->name);
	free(counts);
}

Test(adopt, read_back_returns_the_mapped_backends_and_marks)
{
	struct knlb_config *config;
	struct knlb_model *pool;
	struct adopt_table *t;

	kt_load("conf/knlb.conf", &config, &pool);
	/* web's b2 out of the map, and marks as reloads may leave them */
	pool_set_health(&pool->services[0], 1, false, 0);
	cr_assert_eq(pool_compute_slots(&pool->services[0]), 0);
	pool->services[0].ct_mark = 3;
	pool->services[2].ct_mark = 1;
	kt_replace(pool);

	t = read_back("knlb");
	cr_expect(t->exists);
	cr_expect_eq(t->n_services, 3);
	for (size_t s = 0; s < pool->n_services; s++)
		expect_service(t, &pool->services[s]);
	cr_expect_eq(adopt_slots_of(adopt_find(t, "web"),
				    &pool->services[0].backends[1].cfg->addr, 8080), 0);
	adopt_table_free(t);
	pool_free(pool);
	config_free(config);
}

/* A config from a string, through a temporary file. */
static void load_text(const char *text, struct knlb_config **config,
		      struct knlb_model **pool)
{
	char path[] = "/tmp/knlb-kt-adopt-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(config_load(path, config, stderr), 0);
	unlink(path);
	cr_assert_eq(pool_create(*config, pool), 0);
}

#define CHECKED "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n" \
	"check = tcp\nbackend = 10.0.0.11:8080\nbackend = 10.0.0.12:8080 weight=2\n" \
	"backend = 10.0.0.13:8080\n[service api]\nvip = 192.0.2.10\nport = 443\n" \
	"scheduler = wrr\ntable_size = 61\ncheck = tcp\n" \
	"backend = 10.0.0.21:8443\nbackend = 10.0.0.22:8443\n"

/* What the kernel holds, adopted by a fresh pool, gives the same tables. */
Test(adopt, adopting_the_read_back_recomputes_the_programmed_tables)
{
	struct knlb_config *config, *config2;
	struct knlb_model *pool, *fresh;
	struct pool_adopt_result res;
	struct adopt_table *t;

	load_text(CHECKED, &config, &pool);
	pool_set_health(&pool->services[0], 1, false, 0);
	pool_set_health(&pool->services[1], 0, false, 0);
	for (size_t s = 0; s < pool->n_services; s++)
		cr_assert_eq(pool_compute_slots(&pool->services[s]), 0);
	pool->services[0].ct_mark = 2;
	pool->services[1].ct_mark = 1;
	kt_replace(pool);
	t = read_back("knlb");

	load_text(CHECKED, &config2, &fresh);
	cr_assert_eq(pool_adopt(fresh, t, &res), 0);
	cr_expect(res.table);
	cr_expect(!res.marks_reset, "%s", res.why);
	cr_expect(!fresh->services[0].backends[1].up);
	cr_expect(!fresh->services[1].backends[0].up);
	for (size_t s = 0; s < pool->n_services; s++) {
		cr_expect_eq(fresh->services[s].ct_mark, pool->services[s].ct_mark);
		cr_expect_arr_eq(fresh->services[s].slots, pool->services[s].slots,
				 pool->services[s].cfg->table_size * sizeof(uint32_t),
				 "service %s", pool->services[s].cfg->name);
	}
	adopt_table_free(t);
	pool_free(fresh);
	config_free(config2);
	pool_free(pool);
	config_free(config);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define RUNS 5

/*
 * The largest table: M = 65537 over N = 1000 backends, 10 of them out of
 * the map.  The read-back is exact, and its cost is put next to the
 * replace transaction that follows it at start (medians of RUNS, same
 * run, printed with --verbose).
 */
Test(adopt, read_back_of_65537_slots)
{
	double read_ms[RUNS], replace_ms[RUNS], t0, adopt_ms;
	unsigned int reads[RUNS], settled_reads = 0;
	double settled_ms[RUNS];
	struct knlb_config *config, *config2;
	struct knlb_model *pool, *fresh;
	struct pool_adopt_result res;
	struct nfnl_sock *sock;
	struct sync_result sr;
	struct adopt_table *t = NULL;
	char *text, err[512];
	size_t len;
	FILE *f = open_memstream(&text, &len);

	fprintf(f, "[service big]\nvip = 192.0.2.99\nport = 80\ntable_size = 65537\ncheck = tcp\n");
	for (unsigned i = 0; i < 1000; i++)
		fprintf(f, "backend = 10.%u.%u.%u:8080 weight=%u\n",
			(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 1 + i % 4);
	fclose(f);
	load_text(text, &config, &pool);
	for (size_t b = 0; b < 1000; b += 100)
		pool_set_health(&pool->services[0], b, false, 0);
	cr_assert_eq(pool_compute_slots(&pool->services[0]), 0);
	cr_assert_eq(nfnl_sock_open(&sock), 0);
	for (int i = 0; i < RUNS; i++) {
		cr_assert_eq(sync_replace(sock, pool, &sr, err, sizeof(err)), 0, "%s", err);
		replace_ms[i] = sr.elapsed_ms;
		adopt_table_free(t);
		t0 = now_ms();
		t = read_back("knlb");
		read_ms[i] = now_ms() - t0;
		reads[i] = t->reads;
	}
	expect_service(t, &pool->services[0]);
	cr_expect_eq(t->services[0].n_mapped, 990);
	/* a table that has settled, as at a real restart */
	usleep(500000);
	for (int i = 0; i < RUNS; i++) {
		adopt_table_free(t);
		t0 = now_ms();
		t = read_back("knlb");
		settled_ms[i] = now_ms() - t0;
		settled_reads += t->reads;
	}
	expect_service(t, &pool->services[0]);

	load_text(text, &config2, &fresh);
	t0 = now_ms();
	cr_assert_eq(pool_adopt(fresh, t, &res), 0);
	adopt_ms = now_ms() - t0;
	cr_expect_arr_eq(fresh->services[0].slots, pool->services[0].slots,
			 65537 * sizeof(uint32_t));
	qsort(read_ms, RUNS, sizeof(double), cmp_double);
	qsort(replace_ms, RUNS, sizeof(double), cmp_double);
	qsort(settled_ms, RUNS, sizeof(double), cmp_double);
	cr_log_info("M=65537 N=1000: read-back right after the replace %.1f ms, replace %.1f ms (medians of %d: ratio %.2f); pool_adopt %.1f ms; reads per read-back: %u %u %u %u %u",
		    read_ms[RUNS / 2], replace_ms[RUNS / 2], RUNS,
		    read_ms[RUNS / 2] / replace_ms[RUNS / 2], adopt_ms,
		    reads[0], reads[1], reads[2], reads[3], reads[4]);
	cr_log_info("M=65537 N=1000: read-back of the settled table %.1f ms (median of %d, %u reads in all): ratio %.2f to the replace",
		    settled_ms[RUNS / 2], RUNS, settled_reads,
		    settled_ms[RUNS / 2] / replace_ms[RUNS / 2]);
	adopt_table_free(t);
	nfnl_sock_close(sock);
	free(text);
	pool_free(fresh);
	config_free(config2);
	pool_free(pool);
	config_free(config);
}

Test(adopt, read_back_of_marks_under_a_mask)
{
	struct knlb_config *config;
	struct knlb_model *pool;
	struct adopt_table *t;

	kt_load("conf/mark-mask-mid.conf", &config, &pool);
	kt_replace(pool);
	t = read_back(config->global.table);
	cr_expect(t->exists);
	for (size_t s = 0; s < pool->n_services; s++)
		expect_service(t, &pool->services[s]);
	cr_expect_eq(t->services[0].mark_mask, 0x0000ff00);
	adopt_table_free(t);
	pool_free(pool);
	config_free(config);
}

Test(adopt, no_table_is_nothing_to_adopt_and_others_are_not_read)
{
	struct adopt_table *t;

	t = read_back("knlb");
	cr_expect(!t->exists);
	cr_expect_eq(t->n_services, 0);
	adopt_table_free(t);
	/* a same-named table of another family, and another inet table */
	sh("nft add table ip knlb && "
	   "nft add map ip knlb web_slots '{ type mark : ipv4_addr . inet_service; }' && "
	   "nft add table inet other && "
	   "nft add map inet other web_slots '{ type mark : ipv4_addr . inet_service; }'");
	t = read_back("knlb");
	cr_expect(!t->exists, "read a table of family ip");
	adopt_table_free(t);
	sh("nft add table inet knlb");
	t = read_back("knlb");
	cr_expect(t->exists);
	cr_expect_eq(t->n_services, 0, "read another table's map");
	adopt_table_free(t);
}

/* --- knlbd killed and started again --- */

struct run {
	char dir[64];
	char conf[96], sock[96], log[96];
	pid_t pid;
	int restarts;
};

/*
 * The run of the test in progress: a failed assertion leaves the test
 * at once, and .fini still stops its knlbd (by pid) and removes its files.
 */
static struct run *current;

static void cleanup(void)
{
	char cmd[128];
	int status;

	if (!current)
		return;
	if (current->pid > 0 && kill(current->pid, SIGKILL) == 0)
		waitpid(current->pid, &status, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", current->dir);
	free(kt_run(cmd, &status));
	current = NULL;
}

static bool log_has(const struct run *r, const char *needle)
{
	char *log = kt_read_file(r->log);
	bool found = log && strstr(log, needle);

	free(log);
	return found;
}

static void write_conf(const struct run *r, const char *text)
{
	char tmp[128];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", r->conf);
	f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(rename(tmp, r->conf), 0);
}

/* knlbd on r->conf, a fresh control socket and log each time. */
static void launch(struct run *r)
{
	char args[512];

	snprintf(r->sock, sizeof(r->sock), "%s/knlb%d.sock", r->dir, r->restarts);
	snprintf(r->log, sizeof(r->log), "%s/knlbd%d.log", r->dir, r->restarts);
	r->restarts++;
	snprintf(args, sizeof(args), "-c %s -s %s", r->conf, r->sock);
	r->pid = kt_start_knlbd(args, r->log);
}

static void wait_started(struct run *r)
{
	/* the socket is bound before the table is programmed: wait for the table */
	cr_assert(kt_wait_for_log(r->log, "programmed table", 10000),
		  "knlbd did not start:\n%s", kt_read_file(r->log));
}

static void start(struct run *r)
{
	launch(r);
	wait_started(r);
}

static void setup(struct run *r, const char *conf)
{
	snprintf(r->dir, sizeof(r->dir), "/tmp/knlb-kt-adopt-XXXXXX");
	cr_assert_not_null(mkdtemp(r->dir));
	r->pid = 0;
	current = r;
	snprintf(r->conf, sizeof(r->conf), "%s/knlb.conf", r->dir);
	r->restarts = 0;
	write_conf(r, conf);
	start(r);
}

/* The crash: no SIGTERM handler runs, the kernel keeps the table. */
static void kill9(struct run *r)
{
	int status;

	cr_assert_eq(kill(r->pid, SIGKILL), 0);
	cr_assert_eq(waitpid(r->pid, &status, 0), r->pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	r->pid = 0;
}

static void teardown(struct run *r)
{
	char cmd[128];
	int status;

	cr_expect_eq(kt_stop_knlbd(r->pid), 0, "knlbd exit:\n%s", kt_read_file(r->log));
	r->pid = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	free(kt_run(cmd, &status));
	current = NULL;
}

/*
 * What web forwards with: 1021 slots for 3 backends is the fallback shape
 * (pool/fallback.h), so its slot map, chain fb_web (a jump per backend
 * out of service) and the three fallback maps.
 */
static char *list_web(void)
{
	int status;
	char *out = kt_run("nft list map inet knlb web_slots && nft list chain inet knlb fb_web && "
			   "nft list map inet knlb web_fb0 && nft list map inet knlb web_fb1 && "
			   "nft list map inet knlb web_fb2 2>&1", &status);

	cr_assert_eq(status, 0, "%s", out);
	return kt_normalize_free(out);
}

static int listen_on(const char *addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(fd, 4096), 0);
	return fd;
}

/* One TCP connection to the VIP (through knlb's output chain): 0 or -errno. */
static int connect_vip(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ret = 0;

	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		ret = -errno;
	close(fd);
	return ret;
}

#define HEAD "[global]\nlog_level = debug\n"
#define WEB_CHECKED "[service web]\nvip = 192.0.2.10\nport = 80\ntable_size = 1021\n" \
	"check = tcp\ninterval = 500ms\ntimeout = 200ms\nrise = 2\nfall = 2\n" \
	"backend = 10.0.0.11:8080 id=b1\nbackend = 10.0.0.12:8080 id=b2\n" \
	"backend = 10.0.0.13:8080 id=b3\n"

/*
 * b3 has no listener: the first knlbd takes it out of the map.  Killed
 * and started again, knlbd maps exactly what the kernel had (no element
 * differs right after the start), b3 stays out, b1 and b2 do not flap,
 * and connections to the VIP made from the kill to well after the start
 * all succeed.
 */
Test(adopt, restart_after_kill9_moves_no_slot_and_keeps_a_dead_backend_out, .fini = cleanup)
{
	char *before, *after, *log, *first = NULL;
	int l1, l2, failed = 0, tried = 0, err, last_err = 0, last_at = -1;
	uint32_t gen;
	/* static: .fini reads it after a failed assertion left this frame */
	static struct run r;

	sh("ip link set lo up && ip addr add 10.0.0.11/32 dev lo && "
	   "ip addr add 10.0.0.12/32 dev lo && ip addr add 10.0.0.13/32 dev lo && "
	   "ip addr add 192.0.2.10/32 dev lo");
	l1 = listen_on("10.0.0.11", 8080);
	l2 = listen_on("10.0.0.12", 8080);
	setup(&r, HEAD WEB_CHECKED);
	cr_assert(kt_wait_for_log(r.log, "web/b3 DOWN", 5000), "%s", kt_read_file(r.log));
	/* the delta is in once the loop sleeps: b3's slots read its fallback map */
	before = list_web();
	for (int i = 0; i < 100 && !strstr(before, "jump fb2_web"); i++) {
		free(before);
		usleep(20000);
		before = list_web();
	}
	cr_assert(strstr(before, "jump fb2_web"), "b3 still forwarded to:\n%s", before);
	cr_assert(!strstr(before, "jump fb0_web") && !strstr(before, "jump fb1_web"),
		  "%s", before);
	/* and the serving backends' fallbacks refreshed (20 ms after) */
	usleep(100000);
	free(before);
	before = list_web();

	kill9(&r);
	for (int i = 0; i < 50; i++, tried++)
		if ((err = connect_vip()) < 0) {
			failed++;
			last_err = -err;
			last_at = tried;
		}
	/*
	 * Connections from the start on, through the first probe rounds: a
	 * b3 put back into the map would refuse about a third of them.
	 */
	gen = kt_nft_genid();
	launch(&r);
	for (int i = 0; i < 400; i++, tried++) {
		if ((err = connect_vip()) < 0) {
			failed++;
			last_err = -err;
			last_at = tried;
		}
		/* the map as the replace left it, before any probe */
		if (!first && log_has(&r, "programmed table"))
			first = list_web();
		usleep(2000);
	}
	wait_started(&r);
	cr_assert_not_null(first, "%s", kt_read_file(r.log));
	cr_expect_str_eq(first, before, "the restart changed the map");
	/* the replace, the refresh that fills the serving backends'
	 * fallback maps (a replace leaves them empty: nft/sync.h), and the
	 * tcp probes' own table (nft/probe_events.h) */
	cr_expect_leq(kt_nft_genid(), gen + 3,
		      "more than the replace, the fallback maps' refresh and the probes' table since the restart");
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "service web: adopted from the running table: mark 0x00000001, 2 of 3 backends mapped; b3 starts down until its probes pass"),
		  "%s", log);
	free(log);
	after = list_web();
	cr_expect_str_eq(after, before, "the map changed after the restart");
	log = kt_read_file(r.log);
	cr_expect(!strstr(log, "web/b1 DOWN") && !strstr(log, "web/b2 DOWN") &&
		  !strstr(log, "web/b3 UP"), "a backend flapped:\n%s", log);
	cr_expect_eq(failed, 0, "%d of %d connections to the VIP failed (the last, number %d of them: %s)\n%s",
		     failed, tried, last_at, strerror(last_err), kt_read_file(r.log));
	free(log);
	free(before);
	free(first);
	free(after);
	close(l1);
	close(l2);
	teardown(&r);
}

#define SVC(name, n) "[service " name "]\nvip = 192.0.2." #n "\nport = 80\n" \
	"backend = 10.0.0." #n ":8080\n"

static bool listed_with(const char *chain, const char *needle)
{
	char cmd[128];
	int status;
	char *out;
	bool found;

	snprintf(cmd, sizeof(cmd), "nft list chain inet knlb %s 2>&1", chain);
	out = kt_run(cmd, &status);
	found = status == 0 && strstr(out, needle);
	if (!found)
		cr_log_error("no '%s' in:\n%s", needle, out);
	free(out);
	return found;
}

/*
 * Reloads hand out marks that are not config order (d takes b's); a
 * restart after SIGKILL keeps them, so a flow marked before the restart
 * is still counted as its service's.
 */
Test(adopt, restart_keeps_the_marks_reloads_gave, .fini = cleanup)
{
	char *reply, *log;
	/* static: .fini reads it after a failed assertion left this frame */
	static struct run r;

	setup(&r, HEAD SVC("a", 1) SVC("b", 2) SVC("c", 3));
	write_conf(&r, HEAD SVC("a", 1) SVC("c", 3) SVC("d", 4));
	reply = kt_ctl(r.sock, "reload");
	cr_assert(reply && strncmp(reply, "OK\n", 3) == 0, "%s", reply);
	free(reply);
	cr_assert(listed_with("svc_d", "ct mark set 0x00000002"));
	cr_assert(listed_with("svc_c", "ct mark set 0x00000003"));

	kill9(&r);
	/* d's flow, marked by the running rule while nobody watched */
	sh("conntrack -I -p tcp -s 10.9.0.1 -d 192.0.2.4 --sport 40000 --dport 80"
	   " --state ESTABLISHED -t 120 -u SEEN_REPLY -m 2 --reply-src 10.0.0.4"
	   " --reply-dst 10.9.0.1 --reply-port-src 8080 --reply-port-dst 40000 2>&1");
	start(&r);		/* same file: a, c, d */
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "service d: adopted from the running table: mark 0x00000002, 1 of 1 backends mapped"),
		  "%s", log);
	cr_expect(strstr(log, "service c: adopted from the running table: mark 0x00000003"), "%s", log);
	cr_expect(!strstr(log, "not adopted"), "%s", log);
	free(log);
	cr_expect(listed_with("svc_a", "ct mark set 0x00000001"));
	cr_expect(listed_with("svc_c", "ct mark set 0x00000003"));
	cr_expect(listed_with("svc_d", "ct mark set 0x00000002"));
	reply = kt_ctl(r.sock, "status d");
	cr_assert_not_null(reply);
	cr_expect(strstr(reply, "ct mark 0x00000002"), "%s", reply);
	cr_expect(strstr(reply, "active flows 1\n"), "the old flow is not counted as d's:\n%s", reply);
	free(reply);
	teardown(&r);
}

/* A table whose marks cannot be kept: config order, and the operator is told. */
Test(adopt, inconsistent_marks_fall_back_with_a_warning, .fini = cleanup)
{
	char *log;
	/* static: .fini reads it after a failed assertion left this frame */
	static struct run r;

	setup(&r, HEAD SVC("a", 1) SVC("b", 2));
	kill9(&r);
	/* someone rewrote b's rule to a's mark */
	sh("nft flush chain inet knlb svc_b && "
	   "nft add rule inet knlb svc_b ct mark set 0x00000001");
	start(&r);
	log = kt_read_file(r.log);
	cr_expect(strstr(log, "ct marks not adopted: services a and b both set ct mark 0x00000001; marks follow config order"),
		  "%s", log);
	free(log);
	cr_expect(listed_with("svc_b", "ct mark set 0x00000002"));
	teardown(&r);
}
