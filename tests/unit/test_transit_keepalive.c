// SPDX-License-Identifier: GPL-2.0
/*
 * GRE keepalives of transit tunnels: the exact packet edged sends (outer IPv4 from the
 * endpoint to the router, GRE with the tunnel's key, inner ICMP echo reply from the router to
 * the edge's own unicast address with valid checksums), and that what a router sends back after
 * decapsulating it (the inner packet) is recognised, while other ICMP is not. The same over an
 * IPv6 underlay: outer IPv6, inner IPv6 with an ICMPv6 echo reply whose checksum covers the
 * pseudo-header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "transit_config.h"
#include "transit_health.h"

static uint16_t sum16(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (p[i] << 8) | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

static void test_keepalive_bytes(void **state)
{
	uint8_t b[256];
	char name[TRANSIT_NAME_MAX];
	uint32_t remote = inet_addr("198.51.100.50"), ep = inet_addr("192.0.2.100");
	uint32_t me = inet_addr("100.64.0.46");
	size_t len = transit_keepalive_build(b, sizeof(b), "acme-nyc", remote, ep, me, true, 42, 7);
	const uint8_t *inner = b + 28, *icmp = inner + 20;

	(void)state;
	assert_int_equal(len, 20 + 8 + 20 + 8 + sizeof(TRANSIT_KEEPALIVE_MAGIC) + TRANSIT_NAME_MAX);
	assert_int_equal(b[0], 0x45);
	assert_int_equal((b[2] << 8) | b[3], len);
	assert_int_equal(b[9], IPPROTO_GRE);
	assert_memory_equal(b + 12, &ep, 4); /* from the anycast endpoint */
	assert_memory_equal(b + 16, &remote, 4);
	assert_int_equal(sum16(b, 20), 0xffff);
	assert_int_equal(b[20], 0x20); /* K bit, version 0 */
	assert_int_equal(b[21], 0x00);
	assert_int_equal((b[22] << 8) | b[23], 0x0800);
	assert_int_equal((b[24] << 24) | (b[25] << 16) | (b[26] << 8) | b[27], 42);
	assert_int_equal(inner[9], IPPROTO_ICMP);
	assert_memory_equal(inner + 12, &remote, 4); /* the router answers itself... */
	assert_memory_equal(inner + 16, &me, 4);     /* ...to this edge, not the anycast address */
	assert_int_equal(sum16(inner, 20), 0xffff);
	assert_int_equal(icmp[0], 0); /* echo reply: nobody answers it */
	assert_int_equal(sum16(icmp, len - 48), 0xffff);
	assert_int_equal((icmp[6] << 8) | icmp[7], 7);
	/* back from the router: the inner packet, recognised with its tunnel's name */
	assert_non_null(transit_keepalive_parse(inner, len - 28, name, sizeof(name)));
	assert_string_equal(name, "acme-nyc");
	/* without a key the GRE header is 4 bytes */
	assert_int_equal(transit_keepalive_build(b, sizeof(b), "t", remote, ep, me, false, 0, 1),
	                 len - 4);
	assert_int_equal(b[20], 0x00);
	assert_int_equal(transit_keepalive_build(b, 40, "t", remote, ep, me, false, 0, 1), 0);
}

static void test_other_icmp_is_not_a_keepalive(void **state)
{
	uint8_t b[256];
	char name[TRANSIT_NAME_MAX];
	size_t len = transit_keepalive_build(b, sizeof(b), "t1", inet_addr("198.51.100.50"),
	                                     inet_addr("192.0.2.100"), inet_addr("100.64.0.46"),
	                                     false, 0, 1);
	uint8_t *inner = b + 24;

	(void)state;
	inner[20] = 8; /* an echo request */
	assert_null(transit_keepalive_parse(inner, len - 24, name, sizeof(name)));
	inner[20] = 0;
	inner[28] ^= 1; /* the magic */
	assert_null(transit_keepalive_parse(inner, len - 24, name, sizeof(name)));
	inner[28] ^= 1;
	assert_null(transit_keepalive_parse(inner, 40, name, sizeof(name))); /* truncated */
	assert_non_null(transit_keepalive_parse(inner, len - 24, name, sizeof(name)));
}

