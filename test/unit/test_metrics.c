/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus exposition: exact sample lines for a pool fed by hand (health
 * results, synthetic flows, admin state), label escaping, and a checker
 * for the text format itself (one HELP and one TYPE per family, samples
 * grouped under their family, label and value syntax, no duplicate
 * series).  Then the HTTP side, driven by a forked client while the loop
 * runs: status codes, headers, body, and that idle connections neither
 * block a scrape nor exceed the connection limit.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/lib/addr.h"
#include "knlb/ct/flowtab.h"
#include "knlb/health/health.h"
#include "knlb/lib/loop.h"
#include "knlb/daemon/metrics.h"
#include "knlb/pool/pool.h"
#include "knlb/lib/version.h"

#include "config-test.h"

/* ---- the format checker ----------------------------------------------- */

/*
 * Returns the first rule broken, or NULL: no cr_assert inside, so the
 * checker can be tested on broken input too.
 */
static bool name_ok(const char *s, size_t n, bool colon)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' ||
			(colon && s[0] == ':')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' ||
		      (colon && s[i] == ':')))
			return false;
	return true;
}

struct family_seen {
	char name[128];
	char type[16];
	int help, typ;
	bool samples_done;	/* another family's lines came after ours */
};

struct checker {
	struct family_seen fams[128];
	size_t n;
	size_t current;		/* family whose lines come now */
	bool any;
	char **series;		/* name{labels} of every sample */
	size_t n_series, series_cap;
	char err[512];
};

#define CHECK(c, cond, ...) do {					\
		if (!(cond)) {						\
			snprintf((c)->err, sizeof((c)->err), __VA_ARGS__); \
			return -1;					\
		}							\
	} while (0)

static struct family_seen *fam_get(struct checker *c, const char *name,
				   size_t len)
{
	for (size_t i = 0; i < c->n; i++)
		if (strlen(c->fams[i].name) == len &&
		    strncmp(c->fams[i].name, name, len) == 0)
			return &c->fams[i];
	if (c->n == 128 || len >= sizeof(c->fams[0].name))
		return NULL;
	memset(&c->fams[c->n], 0, sizeof(c->fams[0]));
	memcpy(c->fams[c->n].name, name, len);
	return &c->fams[c->n++];
}

/* Lines of one family come together: leaving it closes it. */
static int enter_family(struct checker *c, struct family_seen *f,
			const char *line)
{
	CHECK(c, f, "too many families: %s", line);
	if (c->any && &c->fams[c->current] != f)
		c->fams[c->current].samples_done = true;
	CHECK(c, !f->samples_done, "family %s split: %s", f->name, line);
	c->current = (size_t)(f - c->fams);
	c->any = true;
	return 0;
}

static int check_sample(struct checker *c, const char *line)
{
	const char *p = line, *end;
	struct family_seen *f;
	size_t nlen;
	char *series;

	while (*p && *p != '{' && *p != ' ')
		p++;
	nlen = (size_t)(p - line);
	CHECK(c, name_ok(line, nlen, true), "bad metric name: %s", line);
	if (*p == '{') {
		p++;
		while (*p != '}') {
			const char *ln = p;

			while (*p && *p != '=')
				p++;
			CHECK(c, name_ok(ln, (size_t)(p - ln), false),
			      "bad label name: %s", line);
			CHECK(c, strncmp(p, "=\"", 2) == 0, "label without =\": %s", line);
			p += 2;
			while (*p != '"') {
				CHECK(c, *p, "unterminated label value: %s", line);
				if (*p == '\\') {
					p++;
					CHECK(c, *p == '\\' || *p == '"' || *p == 'n',
					      "bad escape: %s", line);
				}
				p++;
			}
			p++;
			if (*p == ',')
				p++;
			else
				CHECK(c, *p == '}', "junk after a label: %s", line);
		}
		p++;
	}
	CHECK(c, *p == ' ', "no blank before the value: %s", line);
	p++;
	errno = 0;
	strtod(p, (char **)&end);
	CHECK(c, end != p && *end == '\0' && errno == 0, "bad value: %s", line);

	f = fam_get(c, line, nlen);
	if (enter_family(c, f, line) < 0)
		return -1;
	CHECK(c, f->help == 1, "sample before its HELP: %s", line);
	CHECK(c, f->typ == 1, "sample before its TYPE: %s", line);
	if (strcmp(f->type, "counter") == 0)
		CHECK(c, nlen > 6 && strncmp(line + nlen - 6, "_total", 6) == 0,
		      "counter without _total: %s", line);

	if (c->n_series == c->series_cap) {
		c->series_cap = c->series_cap ? 2 * c->series_cap : 256;
		c->series = realloc(c->series, c->series_cap * sizeof(*c->series));
		CHECK(c, c->series, "out of memory");
	}
	series = strndup(line, (size_t)(strrchr(line, ' ') - line));
	CHECK(c, series, "out of memory");
	c->series[c->n_series++] = series;
	return 0;
}

