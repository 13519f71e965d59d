/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * knlb-synprobe: prices half-open TCP health probes (issue 16), not a
 * checker.  Every INTERVAL ms it sends one SYN to each of COUNT backends
 * from a raw socket, spread over the interval on a GRID ms grid (as
 * knlbd's probe starts are), and reads the answers on the same socket:
 * a SYN-ACK is "up", a reset "refused".  The kernel answers each SYN-ACK
 * with a reset of its own, since no socket is connected on the source
 * port (one TCP socket holds that port, bound and never listening).  No
 * connect(), epoll registration or close() per probe: what is left is
 * the packets themselves, which is what the bench wants to know the
 * price of.
 *
 *   knlb-synprobe --count N [--port P] [--interval-ms I] [--grid-ms G]
 *                 [--secs S]
 *
 * Backends are the bench's at-rest farm: backend a (0 <= a < N) is
 * 10.1.(a / 250).(a % 250 + 1):P, as in netns-lab/bench/control.sh.
 * IPv4 only.  At the end it prints one line:
 *   synprobe sent S synack A rst R other O unanswered U cpu C
 * where C is this process's CPU over the run, % of a core.  Needs
 * CAP_NET_RAW; the bench runs it in the gateway's namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static void die(const char *what)
{
	fprintf(stderr, "knlb-synprobe: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint32_t backend_addr(unsigned long a)
{
	return htonl((10u << 24) | (1u << 16) | ((uint32_t)(a / 250) << 8) |
		     (uint32_t)(a % 250 + 1));
}

/* The sequence number a probe to backend a carries: its SYN-ACK acks +1. */
static uint32_t probe_seq(unsigned long a)
{
	return (uint32_t)(a * 2654435761u) ^ 0x5eed5eedu;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* TCP checksum over the IPv4 pseudo-header and a 20-byte header. */
static uint16_t tcp_csum(uint32_t src, uint32_t dst, const void *hdr)
{
	const uint16_t *w = hdr;
	uint32_t sum = 0;

	sum += (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
	sum += htons(IPPROTO_TCP) + htons(sizeof(struct tcphdr));
	for (size_t i = 0; i < sizeof(struct tcphdr) / 2; i++)
		sum += w[i];
	return csum_fold(sum);
}

/* Only TCP segments to our source port reach the socket. */
static void attach_port_filter(int fd, uint16_t port)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),		/* X = IP header length */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),		/* TCP dest port */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == -1)
		die("SO_ATTACH_FILTER");
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long count = 0, port = 8080, interval_ms = 2000, grid_ms = 5, secs = 20;
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "grid-ms", required_argument, NULL, 'g' },
		{ "secs", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long *v = c == 'n' ? &count : c == 'p' ? &port :
				   c == 'i' ? &interval_ms : c == 'g' ? &grid_ms :
				   c == 's' ? &secs : NULL;
		char *end;

		if (!v) {
			fprintf(stderr, "usage: knlb-synprobe --count N [--port P] [--interval-ms I] [--grid-ms G] [--secs S]\n");
			return 2;
		}
		*v = strtoul(optarg, &end, 10);
		if (*end || !*optarg) {
			fprintf(stderr, "knlb-synprobe: --%s: not a number: %s\n",
				opts[c == 'n' ? 0 : c == 'p' ? 1 : c == 'i' ? 2 : c == 'g' ? 3 : 4].name, optarg);
			return 2;
		}
	}
	if (!count || count > 62500 || !port || port > 65535 || !grid_ms ||
	    interval_ms < grid_ms || !secs) {
		fprintf(stderr, "knlb-synprobe: need 1 <= --count <= 62500, a port, --interval-ms >= --grid-ms > 0, --secs > 0\n");
		return 2;
	}

	/* The source address the kernel would use towards the farm. */
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = backend_addr(0) };
	struct sockaddr_in src;
	socklen_t len = sizeof(src);
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	if (u == -1 || connect(u, (struct sockaddr *)&to, sizeof(to)) == -1 ||
	    getsockname(u, (struct sockaddr *)&src, &len) == -1)
		die("finding the source address");
	close(u);

	/* Hold a source port: bound, never listening, so the kernel resets
	 * every SYN-ACK that comes to it. */
	int hold = socket(AF_INET, SOCK_STREAM, 0);

	src.sin_port = 0;
	if (hold == -1 || bind(hold, (struct sockaddr *)&src, sizeof(src)) == -1 ||
	    getsockname(hold, (struct sockaddr *)&src, &len) == -1)
		die("holding a source port");

	int raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_TCP);

	if (raw == -1)
		die("raw socket");
	attach_port_filter(raw, ntohs(src.sin_port));
	struct sockaddr_in raw_src = src;

	raw_src.sin_port = 0;
	if (bind(raw, (struct sockaddr *)&raw_src, sizeof(raw_src)) == -1)
		die("bind raw");

	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct itimerspec its = {
		.it_interval = { (time_t)(grid_ms / 1000), (long)(grid_ms % 1000) * 1000000L },
		.it_value = { 0, 1 },
	};

	if (tfd == -1 || timerfd_settime(tfd, 0, &its, NULL) == -1)
		die("timerfd");

	unsigned long ticks_per_interval = interval_ms / grid_ms, tick = 0;
	unsigned long sent = 0, synack = 0, rst = 0, other = 0;
	unsigned char *answered = calloc(count, 1);
	struct tcphdr syn[BATCH];
	struct sockaddr_in dst[BATCH];
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
	unsigned char rbuf[BATCH][128];
	struct iovec riov[BATCH];
	struct mmsghdr rmsg[BATCH];
	double t0 = mono_seconds(), c0 = cpu_seconds(), end = t0 + (double)secs;

	if (!answered)
		die("calloc");
	for (int i = 0; i < BATCH; i++) {
		riov[i] = (struct iovec){ rbuf[i], sizeof(rbuf[i]) };
		memset(&rmsg[i], 0, sizeof(rmsg[i]));
		rmsg[i].msg_hdr.msg_iov = &riov[i];
		rmsg[i].msg_hdr.msg_iovlen = 1;
	}
	while (mono_seconds() < end) {
		struct pollfd pfd[2] = { { tfd, POLLIN, 0 }, { raw, POLLIN, 0 } };

		if (poll(pfd, 2, 100) == -1 && errno != EINTR)
			die("poll");
		if (pfd[0].revents & POLLIN) {
			uint64_t exp;

			if (read(tfd, &exp, sizeof(exp)) != sizeof(exp))
				exp = 0;
			for (; exp; exp--, tick++) {
				/* This tick's share: backends a with a % ticks == tick % ticks. */
				unsigned long a = tick % ticks_per_interval;
				int n = 0;

				for (; a < count; a += ticks_per_interval) {
					struct tcphdr *h = &syn[n];

					memset(h, 0, sizeof(*h));
					h->source = src.sin_port;
					h->dest = htons((uint16_t)port);
					h->seq = htonl(probe_seq(a));
					h->doff = 5;
					h->syn = 1;
					h->window = htons(1024);
					h->check = tcp_csum(src.sin_addr.s_addr, backend_addr(a), h);
					dst[n] = (struct sockaddr_in){ .sin_family = AF_INET,
						.sin_addr.s_addr = backend_addr(a) };
					iov[n] = (struct iovec){ h, sizeof(*h) };
					memset(&msg[n], 0, sizeof(msg[n]));
					msg[n].msg_hdr.msg_name = &dst[n];
					msg[n].msg_hdr.msg_namelen = sizeof(dst[n]);
					msg[n].msg_hdr.msg_iov = &iov[n];
					msg[n].msg_hdr.msg_iovlen = 1;
					if (++n == BATCH || a + ticks_per_interval >= count) {
						int k = sendmmsg(raw, msg, (unsigned)n, 0);

						if (k > 0)
							sent += (unsigned long)k;
						n = 0;
					}
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			int k;

			while ((k = recvmmsg(raw, rmsg, BATCH, MSG_DONTWAIT, NULL)) > 0) {
				for (int i = 0; i < k; i++) {
					const unsigned char *p = rbuf[i];
					size_t ihl = (size_t)(p[0] & 0xf) * 4;
					const struct tcphdr *h = (const void *)(p + ihl);
					uint32_t from;
					unsigned long a;

					if (rmsg[i].msg_len < ihl + sizeof(*h)) {
						other++;
						continue;
					}
					memcpy(&from, p + 12, sizeof(from));
					from = ntohl(from);
					a = ((from >> 8) & 0xff) * 250 + (from & 0xff) - 1;
					if (a >= count || ntohl(h->ack_seq) != probe_seq(a) + 1) {
						other++;
					} else if (h->syn && h->ack) {
						synack++;
						answered[a] = 1;
					} else if (h->rst) {
						rst++;
						answered[a] = 1;
					} else {
						other++;
					}
				}
			}
		}
	}
	double cpu = cpu_seconds() - c0, wall = mono_seconds() - t0;
	unsigned long unanswered = 0;

	for (unsigned long a = 0; a < count; a++)
		unanswered += !answered[a];
	printf("synprobe sent %lu synack %lu rst %lu other %lu unanswered %lu cpu %.2f\n",
	       sent, synack, rst, other, unanswered, 100.0 * cpu / wall);
	free(answered);
	close(raw);
	close(hold);
	close(tfd);
	return 0;
}
