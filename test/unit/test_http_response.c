/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hand-written http check's judge: what passes, what fails, when to read on. */
#include <string.h>
#include <criterion/criterion.h>

#include "knlb/health/http_response.h"

static struct check_spec spec_2xx_3xx(const char *body)
{
	struct check_spec spec = { .kind = CHECK_HTTP };

	for (long s = 200; s <= 399; s++) {
		long bit = s - CHECK_STATUS_MIN;

		spec.expect_status[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	strcpy(spec.body, body);
	return spec;
}

static char g_reason[CHECK_REASON_MAX];

static enum http_verdict judge(const char *body, const char *resp, bool eof)
{
	struct check_spec spec = spec_2xx_3xx(body);

	g_reason[0] = '\0';
	return http_response_judge(&spec, resp, strlen(resp), eof, g_reason,
				   sizeof(g_reason));
}

#define EXPECT(v, reason_text) do { \
	cr_expect_str_eq(g_reason, reason_text); \
	cr_expect_eq(v_, v, "verdict %d, reason \"%s\"", v_, g_reason); \
} while (0)

Test(http_response, the_status_line_alone_decides_without_a_body_to_find)
{
	enum http_verdict v_;

	v_ = judge("", "HTTP/1.1 200 OK\r\n", false);
	EXPECT(HTTP_PASS, "status 200");
	v_ = judge("", "HTTP/1.0 302 Found\r\n", false);
	EXPECT(HTTP_PASS, "status 302");
	v_ = judge("", "HTTP/1.1 204\r\n\r\n", false);
	EXPECT(HTTP_PASS, "status 204");
	v_ = judge("", "HTTP/1.1 500 Internal Server Error\r\n", false);
	EXPECT(HTTP_FAIL, "status 500");
	v_ = judge("", "HTTP/1.1 404 Not Found\r\n", false);
	EXPECT(HTTP_FAIL, "status 404");
}

Test(http_response, a_partial_status_line_reads_on)
{
	enum http_verdict v_;

	v_ = judge("", "", false);
	EXPECT(HTTP_NEED_MORE, "");
	v_ = judge("", "HTT", false);
	EXPECT(HTTP_NEED_MORE, "");
	v_ = judge("", "HTTP/1.1 20", false);
	EXPECT(HTTP_NEED_MORE, "");
}

Test(http_response, what_ends_too_early_or_is_not_http_fails)
{
	enum http_verdict v_;

	v_ = judge("", "", true);
	EXPECT(HTTP_FAIL, "empty reply");
	v_ = judge("", "HTTP/1.1 20", true);
	EXPECT(HTTP_FAIL, "incomplete response");
	v_ = judge("", "SSH-2.0-OpenSSH_9.2\r\n", false);
	EXPECT(HTTP_FAIL, "malformed status line");
	v_ = judge("", "HTTP/1.1 2000 OK\r\n", false);
	EXPECT(HTTP_FAIL, "malformed status line");
	v_ = judge("", "HTTP/2 200\r\n", false);
	EXPECT(HTTP_FAIL, "malformed status line");
}

Test(http_response, the_body_is_searched_once_the_status_is_right)
{
	enum http_verdict v_;

	v_ = judge("ready", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nall ready", false);
	EXPECT(HTTP_PASS, "status 200");
	v_ = judge("ready", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall ok\n", false);
	EXPECT(HTTP_FAIL, "body does not contain \"ready\"");
	/* A wrong status says so, whatever the body. */
	v_ = judge("ready", "HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\nready", false);
	EXPECT(HTTP_FAIL, "status 503");
	/* Bytes past Content-Length are not the body. */
	v_ = judge("ready", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnotready", false);
	EXPECT(HTTP_FAIL, "body does not contain \"ready\"");
}

Test(http_response, a_body_still_coming_reads_on)
{
	enum http_verdict v_;

	v_ = judge("ready", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n", false);
	EXPECT(HTTP_NEED_MORE, "");
	v_ = judge("ready", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nnot yet", false);
	EXPECT(HTTP_NEED_MORE, "");
	/* No length: the body ends with the connection. */
	v_ = judge("ready", "HTTP/1.0 200 OK\r\n\r\nnot yet", false);
	EXPECT(HTTP_NEED_MORE, "");
	v_ = judge("ready", "HTTP/1.0 200 OK\r\n\r\nnot yet", true);
	EXPECT(HTTP_FAIL, "body does not contain \"ready\"");
	v_ = judge("ready", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n", true);
	EXPECT(HTTP_FAIL, "incomplete response");
}

/* The needle split across two chunks is found; the framing is not body. */
Test(http_response, chunked_bodies_are_decoded)
{
	enum http_verdict v_;

	v_ = judge("ready", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
		   "3\r\nrea\r\n2;ext=1\r\ndy\r\n0\r\n\r\n", false);
	EXPECT(HTTP_PASS, "status 200");
	v_ = judge("3\r\nrea", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "3\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n", false);
	EXPECT(HTTP_FAIL, "body does not contain \"3\r\nrea\"");
	v_ = judge("ready", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "3\r\nrea\r\n", false);
	EXPECT(HTTP_NEED_MORE, "");
	v_ = judge("ready", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "zz\r\nready\r\n", false);
	EXPECT(HTTP_FAIL, "malformed chunked body");
}

Test(http_response, no_body_after_204)
{
	enum http_verdict v_;

	v_ = judge("ready", "HTTP/1.1 204 No Content\r\n\r\n", false);
	EXPECT(HTTP_FAIL, "body does not contain \"ready\"");
}

/* A body that never ends is judged on its first HTTP_RESPONSE_BODY_MAX bytes. */
Test(http_response, the_body_is_capped)
{
	static char resp[HTTP_RESPONSE_RAW_MAX + 1];
	struct check_spec spec = spec_2xx_3xx("needle");
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
	size_t hl = strlen(head);
	char reason[CHECK_REASON_MAX];

	memcpy(resp, head, hl);
	memset(resp + hl, 'x', HTTP_RESPONSE_BODY_MAX + 100);
	memcpy(resp + hl + HTTP_RESPONSE_BODY_MAX - 6, "needle", 6);
	cr_expect_eq(http_response_judge(&spec, resp, hl + HTTP_RESPONSE_BODY_MAX + 100,
					 false, reason, sizeof(reason)), HTTP_PASS);
	memcpy(resp + hl + HTTP_RESPONSE_BODY_MAX - 6, "xxxxxx", 6);
	memcpy(resp + hl + HTTP_RESPONSE_BODY_MAX, "needle", 6);
	cr_expect_eq(http_response_judge(&spec, resp, hl + HTTP_RESPONSE_BODY_MAX + 100,
					 false, reason, sizeof(reason)), HTTP_FAIL,
		     "a needle past the cap was seen: %s", reason);
}