static int check_comment(struct checker *c, const char *line)
{
	static const char *const types[] = { "counter", "gauge", "histogram",
					     "summary", "untyped", NULL };
	bool help = strncmp(line, "# HELP ", 7) == 0;
	const char *name = line + 7, *sp;
	struct family_seen *f;
	bool known = false;

	CHECK(c, help || strncmp(line, "# TYPE ", 7) == 0,
	      "comment other than HELP/TYPE: %s", line);
	sp = strchr(name, ' ');
	CHECK(c, sp && sp[1], "HELP/TYPE without text: %s", line);
	CHECK(c, name_ok(name, (size_t)(sp - name), true), "bad name: %s", line);
	f = fam_get(c, name, (size_t)(sp - name));
	if (enter_family(c, f, line) < 0)
		return -1;
	if (help) {
		CHECK(c, f->help == 0, "second HELP: %s", line);
		f->help = 1;
		/* HELP text escapes only \\ and \n. */
		for (const char *s = sp + 1; *s; s++)
			if (*s == '\\') {
				CHECK(c, s[1] == '\\' || s[1] == 'n', "bad escape: %s", line);
				s++;
			}
		return 0;
	}
	CHECK(c, f->typ == 0, "second TYPE: %s", line);
	f->typ = 1;
	for (size_t i = 0; types[i]; i++)
		known |= strcmp(sp + 1, types[i]) == 0;
	CHECK(c, known, "unknown type: %s", line);
	snprintf(f->type, sizeof(f->type), "%s", sp + 1);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_all(struct checker *c, const char *text)
{
	CHECK(c, *text, "empty exposition");
	CHECK(c, text[strlen(text) - 1] == '\n', "no final newline");
	for (const char *s = text; *s;) {
		const char *nl = strchr(s, '\n');
		char *line = strndup(s, (size_t)(nl - s));
		int ret;

		if (!*line) {
			free(line);
			CHECK(c, false, "empty line");
		}
		ret = line[0] == '#' ? check_comment(c, line) : check_sample(c, line);
		free(line);
		if (ret < 0)
			return -1;
		s = nl + 1;
	}
	for (size_t i = 0; i < c->n; i++) {
		CHECK(c, c->fams[i].help == 1, "%s: no HELP", c->fams[i].name);
		CHECK(c, c->fams[i].typ == 1, "%s: no TYPE", c->fams[i].name);
	}
	/* Sorted, a duplicate series sits next to its twin. */
	qsort(c->series, c->n_series, sizeof(*c->series), cmp_str);
	for (size_t i = 1; i < c->n_series; i++)
		CHECK(c, strcmp(c->series[i - 1], c->series[i]) != 0,
		      "duplicate series: %s", c->series[i]);
	return 0;
}

/* NULL when text is valid exposition format 0.0.4 (malloc'd otherwise). */
static char *exposition_error(const char *text, size_t *families)
{
	struct checker *c = calloc(1, sizeof(*c));
	char *err = NULL;

	cr_assert_not_null(c);
	if (check_all(c, text) < 0)
		err = strdup(c->err);
	if (families)
		*families = c->n;
	for (size_t i = 0; i < c->n_series; i++)
		free(c->series[i]);
	free(c->series);
	free(c);
	return err;
}

/* Asserts validity; returns the number of families. */
static size_t check_exposition(const char *text)
{
	size_t n = 0;
	char *err = exposition_error(text, &n);

	cr_assert_null(err, "%s\nin:\n%s", err, text);
	return n;
}

static void expect_rejected(const char *text, const char *why)
{
	char *err = exposition_error(text, NULL);

	cr_expect(err && strstr(err, why), "want \"%s\" for:\n%s\ngot: %s",
		  why, text, err ? err : "accepted");
	free(err);
}

#define HT(n, t) "# HELP " n " x\n# TYPE " n " " t "\n"

Test(metrics, checker_catches_broken_exposition)
{
	cr_expect_eq(check_exposition(HT("a_total", "counter") "a_total{l=\"v\"} 1\n"
				      HT("b", "gauge") "b 0.5\n"), 2);
	expect_rejected("a 1\n", "sample before its HELP");
	expect_rejected(HT("a", "gauge") "# HELP a y\na 1\n", "second HELP");
	expect_rejected(HT("a", "gauge") "# TYPE a gauge\na 1\n", "second TYPE");
	expect_rejected(HT("a", "counter") "a 1\n", "counter without _total");
	expect_rejected(HT("a", "gauge") "a{l=\"\\q\"} 1\n", "bad escape");
	expect_rejected(HT("a", "gauge") "a{l=\"v} 1\n", "unterminated");
	expect_rejected(HT("a", "gauge") "a one\n", "bad value");
	expect_rejected(HT("a", "gauge") "a 1\na 2\n", "duplicate series");
	expect_rejected(HT("a", "gauge") HT("b", "gauge") "a 1\nb 1\na{x=\"y\"} 1\n",
			"family a split");
	expect_rejected(HT("a", "gauge") "a 1", "no final newline");
	expect_rejected(HT("a", "gaug") "a 1\n", "unknown type");
	expect_rejected("# HELP a x\na 1\n", "sample before its TYPE");
}

/* ---- a pool fed by hand ------------------------------------------------ */

#define CONF								\
	"[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\n"	\
	"rise = 1\nfall = 1\ntable_size = 101\n"			\
	"backend = 10.0.0.11:8080 weight=3\n"				\
	"backend = 10.0.0.12:8080 id=b2\n"				\
	"backend = 10.0.0.13:8080 backup\n"				\
	"[service dns]\nvip = 192.0.2.53\nport = 53\nproto = udp\n"	\
	"scheduler = wrr\ntable_size = 7\n"				\
	"backend = 10.0.0.21:53 id=ns1\n"

struct rig {
	struct result r;
	struct knlb_pool *pool;
	struct loop *loop;
	struct health *health;
	struct flowtab *flows;
	struct daemon_counters daemon;
	struct metrics_sources src;
};

static struct flow mkflow(uint32_t id, uint32_t mark, const char *backend,
			  uint16_t port, uint8_t proto)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.id = id;
	f.key.proto = proto;
	f.key.src_port = (uint16_t)(40000 + id);
	f.key.src.family = AF_INET;
	f.key.src.in.s_addr = htonl(0x0a010000u | id);
	f.mark = mark;
	cr_assert_eq(addr_parse(backend, &f.backend), 0);
	f.backend_port = port;
	return f;
}

