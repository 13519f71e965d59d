/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl status --rate and knlbctl top: two `stats` samples an interval
 * apart, divided, per service and backend, as `ipvsadm -L --rate` shows
 * them: new flows per second (CPS), active flows, packets and bytes per
 * second each way.  The counters are the kernel's (docs/statistics.md);
 * a counter that went backwards restarted (lib/counter_rate.h).  Each
 * sample is one `stats` request through the shared transport.c.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "knlb/config/values.h"
#include "knlb/ctl/server.h"
#include "knlb/lib/counter_rate.h"
#include "knlb/lib/json.h"
#include "knlb/lib/json_read.h"
#include "knlbctl-int.h"

#define DEFAULT_INTERVAL_S 1.0

int rate_parse_interval(const char *s, double *out)
{
	uint64_t ns;
	char err[128];

	if (config_parse_duration(s, &ns, err, sizeof(err)) < 0 ||
	    ns < 100000000ull || ns > 3600000000000ull)
		return -EINVAL;
	*out = (double)ns / 1e9;
	return 0;
}

int rate_parse_count(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1)
		return -EINVAL;
	*out = v;
	return 0;
}

bool rate_wanted(const struct options *opt, const struct ctl_command *cmd)
{
	return cmd == &ctl_commands[CTL_CMD_TOP] ||
	       (opt->rate && cmd == &ctl_commands[CTL_CMD_STATUS]);
}

/* ---- one sample ------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sample {
	double t_s;		/* when knlbd read the kernel */
	struct json_value *root;
};

/* One `stats` reply, parsed.  Returns knlbctl's exit code. */
static int take_sample(const char *path, double timeout_s, const char *request,
		       struct sample *s)
{
	char *body = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&body, &len);
	uint64_t ms;
	int ret;

	if (!mem)
		return usage_error("%s: %s", request, strerror(errno));
	ret = ctl_call(path, request, timeout_s, mem, stderr, false);
	if (fclose(mem) != 0 && ret == EXIT_OK)
		ret = usage_error("%s: %s", request, strerror(ENOMEM));
	if (ret != EXIT_OK) {
		free(body);
		return ret == EXIT_WARN ? EXIT_UNREACHABLE : ret;
	}
	if (json_parse(body, &s->root) < 0 || !json_get(s->root, "services")) {
		free(body);
		json_value_free(s->root);
		s->root = NULL;
		fprintf(stderr, "knlbctl: %s: the stats reply is not the JSON expected\n", path);
		return EXIT_UNREACHABLE;
	}
	free(body);
	/* knlbd's clock, read next to the kernel's counters; ours otherwise. */
	s->t_s = json_get_uint(s->root, "monotonic_ms", &ms) ? (double)ms / 1000 : now_s();
	return EXIT_OK;
}

/* ---- rates ------------------------------------------------------------ */

enum { R_CPS, R_IN_PPS, R_OUT_PPS, R_IN_BPS, R_OUT_BPS, N_RATES };

static const char *const counter_keys[N_RATES] = {
	"new_flows", "packets_in", "packets_out", "bytes_in", "bytes_out",
};
static const char *const rate_keys[N_RATES] = {
	"cps", "in_pps", "out_pps", "in_bps", "out_bps",
};

struct row {
	double rate[N_RATES];
	/* both samples had the backend and the counter (packets and bytes
	   are null under traffic_counters = no) */
	bool known[N_RATES];
	uint64_t active;
	bool has_active;
};

static const struct json_value *find_named(const struct json_value *array,
					   const char *key, const char *name)
{
	for (size_t i = 0; array && name && i < array->n; i++) {
		const char *v = json_get_str(&array->items[i], key);

		if (v && strcmp(v, name) == 0)
			return &array->items[i];
	}
	return NULL;
}

static void backend_row(const struct json_value *cur, const struct json_value *prev,
			double dt, struct row *r)
{
	*r = (struct row){ 0 };
	r->has_active = json_get_uint(cur, "active_flows", &r->active);
	for (int k = 0; k < N_RATES; k++) {
		uint64_t c = 0, p;
		bool had = prev && json_get_uint(prev, counter_keys[k], &p);

		r->known[k] = json_get_uint(cur, counter_keys[k], &c) &&
			      counter_rate(had ? &p : NULL, c, dt, &r->rate[k]);
	}
}

static void add_row(struct row *sum, const struct row *r)
{
	for (int k = 0; k < N_RATES; k++) {
		sum->rate[k] += r->known[k] ? r->rate[k] : 0;
		sum->known[k] |= r->known[k];
	}
	sum->active += r->active;
	sum->has_active |= r->has_active;
}

static void print_row(FILE *out, const char *name, const char *addr,
		      const struct row *r)
{
	char buf[N_RATES][16], active[24];

	for (int k = 0; k < N_RATES; k++)
		counter_human(r->known[k] ? r->rate[k] : -1, buf[k], sizeof(buf[k]));
	if (r->has_active)
		snprintf(active, sizeof(active), "%llu", (unsigned long long)r->active);
	else
		snprintf(active, sizeof(active), "-");
	fprintf(out, "%-20s %-24s %7s %8s %8s %8s %8s %8s\n", name, addr,
		buf[R_CPS], active, buf[R_IN_PPS], buf[R_OUT_PPS],
		buf[R_IN_BPS], buf[R_OUT_BPS]);
}

