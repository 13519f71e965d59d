/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * announce = route as a routing daemon sees it (docs/scale-out.md): the
 * VIP's host route (table 4242, protocol 245) is there while the service
 * has a usable backend and gone when it has none; a restart with the same
 * config changes nothing in the table (an rtnetlink monitor would see a
 * withdraw or a re-add); SIGKILL leaves it, --flush-on-exit removes it;
 * routes of other protocols in the table are never touched; an IPv6 VIP
 * gets a /128 and a dual-stack service withdraws per family.
 *
 * The backends are loopback listeners the test opens and closes, probed
 * with check = tcp every 100 ms (rise = fall = 1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <criterion/criterion.h>

#include "kt.h"

#define TABLE	4242
#define RTPROT	245
#define VIP4	"192.0.2.10"
#define VIP6	"2001:db8:100::10"
#define ROUTE4	"proto 245 " VIP4 "/32\n"
#define ROUTE6	"proto 245 " VIP6 "/128\n"
/* Another program's routes in knlb's table: one beside the VIP's, one to it. */
#define FOREIGN_OTHER	"proto 4 192.0.2.99/32\n"
#define FOREIGN_SAME	"proto 4 " VIP4 "/32\n"

static void enter_netns_with_lo(void)
{
	int status;

	kt_enter_netns();
	free(kt_run("ip link set lo up", &status));
	cr_assert_eq(status, 0, "ip link set lo up");
}

TestSuite(announce, .init = enter_netns_with_lo, .timeout = 90);

/* A TCP listener on loopback of family; *port 0 picks one. */
static int listen_on(int family, uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	cr_assert_neq(fd, -1, "socket: %s", strerror(errno));
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(*port);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(*port);
		len = sizeof(*sin6);
	}
	cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 64), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/*
 * One route message as a line "proto P DST/LEN\n" when it is in TABLE,
 * else nothing: the dump and the monitor below share it.
 */
static int route_line(const struct nlmsghdr *nlh, char *line, size_t len)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr, *dst = NULL;
	uint32_t table = rtm->rtm_table;
	char addr[INET6_ADDRSTRLEN] = "default";

	mnl_attr_for_each(attr, nlh, sizeof(*rtm)) {
		if (mnl_attr_get_type(attr) == RTA_TABLE)
			table = mnl_attr_get_u32(attr);
		else if (mnl_attr_get_type(attr) == RTA_DST)
			dst = attr;
	}
	if (table != TABLE)
		return 0;
	if (dst)
		inet_ntop(rtm->rtm_family, mnl_attr_get_payload(dst), addr, sizeof(addr));
	return snprintf(line, len, "proto %u %s/%u\n", rtm->rtm_protocol, addr,
			rtm->rtm_dst_len);
}

struct lines {
	char text[8192];
	size_t used;
};

static void add_line(struct lines *l, const char *prefix, const struct nlmsghdr *nlh)
{
	char line[128];

	if (!route_line(nlh, line, sizeof(line)))
		return;
	l->used += (size_t)snprintf(l->text + l->used, sizeof(l->text) - l->used,
				    "%s%s", prefix, line);
	cr_assert_lt(l->used, sizeof(l->text));
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	add_line(data, "", nlh);
	return MNL_CB_OK;
}

/* Every route in table TABLE, both families, one line each. */
static void table_routes(struct lines *out)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	char buf[32768];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	unsigned int portid;
	ssize_t n;
	int ret = MNL_CB_OK;

	cr_assert_not_null(nl);
	cr_assert_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = 1;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_UNSPEC;
	cr_assert_gt(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len), 0);
	out->used = 0;
	out->text[0] = '\0';
	while (ret > MNL_CB_STOP) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		cr_assert_gt(n, 0, "route dump: %s", strerror(errno));
		ret = mnl_cb_run(buf, (size_t)n, 1, portid, dump_cb, out);
		cr_assert_neq(ret, MNL_CB_ERROR, "route dump: %s", strerror(errno));
	}
	mnl_socket_close(nl);
}

static bool has_route(const char *line)
{
	struct lines l;

	table_routes(&l);
	return strstr(l.text, line) != NULL;
}

