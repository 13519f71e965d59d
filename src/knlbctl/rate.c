/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl status --rate and knlbctl top: two `stats` samples an interval
 * apart, divided, per service and backend, as `ipvsadm -L --rate` shows
 * them: new flows per second (CPS), active flows, packets and bytes per
 * second each way.  The counters are the kernel's (docs/statistics.md);
 * a counter that went backwards restarted (lib/counter_rate.h).
 *
 * The socket exchange is a small blocking copy of knlbctl.c's: both go
 * to the shared client code when the command registry lands.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "knlb/config/values.h"
#include "knlb/lib/counter_rate.h"
#include "knlb/lib/json.h"
#include "knlb/lib/json_read.h"
#include "rate-int.h"

/* knlbctl's exit codes (knlbctl.c, knlbctl(8)). */
enum { RATE_OK = 0, RATE_REFUSED = 1, RATE_USAGE = 2, RATE_UNREACHABLE = 3 };

#define DEFAULT_INTERVAL_S 1.0

static int usage(const char *fmt, const char *arg)
{
	fputs("knlbctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return RATE_USAGE;
}

static int take_value(int *i, int argc, char **argv, const char **value)
{
	const char *eq = strchr(argv[*i], '=');

	if (eq) {
		*value = eq + 1;
		return 0;
	}
	if (*i + 1 >= argc)
		return usage("option %s needs an argument", argv[*i]);
	*value = argv[++*i];
	return 0;
}

int rate_take_options(int *argc, char **argv, struct rate_options *ro)
{
	int n = 1, ret;

	*ro = (struct rate_options){ 0 };
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *v;

		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[n++] = argv[i++];
			break;
		}
		if (strcmp(a, "--rate") == 0) {
			ro->rate = true;
		} else if (strncmp(a, "--interval", 10) == 0 && (!a[10] || a[10] == '=')) {
			uint64_t ns;
			char err[128];

			if ((ret = take_value(&i, *argc, argv, &v)) != 0)
				return ret;
			if (config_parse_duration(v, &ns, err, sizeof(err)) < 0 ||
			    ns < 100000000ull || ns > 3600000000000ull)
				return usage("--interval: expected a duration from 100ms to 1h (1s, 500ms), not '%s'", v);
			ro->interval_s = (double)ns / 1e9;
		} else if (strncmp(a, "--count", 7) == 0 && (!a[7] || a[7] == '=')) {
			char *end;

			if ((ret = take_value(&i, *argc, argv, &v)) != 0)
				return ret;
			errno = 0;
			ro->count = strtol(v, &end, 10);
			if (errno || end == v || *end || ro->count < 1)
				return usage("--count: expected a number of refreshes of 1 or more, not '%s'", v);
		} else {
			argv[n++] = argv[i];
		}
	}
	argv[n] = NULL;
	*argc = n;
	return 0;
}

bool rate_wanted(const struct rate_options *ro, const char *command)
{
	return ro->rate || ro->interval_s > 0 || ro->count > 0 ||
	       strcmp(command, "top") == 0;
}

/* ---- one sample ------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole reply to request, status line split off.  0 or an exit code. */
static int exchange(const char *path, double timeout_s, const char *request,
		    char **body)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = (time_t)timeout_s,
			      .tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6) };
	char *text = NULL, buf[8192];
	size_t len = 0;
	FILE *mem;
	ssize_t n;
	int fd, ret = RATE_OK;

	*body = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return usage("%s: socket path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request)) {
		fprintf(stderr, "knlbctl: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED ?
			" (is knlbd running? -s PATH)" : "");
		if (fd != -1)
			close(fd);
		return RATE_UNREACHABLE;
	}
	mem = open_memstream(&text, &len);
	while (mem && (n = recv(fd, buf, sizeof(buf), 0)) > 0)
		fwrite(buf, 1, (size_t)n, mem);
	if (!mem || n < 0) {
		fprintf(stderr, "knlbctl: %s: %s\n", path, mem && errno == EAGAIN ?
			"no complete reply in time (-t SECONDS)" : strerror(errno));
		ret = RATE_UNREACHABLE;
	}
	close(fd);
	if (mem)
		fclose(mem);
	if (ret != RATE_OK) {
		free(text);
		return ret;
	}
	if (text && strncmp(text, "OK\n", 3) == 0) {
		*body = text;
		return RATE_OK;
	}
	if (text && strncmp(text, "ERROR\n", 6) == 0) {
		fprintf(stderr, "%s", text + 6);
		free(text);
		return RATE_REFUSED;
	}
	fprintf(stderr, "knlbctl: %s: bad reply from knlbd (does it know `stats`?)\n", path);
	free(text);
	return RATE_UNREACHABLE;
}

