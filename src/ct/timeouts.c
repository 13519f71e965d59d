/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How long conntrack keeps a flow's entry after its last packet, per
 * protocol, from the namespace's sysctls: what bounds the time between
 * two unread passes (ct_set_unread_marks()).  See
 * include/knlb/ct/ct.h.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include "ct-int.h"
#include "knlb/lib/proc_number.h"

/*
 * The prefix of the protocol's timeout sysctls: every state's timeout,
 * established ones included.  Their minimum is not always an ended
 * flow's (SYN_SENT's may be shorter than CLOSE's), but a flow can end
 * in any state it was in last, so the minimum is the safe bound.
 */
static const char *timeout_prefix(int l4proto)
{
	switch (l4proto) {
	case IPPROTO_TCP: return "nf_conntrack_tcp_timeout";
	case IPPROTO_UDP: return "nf_conntrack_udp_timeout";
	default: return NULL;
	}
}

uint64_t ct_shortest_timeout_ns(const char *proc_root, int l4proto)
{
	const char *prefix = timeout_prefix(l4proto);
	uint64_t shortest = 0, secs;
	char dir[256];
	struct dirent *e;
	DIR *d;

	if (!prefix)
		return 0;
	snprintf(dir, sizeof(dir), "%s/sys/net/netfilter", proc_root);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
		    proc_number_read(dir, e->d_name, &secs) < 0 || !secs)
			continue;
		if (!shortest || secs < shortest)
			shortest = secs;
	}
	closedir(d);
	return shortest * 1000000000ULL;
}
