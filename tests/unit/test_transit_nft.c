// SPDX-License-Identifier: GPL-2.0
/*
 * The translation of transit firewall rules into nftables expressions: each rule's matches,
 * in order, as libnftnl prints them (the same text `nft --debug=netlink` shows), so that a
 * change in what a rule matches shows up here before it shows up as a hole in a firewall.
 * The kernel's acceptance of whole tables is the e2e test's part (tests/e2e/transit.sh).
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
#include <libnftnl/rule.h>

#include "config.h"
#include "config_fixture.h"
#include "transit_nft.h"

/* The expressions of rule INDEX of the only customer in the firewall TEXT. */
static void expr_text(struct fx *f, const char *rules, int index, char *buf, size_t len)
{
	char text[1024];
	struct nftnl_rule *r;
	char *p;

	snprintf(text, sizeof(text),
	         HEAD "transit:\n"
	              "  endpoints: [192.0.2.100]\n"
	              "  customers:\n"
	              "    - name: acme\n"
	              "      prefixes: [203.0.113.0/26]\n"
	              "      tunnels: [{name: t1, remote: 198.51.100.50}]\n"
	              "      firewall: {rules: [%s]}\n",
	         rules);
	assert_int_equal(load(f, text), 0);
	r = transit_nft_rule(&f->cfg.transit.customers[0].rules[index], index, "in");
	assert_non_null(r);
	nftnl_rule_snprintf(buf, len, r, NFTNL_OUTPUT_DEFAULT, 0);
	nft_rule_free(r);
	/* from the first expression on: the header names table, chain and handle */
	p = strchr(buf, '[');
	assert_non_null(p);
	memmove(buf, p, strlen(p) + 1);
	/* one line: expressions are printed one per line, the comment last */
	p = strstr(buf, "userdata");
	if (p)
		*p = '\0';
	for (char *s = buf, *d = buf;; s++) {
		if (*s == '\n') {
			*d++ = ' ';
			while (s[1] == ' ')
				s++;
		} else if (!(*d++ = *s)) {
			break;
		}
	}
	print_message("  %s\n", buf);
}

static void test_port_and_proto(void **state)
{
	char buf[1024];

	expr_text(*state, "{action: deny, proto: tcp, dst_port: 23}", 0, buf, sizeof(buf));
	assert_string_equal(buf, "[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000006 ] "
	                         "[ payload load 2b @ transport header + 2 => reg 1 ] "
	                         "[ cmp eq reg 1 0x00001700 ] [ counter pkts 0 bytes 0 ] "
	                         "[ immediate reg 0 drop ] ");
}

static void test_port_range_and_prefix(void **state)
{
	char buf[1024];

	expr_text(*state,
	          "{action: allow, proto: udp, src: 198.51.100.0/24, dst: 203.0.113.8/29, "
	          "src_port: 1000-2000, dst_port: 53}",
	          0, buf, sizeof(buf));
	assert_string_equal(buf, "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x00000002 ] "
	                         "[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000011 ] "
	                         "[ payload load 4b @ network header + 12 => reg 1 ] "
	                         "[ bitwise reg 1 = ( reg 1 & 0x00ffffff ) ^ 0x00000000 ] "
	                         "[ cmp eq reg 1 0x006433c6 ] "
	                         "[ payload load 4b @ network header + 16 => reg 1 ] "
	                         "[ bitwise reg 1 = ( reg 1 & 0xf8ffffff ) ^ 0x00000000 ] "
	                         "[ cmp eq reg 1 0x087100cb ] "
	                         "[ payload load 2b @ transport header + 0 => reg 1 ] "
	                         "[ range eq reg 1 0x0000e803 0x0000d007 ] "
	                         "[ payload load 2b @ transport header + 2 => reg 1 ] "
	                         "[ cmp eq reg 1 0x00003500 ] [ counter pkts 0 bytes 0 ] "
	                         "[ immediate reg 0 accept ] ");
}

static void test_family_only_and_v6_host(void **state)
{
	char buf[1024];

	/* 0.0.0.0/0: every IPv4 packet, and only those */
	expr_text(*state, "{action: allow, src: 0.0.0.0/0}", 0, buf, sizeof(buf));
	assert_string_equal(buf, "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x00000002 ] "
	                         "[ counter pkts 0 bytes 0 ] [ immediate reg 0 accept ] ");
	/* a /128 needs no mask */
	expr_text(*state, "{action: deny, proto: icmpv6, dst: '2001:db8::1'}", 0, buf, sizeof(buf));
	assert_string_equal(buf, "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x0000000a ] "
	                         "[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x0000003a ] "
	                         "[ payload load 16b @ network header + 24 => reg 1 ] "
	                         "[ cmp eq reg 1 0xb80d0120 0x00000000 0x00000000 0x01000000 ] "
	                         "[ counter pkts 0 bytes 0 ] [ immediate reg 0 drop ] ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_port_and_proto, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_port_range_and_prefix, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_family_only_and_v6_host, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
