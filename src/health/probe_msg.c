/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks the daemon makes of every message its prober sends. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "knlb/health/probe_msg.h"

int probe_reply_parse(const void *buf, size_t len, uint32_t n_slots,
		      struct probe_reply *out)
{
	size_t n;

	if (len != sizeof(*out))
		return -EPROTO;
	memcpy(out, buf, sizeof(*out));
	if (out->version != PROBE_MSG_VERSION || out->type != PROBE_MSG_REPLY)
		return -EPROTO;
	if (out->status != CHECK_OK && out->status != CHECK_FAILED &&
	    out->status != CHECK_LOCAL_ERROR)
		return -EPROTO;
	n = strnlen(out->reason, sizeof(out->reason));
	if (n == sizeof(out->reason))
		return -EPROTO;
	if (out->slot >= n_slots)
		return -ERANGE;
	/* Bytes that could forge a log line or a terminal escape. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out->reason[i] < 0x20 ||
		    (unsigned char)out->reason[i] == 0x7f)
			out->reason[i] = '?';
	return 0;
}

int probe_request_timeout(const struct probe_request *req, uint64_t now,
			  uint64_t *timeout_ns)
{
	if (now >= req->deadline_ns)
		return -ETIME;
	*timeout_ns = req->spec.timeout_ns;
	return 0;
}

void probe_msg_batch(struct mmsghdr *msgs, struct iovec *iov, void *base,
		     size_t size, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ (char *)base + i * size, size };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i],
							  .msg_iovlen = 1 } };
	}
}