/* Until the route is there (present) or gone, within timeout_ms. */
static bool wait_route(const char *line, bool present, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (has_route(line) == present)
			return true;
		usleep(20000);
	}
	return false;
}

static char *routes_text(void)
{
	struct lines l;

	table_routes(&l);
	return strdup(l.text);
}

/* A socket told of every IPv4 and IPv6 route change, from now on. */
static struct mnl_socket *route_monitor(void)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK);

	cr_assert_not_null(nl);
	cr_assert_eq(mnl_socket_bind(nl, RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
				     MNL_SOCKET_AUTOPID), 0);
	return nl;
}

/* The changes to table TABLE the monitor saw: "new ..." / "del ..." lines. */
static void monitor_drain(struct mnl_socket *nl, struct lines *out)
{
	char buf[32768];
	ssize_t n;

	out->used = 0;
	out->text[0] = '\0';
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int left = (int)n;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if (nlh->nlmsg_type == RTM_NEWROUTE || nlh->nlmsg_type == RTM_DELROUTE)
				add_line(out, nlh->nlmsg_type == RTM_NEWROUTE ? "new " : "del ",
					 nlh);
	}
	cr_assert(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
		  "monitor: %s (a lost event would hide a flap)", strerror(errno));
}

/* knlbctl status has "vip VIP<blanks>STATE" (STATE a prefix of the rest). */
static bool status_says(const struct kt_knlbd *r, const char *vip, const char *state)
{
	int code;
	char *out = kt_knlbctl(r, "status", &code), *p;
	bool found = false;

	for (p = out; p && (p = strstr(p, "  vip ")); p++) {
		char *v = p + 6;

		if (strncmp(v, vip, strlen(vip)) || v[strlen(vip)] != ' ')
			continue;
		v += strlen(vip);
		v += strspn(v, " ");
		found = strncmp(v, state, strlen(state)) == 0;
		break;
	}
	free(out);
	return found;
}

/* knlb_vip_announced's sample for vip in a scrape, -1 when absent. */
static int announced_metric(uint16_t metrics_port, const char *vip)
{
	char cmd[160], sample[160], *out, *p;
	int status, value = -1;

	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 5 http://127.0.0.1:%u/metrics 2>&1",
		 metrics_port);
	out = kt_run(cmd, &status);
	snprintf(sample, sizeof(sample), "\nknlb_vip_announced{service=\"web\",vip=\"%s\"} ",
		 vip);
	p = out ? strstr(out, sample) : NULL;
	if (p)
		value = atoi(p + strlen(sample));
	free(out);
	return value;
}

static void add_foreign_routes(void)
{
	int status;

	free(kt_run("ip route add blackhole 192.0.2.99/32 table 4242 proto static && "
		    "ip route add unreachable " VIP4 "/32 table 4242 proto static metric 10",
		    &status));
	cr_assert_eq(status, 0, "adding the foreign routes");
}

static void expect_foreign_routes(const char *when)
{
	char *routes = routes_text();

	cr_expect(strstr(routes, FOREIGN_OTHER), "%s: 192.0.2.99 (proto static) gone:\n%s",
		  when, routes);
	cr_expect(strstr(routes, FOREIGN_SAME), "%s: %s metric 10 (proto static) gone:\n%s",
		  when, VIP4, routes);
	free(routes);
}

/*
 * A one-service config: web on VIP4 (and VIP6 when port6), check = tcp;
 * metrics on 127.0.0.1:metrics_port when it is not 0.
 */
static void service_conf(char *buf, size_t len, uint16_t port4, uint16_t port6,
			 uint16_t metrics_port)
{
	char v6[160] = "", metrics[64] = "";

	if (metrics_port)
		snprintf(metrics, sizeof(metrics), "metrics_listen = 127.0.0.1:%u\n",
			 metrics_port);
	if (port6)
		snprintf(v6, sizeof(v6), "vip = " VIP6 "\nbackend = [::1]:%u\n", port6);
	snprintf(buf, len,
		 "[global]\nannounce = route\nannounce_table = %u\n%s"
		 "[service web]\nvip = " VIP4 "\nport = 80\nsnat = none\n"
		 "check = tcp\ninterval = 100ms\ntimeout = 80ms\nrise = 1\nfall = 1\n"
		 "backend = 127.0.0.1:%u\n%s",
		 TABLE, metrics, port4, v6);
}

