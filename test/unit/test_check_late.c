/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A checker that did not get the CPU (a loaded host, a prober behind) must
 * not call its own lateness the backend's timeout.  The backend here is a
 * forked child that answers every request at once; the checker's loop is
 * held up for three timeouts right after the probe started, as a starved
 * prober is, and then runs.
 */
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>

#include "knlb/health/check.h"
#include "knlb/lib/loop.h"
#include "check-test.h"

#define MS	1000000ULL

static struct loop *g_loop;
static struct checker *g_checker;
static pid_t g_server = -1;
static int g_pending;

static void setup(void)
{
	cr_assert_eq(loop_new(&g_loop), 0);
	cr_assert_eq(checker_new(g_loop, &g_checker), 0);
}

static void teardown(void)
{
	cr_expect_eq(checker_running(g_checker), 0, "probes left running");
	checker_free(g_checker);
	loop_free(g_loop);
	child_http_stop(&g_server);
}

TestSuite(check_late, .init = setup, .fini = teardown, .timeout = 10);

/* Start an http probe to port, hold the loop up for stall_ms, then run it. */
static void probe_after_stall(uint16_t port, uint64_t timeout_ms,
			      uint64_t stall_ms, struct check_outcome *o)
{
	struct check_spec spec = check_test_spec(CHECK_HTTP, timeout_ms);
	struct knlb_addr addr = check_test_loopback();
	struct timespec stall = { .tv_sec = (time_t)(stall_ms / 1000),
				  .tv_nsec = (long)(stall_ms % 1000 * MS) };

	cr_assert_eq(checker_start(g_checker, &spec, &addr, port, check_outcome_done,
				   o, NULL), 0);
	g_pending++;
	/* The kernel completes the handshake meanwhile; we send nothing. */
	nanosleep(&stall, NULL);
	check_loop_run(g_loop, 3000);
	cr_assert_eq(o->calls, 1);
}

/*
 * The request went out three timeouts after the handshake: whatever the
 * backend does, that timeout is ours.  Before: "timeout", a failure, and
 * with 10,000 backends under load thousands of false DOWNs.
 */
Test(check_late, a_request_sent_late_is_not_the_backends_timeout)
{
	struct check_outcome o = { .loop = g_loop, .pending = &g_pending };

	probe_after_stall(child_http_start(&g_server), 100, 300, &o);
	cr_expect_neq(o.res.status, CHECK_FAILED, "failed: %s", o.res.reason);
	if (o.res.status == CHECK_LOCAL_ERROR)
		cr_expect(strstr(o.res.reason, "timeout not counted") != NULL,
			  "reason: %s", o.res.reason);
}

/* A refused connection is still the backend's, however late we look. */
Test(check_late, a_refusal_seen_late_is_still_a_failure)
{
	uint16_t port = child_http_start(&g_server);
	struct check_outcome o = { .loop = g_loop, .pending = &g_pending };

	child_http_stop(&g_server);
	probe_after_stall(port, 100, 300, &o);
	cr_expect_eq(o.res.status, CHECK_FAILED, "status %d: %s", o.res.status,
		     o.res.reason);
}
