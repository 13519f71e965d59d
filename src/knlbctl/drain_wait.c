/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlbctl drain --wait: after the drain, poll `status SERVICE --json`
 * until the backend has no active flow left.  The client polls so knlbd's
 * loop never holds a request open; the status reply is knlbd's own, so
 * what is read here is what `knlbctl status` shows.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "knlb/lib/json.h"
#include "knlb/ctl/server.h"
#include "knlbctl-int.h"

#define POLL_FIRST_MS	100
#define POLL_MAX_MS	1000
#define POLL_MIN_TIMEOUT_S 1.0

/*
 * In a status --json body, the backend object whose "id" or "address" is
 * want: its "active_flows" and "admin".  The backends are flat objects
 * whose keys come in a fixed order (docs/control-protocol.md): id,
 * address, ..., admin, ..., active_flows.  0, or -1 when not found.
 */
static int find_backend(const char *body, const char *want, uint64_t *active,
			char *admin, size_t admin_len)
{
	char key[300];
	const char *p, *end, *a, *f;
	size_t n;

	snprintf(key, sizeof(key), "{\"id\":\"%s\",", want);
	p = strstr(body, key);
	if (!p) {
		snprintf(key, sizeof(key), "\"address\":\"%s\",", want);
		p = strstr(body, key);
	}
	if (!p)
		return -1;
	end = strstr(p + 1, "{\"id\":");
	a = strstr(p, "\"admin\":\"");
	f = strstr(p, "\"active_flows\":");
	if (!a || !f || (end && (a > end || f > end)))
		return -1;
	a += strlen("\"admin\":\"");
	n = strcspn(a, "\"");
	snprintf(admin, admin_len, "%.*s", (int)n, a);
	*active = strtoull(f + strlen("\"active_flows\":"), NULL, 10);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void say_drained(const struct options *opt, const char *service,
			const char *backend, double waited_s)
{
	struct json_writer w;

	if (!opt->json) {
		printf("%s/%s: no active flow left (waited %.1f s)\n", service,
		       backend, waited_s);
		return;
	}
	json_init(&w, stdout);
	json_object_begin(&w);
	json_key(&w, "service");
	json_string(&w, service);
	json_key(&w, "backend");
	json_string(&w, backend);
	json_key(&w, "drained");
	json_bool(&w, true);
	json_key(&w, "active_flows");
	json_uint(&w, 0);
	json_key(&w, "waited_s");
	json_double(&w, waited_s);
	json_object_end(&w);
}

int drain_wait(const struct options *opt, const char *service,
	       const char *backend, double timeout_s)
{
	uint64_t start = now_ms(), deadline = start + (uint64_t)(timeout_s * 1000.0);
	unsigned pause = POLL_FIRST_MS;
	char request[CTL_REQUEST_MAX], admin[32] = "";
	uint64_t active = 0;

	snprintf(request, sizeof(request), "status %s --json", service);
	for (;;) {
		uint64_t now = now_ms();
		double left = (double)(deadline > now ? deadline - now : 0) / 1000.0;
		char *body = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&body, &len);
		int ret, found;

		if (!mem)
			return usage_error("drain --wait: out of memory");
		/*
		 * -t bounds the wait, not each poll: a poll near the deadline
		 * still gets POLL_MIN_TIMEOUT_S to answer, or a slow reply
		 * would read as an unreachable knlbd instead of "still N
		 * active flows".
		 */
		if (left < POLL_MIN_TIMEOUT_S)
			left = POLL_MIN_TIMEOUT_S;
		ret = ctl_call(opt->socket, request,
			       left < DEFAULT_TIMEOUT_S ? left : DEFAULT_TIMEOUT_S,
			       mem, stderr, false);
		fclose(mem);
		found = find_backend(body ? body : "", backend, &active, admin,
				     sizeof(admin));
		free(body);
		if (ret != EXIT_OK && ret != EXIT_WARN)
			return ret;
		if (found < 0) {
			fprintf(stderr, "knlbctl: drain --wait: %s/%s is gone from knlbd's status (a reload removed it?)\n",
				service, backend);
			return EXIT_REFUSED;
		}
		if (strcmp(admin, "drain") != 0) {
			fprintf(stderr, "knlbctl: drain --wait: %s/%s is %s now, no longer draining: not waiting\n",
				service, backend, admin);
			return EXIT_REFUSED;
		}
		if (active == 0) {
			say_drained(opt, service, backend,
				    (double)(now_ms() - start) / 1000.0);
			return EXIT_OK;
		}
		now = now_ms();
		if (now >= deadline)
			break;
		if (now + pause > deadline)
			pause = (unsigned)(deadline - now);
		sleep_ms(pause);
		pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
	}
	fflush(stdout);
	fprintf(stderr, "knlbctl: %s/%s: still %" PRIu64 " active flow%s after %g s; it stays drained (-t SECONDS to wait longer)\n",
		service, backend, active, active == 1 ? "" : "s", timeout_s);
	return EXIT_NOT_DRAINED;
}
