/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Address literals: parsing and formatting.  Only literals are accepted,
 * never host names: a load balancer must not depend on DNS to start, and
 * a name that resolves differently on two gateways would give them
 * different slot tables.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "knlb/lib/addr.h"

int addr_parse(const char *text, struct knlb_addr *out)
{
	struct knlb_addr a;

	/* Zeroed so that padding and the unused union bytes compare equal. */
	memset(&a, 0, sizeof(a));
	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, &a.in) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, text, &a.in6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*out = a;
	return 0;
}

/*
 * Decimal 1..65535, digits only: strtoul would accept leading blanks, a
 * sign and "0x", none of which belong in "ADDR:PORT".
 */
static int port_parse(const char *text, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = strlen(text);

	if (n == 0 || n > 5 || strspn(text, "0123456789") != n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned long)(text[i] - '0');
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int addr_port_parse(const char *text, struct knlb_addr *out, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *start = text;
	struct knlb_addr a;
	size_t len;
	uint16_t p;

	if (!text)
		return -EINVAL;
	if (text[0] == '[') {
		/* "[V6]:PORT": the brackets are what make the port findable. */
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		start = text + 1;
		len = (size_t)(close - start);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		len = (size_t)(colon - text);
		/* A bare "::1:80" is ambiguous; insist on brackets for IPv6. */
		if (memchr(text, ':', len))
			return -EINVAL;
	}
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, start, len);
	host[len] = '\0';

	if (addr_parse(host, &a) < 0)
		return -EINVAL;
	/* "[1.2.3.4]:80" is not a spelling anybody means. */
	if ((text[0] == '[') != (a.family == AF_INET6))
		return -EINVAL;
	if (port_parse(colon + 1, &p) < 0)
		return -EINVAL;
	*out = a;
	*port = p;
	return 0;
}

bool addr_equal(const struct knlb_addr *a, const struct knlb_addr *b)
{
	if (a->family != b->family)
		return false;
	switch (a->family) {
	case AF_INET:
		return a->in.s_addr == b->in.s_addr;
	case AF_INET6:
		return memcmp(&a->in6, &b->in6, sizeof(a->in6)) == 0;
	default:
		/* Two unset addresses are the same nothing. */
		return true;
	}
}

const char *addr_format(const struct knlb_addr *a, char *buf, size_t len)
{
	const void *src = a->family == AF_INET ? (const void *)&a->in :
						 (const void *)&a->in6;

	if (len == 0)
		return buf;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, src, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *addr_port_format(const struct knlb_addr *a, uint16_t port,
			     char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	addr_format(a, host, sizeof(host));
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, (unsigned int)port);
	else
		snprintf(buf, len, "%s:%u", host, (unsigned int)port);
	return buf;
}

const char *addr_family_name(enum knlb_family f)
{
	return f == KNLB_FAMILY_IPV6 ? "IPv6" : "IPv4";
}

int addr_compare(const struct knlb_addr *a, const struct knlb_addr *b)
{
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	if (a->family == AF_INET6)
		return memcmp(&a->in6, &b->in6, sizeof(a->in6));
	return memcmp(&a->in, &b->in, sizeof(a->in));
}
