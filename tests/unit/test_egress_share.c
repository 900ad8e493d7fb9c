// SPDX-License-Identifier: GPL-2.0
/*
 * IP sharing's table entries (edged/egress_share.c) from `egress:` configs: members, this
 * edge's index, the range; that the data path's one-division owner lookup (bpf/eshare.h's
 * eshare_member_of) agrees with the allocator (edged/port_range.c) on every port of several
 * splits; the tunnel settings with and without the load balancer; and the errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_fixture.h"
#include "egress_share.h"
#include "port_range.h"

#define SECTION                                                                                    \
	"egress:\n"                                                                                \
	"  interface: wgedge1\n"                                                                   \
	"  private_key_file: /etc/edged/wg.key\n"                                                  \
	"  address: [100.64.0.1/10]\n"

static const char shared[] = HEAD SECTION "  snat:\n"
                                          "    - address: 203.0.113.20\n"
                                          "    - address: 203.0.113.10\n"
                                          "      ports: 1024-65535\n"
                                          "      share: [192.0.2.11, 192.0.2.12, 192.0.2.13]\n"
                                          "  self: 192.0.2.12\n";

static void test_entry(void **state)
{
	struct fx *f = *state;
	struct eshare_addr a;
	struct eshare_settings s;
	char err[300];

	assert_int_equal(load(f, shared), 0);
	assert_true(egress_share_wanted(&f->cfg));
	assert_int_equal(egress_share_entry(&f->cfg, 1, 5, &a, err, sizeof(err)), 0);
	assert_int_equal(a.index, 5);
	assert_int_equal(a.first, 1024);
	assert_int_equal(a.last, 65535);
	assert_int_equal(a.n, 3);
	assert_int_equal(a.size, 21504);
	assert_int_equal(a.self, 1);
	assert_int_equal(a.member[0], inet_addr("192.0.2.11"));
	assert_int_equal(a.member[2], inet_addr("192.0.2.13"));
	assert_int_equal(eshare_member_of(&a, 1023), -1);
	assert_int_equal(eshare_member_of(&a, 22527), 0);
	assert_int_equal(eshare_member_of(&a, 22528), 1);
	assert_int_equal(eshare_member_of(&a, 65535), 2);
	/* Without lb: GUE on the default port, from egress.self. */
	egress_share_settings(&f->cfg, &s);
	assert_int_equal(s.encap, LB_ENCAP_GUE);
	assert_int_equal(ntohs(s.lb.gue_port), LB_DEFAULT_GUE_PORT);
	assert_int_equal(s.lb.has_src_v4, 1);
	assert_memory_equal(s.lb.src_v4, &(in_addr_t){inet_addr("192.0.2.12")}, 4);
}

static void test_not_shared(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.20}]\n"), 0);
	assert_false(egress_share_wanted(&f->cfg));
	assert_int_equal(load(f, HEAD "dos: {}\n"), 0);
	assert_false(egress_share_wanted(&f->cfg));
}

/* The load balancer's tunnels when it runs: one format across the fleet. */
static void test_settings_follow_lb(void **state)
{
	struct fx *f = *state;
	struct eshare_settings s;
	char text[sizeof(shared) + 200];

	snprintf(text, sizeof(text),
	         "%slb:\n  encap: ipip\n  gue_port: 7000\n  servers: [{name: s1, address: "
	         "192.0.2.11}]\n",
	         shared);
	assert_int_equal(load(f, text), 0);
	egress_share_settings(&f->cfg, &s);
	assert_int_equal(s.encap, LB_ENCAP_IPIP);
	assert_int_equal(ntohs(s.lb.gue_port), 7000);
}

/* eshare_member_of == port_range_owner for every port, over splits with and without a
 * remainder, down to one port per member. */
static void test_owner_agrees_everywhere(void **state)
{
	static const struct {
		uint16_t lo, hi;
		int n;
	} splits[] = {{1024, 65535, 3}, {1024, 65535, 64}, {10000, 10009, 3},
	              {1, 65535, 7},    {5000, 5004, 5},   {60000, 65535, 1}};
	struct egress_snat_config s = {};
	struct eshare_addr a;
	struct fx *f = *state;
	char err[300];

	assert_int_equal(load(f, shared), 0);
	for (size_t k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
		s.port_lo = splits[k].lo;
		s.port_hi = splits[k].hi;
		s.n_share = splits[k].n;
		s.self_index = 0;
		s.address.family = AF_INET;
		for (int j = 0; j < s.n_share; j++) {
			s.share[j].family = AF_INET;
			s.share[j].len = 32;
			s.share[j].addr.v4.s_addr = htonl(0xc0000200 + j);
		}
		f->cfg.egress.snat[0] = s;
		assert_int_equal(egress_share_entry(&f->cfg, 0, 0, &a, err, sizeof(err)), 0);
		for (uint32_t port = 1; port <= 65535; port++) {
			int want = port_range_owner(s.port_lo, s.port_hi, s.n_share, port);

			if (want < 0)
				want = -1;
			if (eshare_member_of(&a, port) != want)
				fail_msg("%u-%u / %d: port %u: data path says %d, allocator %d",
				         s.port_lo, s.port_hi, s.n_share, port,
				         eshare_member_of(&a, port), want);
		}
	}
}

static void test_errors(void **state)
{
	struct fx *f = *state;
	struct eshare_addr a;
	char err[300];

	assert_int_equal(load(f, shared), 0);
	f->cfg.egress.snat[1].share[2].family = AF_INET6;
	assert_int_equal(egress_share_entry(&f->cfg, 1, 0, &a, err, sizeof(err)), -1);
	assert_non_null(
	        strstr(err, "egress.snat[1] (203.0.113.10): share member 2 is not an IPv4"));
	assert_int_equal(load(f, shared), 0);
	assert_int_equal(egress_share_entry(&f->cfg, 1, ESHARE_MAX_ADDRS, &a, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "at most"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_entry, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_not_shared, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_settings_follow_lb, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_owner_agrees_everywhere, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