static void rig_up(struct rig *g)
{
	struct check_result fail = { .status = CHECK_FAILED,
				     .reason = "connect refused",
				     .latency_ms = 12.5 };
	uint32_t web, dns;

	memset(g, 0, sizeof(*g));
	g->r = load_ok(CONF);
	cr_assert_eq(pool_create(g->r.cfg, &g->pool), 0);
	cr_assert_eq(loop_new(&g->loop), 0);
	cr_assert_eq(health_new(g->loop, g->pool, NULL, &g->health), 0);
	g->flows = flowtab_new();
	cr_assert_not_null(g->flows);
	web = g->pool->services[0].ct_mark;
	dns = g->pool->services[1].ct_mark;

	/* b2 fails its probe (fall = 1): down, its slots go to the others. */
	cr_assert_eq(health_result(g->health, 0, 1, &fail), HEALTH_WENT_DOWN);
	cr_assert_eq(pool_compute_slots(&g->pool->services[0]), 0);

	/* web/10.0.0.11: 3 opened, 1 closed; b2: 1 open; ns1: 2 UDP opened. */
	for (uint32_t id = 1; id <= 3; id++) {
		struct flow f = mkflow(id, web, "10.0.0.11", 8080, IPPROTO_TCP);

		cr_assert_eq(flowtab_flow_new(g->flows, &f), 1);
	}
	{
		struct flow f = mkflow(2, web, "10.0.0.11", 8080, IPPROTO_TCP);
		struct flow b2 = mkflow(4, web, "10.0.0.12", 8080, IPPROTO_TCP);
		struct flow n1 = mkflow(5, dns, "10.0.0.21", 53, IPPROTO_UDP);
		struct flow n2 = mkflow(6, dns, "10.0.0.21", 53, IPPROTO_UDP);

		cr_assert_eq(flowtab_flow_destroy(g->flows, &f.key), 1);
		cr_assert_eq(flowtab_flow_new(g->flows, &b2), 1);
		cr_assert_eq(flowtab_flow_new(g->flows, &n1), 1);
		cr_assert_eq(flowtab_flow_new(g->flows, &n2), 1);
	}

	g->daemon = (struct daemon_counters){
		.start_time_unix = 1764590400,
		.reloads = 2,
		.reload_failures = 1,
		.last_reload_ms = 12.5,
	};
	g->src = (struct metrics_sources){
		.pool = g->pool,
		.health = g->health,
		.flows = g->flows,
		.daemon = &g->daemon,
	};
}

