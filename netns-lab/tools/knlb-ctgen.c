/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlb-ctgen: conntrack events at a set rate, for bench-ct-daemon.sh.
 *
 *   knlb-ctgen --rate EVENTS_PER_S --duration-ms D --vip ADDR:PORT
 *              --backend ADDR:PORT[,ADDR:PORT...] --mark M
 *              [--lifetime-ms L | --keep] [--client-base ADDR] [--progress-ms P]
 *
 * Creates conntrack entries through ctnetlink in the namespace it runs in
 * (the message `conntrack -I` sends) and deletes each one L ms (default
 * 50) after its creation: every entry is one NEW and one DESTROY event,
 * so --rate R means R/2 creates and R/2 deletes per second, sent each
 * millisecond for D ms (deletes continue at the same pace until every
 * entry is gone).  With --keep none is deleted: the entries live their
 * conntrack timeout (300 s), a table for a reader to dump.  Entry i:
 * CLIENT+i/60000 : 1024+i%60000 -> VIP, TCP ESTABLISHED, ct mark M, reply source backend i % N: what knlbd counts as
 * a flow of that backend.  A producer that falls behind sends back to
 * back; the rate it managed is printed.  No NLM_F_ACK: success is silent,
 * errors come back and are counted.
 *
 * Each flow is one message copied from a template built once (see struct
 * tmpl), many messages to a sendmsg: the kernel's ctnetlink, not this
 * program, is what limits the rate (perf: ~99% of its time in the kernel).
 *
 * Output, one fact per line: created N, destroyed N, errors N,
 * elapsed_ms T, offered_per_s R (events sent / elapsed), created_per_s C
 * (creates / the time until the last was sent: the new-flow rate) and
 * behind_ms B (how late against the schedule the last create went out: 0
 * when the rate was sustained).  With --progress-ms P, also a line
 * `progress MS CREATED` about every P ms (MS since the start).  Exit 0 when
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
#define MSG_MAX 256		/* a create is 160 bytes */

struct opts {
	unsigned long rate, duration_ms, lifetime_ms, progress_ms;
	bool keep;
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
	uint64_t create_ns;	/* start to the last create sent */
	uint64_t behind_ns;	/* then, how late against the schedule */
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
		"                  [--lifetime-ms L | --keep] [--client-base ADDR] [--progress-ms P]\n");
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
		{ "progress-ms", required_argument, NULL, 'p' },
		{ "keep", no_argument, NULL, 'k' },
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
		case 'p': o->progress_ms = parse_ulong(optarg, "progress-ms", 600000); break;
		case 'k': o->keep = true; break;
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

/*
 * A create or delete message, built once by libnetfilter_conntrack (so the
 * wire format is the library's, as `conntrack -I/-D` sends it), and where
 * in it the per-flow fields lie.  Each flow then costs a memcpy and six
 * stores: no attribute is set, laid out or validated per flow, and nothing
 * is allocated.
 */
struct tmpl {
	char msg[MSG_MAX];
	size_t len;		/* NLMSG_ALIGNed */
	size_t client, sport;	/* original source */
	size_t be, be_port;	/* reply source: the backend (create only) */
	size_t r_dst, r_dport;	/* reply destination: the client (create only) */
};

/* Entry 0 with the first backend: the template's contents. */
static void put_entry(struct nf_conntrack *ct, const struct opts *o)
{
	nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
	nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET);
	nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_TCP);
	nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, IPPROTO_TCP);
	nfct_set_attr_u32(ct, ATTR_IPV4_SRC, o->client_base.s_addr);
	nfct_set_attr_u32(ct, ATTR_IPV4_DST, o->vip.s_addr);
	nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons(1024));
	nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(o->vip_port));
	nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, o->be[0].s_addr);
	nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, o->client_base.s_addr);
	nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(o->be_port[0]));
	nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(1024));
	nfct_set_attr_u8(ct, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
	nfct_set_attr_u32(ct, ATTR_TIMEOUT, 300);
	nfct_set_attr_u32(ct, ATTR_MARK, o->mark);
}

/* Offset of the payload of attribute type in the nest at nest (or 0). */
static size_t find_in(const struct nlattr *nest, uint16_t type, const char *base)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
		if (mnl_attr_get_type(a) == type)
			return (size_t)((const char *)mnl_attr_get_payload(a) - base);
	return 0;
}

static const struct nlattr *nest_in(const struct nlattr *nest, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
		if (mnl_attr_get_type(a) == type)
			return a;
	return NULL;
}

/* Where a tuple's source address and port (and destination) lie. */
static int find_tuple(const struct nlattr *tuple, const char *base,
		      size_t *src, size_t *sport, size_t *dst, size_t *dport)
{
	const struct nlattr *ip = nest_in(tuple, CTA_TUPLE_IP);
	const struct nlattr *proto = nest_in(tuple, CTA_TUPLE_PROTO);

	if (!ip || !proto)
		return -1;
	*src = find_in(ip, CTA_IP_V4_SRC, base);
	*sport = find_in(proto, CTA_PROTO_SRC_PORT, base);
	if (dst)
		*dst = find_in(ip, CTA_IP_V4_DST, base);
	if (dport)
		*dport = find_in(proto, CTA_PROTO_DST_PORT, base);
	return *src && *sport && (!dst || *dst) && (!dport || *dport) ? 0 : -1;
}

