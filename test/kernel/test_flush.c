/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * flush = yes, end to end: knlbd's probe finds a backend dead and deletes
 * that backend's conntrack entries of that service, and nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "kt.h"

TestSuite(flush, .init = kt_enter_netns, .timeout = 60);

/* conntrack -I of an established flow client:1000 -> vip:80, DNATed to backend. */
#define FLOW(client, vip, mark, backend, bport)					\
	"conntrack -I -p tcp -s " client " -d " vip " --sport 1000 --dport 80 "	\
	"--state ESTABLISHED -t 120 --mark " mark " --reply-src " backend	\
	" --reply-dst " client " --reply-port-src " bport " --reply-port-dst 1000 2>/dev/null\n"

/* One family's addresses: clients c[0..4], VIPs of web, api and a foreign one. */
struct family_case {
	const char *c[5];
	const char *web, *api, *other;
	const char *lo, *lo_endpoint;	/* the backend: loopback, and as written */
	const char *list;		/* conntrack -L for the family */
};

/*
 * Nothing listens on the loopback's port 8081: the first probes take it
 * down, and web's two flows to it go; a flow to another port, api's flow
 * to the same backend and a flow that is not knlb's stay.
 */
static void expect_flush_of_one_backend(const struct family_case *f)
{
	char script[4096], needle[128], *out;
	int status;

	snprintf(script, sizeof(script),
		 "set -e; dir=$(mktemp -d); trap 'kill $K 2>/dev/null; rm -rf $dir' EXIT\n"
		 "ip link set lo up\n"
		 "cat > $dir/k.conf <<EOF\n"
		 "[service web]\nvip = %s\nport = 80\ncheck = tcp\ninterval = 100ms\n"
		 "timeout = 50ms\nfall = 2\nflush = yes\nbackend = %s:8081\n"
		 "[service api]\nvip = %s\nport = 80\nbackend = %s:8081\n"
		 "EOF\n"
		 FLOW("%s", "%s", "1", "%s", "8081")
		 FLOW("%s", "%s", "1", "%s", "8081")
		 FLOW("%s", "%s", "1", "%s", "8082")
		 FLOW("%s", "%s", "2", "%s", "8081")
		 FLOW("%s", "%s", "0", "%s", "8081")
		 "%s -c $dir/k.conf -s $dir/knlb.sock > $dir/log 2>&1 & K=$!\n"
		 "for i in $(seq 100); do grep -q 'flushed' $dir/log && break; sleep 0.05; done\n"
		 "cat $dir/log; echo ---; %s 2>/dev/null | sort\n",
		 f->web, f->lo_endpoint, f->api, f->lo_endpoint,
		 /* FLOW names the client twice: source, and reply destination */
		 f->c[0], f->web, f->lo, f->c[0], f->c[1], f->web, f->lo, f->c[1],
		 f->c[2], f->web, f->lo, f->c[2], f->c[3], f->api, f->lo, f->c[3],
		 f->c[4], f->other, f->lo, f->c[4], kt_knlbd(), f->list);
	out = kt_run(script, &status);
	cr_assert_eq(status, 0, "%s", out);
	snprintf(needle, sizeof(needle), "web/%s:8081 DOWN", f->lo_endpoint);
	cr_expect(strstr(out, needle), "%s", out);
	snprintf(needle, sizeof(needle),
		 "web/%s:8081: flushed 2 conntrack entries (flush = yes)", f->lo_endpoint);
	cr_expect(strstr(out, needle), "%s", out);
	for (int i = 0; i < 5; i++) {
		snprintf(needle, sizeof(needle), "src=%s ", f->c[i]);
		if (i < 2)
			cr_expect(!strstr(out, needle), "a flow to the dead backend survived (%s):\n%s",
				  f->c[i], out);
		else
			cr_expect(strstr(out, needle), "%s was deleted:\n%s",
				  i == 2 ? "another backend's flow" : i == 3 ?
				  "another service's flow" : "a flow that is not knlb's", out);
	}
	free(out);
}

Test(flush, a_dead_backends_flows_of_its_service_only)
{
	expect_flush_of_one_backend(&(struct family_case){
		.c = { "198.51.100.1", "198.51.100.2", "198.51.100.3",
		       "198.51.100.4", "198.51.100.5" },
		.web = "192.0.2.10", .api = "192.0.2.11", .other = "192.0.2.12",
		.lo = "127.0.0.1", .lo_endpoint = "127.0.0.1",
		.list = "conntrack -L",
	});
}

/* The same for an IPv6 service (conntrack -L needs -f ipv6 to list them). */
Test(flush, a_dead_ipv6_backends_flows_of_its_service_only)
{
	expect_flush_of_one_backend(&(struct family_case){
		.c = { "2001:db8:9::1", "2001:db8:9::2", "2001:db8:9::3",
		       "2001:db8:9::4", "2001:db8:9::5" },
		.web = "2001:db8:100::10", .api = "2001:db8:100::11",
		.other = "2001:db8:100::12",
		.lo = "::1", .lo_endpoint = "[::1]",
		.list = "conntrack -L -f ipv6",
	});
}
