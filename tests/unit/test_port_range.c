// SPDX-License-Identifier: GPL-2.0
/*
 * IP sharing's port split: slices are contiguous, equal, in list order, the last taking the
 * remainder; every port has exactly one owner, the one whose slice holds it; impossible
 * splits are refused rather than producing empty slices.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "egress_config.h"
#include "port_range.h"

static void test_split_three(void **state)
{
	struct port_slice s;

	(void)state;
	/* 64512 ports / 3 = 21504 each */
	assert_int_equal(port_range_split(1024, 65535, 3, 0, &s), 0);
	assert_int_equal(s.lo, 1024);
	assert_int_equal(s.hi, 22527);
	assert_int_equal(port_range_split(1024, 65535, 3, 1, &s), 0);
	assert_int_equal(s.lo, 22528);
	assert_int_equal(s.hi, 44031);
	assert_int_equal(port_range_split(1024, 65535, 3, 2, &s), 0);
	assert_int_equal(s.lo, 44032);
	assert_int_equal(s.hi, 65535);
}

static void test_remainder_goes_last(void **state)
{
	struct port_slice s;

	(void)state;
	/* 10 ports among 3: 3, 3, 4 */
	assert_int_equal(port_range_split(100, 109, 3, 0, &s), 0);
	assert_int_equal(s.hi - s.lo + 1, 3);
	assert_int_equal(port_range_split(100, 109, 3, 2, &s), 0);
	assert_int_equal(s.lo, 106);
	assert_int_equal(s.hi, 109);
	/* one member: everything; as many members as ports: one each */
	assert_int_equal(port_range_split(1, 65535, 1, 0, &s), 0);
	assert_int_equal(s.lo, 1);
	assert_int_equal(s.hi, 65535);
	assert_int_equal(port_range_split(5000, 5003, 4, 3, &s), 0);
	assert_int_equal(s.lo, 5003);
	assert_int_equal(s.hi, 5003);
}

/* Every port of the range belongs to exactly one slice, and port_range_owner agrees. */
static void test_partition_and_owner(void **state)
{
	static const struct {
		uint16_t lo, hi;
		int n;
	} cases[] = {{1024, 65535, 3}, {1024, 65535, 7}, {1, 65535, 64}, {40000, 40010, 11}};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t next = cases[c].lo;

		for (int i = 0; i < cases[c].n; i++) {
			struct port_slice s;

			assert_int_equal(
			        port_range_split(cases[c].lo, cases[c].hi, cases[c].n, i, &s), 0);
			assert_int_equal(s.lo, next);
			assert_true(s.hi >= s.lo);
			assert_int_equal(
			        port_range_owner(cases[c].lo, cases[c].hi, cases[c].n, s.lo), i);
			assert_int_equal(
			        port_range_owner(cases[c].lo, cases[c].hi, cases[c].n, s.hi), i);
			next = (uint32_t)s.hi + 1;
		}
		assert_int_equal(next, (uint32_t)cases[c].hi + 1);
	}
}

static void test_refused(void **state)
{
	struct port_slice s;

	(void)state;
	assert_int_equal(port_range_split(2000, 1000, 2, 0, &s), PORT_RANGE_ERR_RANGE);
	assert_int_equal(port_range_split(0, 1000, 2, 0, &s), PORT_RANGE_ERR_RANGE);
	assert_int_equal(port_range_split(1000, 1001, 3, 0, &s), PORT_RANGE_ERR_MEMBERS);
	assert_int_equal(port_range_split(1000, 2000, 0, 0, &s), PORT_RANGE_ERR_MEMBERS);
	assert_int_equal(port_range_split(1000, 2000, 2, 2, &s), PORT_RANGE_ERR_INDEX);
	assert_int_equal(port_range_split(1000, 2000, 2, -1, &s), PORT_RANGE_ERR_INDEX);
	assert_int_equal(port_range_owner(1000, 2000, 2, 999), PORT_RANGE_ERR_PORT);
	assert_int_equal(port_range_owner(1000, 2000, 2, 2001), PORT_RANGE_ERR_PORT);
	assert_non_null(strstr(port_range_strerror(PORT_RANGE_ERR_MEMBERS), "more members"));
}

static void test_members_and_config_slice(void **state)
{
	struct egress_snat_config sc = {.port_lo = 1024, .port_hi = 65535, .n_share = 2};
	struct prefix self = {.family = AF_INET, .len = 32};
	struct port_slice s;

	(void)state;
	inet_pton(AF_INET, "192.0.2.11", &sc.share[0].addr.v4);
	inet_pton(AF_INET, "192.0.2.12", &sc.share[1].addr.v4);
	sc.share[0].family = sc.share[1].family = AF_INET;
	inet_pton(AF_INET, "192.0.2.12", &self.addr.v4);
	assert_int_equal(port_range_member_index(sc.share, 2, &self), 1);
	inet_pton(AF_INET, "192.0.2.13", &self.addr.v4);
	assert_int_equal(port_range_member_index(sc.share, 2, &self), -1);
	assert_int_equal(port_range_slice(&sc, 1, &s), 0);
	assert_int_equal(s.lo, 1024 + 32256);
	assert_int_equal(s.hi, 65535);
	/* not shared: member 0 owns the whole range */
	sc.n_share = 0;
	assert_int_equal(port_range_slice(&sc, 0, &s), 0);
	assert_int_equal(s.lo, 1024);
	assert_int_equal(s.hi, 65535);
	assert_int_equal(port_range_slice(&sc, 1, &s), PORT_RANGE_ERR_INDEX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_split_three),
	        cmocka_unit_test(test_remainder_goes_last),
	        cmocka_unit_test(test_partition_and_owner),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_members_and_config_slice),
	};

	return cmocka_run_group_tests_name("port_range", tests, NULL, NULL);
}
