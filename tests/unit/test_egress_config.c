// SPDX-License-Identifier: GPL-2.0
/*
 * The `egress:` section: what a full section compiles to (defaults, this edge's slice of each
 * shared range, each peer's SNAT address), and the errors a user can make, each at
 * FILE:LINE:COL and naming the fix.
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

#define K1 "2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0XI="
#define K2 "q55WPmjExN0vvfJQKMA1Le6rDmIyWaMVRS0Gs3Oto2s="

#define SECTION                                                                                    \
	"egress:\n"                                                                                \
	"  interface: wgedge1\n"                                                                   \
	"  private_key_file: /etc/edged/wg.key\n"                                                  \
	"  address: [100.64.0.1/10, \"fd00:64::1/64\"]\n"

static const char full[] =
        HEAD SECTION "  backend: wireguard-go\n"
                     "  listen_port: 51821\n"
                     "  peers:\n"
                     "    - {name: alice, public_key: \"" K1 "\", addresses: [100.64.0.2/32, "
                     "\"fd00:64::2/128\"], keepalive: 25s, max_connections: 1000}\n"
                     "    - {name: bob, public_key: \"" K2 "\", addresses: [100.64.0.3], "
                     "snat: 203.0.113.20}\n"
                     "  snat:\n"
                     "    - address: 203.0.113.10\n"
                     "      ports: 1024-65535\n"
                     "      share: [192.0.2.11, 192.0.2.12, 192.0.2.13]\n"
                     "    - address: 203.0.113.20\n"
                     "    - {address: \"2001:db8::10\", ports: 20000-29999}\n"
                     "  self: 192.0.2.12\n"
                     "  allow: {clients: true}\n";

static void test_full_section(void **state)
{
	struct fx *f = *state;
	const struct egress_config *ec;

	assert_int_equal(load(f, full), 0);
	ec = &f->cfg.egress;
	assert_true(f->cfg.fn[FN_EGRESS].enabled);
	assert_string_equal(ec->interface, "wgedge1");
	assert_int_equal(ec->backend, EGRESS_BACKEND_WIREGUARD_GO);
	assert_int_equal(ec->listen_port, 51821);
	assert_int_equal(ec->n_address, 2);
	assert_int_equal(ec->address[0].len, 10);
	assert_int_equal(ec->address[0].addr.v4.s_addr, inet_addr("100.64.0.1"));
	assert_int_equal(ec->n_peers, 2);
	assert_string_equal(ec->peers[0].name, "alice");
	assert_int_equal(ec->peers[0].public_key[0], 0xd8); /* base64 '2M' */
	assert_int_equal(ec->peers[0].n_addresses, 2);
	assert_int_equal(ec->peers[0].keepalive_s, 25);
	assert_int_equal(ec->peers[0].max_connections, 1000);
	assert_int_equal(ec->peers[0].snat[0], 0); /* the first IPv4 snat address */
	assert_int_equal(ec->peers[0].snat[1], 2);
	assert_int_equal(ec->peers[1].snat[0], 1); /* its own choice */
	assert_int_equal(ec->peers[1].addresses[0].len, 32);
	/* 64512 ports among 3 edges: 21504 each; self is the second. */
	assert_int_equal(ec->n_snat, 3);
	assert_int_equal(ec->snat[0].n_share, 3);
	assert_int_equal(ec->snat[0].self_index, 1);
	assert_int_equal(ec->snat[0].own_lo, 1024 + 21504);
	assert_int_equal(ec->snat[0].own_hi, 1024 + 2 * 21504 - 1);
	/* Not shared: the whole range is this edge's. */
	assert_int_equal(ec->snat[1].self_index, -1);
	assert_int_equal(ec->snat[1].own_lo, 1024);
	assert_int_equal(ec->snat[1].own_hi, 65535);
	assert_int_equal(ec->snat[2].own_lo, 20000);
	assert_int_equal(ec->snat[2].own_hi, 29999);
	assert_true(ec->allow.internet);
	assert_false(ec->allow.edge_services);
	assert_true(ec->allow.clients);
	assert_int_equal(ec->mark, EGRESS_DEFAULT_MARK);
	assert_int_equal(ec->table, EGRESS_DEFAULT_TABLE);
}

static void test_defaults_and_off(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"), 0);
	assert_int_equal(f->cfg.egress.backend, EGRESS_BACKEND_AUTO);
	assert_int_equal(f->cfg.egress.listen_port, 51820);
	assert_true(f->cfg.egress.allow.internet);
	assert_false(f->cfg.egress.allow.clients);
	assert_int_equal(f->cfg.egress.n_peers, 0);
	/* Present but off needs nothing else. */
	assert_int_equal(load(f, HEAD "egress: {enabled: false}\n"), 0);
	assert_false(f->cfg.fn[FN_EGRESS].enabled);
	/* A bare `egress:` turns it on without its required settings. */
	assert_int_not_equal(load(f, HEAD "egress:\n"), 0);
	assert_one_error(f,
	                 "t.yaml:3:8: egress: ", "interface, private_key_file, address and snat");
}

