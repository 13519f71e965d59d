/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small helpers the unit and kernel tests share: a monotonic clock in
 * milliseconds, and a TCP connection to a loopback port from a chosen
 * 127.0.0.<host> source address (per-address limits need several).
 */
#ifndef KNLB_TEST_LOOPBACK_H
#define KNLB_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A connected socket from 127.0.0.<host> (0: the kernel picks), or -1. */
static inline int connect_from(uint16_t port, int host)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)host) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	if ((host && bind(fd, (struct sockaddr *)&from, sizeof(from)) == -1) ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

#endif
