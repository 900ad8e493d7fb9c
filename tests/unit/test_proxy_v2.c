// SPDX-License-Identifier: GPL-2.0
/*
 * PROXY protocol v2 headers of edged-proxy: the exact bytes an origin receives (checked
 * against a header written out by hand from haproxy's specification), the round trip, and
 * a parser that waits for more bytes, skips TLVs and refuses what is not a v2 header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy_v2.h"

static struct sockaddr_storage v4(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, addr, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, addr, &s->sin6_addr), 1);
	return ss;
}

/* 192.0.2.1:12345 -> 203.0.113.7:443 over TCP, byte by byte from the specification. */
static const uint8_t tcp4_header[] = {
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
        0x21,                                                                   /* v2, PROXY */
        0x11,                                                                   /* TCP4 */
        0x00, 0x0c,                                                             /* 12 bytes */
        192,  0,    2,    1,                                                    /* src */
        203,  0,    113,  7,                                                    /* dst */
        0x30, 0x39,                                                             /* 12345 */
        0x01, 0xbb,                                                             /* 443 */
};

static void test_encode_tcp4_exact_bytes(void **state)
{
	struct sockaddr_storage src = v4("192.0.2.1", 12345), dst = v4("203.0.113.7", 443);
	uint8_t buf[PP2_HEADER_MAX];

	(void)state;
	assert_int_equal(pp2_encode(buf, sizeof(buf), IPPROTO_TCP, &src, &dst),
	                 sizeof(tcp4_header));
	assert_memory_equal(buf, tcp4_header, sizeof(tcp4_header));
}

static void test_encode_udp6_and_round_trip(void **state)
{
	struct sockaddr_storage src = v6("2001:db8::1", 5353), dst = v6("2001:db8:100::7", 53);
	uint8_t buf[PP2_HEADER_MAX];
	struct pp2_info info;
	int n;

	(void)state;
	n = pp2_encode(buf, sizeof(buf), IPPROTO_UDP, &src, &dst);
	assert_int_equal(n, PP2_FIXED_LEN + PP2_ADDR_LEN_V6);
	assert_int_equal(buf[13], 0x22); /* AF_INET6 << 4 | DGRAM */
	assert_int_equal(pp2_parse(buf, n, &info), n);
	assert_false(info.local);
	assert_int_equal(info.protocol, IPPROTO_UDP);
	assert_memory_equal(&info.src, &src, sizeof(struct sockaddr_in6));
	assert_memory_equal(&info.dst, &dst, sizeof(struct sockaddr_in6));
}

static void test_encode_refuses(void **state)
{
	struct sockaddr_storage a4 = v4("192.0.2.1", 1), a6 = v6("2001:db8::1", 1);
	uint8_t buf[PP2_HEADER_MAX];

	(void)state;
	assert_int_equal(pp2_encode(buf, sizeof(buf), IPPROTO_TCP, &a4, &a6), -1);
	assert_int_equal(pp2_encode(buf, PP2_FIXED_LEN + 11, IPPROTO_TCP, &a4, &a4), -1);
	assert_int_equal(pp2_encode(buf, sizeof(buf), IPPROTO_SCTP, &a4, &a4), -1);
}

/* A stream parser sees the header in pieces: every short prefix asks for more. */
static void test_parse_needs_more(void **state)
{
	struct pp2_info info;

	(void)state;
	for (size_t len = 0; len < sizeof(tcp4_header); len++)
		assert_int_equal(pp2_parse(tcp4_header, len, &info), 0);
	assert_int_equal(pp2_parse(tcp4_header, sizeof(tcp4_header), &info), sizeof(tcp4_header));
	assert_int_equal(ntohs(((struct sockaddr_in *)&info.dst)->sin_port), 443);
}

static void test_parse_refuses(void **state)
{
	uint8_t buf[sizeof(tcp4_header)];
	struct pp2_info info;

	(void)state;
	assert_int_equal(pp2_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &info), -1);
	assert_int_equal(pp2_parse((const uint8_t *)"PROXY TCP4 ", 11, &info), -1); /* v1 */
	memcpy(buf, tcp4_header, sizeof(buf));
	buf[12] = 0x11; /* version 1 in the binary format */
	assert_int_equal(pp2_parse(buf, sizeof(buf), &info), -1);
	memcpy(buf, tcp4_header, sizeof(buf));
	buf[15] = 8; /* shorter than two IPv4 addresses and ports */
	assert_int_equal(pp2_parse(buf, sizeof(buf), &info), -1);
}

static void test_parse_local_and_tlvs(void **state)
{
	uint8_t buf[sizeof(tcp4_header) + 7];
	struct pp2_info info;

	(void)state;
	memcpy(buf, tcp4_header, sizeof(tcp4_header));
	buf[12] = 0x20; /* LOCAL: a health check of the proxy itself */
	buf[15] = 12 + 7;
	memcpy(buf + sizeof(tcp4_header), "\x02\x00\x04test", 7); /* PP2_TYPE_AUTHORITY */
	assert_int_equal(pp2_parse(buf, sizeof(buf) - 1, &info), 0);
	assert_int_equal(pp2_parse(buf, sizeof(buf), &info), sizeof(buf));
	assert_true(info.local);
	assert_int_equal(info.tlv_len, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_encode_tcp4_exact_bytes),
	        cmocka_unit_test(test_encode_udp6_and_round_trip),
	        cmocka_unit_test(test_encode_refuses),
	        cmocka_unit_test(test_parse_needs_more),
	        cmocka_unit_test(test_parse_refuses),
	        cmocka_unit_test(test_parse_local_and_tlvs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