Test(announce, route_follows_usable_backends_and_leaves_foreign_routes)
{
	struct kt_knlbd r;
	uint16_t port = 0, metrics_port;
	int fd = listen_on(AF_INET, &port);
	char conf[512], *routes;

	kt_loopback_port(false, &metrics_port);
	add_foreign_routes();
	service_conf(conf, sizeof(conf), port, 0, metrics_port);
	kt_knlbd_start(&r, "announce", conf);
	cr_assert(wait_route(ROUTE4, true, 5000), "no route after start:\n%s\n%s",
		  routes_text(), kt_read_file(r.log));
	cr_expect(status_says(&r, VIP4, "announced"), "%s", kt_read_file(r.log));
	cr_expect_eq(announced_metric(metrics_port, VIP4), 1);

	/* The only backend stops listening: its check fails, the VIP goes. */
	close(fd);
	cr_assert(wait_route(ROUTE4, false, 5000), "route still there with no backend:\n%s",
		  routes_text());
	cr_expect(kt_wait_for_log(r.log, "announce: VIP " VIP4 " withdrawn: no usable backend in service web", 1000),
		  "%s", kt_read_file(r.log));
	cr_expect(status_says(&r, VIP4, "withdrawn: no usable backend in service web"),
		  "%s", kt_read_file(r.log));
	cr_expect_eq(announced_metric(metrics_port, VIP4), 0);
	expect_foreign_routes("after the withdraw");

	/* Listening again: the VIP comes back. */
	fd = listen_on(AF_INET, &port);
	cr_expect(wait_route(ROUTE4, true, 5000), "route not back with a backend:\n%s",
		  routes_text());
	cr_expect(status_says(&r, VIP4, "announced"), "%s", kt_read_file(r.log));

	/* SIGTERM (no --flush-on-exit) leaves it, as it leaves the table. */
	kt_knlbd_stop(&r);
	routes = routes_text();
	cr_expect(strstr(routes, ROUTE4), "route gone after SIGTERM:\n%s", routes);
	free(routes);
	expect_foreign_routes("after SIGTERM");
	close(fd);
}

Test(announce, restart_with_same_config_does_not_flap)
{
	struct kt_knlbd r;
	struct mnl_socket *mon;
	struct lines seen;
	uint16_t port = 0;
	int fd = listen_on(AF_INET, &port);
	char conf[512];

	service_conf(conf, sizeof(conf), port, 0, 0);
	kt_knlbd_start(&r, "announce", conf);
	cr_assert(wait_route(ROUTE4, true, 5000), "no route after start:\n%s",
		  kt_read_file(r.log));
	kt_knlbd_stop(&r);

	mon = route_monitor();
	kt_knlbd_start(&r, "announce", conf);
	cr_expect(kt_wait_for_log(r.log, "announce: 1 VIP route of knlb's already in table 4242: adopted", 1000),
		  "%s", kt_read_file(r.log));
	/* Several health passes (100 ms each) and syncs: time to flap, if it would. */
	usleep(800000);
	cr_expect(status_says(&r, VIP4, "announced"), "%s", kt_read_file(r.log));
	monitor_drain(mon, &seen);
	cr_expect_str_empty(seen.text, "the restart changed knlb's table:\n%s", seen.text);
	cr_expect_eq(kt_count_in_log(r.log, "announced (route"), 0,
		     "the restart re-announced:\n%s", kt_read_file(r.log));

	/* The monitor does see knlb's changes: the withdraw. */
	close(fd);
	cr_assert(wait_route(ROUTE4, false, 5000), "route still there with no backend");
	monitor_drain(mon, &seen);
	cr_expect(strstr(seen.text, "del " ROUTE4), "the monitor missed the withdraw:\n%s",
		  seen.text);
	mnl_socket_close(mon);
	kt_knlbd_stop(&r);
}