static void test_required(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f, HEAD "egress: {listen_port: 1}\n"), 0);
	assert_int_equal(f->errs.n, 4);
	assert_true(has_error(f, "t.yaml:3:9: egress:", "interface: wgedge1", NULL));
	assert_true(has_error(f, "private_key_file", "wg genkey", NULL));
	assert_true(has_error(f, "address: [100.64.0.1/10]", NULL));
	assert_true(has_error(f, "snat: [{address:", NULL));
}

static void test_bad_keys(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                          "  peers:\n"
	                                          "    - {name: a, public_key: abc, addresses: "
	                                          "[100.64.0.2]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:9:29: egress.peers[0].public_key: ", "44 base64 characters");
	/* One character changed to something outside base64. */
	assert_int_not_equal(load(f,
	                          HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                       "  peers:\n"
	                                       "    - {name: a, public_key: "
	                                       "\"2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0X!=\", "
	                                       "addresses: [100.64.0.2]}\n"),
	                     0);
	assert_true(has_error(f, "outside base64", NULL));
	/* Trailing bits set: "...0XJ=" is not a 32-byte key's spelling. */
	assert_int_not_equal(load(f,
	                          HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                       "  peers:\n"
	                                       "    - {name: a, public_key: "
	                                       "\"2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0XJ=\", "
	                                       "addresses: [100.64.0.2]}\n"),
	                     0);
	assert_true(has_error(f, "not a 32-byte key", NULL));
}

static void test_peer_errors(void **state)
{
	struct fx *f = *state;

	/* outside the tunnel networks */
	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                          "  peers:\n"
	                                          "    - {name: a, public_key: \"" K1
	                                          "\", addresses: [10.0.0.2]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:9:7: egress.peers[0]: ", "outside the edge's tunnel networks");
	/* the edge's own address */
	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                          "  peers:\n"
	                                          "    - {name: a, public_key: \"" K1
	                                          "\", addresses: [100.64.0.0/30]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:9:7: egress.peers[0]: ", "edge's own tunnel address");
	/* same key, overlapping addresses, same name: reported at the later peer */
	assert_int_not_equal(
	        load(f, HEAD SECTION
	             "  snat: [{address: 203.0.113.10}]\n"
	             "  peers:\n"
	             "    - {name: a, public_key: \"" K1 "\", addresses: [100.64.0.2]}\n"
	             "    - {name: b, public_key: \"" K1 "\", addresses: [100.64.0.3]}\n"
	             "    - {name: c, public_key: \"" K2 "\", addresses: [100.64.0.2/31]}\n"),
	        0);
	assert_int_equal(f->errs.n, 2);
	assert_true(has_error(f, "t.yaml:10:7: egress.peers[1]", "same public key", NULL));
	assert_true(has_error(f, "t.yaml:11:7: egress.peers[2]", "overlaps peer 'a'", NULL));
	/* IPv6 addresses without an IPv6 snat address */
	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                          "  peers:\n"
	                                          "    - {name: a, public_key: \"" K1
	                                          "\", addresses: [\"fd00:64::2\"]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:9:7: egress.peers[0]: ", "no IPv6 address");
	/* keepalive and an unknown snat choice */
	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                          "  peers:\n"
	                                          "    - {name: a, public_key: \"" K1
	                                          "\", addresses: [100.64.0.2], keepalive: 2h, "
	                                          "snat: 198.51.100.1}\n"),
	                     0);
	assert_int_equal(f->errs.n, 2);
	assert_true(has_error(f, "keepalive", "such as 25s", NULL));
	assert_true(has_error(f, "snat 198.51.100.1 is not one of egress.snat", NULL));
}

