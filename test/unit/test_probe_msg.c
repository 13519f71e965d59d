/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the daemon accepts from its prober process: only well-formed replies. */
#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/health/probe_msg.h"

static struct probe_reply good(void)
{
	struct probe_reply r;

	memset(&r, 0, sizeof(r));
	r.version = PROBE_MSG_VERSION;
	r.type = PROBE_MSG_REPLY;
	r.slot = 3;
	r.gen = 7;
	r.status = CHECK_FAILED;
	strcpy(r.reason, "connect refused");
	return r;
}

Test(probe_msg, a_good_reply_is_copied_out)
{
	struct probe_reply r = good(), out;

	cr_assert_eq(probe_reply_parse(&r, sizeof(r), 4, &out), 0);
	cr_expect_eq(out.slot, 3);
	cr_expect_eq(out.gen, 7);
	cr_expect_eq(out.status, CHECK_FAILED);
	cr_expect_str_eq(out.reason, "connect refused");
}

Test(probe_msg, a_slot_out_of_range_is_refused)
{
	struct probe_reply r = good(), out;

	cr_expect_eq(probe_reply_parse(&r, sizeof(r), 3, &out), -ERANGE);
	r.slot = UINT32_MAX;
	cr_expect_eq(probe_reply_parse(&r, sizeof(r), 4, &out), -ERANGE);
	cr_expect_eq(probe_reply_parse(&r, sizeof(r), 0, &out), -ERANGE);
}

Test(probe_msg, wrong_size_version_type_or_status_is_refused)
{
	struct probe_reply r = good(), out;
	char big[sizeof(r) + 1];

	cr_expect_eq(probe_reply_parse(&r, sizeof(r) - 1, 4, &out), -EPROTO);
	memcpy(big, &r, sizeof(r));
	big[sizeof(r)] = 0;
	cr_expect_eq(probe_reply_parse(big, sizeof(big), 4, &out), -EPROTO);
	r.version = PROBE_MSG_VERSION + 1;
	cr_expect_eq(probe_reply_parse(&r, sizeof(r), 4, &out), -EPROTO);
	r = good();
	r.type = PROBE_MSG_REQUEST;
	cr_expect_eq(probe_reply_parse(&r, sizeof(r), 4, &out), -EPROTO);
	r = good();
	r.status = CHECK_LOCAL_ERROR + 1;
	cr_expect_eq(probe_reply_parse(&r, sizeof(r), 4, &out), -EPROTO);
}

Test(probe_msg, an_unterminated_reason_is_refused)
{
	struct probe_reply r = good(), out;

	memset(r.reason, 'x', sizeof(r.reason));
	cr_expect_eq(probe_reply_parse(&r, sizeof(r), 4, &out), -EPROTO);
}

Test(probe_msg, control_characters_never_reach_the_log)
{
	struct probe_reply r = good(), out;

	strcpy(r.reason, "ok\nweb/b1 UP: forged\x1b[2J");
	cr_assert_eq(probe_reply_parse(&r, sizeof(r), 4, &out), 0);
	cr_expect_str_eq(out.reason, "ok?web/b1 UP: forged?[2J");
}

static struct probe_request request(uint64_t sent_ns, uint64_t timeout_ns)
{
	struct probe_request req;

	memset(&req, 0, sizeof(req));
	req.spec.timeout_ns = timeout_ns;
	req.deadline_ns = sent_ns + timeout_ns;
	return req;
}

/* The wait in the prober's queue is ours: the probe still gets all of its time. */
Test(probe_msg, a_request_that_waited_runs_with_its_whole_timeout)
{
	uint64_t ms = 1000000, timeout = 0;
	struct probe_request req = request(5000 * ms, 1000 * ms);

	cr_assert_eq(probe_request_timeout(&req, 5000 * ms, &timeout), 0);
	cr_expect_eq(timeout, 1000 * ms);
	timeout = 0;
	cr_assert_eq(probe_request_timeout(&req, 5900 * ms, &timeout), 0);
	cr_expect_eq(timeout, 1000 * ms, "a request queued 900 ms got %llu ms",
		     (unsigned long long)(timeout / ms));
}

Test(probe_msg, a_request_read_after_its_deadline_does_not_run)
{
	uint64_t ms = 1000000, timeout = 7;
	struct probe_request req = request(5000 * ms, 1000 * ms);

	cr_expect_eq(probe_request_timeout(&req, 6000 * ms, &timeout), -ETIME);
	cr_expect_eq(probe_request_timeout(&req, 9000 * ms, &timeout), -ETIME);
	cr_expect_eq(timeout, 7, "the timeout was written for a request that does not run");
}
