// SPDX-License-Identifier: GPL-2.0
/*
 * The `dos:` section: what each rule compiles to (the struct the XDP stage evaluates), and
 * the errors for rules that could never match or are half-stated, each at FILE:LINE:COL.
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
#include <fcntl.h>
#include <unistd.h>

#include "config.h"
#include "config_fixture.h"
#include "dos_control.h"

static void test_full_rule_compiles(void **state)
{
	struct fx *f = *state;
	const struct dos_rule *r;

	assert_int_equal(
	        load(f, HEAD
	             "dos:\n"
	             "  rules:\n"
	             "    - name: ntp-reflection\n"
	             "      proto: udp\n"
	             "      src: 198.51.100.0/24\n"
	             "      dst: 203.0.113.7\n"
	             "      src_port: 123\n"
	             "      dst_port: 1024-65535\n"
	             "      ttl: 1-64\n"
	             "      length: 468-1500\n"
	             "      fragment: none\n"
	             "      payload: {offset: 8, bytes: \"17 00 03 2a\", mask: \"ff ff ff 00\"}\n"
	             "      action: rate-limit\n"
	             "      rate: {pps: 10k, bps: 80M, burst_packets: 500, per: destination}\n"),
	        0);
	assert_true(f->cfg.fn[FN_DOS].enabled);
	assert_int_equal(f->cfg.dos.n_rules, 1);
	assert_string_equal(f->cfg.dos.rules[0].name, "ntp-reflection");
	r = &f->cfg.dos.rules[0].rule;
	assert_int_equal(r->match, DOS_M_L3 | DOS_M_L4 | DOS_M_SRC | DOS_M_DST | DOS_M_SPORT |
	                                   DOS_M_DPORT | DOS_M_TTL | DOS_M_LEN | DOS_M_FRAG |
	                                   DOS_M_PAYLOAD);
	assert_int_equal(r->l3, 4);
	assert_int_equal(r->l4_proto, 17);
	assert_int_equal(r->src_len, 24);
	assert_memory_equal(r->src, "\xc6\x33\x64\x00", 4);
	assert_int_equal(r->dst_len, 32);
	assert_memory_equal(r->dst, "\xcb\x00\x71\x07", 4);
	assert_int_equal(r->sport_min, 123);
	assert_int_equal(r->sport_max, 123);
	assert_int_equal(r->dport_min, 1024);
	assert_int_equal(r->dport_max, 65535);
	assert_int_equal(r->ttl_min, 1);
	assert_int_equal(r->ttl_max, 64);
	assert_int_equal(r->len_min, 468);
	assert_int_equal(r->len_max, 1500);
	assert_int_equal(r->frag, DOS_FRAG_NONE);
	assert_int_equal(r->payload_off, 8);
	assert_int_equal(r->payload_len, 4);
	assert_memory_equal(r->payload, "\x17\x00\x03\x2a", 4);
	assert_memory_equal(r->payload_mask, "\xff\xff\xff\x00", 4);
	assert_int_equal(r->action, DOS_ACT_RATE_LIMIT);
	assert_int_equal(r->pps, 10000);
	assert_int_equal(r->bps, 10000000); /* 80 Mbit/s in bytes per second */
	assert_int_equal(r->burst_pkts, 500);
	assert_int_equal(r->rl_key, DOS_RL_DST);
}

static void test_tcp_flags_and_ipv6(void **state)
{
	struct fx *f = *state;
	const struct dos_rule *r;

	assert_int_equal(
	        load(f, HEAD "dos:\n  rules:\n"
	                     "    - {name: syn, proto: tcp, tcp_flags: \"syn !ack\", "
	                     "src: \"2001:db8::/32\", action: drop}\n"
	                     "    - {name: frags, family: ipv6, fragment: later, action: count}\n"),
	        0);
	r = &f->cfg.dos.rules[0].rule;
	assert_int_equal(r->tcp_flags_mask, 0x12);
	assert_int_equal(r->tcp_flags_value, 0x02);
	assert_int_equal(r->l3, 6);
	assert_int_equal(r->src_len, 32);
	assert_memory_equal(r->src, "\x20\x01\x0d\xb8", 4);
	assert_int_equal(f->cfg.dos.rules[1].rule.frag, DOS_FRAG_LATER);
	assert_int_equal(f->cfg.dos.rules[1].rule.action, DOS_ACT_COUNT);
}

static void test_lists_and_ceilings(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n"
	                              "  allow: [192.0.2.0/24]\n"
	                              "  block: [198.51.100.0/24, \"2001:db8:bad::/48\"]\n"
	                              "  ceilings:\n"
	                              "    - {dst: 203.0.113.0/24, pps: 200k}\n"),
	                 0);
	assert_int_equal(f->cfg.dos.lists[DOS_LIST_ALLOW].n, 1);
	assert_int_equal(f->cfg.dos.lists[DOS_LIST_BLOCK].n, 2);
	assert_int_equal(f->cfg.dos.lists[DOS_LIST_BLOCK].prefixes[1].len, 48);
	assert_int_equal(f->cfg.dos.n_ceilings, 1);
	assert_int_equal(f->cfg.dos.ceilings[0].pps, 200000);
}

