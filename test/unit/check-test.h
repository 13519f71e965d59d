/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_TEST_CHECK_TEST_H
#define KNLB_TEST_CHECK_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "knlb/health/check.h"
#include "knlb/lib/loop.h"

/*
 * What a probe's callback got, for the tests that run a checker of their
 * own (test_check_late.c, test_check_sock.c; test/kernel/test_check_syn.c,
 * which links this file too).  check_outcome_done() is the callback (arg:
 * the outcome); it stops loop when *pending, counted down once per
 * result, reaches 0.
 */
struct check_outcome {
	int calls;
	struct check_result res;
	struct loop *loop;
	int *pending;
};
void check_outcome_done(const struct check_result *res, void *arg);
/* A probe of kind to 127.0.0.1, path "/" expecting 200, the timeout given. */
struct check_spec check_test_spec(enum check_kind kind, uint64_t timeout_ms);
struct knlb_addr check_test_loopback(void);

/* Run loop until it stops, or fail the test after limit_ms. */
void check_loop_run(struct loop *loop, uint64_t limit_ms);

/*
 * An HTTP backend in a forked child on 127.0.0.1: every connection gets
 * "200 OK" as soon as its request is in, then a close.  It runs while the
 * test's own loop is held up.  Returns its port; *pid for
 * child_http_stop().
 */
uint16_t child_http_start(pid_t *pid);
void child_http_stop(pid_t *pid);

#endif
