/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_CMSG_H
#define KNLB_CMSG_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Attach one control message (level, type, len bytes of data) to m, in
 * buf (buflen >= CMSG_SPACE(len), aligned for struct cmsghdr: a union
 * with one), zeroed first; returns where its data goes.  What every
 * sendmsg() of knlb that passes ancillary data does (a descriptor to the
 * privileged parent, the source address of a raw probe).
 */
void *cmsg_attach(struct msghdr *m, void *buf, size_t buflen, int level,
		  int type, size_t len);

#endif