static void test_block_file(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/edged-dos-XXXXXX", text[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	static const char lines[] =
	        "# attackers\n198.51.100.1\n\n203.0.113.0/24  # a /24\nnot-a-prefix\n";

	assert_true(write(fd, lines, strlen(lines)) == (ssize_t)strlen(lines));
	close(fd);
	snprintf(text, sizeof(text), HEAD "dos:\n  block_files: [%s]\n", path);
	assert_int_equal(load(f, text), -1);
	assert_int_equal(f->errs.n, 1);
	/* The list file's own line is named, inside the config's position. */
	assert_non_null(strstr(f->errs.msgs[0], "t.yaml:4:17: dos.block_files[0]: "));
	assert_non_null(strstr(f->errs.msgs[0], ":5: 'not-a-prefix' is not a prefix"));

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(write(fd, "198.51.100.1\n", 13) == 13);
	close(fd);
	assert_int_equal(load(f, text), 0);
	assert_int_equal(f->cfg.dos.lists[DOS_LIST_BLOCK].n_files, 1);
	unlink(path);
}

static void test_port_needs_tcp_or_udp(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, proto: icmp, dst_port: 80, "
	                              "action: drop}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:7: dos.rules[0]: ", "needs `proto: tcp` or `proto: udp`");
}

static void test_tcp_flags_need_tcp(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, proto: udp, tcp_flags: syn, "
	                              "action: drop}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:7: dos.rules[0]: ", "tcp_flags needs `proto: tcp`");
}

static void test_later_fragment_with_port_never_matches(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, proto: udp, dst_port: 53, "
	                              "fragment: later, action: drop}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:7: dos.rules[0]: ", "could never hold");
}

static void test_rate_limit_needs_rate_and_rate_needs_rate_limit(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, action: rate-limit}\n"), -1);
	assert_one_error(f, "t.yaml:5:7: dos.rules[0]: ", "needs a rate");
	assert_int_equal(
	        load(f, HEAD "dos:\n  rules:\n    - {name: a, action: drop, rate: {pps: 1}}\n"),
	        -1);
	assert_one_error(f, "t.yaml:5:7: dos.rules[0]: ", "only used with `action: rate-limit`");
	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, action: rate-limit, rate: "
	                              "{per: source}}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:43: dos.rules[0].rate: ", "give pps, bps or both");
}

static void test_duplicate_rule_name(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, action: drop}\n"
	                              "    - {name: a, action: pass}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:6:7: dos.rules[1]: ", "'a' already exists (rules[0])");
}

static void test_bad_values_name_the_fix(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, proto: tcp, tcp_flags: "
	                              "\"syn !acks\", action: drop}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:40: dos.rules[0].tcp_flags: ", "'!acks' is not a TCP flag");
	assert_int_equal(load(f, HEAD "dos:\n  block: [198.51.100.1/24]\n"), -1);
	assert_one_error(f, "t.yaml:4:11: dos.block[0]: ", "did you mean 198.51.100.0/24?");
	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, action: block}\n"), -1);
	assert_one_error(f, "t.yaml:5:25: dos.rules[0].action: ", "use drop, rate-limit, pass");
	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, dst_port: 2000-1000, proto: "
	                              "tcp, action: drop}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:27: dos.rules[0].dst_port: ", "runs backwards");
	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, payload: {offset: 0, bytes: "
	                              "\"aa bb\", mask: \"ff\"}, action: drop}\n"),
	                 -1);
	assert_one_error(f,
	                 "t.yaml:5:26: dos.rules[0].payload: ", "mask has 1 bytes but bytes has 2");
}

static void test_family_clash(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  rules:\n    - {name: a, src: 198.51.100.0/24, dst: "
	                              "\"2001:db8::1\", action: drop}\n"),
	                 -1);
	assert_one_error(
	        f, "t.yaml:5:44: dos.rules[0].dst: ", "dst is IPv6 but the rule is already IPv4");
	assert_int_equal(load(f,
	                      HEAD "dos:\n  rules:\n    - {name: a, proto: icmpv6, family: ipv4, "
	                           "action: drop}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:40: dos.rules[0].family: ", "already IPv6");
}

static void test_durations(void **state)
{
	(void)state;
	assert_int_equal(dos_parse_duration("300"), 300);
	assert_int_equal(dos_parse_duration("300s"), 300);
	assert_int_equal(dos_parse_duration("5m"), 300);
	assert_int_equal(dos_parse_duration("2h"), 7200);
	assert_int_equal(dos_parse_duration("1d"), 86400);
	assert_int_equal(dos_parse_duration("5x"), -1);
	assert_int_equal(dos_parse_duration("m"), -1);
	assert_int_equal(dos_parse_duration("-5"), -1);
	assert_int_equal(dos_parse_duration(""), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_full_rule_compiles, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tcp_flags_and_ipv6, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lists_and_ceilings, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_block_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_port_needs_tcp_or_udp, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tcp_flags_need_tcp, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_later_fragment_with_port_never_matches, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_rate_limit_needs_rate_and_rate_needs_rate_limit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_duplicate_rule_name, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_values_name_the_fix, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_family_clash, setup, teardown),
	        cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests_name("dos_config", tests, NULL, NULL);
}
