// SPDX-License-Identifier: GPL-2.0
/*
 * GRE keepalives of transit tunnels: the exact packet edged sends (outer IPv4 from the
 * endpoint to the router, GRE with the tunnel's key, inner ICMP echo reply from the router to
 * the edge's own unicast address with valid checksums), and that what a router sends back after
 * decapsulating it (the inner packet) is recognised, while other ICMP is not.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_keepalive_bytes),
	        cmocka_unit_test(test_other_icmp_is_not_a_keepalive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