static void json_rates(struct json_writer *w, const struct row *r)
{
	for (int k = 0; k < N_RATES; k++) {
		json_key(w, rate_keys[k]);
		if (r->known[k])
			json_double(w, r->rate[k]);
		else
			json_null(w);
	}
	json_key(w, "active_flows");
	if (r->has_active)
		json_uint(w, r->active);
	else
		json_null(w);
}

/* One frame: every service of cur against prev. */
static void print_frame(FILE *out, bool json, const struct sample *cur,
			const struct sample *prev)
{
	const struct json_value *svcs = json_get(cur->root, "services");
	const struct json_value *psvcs = json_get(prev->root, "services");
	double dt = cur->t_s - prev->t_s;
	struct json_writer w;

	if (json) {
		json_init(&w, out);
		json_object_begin(&w);
		json_key(&w, "interval_s");
		json_double(&w, dt);
		json_key(&w, "services");
		json_array_begin(&w);
	} else {
		fprintf(out, "%-20s %-24s %7s %8s %8s %8s %8s %8s\n", "SERVICE/BACKEND",
			"ADDRESS", "CPS", "ACTIVE", "InPPS", "OutPPS", "InBPS", "OutBPS");
	}
	for (size_t s = 0; s < svcs->n; s++) {
		const struct json_value *svc = &svcs->items[s];
		const char *name = json_get_str(svc, "name");
		const struct json_value *psvc = find_named(psvcs, "name", name);
		const struct json_value *bes = json_get(svc, "backends");
		struct row sum = { 0 }, *rows;
		char vip[96];
		size_t nb = bes ? bes->n : 0;

		rows = calloc(nb ? nb : 1, sizeof(*rows));
		if (!rows)
			continue;
		for (size_t b = 0; b < nb; b++) {
			backend_row(&bes->items[b],
				    find_named(json_get(psvc, "backends"), "id",
					       json_get_str(&bes->items[b], "id")),
				    dt, &rows[b]);
			add_row(&sum, &rows[b]);
		}
		snprintf(vip, sizeof(vip), "%s/%s", json_get_str(svc, "vip"),
			 json_get_str(svc, "proto"));
		if (json) {
			json_object_begin(&w);
			json_key(&w, "name");
			json_string(&w, name);
			json_rates(&w, &sum);
			json_key(&w, "backends");
			json_array_begin(&w);
		} else {
			print_row(out, name ? name : "?", vip, &sum);
		}
		for (size_t b = 0; b < nb; b++) {
			const char *id = json_get_str(&bes->items[b], "id");
			const char *addr = json_get_str(&bes->items[b], "address");
			char label[64];

			if (json) {
				json_object_begin(&w);
				json_key(&w, "id");
				json_string(&w, id);
				json_key(&w, "address");
				json_string(&w, addr);
				json_rates(&w, &rows[b]);
				json_object_end(&w);
				continue;
			}
			snprintf(label, sizeof(label), "  %s", id ? id : "?");
			print_row(out, label, addr ? addr : "?", &rows[b]);
		}
		if (json) {
			json_array_end(&w);
			json_object_end(&w);
		}
		free(rows);
	}
	if (json) {
		json_array_end(&w);
		json_object_end(&w);
	}
	fflush(out);
}

/* ---- the loop --------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Sleeps until deadline; true when q, Ctrl-C or a signal asked to stop. */
static bool wait_or_quit(double deadline, bool keys)
{
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		double left = deadline - now_s();
		char c;

		if (stop_requested)
			return true;
		if (left <= 0)
			return false;
		if (poll(&pfd, keys ? 1 : 0, (int)(left * 1000) + 1) > 0 &&
		    read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q' || c == 3))
			return true;
	}
}

int rate_run(const struct options *opt, const struct ctl_command *cmd,
	     int argc, char **argv)
{
	bool top = cmd == &ctl_commands[CTL_CMD_TOP], json = opt->json;
	bool clear = top && !json && isatty(STDOUT_FILENO);
	bool keys = top && isatty(STDIN_FILENO);
	double interval = opt->interval_s > 0 ? opt->interval_s : DEFAULT_INTERVAL_S;
	double timeout_s = opt->timeout_s ? opt->timeout_s : DEFAULT_TIMEOUT_S;
	long frames = opt->count > 0 ? opt->count : top ? -1 : 1;
	struct sample prev = { 0 }, cur = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct termios saved, raw;
	char request[CTL_REQUEST_MAX];
	const char *socket = opt->socket;
	int ret;

	/* The registry row checked argc: at most one SERVICE. */
	snprintf(request, sizeof(request), "stats%s%s", argc ? " " : "",
		 argc ? argv[0] : "");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		keys = false;
	}
	ret = take_sample(socket, timeout_s, request, &prev);
	while (ret == EXIT_OK && frames != 0) {
		if (wait_or_quit(prev.t_s + interval, keys))
			break;
		ret = take_sample(socket, timeout_s, request, &cur);
		if (ret != EXIT_OK)
			break;
		if (clear)
			fputs("\033[H\033[2J", stdout);
		if (top && !json)
			printf("knlbctl top: every %gs, q or Ctrl-C quits\n\n", interval);
		print_frame(stdout, json, &cur, &prev);
		json_value_free(prev.root);
		prev = cur;
		cur = (struct sample){ 0 };
		if (frames > 0)
			frames--;
	}
	json_value_free(prev.root);
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return ret;
}