Test(announce, sigkill_leaves_route_flush_on_exit_removes_only_knlbs)
{
	struct kt_knlbd r;
	uint16_t port = 0;
	int fd = listen_on(AF_INET, &port), status;
	char conf[512], args[512], *routes;
	pid_t pid;

	add_foreign_routes();
	service_conf(conf, sizeof(conf), port, 0, 0);
	kt_knlbd_start(&r, "announce", conf);
	cr_assert(wait_route(ROUTE4, true, 5000), "no route after start:\n%s",
		  kt_read_file(r.log));

	/* kill -9: the kernel keeps forwarding, so the VIP stays announced. */
	cr_assert_eq(kill(r.pid, SIGKILL), 0);
	cr_assert_eq(waitpid(r.pid, &status, 0), r.pid);
	routes = routes_text();
	cr_expect(strstr(routes, ROUTE4), "route gone after SIGKILL:\n%s", routes);
	free(routes);

	/* The same directory, now with --flush-on-exit. */
	snprintf(args, sizeof(args), "-c %s -s %s --flush-on-exit", r.conf, r.sock);
	unlink(r.sock);
	pid = kt_start_knlbd(args, r.log);
	cr_assert(kt_wait_for_log(r.log, "adopted", 10000), "%s", kt_read_file(r.log));
	cr_assert(kt_wait_for_log(r.log, "programmed table", 10000), "%s", kt_read_file(r.log));
	r.pid = pid;
	kt_knlbd_stop(&r);
	routes = routes_text();
	cr_expect(!strstr(routes, ROUTE4), "route left after --flush-on-exit:\n%s", routes);
	free(routes);
	expect_foreign_routes("after --flush-on-exit");
	close(fd);
}

Test(announce, ipv6_vip_host_route_and_dual_stack_withdraws_per_family)
{
	struct kt_knlbd r;
	uint16_t port4 = 0, port6 = 0, metrics_port;
	int fd4 = listen_on(AF_INET, &port4), fd6 = listen_on(AF_INET6, &port6);
	char conf[512], *routes;

	kt_loopback_port(false, &metrics_port);
	service_conf(conf, sizeof(conf), port4, port6, metrics_port);
	kt_knlbd_start(&r, "announce", conf);
	cr_assert(wait_route(ROUTE6, true, 5000), "no /128 for " VIP6 ":\n%s\n%s",
		  routes_text(), kt_read_file(r.log));
	cr_assert(wait_route(ROUTE4, true, 1000), "no route for " VIP4 ":\n%s", routes_text());
	cr_expect(status_says(&r, VIP6, "announced"), "%s", kt_read_file(r.log));

	/* Every IPv6 backend down: only the IPv6 VIP goes. */
	close(fd6);
	cr_assert(wait_route(ROUTE6, false, 5000), "IPv6 route still there:\n%s",
		  routes_text());
	cr_expect(kt_wait_for_log(r.log, "announce: VIP " VIP6 " withdrawn: no usable backend in service web", 1000),
		  "%s", kt_read_file(r.log));
	routes = routes_text();
	cr_expect(strstr(routes, ROUTE4), "the IPv4 VIP went with the IPv6 backends:\n%s",
		  routes);
	free(routes);
	cr_expect(status_says(&r, VIP6, "withdrawn: no usable backend in service web"),
		  "%s", kt_read_file(r.log));
	cr_expect(status_says(&r, VIP4, "announced"), "%s", kt_read_file(r.log));
	cr_expect_eq(kt_count_in_log(r.log, "announce: VIP " VIP4 " withdrawn"), 0,
		     "%s", kt_read_file(r.log));
	cr_expect_eq(announced_metric(metrics_port, VIP6), 0);
	cr_expect_eq(announced_metric(metrics_port, VIP4), 1);

	fd6 = listen_on(AF_INET6, &port6);
	cr_expect(wait_route(ROUTE6, true, 5000), "IPv6 route not back:\n%s", routes_text());
	kt_knlbd_stop(&r);
	close(fd4);
	close(fd6);
}