static void rig_down(struct rig *g)
{
	flowtab_free(g->flows);
	health_free(g->health);
	loop_free(g->loop);
	pool_free(g->pool);
	result_free(&g->r);
}

static char *render(const struct metrics_sources *src)
{
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	cr_assert_not_null(mem);
	cr_assert_eq(metrics_render(mem, src), 0);
	cr_assert_eq(fclose(mem), 0);
	return out;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *s = text; (s = strstr(s, line)); s++)
		if ((s == text || s[-1] == '\n') && s[n] == '\n')
			return true;
	return false;
}

#define expect_line(text, line) \
	cr_expect(has_line(text, line), "no line \"%s\" in:\n%s", line, text)
#define expect_no(text, needle) \
	cr_expect(strstr(text, needle) == NULL, "\"%s\" should not be in:\n%s", needle, text)

#define WEB_B1 "service=\"web\",backend=\"10.0.0.11:8080\",address=\"10.0.0.11:8080\""
#define WEB_B2 "service=\"web\",backend=\"b2\",address=\"10.0.0.12:8080\""
#define WEB_B3 "service=\"web\",backend=\"10.0.0.13:8080\",address=\"10.0.0.13:8080\""
#define DNS_B1 "service=\"dns\",backend=\"ns1\",address=\"10.0.0.21:53\""

Test(metrics, pool_health_and_flows_as_exact_samples)
{
	struct rig g;
	char *text, line[256];

	rig_up(&g);
	text = render(&g.src);

	expect_line(text, "knlb_build_info{version=\"" KNLB_VERSION "\"} 1");
	expect_line(text, "knlb_start_time_seconds 1764590400");

	expect_line(text, "knlb_service_backends{service=\"web\"} 3");
	expect_line(text, "knlb_service_backends{service=\"dns\"} 1");
	/* b2 down, the backup stands by: one primary takes new flows. */
	expect_line(text, "knlb_service_usable_backends{service=\"web\"} 1");
	expect_line(text, "knlb_service_on_backups{service=\"web\"} 0");
	expect_line(text, "knlb_service_empty{service=\"web\"} 0");
	expect_line(text, "knlb_service_active_flows{service=\"web\"} 3");
	expect_line(text, "knlb_service_flows_opened_total{service=\"web\"} 4");
	expect_line(text, "knlb_service_flows_closed_total{service=\"web\"} 1");
	expect_line(text, "knlb_service_active_flows{service=\"dns\"} 2");

	expect_line(text, "knlb_backend_up{" WEB_B1 "} 1");
	expect_line(text, "knlb_backend_up{" WEB_B2 "} 0");
	expect_line(text, "knlb_backend_up{" WEB_B3 "} 1");
	expect_line(text, "knlb_backend_weight{" WEB_B1 "} 3");
	expect_line(text, "knlb_backend_weight{" WEB_B2 "} 1");
	expect_line(text, "knlb_backend_effective_weight{" WEB_B1 "} 3");
	expect_line(text, "knlb_backend_effective_weight{" WEB_B2 "} 0");
	expect_line(text, "knlb_backend_effective_weight{" WEB_B3 "} 0");
	/* Every slot on the one usable backend; dns's 7 on its only one. */
	expect_line(text, "knlb_backend_slots{" WEB_B1 "} 101");
	expect_line(text, "knlb_backend_slots{" WEB_B2 "} 0");
	expect_line(text, "knlb_backend_slots{" WEB_B3 "} 0");
	expect_line(text, "knlb_backend_slots{" DNS_B1 "} 7");
	expect_line(text, "knlb_backend_admin_state{" WEB_B1 ",state=\"enabled\"} 1");
	expect_line(text, "knlb_backend_admin_state{" WEB_B1 ",state=\"drain\"} 0");
	expect_line(text, "knlb_backend_admin_state{" WEB_B1 ",state=\"disabled\"} 0");

	expect_line(text, "knlb_backend_active_flows{" WEB_B1 "} 2");
	expect_line(text, "knlb_backend_flows_opened_total{" WEB_B1 "} 3");
	expect_line(text, "knlb_backend_flows_closed_total{" WEB_B1 "} 1");
	expect_line(text, "knlb_backend_active_flows{" WEB_B2 "} 1");
	expect_line(text, "knlb_backend_active_flows{" WEB_B3 "} 0");
	expect_line(text, "knlb_backend_flows_opened_total{" DNS_B1 "} 2");

	expect_line(text, "knlb_backend_checks_total{" WEB_B2 "} 1");
	expect_line(text, "knlb_backend_health_transitions_total{" WEB_B2 "} 1");
	expect_line(text, "knlb_backend_check_duration_seconds{" WEB_B2 "} 0.0125");
	expect_line(text, "knlb_backend_checks_total{" WEB_B1 "} 0");
	/* Never probed: no duration; dns has no check: no health samples. */
	expect_no(text, "knlb_backend_check_duration_seconds{" WEB_B1);
	expect_no(text, "knlb_backend_checks_total{service=\"dns\"");

	expect_line(text, "knlb_reloads_total 2");
	expect_line(text, "knlb_reload_failures_total 1");
	expect_line(text, "knlb_reload_last_duration_seconds 0.0125");

	/* Sources not given are left out, not shown as zeroes. */
	expect_no(text, "knlb_map_updates_total");
	expect_no(text, "knlb_conntrack_");
	expect_no(text, "knlb_control_");

	/* The slot table digest: 16 hex digits in a label, value 1. */
	{
		static const char head[] =
			"knlb_service_slot_table_info{service=\"web\",digest=\"";
		const char *d = strstr(text, head);

		cr_expect_not_null(d);
		if (d) {
			d += strlen(head);
			cr_expect_eq(strspn(d, "0123456789abcdef"), 16);
			cr_expect_eq(strncmp(d + 16, "\"} 1\n", 5), 0);
		}
	}

	/* 8 service + 11 backend + 2 build/start + 3 reload families. */
	cr_expect_eq(check_exposition(text), 24);
	snprintf(line, sizeof(line), "# TYPE knlb_backend_flows_opened_total counter");
	expect_line(text, line);
	free(text);
	rig_down(&g);
}

