/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lab_addr.h: IPv4 and IPv6 socket addresses for the lab tools
 * (knlb-loadgen, knlb-testsrv).  Header-only: the tools are standalone
 * programs that link no knlb library.
 *
 * Text forms: "A.B.C.D" or "2001:db8::1" for an address; "A.B.C.D:PORT" or
 * "[2001:db8::1]:PORT" for an address with a port (the brackets are needed:
 * an IPv6 address has colons of its own).
 */
#ifndef KNLB_LAB_ADDR_H
#define KNLB_LAB_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Longest text form: "[" + IPv6 + "]:" + port. */
#define LAB_ADDR_STRLEN	(INET6_ADDRSTRLEN + 8)

union lab_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static inline socklen_t lab_sa_len(const union lab_sa *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

/* "A.B.C.D" or an IPv6 literal (no brackets, no port) -> a, port 0.
 * Returns 0 or -1. */
static inline int lab_addr_parse(const char *s, union lab_sa *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

static inline void lab_sa_set_port(union lab_sa *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in.sin_port = htons(port);
}

static inline unsigned lab_sa_port(const union lab_sa *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}

/* "A.B.C.D:PORT" or "[V6]:PORT" -> a.  Returns 0 or -1. */
static inline int lab_addr_port_parse(const char *s, union lab_sa *a)
{
	char buf[LAB_ADDR_STRLEN];
	char *host = buf, *colon, *end;
	unsigned long port;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if (*host == '[') {
		size_t n = strlen(host);

		if (n < 2 || host[n - 1] != ']')
			return -1;
		host[n - 1] = '\0';
		host++;
		if (!strchr(host, ':'))		/* [A.B.C.D]: not IPv6 */
			return -1;
	} else if (strchr(host, ':')) {
		return -1;			/* an IPv6 address needs brackets */
	}
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || port > 65535)
		return -1;
	if (lab_addr_parse(host, a) == -1)
		return -1;
	lab_sa_set_port(a, (uint16_t)port);
	return 0;
}

/* The address alone ("10.0.0.1", "2001:db8::1") into buf. */
static inline const char *lab_addr_str(const union lab_sa *a, char *buf, size_t len)
{
	const void *src = a->sa.sa_family == AF_INET6 ?
		(const void *)&a->in6.sin6_addr : (const void *)&a->in.sin_addr;

	if (!inet_ntop(a->sa.sa_family, src, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

/* The address as a URL's host or a Host header wants it: IPv6 in brackets. */
static inline const char *lab_addr_host(const union lab_sa *a, char *buf, size_t len)
{
	char plain[INET6_ADDRSTRLEN];

	lab_addr_str(a, plain, sizeof(plain));
	snprintf(buf, len, a->sa.sa_family == AF_INET6 ? "[%s]" : "%s", plain);
	return buf;
}

/*
 * Address ranges count in the last 32 bits: an IPv4 address as a number,
 * an IPv6 address's last four bytes (the rest must be equal).
 */
static inline uint32_t lab_addr_low32(const union lab_sa *a)
{
	uint32_t v;

	if (a->sa.sa_family == AF_INET)
		return ntohl(a->in.sin_addr.s_addr);
	memcpy(&v, &a->in6.sin6_addr.s6_addr[12], sizeof(v));
	return ntohl(v);
}

static inline void lab_addr_set_low32(union lab_sa *a, uint32_t h)
{
	uint32_t v = htonl(h);

	if (a->sa.sa_family == AF_INET)
		a->in.sin_addr.s_addr = v;
	else
		memcpy(&a->in6.sin6_addr.s6_addr[12], &v, sizeof(v));
}

/* Addresses in first..last, or -1 when the two are not a range (other
 * families, IPv6 addresses differing above the last 32 bits, last < first). */
static inline long long lab_addr_range_len(const union lab_sa *first,
					   const union lab_sa *last)
{
	if (first->sa.sa_family != last->sa.sa_family)
		return -1;
	if (first->sa.sa_family == AF_INET6 &&
	    memcmp(first->in6.sin6_addr.s6_addr, last->in6.sin6_addr.s6_addr, 12) != 0)
		return -1;
	if (lab_addr_low32(last) < lab_addr_low32(first))
		return -1;
	return (long long)lab_addr_low32(last) - lab_addr_low32(first) + 1;
}

#endif
