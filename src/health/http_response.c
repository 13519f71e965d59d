/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An HTTP/1.x answer judged from the bytes read so far: see
 * include/knlb/health/http_response.h.  Called after every read, it
 * starts over each time; answers are a few hundred bytes, and the caller
 * stops reading at HTTP_RESPONSE_RAW_MAX.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "knlb/health/http_response.h"

/* "HTTP/1.1 200" and what follows the code: a blank or the line's end. */
#define STATUS_PREFIX_LEN	13

struct head {
	size_t end;		/* offset of the body */
	bool chunked;
	bool has_length;
	uint64_t length;
};

static enum http_verdict verdict(enum http_verdict v, char *reason,
				 size_t reason_len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum http_verdict verdict(enum http_verdict v, char *reason,
				 size_t reason_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, reason_len, fmt, ap);
	va_end(ap);
	return v;
}

/* -1: not (yet) a status line we understand; else the code. */
static int status_parse(const char *buf, size_t len)
{
	if (len < STATUS_PREFIX_LEN || memcmp(buf, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)buf[7]) || buf[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (!isdigit((unsigned char)buf[i]))
			return -1;
	if (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
		return -1;
	return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}

/* Could these first len bytes still become a status line? */
static bool status_prefix_ok(const char *buf, size_t len)
{
	static const char want[] = "HTTP/1.";

	return memcmp(buf, want, len < 7 ? len : 7) == 0;
}

/* Header line [p, e) named name (case-insensitive): its value, or NULL. */
static const char *header_value(const char *p, const char *e, const char *name)
{
	size_t n = strlen(name);

	if ((size_t)(e - p) <= n || strncasecmp(p, name, n) != 0 || p[n] != ':')
		return NULL;
	for (p += n + 1; p < e && (*p == ' ' || *p == '\t'); p++)
		;
	return p;
}

/* false: the head is not complete yet. */
static bool head_parse(const char *buf, size_t len, struct head *h)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	const char *p, *v;

	*h = (struct head){ 0 };
	if (end) {
		h->end = (size_t)(end - buf) + 4;
	} else {
		end = memmem(buf, len, "\n\n", 2);
		if (!end)
			return false;
		h->end = (size_t)(end - buf) + 2;
	}
	p = memchr(buf, '\n', h->end) + 1;	/* past the status line */
	while (p < buf + h->end) {
		const char *e = memchr(p, '\n', (size_t)(buf + h->end - p));

		if (!e)
			break;
		if ((v = header_value(p, e, "Transfer-Encoding")) &&
		    memmem(v, (size_t)(e - v), "chunked", 7))
			h->chunked = true;
		if ((v = header_value(p, e, "Content-Length")) && isdigit((unsigned char)*v)) {
			h->has_length = true;
			h->length = strtoull(v, NULL, 10);
		}
		p = e + 1;
	}
	return true;
}

/*
 * The chunked body from buf (at the body's start, len bytes) into out
 * (at most HTTP_RESPONSE_BODY_MAX): its length, *done when the last
 * chunk was seen; -1 when the framing is broken.
 */
static long dechunk(const char *buf, size_t len, char *out, bool *done)
{
	size_t pos = 0, n = 0;

	*done = false;
	while (pos < len && n < HTTP_RESPONSE_BODY_MAX) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		char *hex_end;
		unsigned long long size;
		size_t take;

		if (!nl)
			break;		/* the size line is still coming */
		if (!isxdigit((unsigned char)buf[pos]))
			return -1;
		size = strtoull(buf + pos, &hex_end, 16);
		if (hex_end > nl || size > HTTP_RESPONSE_RAW_MAX)
			return -1;
		pos = (size_t)(nl - buf) + 1;
		if (size == 0) {
			*done = true;
			break;
		}
		take = len - pos < size ? len - pos : (size_t)size;
		if (take > HTTP_RESPONSE_BODY_MAX - n)
			take = HTTP_RESPONSE_BODY_MAX - n;
		memcpy(out + n, buf + pos, take);
		n += take;
		if (take < size)
			break;		/* the rest of the chunk is still coming */
		pos += take;
		/* the CRLF after the data */
		while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
			pos++;
	}
	if (n >= HTTP_RESPONSE_BODY_MAX)
		*done = true;
	return (long)n;
}

static bool no_body(int status)
{
	return status < 200 || status == 204 || status == 304;
}

enum http_verdict http_response_judge(const struct check_spec *spec,
				      const char *buf, size_t len, bool eof,
				      char *reason, size_t reason_len)
{
	static char scratch[HTTP_RESPONSE_BODY_MAX];
	const char *body;
	size_t body_len;
	bool complete;
	struct head h;
	int status;

	if (len < STATUS_PREFIX_LEN && !eof) {
		if (status_prefix_ok(buf, len))
			return HTTP_NEED_MORE;
		return verdict(HTTP_FAIL, reason, reason_len, "malformed status line");
	}
	if (len == 0)
		return verdict(HTTP_FAIL, reason, reason_len, "empty reply");
	status = status_parse(buf, len);
	if (status < 0)
		return verdict(HTTP_FAIL, reason, reason_len,
			       status_prefix_ok(buf, len) && len < STATUS_PREFIX_LEN ?
			       "incomplete response" : "malformed status line");
	if (!check_status_expected(spec, status))
		return verdict(HTTP_FAIL, reason, reason_len, "status %d", status);
	if (!spec->body[0])
		return verdict(HTTP_PASS, reason, reason_len, "status %d", status);

	if (!head_parse(buf, len, &h)) {
		if (eof)
			return verdict(HTTP_FAIL, reason, reason_len, "incomplete response");
		if (len >= HTTP_RESPONSE_HEAD_MAX)
			return verdict(HTTP_FAIL, reason, reason_len, "response head too long");
		return HTTP_NEED_MORE;
	}
	body = buf + h.end;
	body_len = len - h.end;
	if (no_body(status)) {
		body_len = 0;
		complete = true;
	} else if (h.chunked) {
		long n = dechunk(body, body_len, scratch, &complete);

		if (n < 0)
			return verdict(HTTP_FAIL, reason, reason_len, "malformed chunked body");
		body = scratch;
		body_len = (size_t)n;
	} else {
		complete = h.has_length && body_len >= h.length;
		if (h.has_length && body_len > h.length)
			body_len = (size_t)h.length;
	}
	if (body_len >= HTTP_RESPONSE_BODY_MAX) {
		body_len = HTTP_RESPONSE_BODY_MAX;
		complete = true;
	}
	if (memmem(body, body_len, spec->body, strlen(spec->body)))
		return verdict(HTTP_PASS, reason, reason_len, "status %d", status);
	if (!complete && !eof)
		return HTTP_NEED_MORE;
	/* Room for the quotes and the words around them. */
	return verdict(HTTP_FAIL, reason, reason_len, "body does not contain \"%.*s\"",
		       CHECK_REASON_MAX - 32, spec->body);
}