static void test_keepalive6_bytes(void **state)
{
	uint8_t b[256], pseudo[40] = {0};
	char name[TRANSIT_NAME_MAX];
	struct in6_addr remote, ep, me;
	size_t len, icmp_len;
	const uint8_t *inner, *icmp;

	(void)state;
	inet_pton(AF_INET6, "2001:db8:5::50", &remote);
	inet_pton(AF_INET6, "2001:db8:e::100", &ep);
	inet_pton(AF_INET6, "2001:db8:5::1", &me);
	len = transit_keepalive_build6(b, sizeof(b), "umb-1", &remote, &ep, &me, true, 44, 9);
	inner = b + 48;
	icmp = inner + 40;
	icmp_len = 8 + sizeof(TRANSIT_KEEPALIVE_MAGIC) + TRANSIT_NAME_MAX;
	assert_int_equal(len, 40 + 8 + 40 + icmp_len);
	assert_int_equal(b[0], 0x60); /* version 6, traffic class 0 */
	assert_int_equal((b[4] << 8) | b[5], len - 40);
	assert_int_equal(b[6], IPPROTO_GRE);
	assert_int_equal(b[7], 64);
	assert_memory_equal(b + 8, &ep, 16); /* from the anycast endpoint */
	assert_memory_equal(b + 24, &remote, 16);
	assert_int_equal(b[40], 0x20); /* K bit, version 0 */
	assert_int_equal((b[42] << 8) | b[43], 0x86dd);
	assert_int_equal((b[44] << 24) | (b[45] << 16) | (b[46] << 8) | b[47], 44);
	assert_int_equal(inner[0] >> 4, 6);
	assert_int_equal((inner[4] << 8) | inner[5], icmp_len);
	assert_int_equal(inner[6], IPPROTO_ICMPV6);
	assert_memory_equal(inner + 8, &remote, 16); /* the router answers itself... */
	assert_memory_equal(inner + 24, &me, 16);    /* ...to this edge's own IPv6 address */
	assert_int_equal(icmp[0], 129);              /* echo reply: nobody answers it */
	assert_int_equal((icmp[6] << 8) | icmp[7], 9);
	/* the checksum over the pseudo-header and the message sums to 0xffff */
	memcpy(pseudo, &remote, 16);
	memcpy(pseudo + 16, &me, 16);
	pseudo[34] = icmp_len >> 8;
	pseudo[35] = icmp_len & 0xff;
	pseudo[39] = IPPROTO_ICMPV6;
	{
		uint32_t s = sum16(pseudo, 40) + sum16(icmp, icmp_len);

		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		assert_int_equal(s, 0xffff);
	}
	/* what a raw ICMPv6 socket reads back: the message */
	assert_non_null(transit_keepalive_parse6(icmp, icmp_len, name, sizeof(name)));
	assert_string_equal(name, "umb-1");
	/* an IPv4 parse does not take it, nor an IPv6 parse the IPv4 kind */
	assert_null(transit_keepalive_parse(inner, len - 48, name, sizeof(name)));
	b[88] = 128; /* an echo request */
	assert_null(transit_keepalive_parse6(icmp, icmp_len, name, sizeof(name)));
	b[88] = 129;
	assert_null(transit_keepalive_parse6(icmp, 20, name, sizeof(name))); /* truncated */
	/* without a key the GRE header is 4 bytes; too small a buffer builds nothing */
	assert_int_equal(
	        transit_keepalive_build6(b, sizeof(b), "t", &remote, &ep, &me, false, 0, 1),
	        len - 4);
	assert_int_equal(b[40], 0x00);
	assert_int_equal(transit_keepalive_build6(b, 100, "t", &remote, &ep, &me, false, 0, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_keepalive_bytes),
	        cmocka_unit_test(test_other_icmp_is_not_a_keepalive),
	        cmocka_unit_test(test_keepalive6_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
