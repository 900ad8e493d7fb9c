// SPDX-License-Identifier: GPL-2.0
/* addr.c: listen addresses and CIDR prefixes as a user writes them in the config. Addresses
 * are from the documentation ranges (RFC 5737, RFC 3849). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "addr.h"

/* Parses S as a listen address and prints it back; the round trip is what messages show. */
static void assert_listen_roundtrip(const char *s, int family, unsigned int port)
{
	struct sockaddr_storage ss;
	char buf[ADDR_STRLEN];
	socklen_t len = 0;

	assert_int_equal(addr_parse_listen(s, &ss, &len), 0);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		assert_int_equal(len, sizeof(struct sockaddr_in));
		assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), port);
	} else {
		assert_int_equal(len, sizeof(struct sockaddr_in6));
		assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), port);
	}
	assert_string_equal(addr_format(&ss, buf, sizeof(buf)), s);
}

static void assert_listen_error(const char *s, int err)
{
	struct sockaddr_storage ss;

	assert_int_equal(addr_parse_listen(s, &ss, NULL), err);
}

static void test_listen_ipv4(void **state)
{
	(void)state;
	assert_listen_roundtrip("127.0.0.1:9420", AF_INET, 9420);
	assert_listen_roundtrip("198.51.100.7:80", AF_INET, 80);
	assert_listen_roundtrip("0.0.0.0:9420", AF_INET, 9420);
}

static void test_listen_ipv6(void **state)
{
	(void)state;
	assert_listen_roundtrip("[::1]:9420", AF_INET6, 9420);
	assert_listen_roundtrip("[2001:db8::1]:443", AF_INET6, 443);
	assert_listen_roundtrip("[::]:9420", AF_INET6, 9420);
}

static void test_listen_port_bounds(void **state)
{
	(void)state;
	assert_listen_roundtrip("127.0.0.1:1", AF_INET, 1);
	assert_listen_roundtrip("[::1]:65535", AF_INET6, 65535);
	assert_listen_error("127.0.0.1:0", ADDR_ERR_PORT);
	assert_listen_error("127.0.0.1:65536", ADDR_ERR_PORT);
	assert_listen_error("[::1]:99999999999999999999", ADDR_ERR_PORT);
}

static void test_listen_bad_port_text(void **state)
{
	(void)state;
	assert_listen_error("127.0.0.1:", ADDR_ERR_SYNTAX);
	assert_listen_error("127.0.0.1:http", ADDR_ERR_SYNTAX);
	assert_listen_error("127.0.0.1:-1", ADDR_ERR_SYNTAX);
	assert_listen_error("127.0.0.1: 80", ADDR_ERR_SYNTAX);
	assert_listen_error("[::1]:", ADDR_ERR_SYNTAX);
}

static void test_listen_bad_address(void **state)
{
	(void)state;
	assert_listen_error("127.0.0.1", ADDR_ERR_SYNTAX);      /* no port */
	assert_listen_error("localhost:9420", ADDR_ERR_SYNTAX); /* numeric only */
	assert_listen_error(":9420", ADDR_ERR_SYNTAX);
	assert_listen_error("256.0.0.1:80", ADDR_ERR_SYNTAX);
	assert_listen_error("[127.0.0.1]:80", ADDR_ERR_SYNTAX); /* brackets are for IPv6 */
	assert_listen_error("[::1]9420", ADDR_ERR_SYNTAX);
	assert_listen_error("[::1", ADDR_ERR_SYNTAX);
	assert_listen_error("", ADDR_ERR_SYNTAX);
}

static void test_listen_ipv6_without_brackets(void **state)
{
	(void)state;
	assert_listen_error("::1:9420", ADDR_ERR_V6_BRACKETS);
	assert_listen_error("2001:db8::1:443", ADDR_ERR_V6_BRACKETS);
	assert_string_equal(addr_strerror(ADDR_ERR_V6_BRACKETS),
	                    "an IPv6 address needs brackets: [ADDR]:PORT such as [::1]:9420");
}

static void assert_prefix(const char *s, int family, int len, const char *formatted)
{
	char buf[PREFIX_STRLEN];
	struct prefix p;

	assert_int_equal(prefix_parse(s, &p), 0);
	assert_int_equal(p.family, family);
	assert_int_equal(p.len, len);
	assert_string_equal(prefix_format(&p, buf, sizeof(buf)), formatted);
}

static void test_prefix_ipv4(void **state)
{
	(void)state;
	assert_prefix("198.51.100.0/24", AF_INET, 24, "198.51.100.0/24");
	assert_prefix("192.0.2.128/25", AF_INET, 25, "192.0.2.128/25");
	assert_prefix("100.64.0.0/10", AF_INET, 10, "100.64.0.0/10");
	assert_prefix("0.0.0.0/0", AF_INET, 0, "0.0.0.0/0");
}

static void test_prefix_ipv6(void **state)
{
	(void)state;
	assert_prefix("2001:db8::/32", AF_INET6, 32, "2001:db8::/32");
	assert_prefix("2001:db8:1:2::/64", AF_INET6, 64, "2001:db8:1:2::/64");
	assert_prefix("::/0", AF_INET6, 0, "::/0");
}

