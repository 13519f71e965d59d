/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CHECK_T_H
#define KNLB_CHECK_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What a health probe does, as configured (per service, with per-backend
 * overrides resolved by the config layer).  Read-only once loaded.
 */

enum check_kind {
	CHECK_NONE,	/* no probe: the backend is always up */
	CHECK_TCP,	/* connect() succeeds within timeout */
	CHECK_HTTP,	/* GET check_path, status in check_expect, body has check_body */
	CHECK_HTTPS,	/* the same over TLS (certificate not verified) */
	CHECK_UDP,	/* send check_send, expect a reply (matching check_expect_reply) */
};

#define CHECK_STATUS_MIN	100
#define CHECK_STATUS_MAX	599
#define CHECK_TEXT_MAX		256	/* path, host, body, udp payloads */

struct check_spec {
	enum check_kind kind;
	uint16_t port;			/* probe port, host order; 0 = backend's port */
	uint64_t timeout_ns;
	/* http(s) */
	char path[CHECK_TEXT_MAX];	/* default "/" */
	char host[CHECK_TEXT_MAX];	/* Host header and SNI; "" = backend address */
	/* bit (s - CHECK_STATUS_MIN) set when status s is expected; default 2xx, 3xx */
	uint8_t expect_status[(CHECK_STATUS_MAX - CHECK_STATUS_MIN + 1 + 7) / 8];
	char body[CHECK_TEXT_MAX];	/* substring the body must contain; "" = any */
	/* udp: raw bytes (config accepts text or hex:...) */
	uint8_t send[CHECK_TEXT_MAX];
	size_t send_len;
	uint8_t expect_reply[CHECK_TEXT_MAX];	/* reply must start with it */
	size_t expect_reply_len;		/* 0 = any reply */
};

static inline bool check_status_expected(const struct check_spec *spec,
					 long status)
{
	long bit = status - CHECK_STATUS_MIN;

	if (status < CHECK_STATUS_MIN || status > CHECK_STATUS_MAX)
		return false;
	return spec->expect_status[bit / 8] & (1u << (bit % 8));
}

/* How one probe ended. */
enum check_status {
	CHECK_OK,		/* the backend answered as expected */
	CHECK_FAILED,		/* the backend did not: counts toward fall */
	CHECK_LOCAL_ERROR,	/* our side failed (EMFILE, ENOMEM): says nothing
				 * about the backend, counts toward nothing */
};

#define CHECK_REASON_MAX 128

struct check_result {
	enum check_status status;
	char reason[CHECK_REASON_MAX];	/* "connect refused", "status 500", ... */
	double latency_ms;		/* start to result */
};

#endif
