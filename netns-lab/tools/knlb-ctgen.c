/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlb-ctgen: conntrack events at a set rate, for bench-ct-daemon.sh.
 *
 *   knlb-ctgen --rate EVENTS_PER_S --duration-ms D --vip ADDR:PORT
 *              --backend ADDR:PORT[,ADDR:PORT...] --mark M
 *              [--lifetime-ms L] [--client-base ADDR]
 *
 * Creates conntrack entries through ctnetlink in the namespace it runs in
 * (the message `conntrack -I` sends) and deletes each one L ms (default
 * 50) after its creation: every entry is one NEW and one DESTROY event,
 * so --rate R means R/2 creates and R/2 deletes per second, sent each
 * millisecond for D ms (deletes continue at the same pace until every
 * entry is gone).  Entry i: CLIENT+i/60000 : 1024+i%60000 -> VIP, TCP
 * ESTABLISHED, ct mark M, reply source backend i % N: what knlbd counts as
 * a flow of that backend.  A producer that falls behind sends back to
 * back; the rate it managed is printed.  No NLM_F_ACK: success is silent,
 * errors come back and are counted.
 *
 * Output, one fact per line: created N, destroyed N, errors N,
 * elapsed_ms T, offered_per_s R (events sent / elapsed).  Exit 0 when
 * every message was accepted, 1 otherwise, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#define MAX_BACKENDS 64
#define MAX_PER_TICK 4096
#define PORTS_PER_CLIENT 60000
#define SEND_CHUNK (64 * 1024)	/* below the default socket send buffer */

struct opts {
	unsigned long rate, duration_ms, lifetime_ms;
	uint32_t mark;
	struct in_addr vip, client_base;
	uint16_t vip_port;
	struct in_addr be[MAX_BACKENDS];
	uint16_t be_port[MAX_BACKENDS];
	unsigned int n_be;
};

struct report {
	unsigned long long created, destroyed, errors;
	uint64_t elapsed_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: knlb-ctgen --rate EVENTS_PER_S --duration-ms D --vip ADDR:PORT\n"
		"                  --backend ADDR:PORT[,ADDR:PORT...] --mark M\n"
		"                  [--lifetime-ms L] [--client-base ADDR]\n");
	exit(2);
}

static unsigned long parse_ulong(const char *s, const char *what,
				 unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "knlb-ctgen: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* "ADDR:PORT" (IPv4); exits 2 on a bad one. */
static void parse_addr_port(const char *s, struct in_addr *a, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	char buf[INET_ADDRSTRLEN];

	if (!colon || (size_t)(colon - s) >= sizeof(buf)) {
		fprintf(stderr, "knlb-ctgen: expected ADDR:PORT, got %s\n", s);
		exit(2);
	}
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	if (inet_pton(AF_INET, buf, a) != 1) {
		fprintf(stderr, "knlb-ctgen: bad address %s\n", buf);
		exit(2);
	}
	*port = (uint16_t)parse_ulong(colon + 1, "port", 65535);
	if (*port == 0) {
		fprintf(stderr, "knlb-ctgen: port 0 in %s\n", s);
		exit(2);
	}
}

static void parse_backends(struct opts *o, char *list)
{
	char *save = NULL;

	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->n_be == MAX_BACKENDS) {
			fprintf(stderr, "knlb-ctgen: at most %d backends\n", MAX_BACKENDS);
			exit(2);
		}
		parse_addr_port(t, &o->be[o->n_be], &o->be_port[o->n_be]);
		o->n_be++;
	}
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "lifetime-ms", required_argument, NULL, 'l' },
		{ "vip", required_argument, NULL, 'v' },
		{ "backend", required_argument, NULL, 'b' },
		{ "mark", required_argument, NULL, 'm' },
		{ "client-base", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_vip = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->lifetime_ms = 50;
	inet_pton(AF_INET, "198.18.0.0", &o->client_base);	/* RFC 2544 */
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->rate = parse_ulong(optarg, "rate", 2UL * MAX_PER_TICK * 1000); break;
		case 'd': o->duration_ms = parse_ulong(optarg, "duration-ms", 600000); break;
		case 'l': o->lifetime_ms = parse_ulong(optarg, "lifetime-ms", 600000); break;
		case 'v': parse_addr_port(optarg, &o->vip, &o->vip_port); have_vip = true; break;
		case 'b': parse_backends(o, optarg); break;
		case 'm': o->mark = (uint32_t)parse_ulong(optarg, "mark", UINT32_MAX); break;
		case 'c':
			if (inet_pton(AF_INET, optarg, &o->client_base) != 1) {
				fprintf(stderr, "knlb-ctgen: bad address %s\n", optarg);
				exit(2);
			}
			break;
		default: usage();
		}
	}
	if (optind != argc || !o->rate || !o->duration_ms || !have_vip ||
	    !o->n_be || !o->mark)
		usage();
}

/* Entry i as described at the top. */
static void put_entry(struct nf_conntrack *ct, const struct opts *o, uint64_t i)
{
	uint32_t client = htonl(ntohl(o->client_base.s_addr) +
				(uint32_t)(i / PORTS_PER_CLIENT));
	uint16_t sport = htons((uint16_t)(1024 + i % PORTS_PER_CLIENT));
	unsigned int b = (unsigned int)(i % o->n_be);

	nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
	nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET);
	nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_TCP);
	nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, IPPROTO_TCP);
	nfct_set_attr_u32(ct, ATTR_IPV4_SRC, client);
	nfct_set_attr_u32(ct, ATTR_IPV4_DST, o->vip.s_addr);
	nfct_set_attr_u16(ct, ATTR_PORT_SRC, sport);
	nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(o->vip_port));
	nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, o->be[b].s_addr);
	nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, client);
	nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(o->be_port[b]));
	nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, sport);
	nfct_set_attr_u8(ct, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
	nfct_set_attr_u32(ct, ATTR_TIMEOUT, 300);
	nfct_set_attr_u32(ct, ATTR_MARK, o->mark);
}