struct sample {
	double t_s;		/* when knlbd read the kernel */
	struct json_value *root;
};

static int take_sample(const char *path, double timeout_s, const char *request,
		       struct sample *s)
{
	char *body;
	uint64_t ms;
	int ret = exchange(path, timeout_s, request, &body);

	if (ret != RATE_OK)
		return ret;
	if (json_parse(body + 3, &s->root) < 0 ||
	    !json_get(s->root, "services")) {
		free(body);
		fprintf(stderr, "knlbctl: %s: stats reply is not the JSON expected\n", path);
		return RATE_UNREACHABLE;
	}
	free(body);
	/* knlbd's clock, read next to the kernel's counters; ours otherwise. */
	s->t_s = json_get_uint(s->root, "monotonic_ms", &ms) ? (double)ms / 1000 : now_s();
	return RATE_OK;
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
	bool known;		/* both samples had the backend */
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
	*r = (struct row){ .known = true };
	r->has_active = json_get_uint(cur, "active_flows", &r->active);
	for (int k = 0; k < N_RATES; k++) {
		uint64_t c = 0, p;
		bool had = prev && json_get_uint(prev, counter_keys[k], &p);

		json_get_uint(cur, counter_keys[k], &c);
		r->known &= counter_rate(had ? &p : NULL, c, dt, &r->rate[k]);
	}
}

static void add_row(struct row *sum, const struct row *r)
{
	for (int k = 0; k < N_RATES; k++)
		sum->rate[k] += r->known ? r->rate[k] : 0;
	sum->active += r->active;
	sum->has_active |= r->has_active;
}

static void print_row(FILE *out, const char *name, const char *addr,
		      const struct row *r)
{
	char buf[N_RATES][16], active[24];

	for (int k = 0; k < N_RATES; k++)
		counter_human(r->known ? r->rate[k] : -1, buf[k], sizeof(buf[k]));
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
		if (r->known)
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
		struct row sum = { .known = true }, *rows;
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

int rate_run(const char *socket, bool json, double timeout_s,
	     const char *command, int argc, char **argv,
	     const struct rate_options *ro)
{
	bool top = strcmp(command, "top") == 0;
	bool clear = top && !json && isatty(STDOUT_FILENO);
	bool keys = top && isatty(STDIN_FILENO);
	double interval = ro->interval_s > 0 ? ro->interval_s : DEFAULT_INTERVAL_S;
	long frames = ro->count > 0 ? ro->count : top ? -1 : 1;
	struct sample prev = { 0 }, cur = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct termios saved, raw;
	char request[256];
	int ret;

	if (!top && strcmp(command, "status") != 0)
		return usage("--rate, --interval and --count go with status and top, not %s", command);
	if (!top && !ro->rate)
		return usage("--interval and --count need --rate (status --rate) or top%s", "");
	if (argc > 1)
		return usage("%s: at most one SERVICE", command);
	snprintf(request, sizeof(request), "stats%s%s\n", argc ? " " : "",
		 argc ? argv[0] : "");
	if (!timeout_s)
		timeout_s = 10;
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
	while (ret == RATE_OK && frames != 0) {
		if (wait_or_quit(prev.t_s + interval, keys))
			break;
		ret = take_sample(socket, timeout_s, request, &cur);
		if (ret != RATE_OK)
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