static void test_share_errors(void **state)
{
	struct fx *f = *state;

	/* shared without self */
	assert_int_not_equal(load(f, HEAD SECTION "  snat:\n"
	                                          "    - {address: 203.0.113.10, share: "
	                                          "[192.0.2.11, 192.0.2.12]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:8:7: egress.snat[0]: ", "egress.self");
	/* self not among the members */
	assert_int_not_equal(load(f, HEAD SECTION "  self: 192.0.2.99\n"
	                                          "  snat:\n"
	                                          "    - {address: 203.0.113.10, share: "
	                                          "[192.0.2.11, 192.0.2.12]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:9:7: egress.snat[0]: ", "192.0.2.99 is not in share");
	/* more members than ports, a member twice, a prefix as member, reversed ports */
	assert_int_not_equal(load(f, HEAD SECTION "  self: 192.0.2.11\n"
	                                          "  snat:\n"
	                                          "    - {address: 203.0.113.10, ports: 5000-5001, "
	                                          "share: [192.0.2.11, 192.0.2.12, 192.0.2.13]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:9:7: egress.snat[0]: ", "cannot be split among 3 edges");
	assert_int_not_equal(load(f, HEAD SECTION "  self: 192.0.2.11\n"
	                                          "  snat:\n"
	                                          "    - {address: 203.0.113.10, share: "
	                                          "[192.0.2.11, 192.0.2.11]}\n"),
	                     0);
	assert_one_error(f, "t.yaml:9:51: egress.snat[0].share[1]: ", "listed twice");
	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.0/24}]\n"), 0);
	assert_one_error(f, "t.yaml:7:20: egress.snat[0].address: ", "is a prefix");
	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.1, ports: 9-1}]\n"),
	                     0);
	assert_int_equal(f->errs.n, 1);
	assert_true(has_error(f, "egress.snat[0].ports", NULL));
}

static void test_scalar_errors(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f, HEAD "egress:\n"
	                                  "  interface: \"wg edge/1\"\n"
	                                  "  backend: boringtun\n"
	                                  "  private_key_file: wg.key\n"
	                                  "  address: [100.64.0.1]\n"
	                                  "  snat: [{address: 203.0.113.10}]\n"
	                                  "  table: 254\n"
	                                  "  mark: 0\n"),
	                     0);
	assert_true(has_error(f, "t.yaml:4:14: egress.interface", "interface name", NULL));
	assert_true(has_error(f, "t.yaml:5:12: egress.backend", "wireguard-go", NULL));
	assert_true(has_error(f, "t.yaml:6:21: egress.private_key_file", "absolute path", NULL));
	assert_true(has_error(f, "t.yaml:7:13: egress.address[0]", "100.64.0.1/10", NULL));
	assert_true(has_error(f, "t.yaml:9:10: egress.table", "main/local", NULL));
	assert_true(has_error(f, "t.yaml:10:9: egress.mark", "non-zero", NULL));
	/* a typo in a key gets a suggestion */
	assert_int_not_equal(load(f, HEAD SECTION "  snat: [{address: 203.0.113.10}]\n"
	                                          "  peer: []\n"),
	                     0);
	assert_true(has_error(f, "did you mean 'peers'", NULL));
}

/* `edgectl egress peer add`'s words (also what edged keeps of runtime peers over restarts). */
static void test_peer_from_args(void **state)
{
	char *good[] = {"carol",     K1,     "100.64.0.4/32,fd00:64::4/128",
	                "keepalive", "25",   "max_connections",
	                "7",         "snat", "203.0.113.20"};
	char *bad_key[] = {"carol", "abc", "100.64.0.4/32"};
	char *bad_addr[] = {"carol", K1, "100.64.0.4/32,nope"};
	char *bad_opt[] = {"carol", K1, "100.64.0.4/32", "speed", "9"};
	char *bad_num[] = {"carol", K1, "100.64.0.4/32", "keepalive", "25s"};
	char *odd[] = {"carol", K1, "100.64.0.4/32", "keepalive"};
	struct egress_peer_config pe;
	struct prefix snat;
	char err[256], text[PREFIX_STRLEN];

	(void)state;
	assert_int_equal(egress_peer_from_args(9, good, &pe, &snat, err, sizeof(err)), 0);
	assert_string_equal(pe.name, "carol");
	assert_int_equal(pe.n_addresses, 2);
	assert_int_equal(pe.keepalive_s, 25);
	assert_int_equal(pe.max_connections, 7);
	assert_string_equal(prefix_format(&snat, text, sizeof(text)), "203.0.113.20/32");
	assert_int_equal(egress_peer_from_args(3, bad_key, &pe, &snat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "public key 'abc'"));
	assert_int_equal(egress_peer_from_args(3, bad_addr, &pe, &snat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'nope': not an address"));
	assert_int_equal(egress_peer_from_args(5, bad_opt, &pe, &snat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "speed '9': unknown option"));
	assert_int_equal(egress_peer_from_args(5, bad_num, &pe, &snat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "keepalive '25s': expected a number"));
	assert_int_equal(egress_peer_from_args(4, odd, &pe, &snat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "OPTION VALUE pairs"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_full_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_defaults_and_off, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_required, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_peer_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_share_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_scalar_errors, setup, teardown),
	        cmocka_unit_test(test_peer_from_args),
	};

	return cmocka_run_group_tests_name("egress_config", tests, NULL, NULL);
}
