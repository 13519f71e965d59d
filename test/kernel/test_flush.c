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

Test(flush, a_dead_backends_flows_of_its_service_only)
{
	char script[4096], *out;
	int status;

	/* Nothing listens on 127.0.0.1:8081: the first probes take it down. */
	snprintf(script, sizeof(script),
		 "set -e; dir=$(mktemp -d); trap 'kill $K 2>/dev/null; rm -rf $dir' EXIT\n"
		 "ip link set lo up\n"
		 "cat > $dir/k.conf <<EOF\n"
		 "[service web]\nvip = 192.0.2.10\nport = 80\ncheck = tcp\ninterval = 100ms\n"
		 "timeout = 50ms\nfall = 2\nflush = yes\nbackend = 127.0.0.1:8081\n"
		 "[service api]\nvip = 192.0.2.11\nport = 80\nbackend = 127.0.0.1:8081\n"
		 "EOF\n"
		 FLOW("198.51.100.1", "192.0.2.10", "1", "127.0.0.1", "8081")
		 FLOW("198.51.100.2", "192.0.2.10", "1", "127.0.0.1", "8081")
		 FLOW("198.51.100.3", "192.0.2.10", "1", "127.0.0.1", "8082")
		 FLOW("198.51.100.4", "192.0.2.11", "2", "127.0.0.1", "8081")
		 FLOW("198.51.100.5", "192.0.2.12", "0", "127.0.0.1", "8081")
		 "%s -c $dir/k.conf -s $dir/knlb.sock > $dir/log 2>&1 & K=$!\n"
		 "for i in $(seq 100); do grep -q 'flushed' $dir/log && break; sleep 0.05; done\n"
		 "cat $dir/log; echo ---; conntrack -L 2>/dev/null | sort\n",
		 kt_knlbd());
	out = kt_run(script, &status);
	cr_assert_eq(status, 0, "%s", out);
	cr_expect(strstr(out, "web/127.0.0.1:8081 DOWN"), "%s", out);
	cr_expect(strstr(out, "web/127.0.0.1:8081: flushed 2 conntrack entries (flush = yes)"),
		  "%s", out);
	cr_expect(!strstr(out, "src=198.51.100.1 "), "web's flow to the dead backend survived:\n%s", out);
	cr_expect(!strstr(out, "src=198.51.100.2 "), "web's flow to the dead backend survived:\n%s", out);
	cr_expect(strstr(out, "src=198.51.100.3 "), "another backend's flow was deleted:\n%s", out);
	cr_expect(strstr(out, "src=198.51.100.4 "), "another service's flow was deleted:\n%s", out);
	cr_expect(strstr(out, "src=198.51.100.5 "), "a flow that is not knlb's was deleted:\n%s", out);
	free(out);
}
