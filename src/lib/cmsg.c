/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One control message on a sendmsg(): see include/knlb/lib/cmsg.h. */
#include <string.h>

#include "knlb/lib/cmsg.h"

void *cmsg_attach(struct msghdr *m, void *buf, size_t buflen, int level,
		  int type, size_t len)
{
	struct cmsghdr *c;

	memset(buf, 0, buflen);
	m->msg_control = buf;
	m->msg_controllen = buflen;
	c = CMSG_FIRSTHDR(m);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	return CMSG_DATA(c);
}