/* The O(M) reference, pool_slots_of(), agrees with the one-pass count. */
Test(metrics, slot_counts_match_the_pool)
{
	struct rig g;
	char *text, line[256];

	rig_up(&g);
	/* b2 back up: the table is spread over two backends again. */
	pool_set_health(&g.pool->services[0], 1, true, 0);
	cr_assert_eq(pool_compute_slots(&g.pool->services[0]), 0);
	text = render(&g.src);
	snprintf(line, sizeof(line), "knlb_backend_slots{" WEB_B1 "} %u",
		 pool_slots_of(&g.pool->services[0], 0));
	expect_line(text, line);
	snprintf(line, sizeof(line), "knlb_backend_slots{" WEB_B2 "} %u",
		 pool_slots_of(&g.pool->services[0], 1));
	expect_line(text, line);
	cr_expect_gt(pool_slots_of(&g.pool->services[0], 1), 0);
	cr_expect_eq(pool_slots_of(&g.pool->services[0], 0) +
		     pool_slots_of(&g.pool->services[0], 1), 101);
	expect_line(text, "knlb_service_usable_backends{service=\"web\"} 2");
	free(text);
	rig_down(&g);
}

Test(metrics, admin_state_and_runtime_weight)
{
	struct rig g;
	char *text;

	rig_up(&g);
	g.pool->services[0].backends[0].admin = KNLB_ADMIN_DRAIN;
	g.pool->services[0].backends[0].weight = 7;
	g.pool->services[0].backends[0].weight_set = true;
	/* knlbctl weight 0 is a weight, not "unset". */
	g.pool->services[1].backends[0].admin = KNLB_ADMIN_DISABLED;
	g.pool->services[1].backends[0].weight = 0;
	g.pool->services[1].backends[0].weight_set = true;
	text = render(&g.src);
	expect_line(text, "knlb_backend_admin_state{" WEB_B1 ",state=\"enabled\"} 0");
	expect_line(text, "knlb_backend_admin_state{" WEB_B1 ",state=\"drain\"} 1");
	expect_line(text, "knlb_backend_admin_state{" WEB_B1 ",state=\"disabled\"} 0");
	expect_line(text, "knlb_backend_admin_state{" DNS_B1 ",state=\"disabled\"} 1");
	expect_line(text, "knlb_backend_weight{" WEB_B1 "} 7");
	expect_line(text, "knlb_backend_weight{" DNS_B1 "} 0");
	expect_line(text, "knlb_backend_weight{" WEB_B2 "} 1");
	check_exposition(text);
	free(text);
	rig_down(&g);
}

