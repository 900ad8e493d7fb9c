// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Digits only (no sign, no space, no hex): returns the value, or -1 when S is not a decimal
 * number; values above MAX are returned as MAX + 1 so that callers can say "out of range". */
static long parse_decimal(const char *s, long max)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v <= max)
			v = v * 10 + (*s - '0');
	}
	return v > max ? max + 1 : v;
}

/* Copies S[0..LEN) into BUF (SIZE bytes); false when it does not fit or is empty. */
static bool copy_part(char *buf, size_t size, const char *s, size_t len)
{
	if (len == 0 || len >= size)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* Splits "[V6]:PORT" or "V4:PORT" into HOST and the port text; returns the family or an error. */
static int split_listen(const char *s, char *host, size_t size, const char **port)
{
	const char *colon;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':' || !copy_part(host, size, s + 1, end - s - 1))
			return ADDR_ERR_SYNTAX;
		*port = end + 2;
		return AF_INET6;
	}
	colon = strrchr(s, ':');
	if (!colon || !copy_part(host, size, s, colon - s))
		return ADDR_ERR_SYNTAX;
	*port = colon + 1;
	return strchr(host, ':') ? ADDR_ERR_V6_BRACKETS : AF_INET;
}

int addr_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *port_text;
	int family;
	long port;

	memset(ss, 0, sizeof(*ss));
	family = split_listen(s, host, sizeof(host), &port_text);
	if (family < 0)
		return family;
	if (family == AF_INET && inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return ADDR_ERR_SYNTAX;
	if (family == AF_INET6 && inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
		return ADDR_ERR_SYNTAX;
	port = parse_decimal(port_text, 65535);
	if (port < 0)
		return ADDR_ERR_SYNTAX;
	if (port < 1 || port > 65535)
		return ADDR_ERR_PORT;

	ss->ss_family = family;
	if (family == AF_INET)
		sin->sin_port = htons(port);
	else
		sin6->sin6_port = htons(port);
	if (len)
		*len = family == AF_INET ? sizeof(*sin) : sizeof(*sin6);
	return 0;
}

char *addr_format(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, size, "(address family %u)", ss->ss_family);
	}
	return buf;
}

/* Clears the bits of P beyond its length; true when any was set. */
static bool mask_host_bits(struct prefix *p)
{
	uint8_t *b = p->family == AF_INET ? (uint8_t *)&p->addr.v4 : p->addr.v6.s6_addr;
	int n = p->family == AF_INET ? 4 : 16;
	bool dirty = false;

	for (int i = 0; i < n; i++) {
		int keep = p->len - i * 8;
		uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));

		dirty |= (b[i] & ~mask) != 0;
		b[i] &= mask;
	}
	return dirty;
}

int prefix_parse(const char *s, struct prefix *p)
{
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	char host[INET6_ADDRSTRLEN];
	long max, len;

	memset(p, 0, sizeof(*p));
	if (!copy_part(host, sizeof(host), s, hlen))
		return ADDR_ERR_PREFIX_SYNTAX;
	if (inet_pton(AF_INET, host, &p->addr.v4) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &p->addr.v6) == 1)
		p->family = AF_INET6;
	else
		return ADDR_ERR_PREFIX_SYNTAX;

	max = p->family == AF_INET ? 32 : 128;
	len = slash ? parse_decimal(slash + 1, max) : max;
	if (len < 0 || len > max)
		return ADDR_ERR_PREFIX_LEN;
	p->len = len;
	return mask_host_bits(p) ? ADDR_ERR_HOST_BITS : 0;
}

char *prefix_format(const struct prefix *p, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (p->family != AF_INET && p->family != AF_INET6) {
		snprintf(buf, size, "(address family %d)", p->family);
		return buf;
	}
	inet_ntop(p->family, &p->addr, host, sizeof(host));
	snprintf(buf, size, "%s/%u", host, p->len);
	return buf;
}

const char *addr_strerror(int err)
{
	switch (err) {
	case 0:
		return "no error";
	case ADDR_ERR_SYNTAX:
		return "expected ADDR:PORT such as 127.0.0.1:9420 or [::1]:9420 (numeric addresses "
		       "only)";
	case ADDR_ERR_V6_BRACKETS:
		return "an IPv6 address needs brackets: [ADDR]:PORT such as [::1]:9420";
	case ADDR_ERR_PORT:
		return "port out of range (1-65535)";
	case ADDR_ERR_PREFIX_SYNTAX:
		return "expected an IPv4 or IPv6 prefix such as 198.51.100.0/24 or 2001:db8::/32";
	case ADDR_ERR_PREFIX_LEN:
		return "prefix length out of range (0-32 for IPv4, 0-128 for IPv6)";
	case ADDR_ERR_HOST_BITS:
		return "host bits set beyond the prefix length";
	default:
		return "unknown address error";
	}
}