static void test_prefix_bare_address_is_host_route(void **state)
{
	(void)state;
	assert_prefix("203.0.113.9", AF_INET, 32, "203.0.113.9/32");
	assert_prefix("2001:db8::9", AF_INET6, 128, "2001:db8::9/128");
}

/* The error says what the user probably meant: *p holds the prefix with the host bits off. */
static void test_prefix_host_bits_set(void **state)
{
	char buf[PREFIX_STRLEN];
	struct prefix p;

	(void)state;
	assert_int_equal(prefix_parse("198.51.100.7/24", &p), ADDR_ERR_HOST_BITS);
	assert_string_equal(prefix_format(&p, buf, sizeof(buf)), "198.51.100.0/24");
	assert_int_equal(prefix_parse("192.0.2.129/25", &p), ADDR_ERR_HOST_BITS);
	assert_string_equal(prefix_format(&p, buf, sizeof(buf)), "192.0.2.128/25");
	assert_int_equal(prefix_parse("2001:db8::1/32", &p), ADDR_ERR_HOST_BITS);
	assert_string_equal(prefix_format(&p, buf, sizeof(buf)), "2001:db8::/32");
	assert_int_equal(prefix_parse("10.0.0.1/0", &p), ADDR_ERR_HOST_BITS);
	assert_string_equal(prefix_format(&p, buf, sizeof(buf)), "0.0.0.0/0");
	assert_string_equal(addr_strerror(ADDR_ERR_HOST_BITS),
	                    "host bits set beyond the prefix length");
}

static void test_prefix_length_out_of_range(void **state)
{
	struct prefix p;

	(void)state;
	assert_int_equal(prefix_parse("198.51.100.0/33", &p), ADDR_ERR_PREFIX_LEN);
	assert_int_equal(prefix_parse("2001:db8::/129", &p), ADDR_ERR_PREFIX_LEN);
	assert_int_equal(prefix_parse("198.51.100.0/", &p), ADDR_ERR_PREFIX_LEN);
	assert_int_equal(prefix_parse("198.51.100.0/-1", &p), ADDR_ERR_PREFIX_LEN);
	assert_int_equal(prefix_parse("198.51.100.0/24x", &p), ADDR_ERR_PREFIX_LEN);
	assert_int_equal(prefix_parse("198.51.100.0/99999999999999999999", &p),
	                 ADDR_ERR_PREFIX_LEN);
	/* 128 is fine for IPv6 but not for IPv4 */
	assert_int_equal(prefix_parse("198.51.100.0/128", &p), ADDR_ERR_PREFIX_LEN);
}

static void test_prefix_bad_address(void **state)
{
	struct prefix p;

	(void)state;
	assert_int_equal(prefix_parse("198.51.100/24", &p), ADDR_ERR_PREFIX_SYNTAX);
	assert_int_equal(prefix_parse("example.com/24", &p), ADDR_ERR_PREFIX_SYNTAX);
	assert_int_equal(prefix_parse("/24", &p), ADDR_ERR_PREFIX_SYNTAX);
	assert_int_equal(prefix_parse("", &p), ADDR_ERR_PREFIX_SYNTAX);
	assert_int_equal(prefix_parse("[2001:db8::]/32", &p), ADDR_ERR_PREFIX_SYNTAX);
}

/* Every code has its own wording, so that a caller printing addr_strerror() names the fix. */
static void test_strerror_distinct(void **state)
{
	static const int codes[] = {ADDR_ERR_SYNTAX,     ADDR_ERR_V6_BRACKETS,
	                            ADDR_ERR_PORT,       ADDR_ERR_PREFIX_SYNTAX,
	                            ADDR_ERR_PREFIX_LEN, ADDR_ERR_HOST_BITS};
	const size_t n = sizeof(codes) / sizeof(codes[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_string_not_equal(addr_strerror(codes[i]), addr_strerror(12345));
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(addr_strerror(codes[i]), addr_strerror(codes[j]));
	}
	assert_non_null(strstr(addr_strerror(ADDR_ERR_SYNTAX), "127.0.0.1:9420 or [::1]:9420"));
	assert_non_null(strstr(addr_strerror(ADDR_ERR_PORT), "1-65535"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_listen_ipv4),
	        cmocka_unit_test(test_listen_ipv6),
	        cmocka_unit_test(test_listen_port_bounds),
	        cmocka_unit_test(test_listen_bad_port_text),
	        cmocka_unit_test(test_listen_bad_address),
	        cmocka_unit_test(test_listen_ipv6_without_brackets),
	        cmocka_unit_test(test_prefix_ipv4),
	        cmocka_unit_test(test_prefix_ipv6),
	        cmocka_unit_test(test_prefix_bare_address_is_host_route),
	        cmocka_unit_test(test_prefix_host_bits_set),
	        cmocka_unit_test(test_prefix_length_out_of_range),
	        cmocka_unit_test(test_prefix_bad_address),
	        cmocka_unit_test(test_strerror_distinct),
	};

	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