/*
 * The parser allows no such names today; the exposition must stay valid
 * whatever a name holds, so the test writes them into the config.
 */
Test(metrics, label_values_are_escaped)
{
	struct rig g;
	char *text;

	rig_up(&g);
	strcpy(g.r.cfg->services[1].name, "d\"n\\s\nx");
	strcpy(g.r.cfg->services[1].backends[0].id, "n\"s\\1");
	text = render(&g.src);
	expect_line(text, "knlb_service_backends{service=\"d\\\"n\\\\s\\nx\"} 1");
	expect_line(text, "knlb_backend_up{service=\"d\\\"n\\\\s\\nx\",backend=\"n\\\"s\\\\1\",address=\"10.0.0.21:53\"} 1");
	check_exposition(text);
	free(text);
	rig_down(&g);
}

Test(metrics, everything_down_is_empty)
{
	struct rig g;
	struct check_result fail = { .status = CHECK_FAILED, .reason = "refused" };
	char *text;

	rig_up(&g);
	health_result(g.health, 0, 0, &fail);
	health_result(g.health, 0, 2, &fail);
	text = render(&g.src);
	expect_line(text, "knlb_service_usable_backends{service=\"web\"} 0");
	expect_line(text, "knlb_service_empty{service=\"web\"} 1");
	expect_line(text, "knlb_service_on_backups{service=\"web\"} 0");
	expect_line(text, "knlb_service_empty{service=\"dns\"} 0");
	free(text);
	rig_down(&g);
}

Test(metrics, backups_serving)
{
	struct rig g;
	struct check_result fail = { .status = CHECK_FAILED, .reason = "refused" };
	char *text;

	rig_up(&g);
	health_result(g.health, 0, 0, &fail);
	text = render(&g.src);
	expect_line(text, "knlb_service_on_backups{service=\"web\"} 1");
	expect_line(text, "knlb_service_usable_backends{service=\"web\"} 1");
	expect_line(text, "knlb_backend_effective_weight{" WEB_B3 "} 1");
	free(text);
	rig_down(&g);
}

/* Only the pool: what a daemon without conntrack or health still shows. */
Test(metrics, pool_alone)
{
	struct rig g;
	struct metrics_sources only_pool;
	char *text;

	rig_up(&g);
	only_pool = (struct metrics_sources){ .pool = g.pool };
	text = render(&only_pool);
	expect_line(text, "knlb_backend_up{" WEB_B2 "} 0");
	expect_no(text, "_flows");
	expect_no(text, "checks_total");
	expect_no(text, "knlb_start_time_seconds");
	expect_no(text, "knlb_reloads_total");
	/* 10 before the slot table digest family. */
	cr_expect_eq(check_exposition(text), 11);
	free(text);
	cr_expect_eq(metrics_render(stdout, &(struct metrics_sources){ 0 }), -EINVAL);
	rig_down(&g);
}

static double now_ms(void)
{
	return (double)loop_now_ns() / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * 1000 backends, M = 65537: the slots of every backend add up to M, and a
 * scrape costs one pass over the table.  --verbose prints the median of
 * 11 renders next to the peer it replaces, pool_slots_of() per backend
 * (O(M) each), timed in the same run.
 */
Test(metrics, render_at_scale, .timeout = 120)
{
	struct metrics_sources src;
	struct knlb_pool *pool;
	struct result r;
	double t_render[11], t_naive[11];
	unsigned long long sum = 0;
	char *conf = NULL, *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&conf, &len);

	fprintf(f, "[service big]\nvip = 192.0.2.99\nport = 80\ntable_size = 65537\n");
	for (unsigned i = 0; i < 1000; i++)
		fprintf(f, "backend = 10.0.%u.%u:8080 weight=%u\n", i / 250, i % 250 + 1,
			1 + i % 4);
	fclose(f);
	r = load_ok(conf);
	cr_assert_eq(pool_create(r.cfg, &pool), 0);
	src = (struct metrics_sources){ .pool = pool };

	for (int run = 0; run < 11; run++) {
		double t0 = now_ms();
		volatile uint32_t n = 0;

		free(text);
		text = render(&src);
		t_render[run] = now_ms() - t0;
		t0 = now_ms();
		for (size_t b = 0; b < pool->services[0].n_backends; b++)
			n += pool_slots_of(&pool->services[0], b);
		t_naive[run] = now_ms() - t0;
		cr_assert_eq(n, 65537);
	}
	for (const char *s = text; (s = strstr(s, "\nknlb_backend_slots{")); s++) {
		const char *nl = strchr(s + 1, '\n');
		const char *sp = memrchr(s, ' ', (size_t)(nl - s));

		sum += strtoull(sp + 1, NULL, 10);
	}
	cr_expect_eq(sum, 65537, "slots add up to %llu", sum);
	check_exposition(text);
	qsort(t_render, 11, sizeof(double), cmp_double);
	qsort(t_naive, 11, sizeof(double), cmp_double);
	cr_log_info("render, 1000 backends, M=65537: median %.2f ms (%zu bytes); "
		    "pool_slots_of per backend alone: median %.2f ms (%.0fx)",
		    t_render[5], strlen(text), t_naive[5], t_naive[5] / t_render[5]);
	free(text);
	free(conf);
	pool_free(pool);
	result_free(&r);
}