static int build_template(struct tmpl *t, const struct opts *o, bool create)
{
	struct nf_conntrack *ct = nfct_new();
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	const struct nlattr *a;
	int ret = -1;

	if (!ct)
		return -1;
	memset(t, 0, sizeof(*t));
	put_entry(ct, o);
	nlh = mnl_nlmsg_put_header(t->msg);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) |
			  (create ? IPCTNL_MSG_CT_NEW : IPCTNL_MSG_CT_DELETE);
	nlh->nlmsg_flags = NLM_F_REQUEST | (create ? NLM_F_CREATE | NLM_F_EXCL : 0);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	if (!create) {
		/* A delete names the entry by its original tuple alone. */
		nfct_attr_unset(ct, ATTR_REPL_IPV4_SRC);
		nfct_attr_unset(ct, ATTR_REPL_IPV4_DST);
		nfct_attr_unset(ct, ATTR_REPL_PORT_SRC);
		nfct_attr_unset(ct, ATTR_REPL_PORT_DST);
		nfct_attr_unset(ct, ATTR_TCP_STATE);
		nfct_attr_unset(ct, ATTR_TIMEOUT);
		nfct_attr_unset(ct, ATTR_MARK);
	}
	nfct_nlmsg_build(nlh, ct);
	if (NLMSG_ALIGN(nlh->nlmsg_len) > sizeof(t->msg))
		goto out;
	t->len = NLMSG_ALIGN(nlh->nlmsg_len);
	mnl_attr_for_each(a, nlh, sizeof(*nfg)) {
		if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG &&
		    find_tuple(a, t->msg, &t->client, &t->sport, NULL, NULL) < 0)
			goto out;
		if (create && mnl_attr_get_type(a) == CTA_TUPLE_REPLY &&
		    find_tuple(a, t->msg, &t->be, &t->be_port, &t->r_dst,
			       &t->r_dport) < 0)
			goto out;
	}
	ret = t->client && (!create || t->be) ? 0 : -1;
out:
	nfct_destroy(ct);
	return ret;
}

/* Appends one create or delete of entry i (as at the top) to buf. */
static size_t put_msg(char *buf, const struct tmpl *t, const struct opts *o,
		      uint64_t i, uint32_t seq)
{
	uint32_t client = htonl(ntohl(o->client_base.s_addr) +
				(uint32_t)(i / PORTS_PER_CLIENT));
	uint16_t sport = htons((uint16_t)(1024 + i % PORTS_PER_CLIENT));

	memcpy(buf, t->msg, t->len);
	((struct nlmsghdr *)buf)->nlmsg_seq = seq;
	memcpy(buf + t->client, &client, sizeof(client));
	memcpy(buf + t->sport, &sport, sizeof(sport));
	if (t->be) {
		unsigned int b = (unsigned int)(i % o->n_be);
		uint16_t be_port = htons(o->be_port[b]);

		memcpy(buf + t->be, &o->be[b].s_addr, sizeof(o->be[b].s_addr));
		memcpy(buf + t->be_port, &be_port, sizeof(be_port));
		memcpy(buf + t->r_dst, &client, sizeof(client));
		memcpy(buf + t->r_dport, &sport, sizeof(sport));
	}
	return t->len;
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
	char *buf = malloc(2 * MAX_PER_TICK * MSG_MAX);
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct tmpl create, delete;
	uint64_t start, next, first_made = 0, first_gone = 0, progress = 0;
	unsigned long t_made = 0, t_gone = 0;
	double per_tick = (double)o->rate / 2.0 / 1000.0, owed = 0;
	int big = 8 << 20, ret = 0;
	uint32_t seq = 0;

	if (!made || !buf || !nl) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (build_template(&create, o, true) < 0 ||
	    build_template(&delete, o, false) < 0) {
		ret = -EPROTO;
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

		if (t_made == ticks && (o->keep || t_gone == t_made))
			break;
		if (t_made < ticks) {
			unsigned long n;

			owed += per_tick;
			n = (unsigned long)owed;
			if (n > MAX_PER_TICK)
				n = MAX_PER_TICK;
			owed -= (double)n;
			for (unsigned long k = 0; k < n; k++)
				len += put_msg(buf + len, &create, o, first_made + k, ++seq);
			first_made += n;
			made[t_made++] = n;
			rep->created += n;
		}
		if (!o->keep && t_gone < t_made &&
		    (t >= t_gone + o->lifetime_ms || t_made == ticks)) {
			for (unsigned long k = 0; k < made[t_gone]; k++)
				len += put_msg(buf + len, &delete, o, first_gone + k, ++seq);
			first_gone += made[t_gone];
			rep->destroyed += made[t_gone];
			t_gone++;
		}
		if (send_all(nl, buf, len) < 0)
			rep->errors++;
		rep->errors += drain_errors(nl);
		if (o->progress_ms && now_ns() >= progress) {
			printf("progress %llu %llu\n",
			       (unsigned long long)((now_ns() - start) / 1000000),
			       rep->created);
			progress = now_ns() + o->progress_ms * 1000000ULL;
		}
		if (t + 1 == ticks) {
			uint64_t now = now_ns();

			rep->create_ns = now - start;
			rep->behind_ns = now > next + 1000000 ? now - next - 1000000 : 0;
		}
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
		fprintf(stderr, "knlb-ctgen: %s: %s\n",
			ret == -EPROTO ? "message template" : "ctnetlink socket",
			strerror(-ret));
		return 1;
	}
	ms = (double)rep.elapsed_ns / 1e6;
	printf("created %llu\ndestroyed %llu\nerrors %llu\nelapsed_ms %.0f\noffered_per_s %.0f\n",
	       rep.created, rep.destroyed, rep.errors, ms,
	       ms > 0 ? (double)(rep.created + rep.destroyed) * 1000.0 / ms : 0);
	printf("created_per_s %.0f\nbehind_ms %.0f\n",
	       rep.create_ns ? (double)rep.created * 1e9 / (double)rep.create_ns : 0,
	       (double)rep.behind_ns / 1e6);
	return rep.errors ? 1 : 0;
}
