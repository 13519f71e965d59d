/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_HEALTH_HTTP_RESPONSE_H
#define KNLB_HEALTH_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "knlb/config/check-t.h"

/*
 * Judging an HTTP/1.x answer to a health check as its bytes come in
 * (pure: check_http.c feeds it what it read).  The status alone decides
 * unless spec.body is set; then the body (Content-Length, chunked or up
 * to the end of the connection) must contain it within its first
 * HTTP_RESPONSE_BODY_MAX bytes.
 */

#define HTTP_RESPONSE_HEAD_MAX	8192	/* status line and headers */
#define HTTP_RESPONSE_BODY_MAX	(16 * 1024)
/* What the caller must be ready to buffer: head, body, chunk framing. */
#define HTTP_RESPONSE_RAW_MAX	(HTTP_RESPONSE_HEAD_MAX + 2 * HTTP_RESPONSE_BODY_MAX)

enum http_verdict {
	HTTP_NEED_MORE,		/* read on */
	HTTP_PASS,
	HTTP_FAIL,
};

/*
 * buf holds the len bytes read so far (len <= HTTP_RESPONSE_RAW_MAX);
 * eof: the peer closed, or the caller's buffer is full and nothing more
 * will be read.  On a verdict, reason says why ("status 200", "status
 * 500", "empty reply", ...).
 */
enum http_verdict http_response_judge(const struct check_spec *spec,
				      const char *buf, size_t len, bool eof,
				      char *reason, size_t reason_len);

#endif