/* ---- HTTP ------------------------------------------------------------- */

/* One request on a fresh connection; the whole response, NULL on error. */
static char *http(uint16_t port, const char *request)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	char *out = NULL, buf[4096];
	size_t len = 0;
	FILE *mem;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		close(fd);
		return NULL;
	}
	mem = open_memstream(&out, &len);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, mem);
	fclose(mem);
	close(fd);
	if (n < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* From 127.0.0.<host>: at most 4 connections per address are served. */
static int idle_connection(uint16_t port, int host)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)host) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1 || bind(fd, (struct sockaddr *)&from, sizeof(from)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		_exit(90);
	return fd;
}

/* Whatever fd receives until EOF (5 s at most between reads). */
static char *read_all(int fd)
{
	struct timeval tv = { .tv_sec = 5 };
	char *out = NULL, buf[4096];
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, mem);
	fclose(mem);
	return out;
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

/*
 * The client: every exchange written to out as "=== NAME\n" + response.
 * Connections that send nothing are held open across a scrape to show
 * that they hold nothing up, then the 17th over the limit must be closed.
 */
static void client(uint16_t port, int out)
{
	FILE *f = fdopen(out, "w");
	int idle[16];
	char *r;

#define EXCHANGE(name, req) do {					\
		r = http(port, req);					\
		fprintf(f, "=== %s\n%s\n", name, r ? r : "(failed)");	\
		free(r);						\
	} while (0)

	EXCHANGE("get", GET("/metrics"));
	EXCHANGE("query", GET("/metrics?x=1"));
	EXCHANGE("head", "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	EXCHANGE("nope", GET("/nope"));
	EXCHANGE("post", "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			 "Content-Length: 3\r\n\r\nx=1");
	/* Silent clients hold nothing up, up to the connection limit... */
	for (int i = 0; i < 15; i++)
		idle[i] = idle_connection(port, 2 + i / 4);
	EXCHANGE("beside_idle", GET("/metrics"));
	idle[15] = idle_connection(port, 2 + 15 / 4);
	/* ...beyond it, a scrape waits in the backlog, not in knlbd... */
	{
		int extra = idle_connection(port, 6);
		struct pollfd pfd = { .fd = extra, .events = POLLIN };
		const char *req = GET("/metrics");

		if (write(extra, req, strlen(req)) != (ssize_t)strlen(req))
			_exit(91);
		fprintf(f, "=== over_limit\n%s\n",
			poll(&pfd, 1, 1000) == 0 ? "waiting" : "answered");
		/* ...until a slot frees. */
		for (int i = 0; i < 16; i++)
			close(idle[i]);
		r = read_all(extra);
		fprintf(f, "=== after_idle\n%s\n", r);
		free(r);
		close(extra);
	}
	fclose(f);
#undef EXCHANGE
}

struct http_run {
	int fd;
	FILE *mem;
	bool eof;
};

static void on_client_output(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct http_run *run = arg;
	char buf[4096];
	ssize_t n;

	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, run->mem);
	if (n == 0) {
		run->eof = true;
		loop_stop(loop);
	}
}

static void on_deadline(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_stop(loop);
}

