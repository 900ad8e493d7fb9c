/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Numeric socket addresses ("ADDR:PORT", "[V6ADDR]:PORT") and IPv4/IPv6 CIDR prefixes, as
 * written in the config and printed back in messages. Numeric only, never a name lookup: edged
 * starts at boot and must not wait for DNS.
 */
#ifndef EDGED_ADDR_H
#define EDGED_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Room for "[" + the longest IPv6 text + "]:65535" and the NUL. */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 8)
/* Room for the longest IPv6 text + "/128" and the NUL. */
#define PREFIX_STRLEN (INET6_ADDRSTRLEN + 4)

/* What went wrong, so that the caller can name the fix; addr_strerror() words each one. */
enum addr_error {
	ADDR_ERR_SYNTAX = -1,        /* not ADDR:PORT or [V6ADDR]:PORT with a numeric address */
	ADDR_ERR_V6_BRACKETS = -2,   /* an IPv6 address without the brackets: "::1:9420" */
	ADDR_ERR_PORT = -3,          /* the port is a number outside 1-65535 */
	ADDR_ERR_PREFIX_SYNTAX = -4, /* the part before '/' is not an IPv4 or IPv6 address */
	ADDR_ERR_PREFIX_LEN = -5,    /* the length is not a number within 0-32 (v4), 0-128 (v6) */
	ADDR_ERR_HOST_BITS = -6,     /* bits set beyond the length; *p holds the masked prefix */
};

struct prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t len;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/* "198.51.100.1:9420" or "[2001:db8::1]:9420" -> *SS (port 1-65535) and *LEN (may be NULL).
 * Returns 0 or an enum addr_error. */
int addr_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* The form addr_parse_listen() reads, into BUF (ADDR_STRLEN is always enough). Returns BUF. */
char *addr_format(const struct sockaddr_storage *ss, char *buf, size_t size);

/* "198.51.100.0/24", "2001:db8::/32"; a bare address is a /32 or /128. Returns 0 or an enum
 * addr_error. On ADDR_ERR_HOST_BITS, *P is the prefix with the host bits cleared, so that the
 * caller can ask "did you mean 198.51.100.0/24?" with prefix_format(). */
int prefix_parse(const char *s, struct prefix *p);

/* "198.51.100.0/24" into BUF (PREFIX_STRLEN is always enough). Returns BUF. */
char *prefix_format(const struct prefix *p, char *buf, size_t size);

/* The meaning of an enum addr_error, worded for a user: "port out of range (1-65535)". */
const char *addr_strerror(int err);

#endif