/* Appends one create or delete of entry i to buf; returns its length. */
static size_t put_msg(char *buf, struct nf_conntrack *ct, const struct opts *o,
		      uint64_t i, bool create)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) |
			  (create ? IPCTNL_MSG_CT_NEW : IPCTNL_MSG_CT_DELETE);
	nlh->nlmsg_flags = NLM_F_REQUEST | (create ? NLM_F_CREATE | NLM_F_EXCL : 0);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	put_entry(ct, o, i);
	nfct_nlmsg_build(nlh, ct);
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

/* Error replies waiting on the socket (each one a refused message). */
static unsigned long long drain_errors(struct mnl_socket *nl)
{
	static char rbuf[65536];
	unsigned long long errors = 0;
	ssize_t n;

	while ((n = recv(mnl_socket_get_fd(nl), rbuf, sizeof(rbuf), MSG_DONTWAIT)) > 0) {
		const struct nlmsghdr *nlh = (const void *)rbuf;
		int left = (int)n;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if (nlh->nlmsg_type == NLMSG_ERROR)
				errors++;
	}
	return errors;
}

/* Sends buf cut at message boundaries into chunks the socket accepts. */
static int send_all(struct mnl_socket *nl, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = 0;

		while (off + chunk < len && chunk < SEND_CHUNK) {
			const struct nlmsghdr *nlh = (const void *)(buf + off + chunk);

			chunk += NLMSG_ALIGN(nlh->nlmsg_len);
		}
		if (mnl_socket_sendto(nl, buf + off, chunk) == -1)
			return -errno;
		off += chunk;
	}
	return 0;
}

/*
 * One tick per millisecond.  made[t] = entries created at tick t, so the
 * deletes of tick t + lifetime name exactly those.  Returns 0, or -errno
 * when the socket could not be set up.
 */
static int produce(const struct opts *o, struct report *rep)
{
	unsigned long ticks = o->duration_ms;
	unsigned long *made = calloc(ticks, sizeof(*made));
	char *buf = malloc(2 * MAX_PER_TICK * 256);
	struct nf_conntrack *ct = nfct_new();
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	uint64_t start, next, first_made = 0, first_gone = 0;
	unsigned long t_made = 0, t_gone = 0;
	double per_tick = (double)o->rate / 2.0 / 1000.0, owed = 0;
	int big = 8 << 20, ret = 0;

	if (!made || !buf || !ct || !nl) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		ret = -errno;
		goto out_free;
	}
	/* Room for error replies; without CAP_NET_ADMIN the plain one. */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &big,
		       sizeof(big)) == -1)
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &big,
			   sizeof(big));
	start = next = now_ns();
	for (unsigned long t = 0;; t++) {
		size_t len = 0;

		if (t_made == ticks && t_gone == t_made)
			break;
		if (t_made < ticks) {
			unsigned long n;

			owed += per_tick;
			n = (unsigned long)owed;
			if (n > MAX_PER_TICK)
				n = MAX_PER_TICK;
			owed -= (double)n;
			for (unsigned long k = 0; k < n; k++)
				len += put_msg(buf + len, ct, o, first_made + k, true);
			first_made += n;
			made[t_made++] = n;
			rep->created += n;
		}
		if (t_gone < t_made &&
		    (t >= t_gone + o->lifetime_ms || t_made == ticks)) {
			for (unsigned long k = 0; k < made[t_gone]; k++)
				len += put_msg(buf + len, ct, o, first_gone + k, false);
			first_gone += made[t_gone];
			rep->destroyed += made[t_gone];
			t_gone++;
		}
		if (send_all(nl, buf, len) < 0)
			rep->errors++;
		rep->errors += drain_errors(nl);
		next += 1000000;
		if (now_ns() < next) {
			struct timespec ts = {
				.tv_sec = (time_t)(next / 1000000000ULL),
				.tv_nsec = (long)(next % 1000000000ULL),
			};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
	}
	rep->elapsed_ns = now_ns() - start;
	usleep(20000);		/* the last error replies */
	rep->errors += drain_errors(nl);
out_free:
	if (nl)
		mnl_socket_close(nl);
	if (ct)
		nfct_destroy(ct);
	free(buf);
	free(made);
	return ret;
}

int main(int argc, char **argv)
{
	struct report rep = { 0 };
	struct opts o;
	double ms;
	int ret;

	parse_opts(argc, argv, &o);
	ret = produce(&o, &rep);
	if (ret < 0) {
		fprintf(stderr, "knlb-ctgen: ctnetlink socket: %s\n", strerror(-ret));
		return 1;
	}
	ms = (double)rep.elapsed_ns / 1e6;
	printf("created %llu\ndestroyed %llu\nerrors %llu\nelapsed_ms %.0f\noffered_per_s %.0f\n",
	       rep.created, rep.destroyed, rep.errors, ms,
	       ms > 0 ? (double)(rep.created + rep.destroyed) * 1000.0 / ms : 0);
	return rep.errors ? 1 : 0;
}