/* The text after "=== name\n", up to the next "=== ". */
static char *section(const char *all, const char *name)
{
	char tag[64];
	const char *s, *e;

	snprintf(tag, sizeof(tag), "=== %s\n", name);
	s = strstr(all, tag);
	cr_assert_not_null(s, "no %s in:\n%s", name, all);
	s += strlen(tag);
	e = strstr(s, "\n=== ");
	return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

static void expect_status(const char *resp, const char *status_line)
{
	cr_expect(strncmp(resp, status_line, strlen(status_line)) == 0,
		  "want \"%s\", got:\n%s", status_line, resp);
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	cr_assert_not_null(b, "no header end:\n%s", resp);
	return b + 4;
}

Test(metrics, http_served_from_the_loop, .timeout = 30)
{
	struct rig g;
	struct metrics *m;
	struct loop_timer deadline;
	struct http_run run = { 0 };
	char err[256], *all = NULL, *s;
	size_t len = 0;
	int pipefd[2], status;
	pid_t pid;

	rig_up(&g);
	cr_assert_eq(metrics_open(g.loop, "127.0.0.1:0", &g.src, &m, err,
				  sizeof(err)), 0, "%s", err);
	cr_assert_gt(metrics_port(m), 0);
	cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		client(metrics_port(m), pipefd[1]);
		_exit(0);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	run.mem = open_memstream(&all, &len);
	cr_assert_eq(loop_add_fd(g.loop, pipefd[0], EPOLLIN, on_client_output, &run), 0);
	loop_timer_init(&deadline, on_deadline, NULL);
	cr_assert_eq(loop_timer_arm(g.loop, &deadline, 25000000000ULL), 0);
	cr_assert_eq(loop_run(g.loop), 0);
	loop_timer_cancel(g.loop, &deadline);
	loop_del_fd(g.loop, pipefd[0]);
	close(pipefd[0]);
	fclose(run.mem);
	if (!run.eof)
		kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(run.eof, "client did not finish in 25 s; so far:\n%s", all);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status 0x%x", status);

	s = section(all, "get");
	expect_status(s, "HTTP/1.1 200 OK\r\n");
	cr_expect(strstr(s, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "%s", s);
	cr_expect(has_line(body_of(s), "knlb_backend_up{" WEB_B2 "} 0"), "%s", s);
	check_exposition(body_of(s));
	free(s);

	s = section(all, "query");
	expect_status(s, "HTTP/1.1 200 OK\r\n");
	free(s);

	s = section(all, "head");
	expect_status(s, "HTTP/1.1 200 OK\r\n");
	cr_expect(strstr(s, "version=0.0.4") != NULL, "%s", s);
	cr_expect_str_empty(body_of(s), "HEAD with a body:\n%s", s);
	free(s);

	s = section(all, "nope");
	expect_status(s, "HTTP/1.1 404 Not Found\r\n");
	cr_expect(strstr(body_of(s), "/metrics only") != NULL, "%s", s);
	free(s);

	s = section(all, "post");
	expect_status(s, "HTTP/1.1 405 Method Not Allowed\r\n");
	cr_expect(strstr(s, "\r\nAllow: GET, HEAD\r\n") != NULL, "%s", s);
	free(s);

	s = section(all, "beside_idle");
	expect_status(s, "HTTP/1.1 200 OK\r\n");
	free(s);
	s = section(all, "over_limit");
	cr_expect_str_eq(s, "waiting");
	free(s);
	s = section(all, "after_idle");
	expect_status(s, "HTTP/1.1 200 OK\r\n");
	free(s);

	free(all);
	metrics_close(m);
	rig_down(&g);
}

Test(metrics, port_in_use_is_a_clear_error)
{
	struct rig g;
	struct metrics *a, *b = (void *)0x1;
	char err[256], listen_on[64];
	int ret;

	rig_up(&g);
	cr_assert_eq(metrics_open(g.loop, "127.0.0.1:0", &g.src, &a, err,
				  sizeof(err)), 0, "%s", err);
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u", metrics_port(a));
	ret = metrics_open(g.loop, listen_on, &g.src, &b, err, sizeof(err));
	cr_expect_eq(ret, -EADDRINUSE);
	cr_expect_null(b);
	cr_expect(strstr(err, listen_on) && strstr(err, "Address already in use"),
		  "%s", err);
	ret = metrics_open(g.loop, "localhost:9410", &g.src, &b, err, sizeof(err));
	cr_expect_eq(ret, -EINVAL);
	cr_expect(strstr(err, "metrics_listen localhost:9410") != NULL, "%s", err);
	metrics_close(a);
	rig_down(&g);
}
