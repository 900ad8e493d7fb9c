// SPDX-License-Identifier: GPL-2.0
/*
 * The `lb:` section: what a full section compiles to (defaults included), that services may
 * name servers listed after them, and the errors a user can make, each at FILE:LINE:COL and
 * naming the fix.
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

static const char full[] =
        HEAD "lb:\n"
             "  encap: ipip\n"
             "  gue_port: 7000\n"
             "  edges: [198.51.100.20]\n"
             "  servers:\n"
             "    - {name: s1, address: 198.51.100.11, weight: 100}\n"
             "    - {name: s2, address: 198.51.100.12}\n"
             "    - {name: s6, address: '2001:db8::11', weight: 300}\n"
             "  services:\n"
             "    - name: web\n"
             "      vip: 203.0.113.10\n"
             "      proto: tcp\n"
             "      port: 443\n"
             "      encap: gue\n"
             "      servers: [s1, {name: 198.51.100.12, weight: 50}]\n"
             "      health: {check: http, path: /healthz, interval: 3s, fall: 4}\n"
             "    - name: dns\n"
             "      vip: 2001:db8:f::/64\n"
             "      proto: udp\n"
             "      port: any\n"
             "      table_size: 131071\n";

static void test_full_section(void **state)
{
	struct fx *f = *state;
	const struct lb_config *lc;
	const struct lb_service_config *web, *dns;

	assert_int_equal(load(f, full), 0);
	assert_true(f->cfg.fn[FN_LB].enabled);
	lc = &f->cfg.lb;
	assert_int_equal(lc->encap, LB_ENCAP_IPIP);
	assert_int_equal(lc->gue_port, 7000);
	assert_int_equal(lc->n_edges, 1);
	assert_int_equal(lc->n_servers, 3);
	assert_int_equal(lc->servers[1].weight, LB_DEFAULT_WEIGHT);
	assert_int_equal(lc->servers[2].addr.family, AF_INET6);
	web = &lc->services[0];
	dns = &lc->services[1];
	assert_int_equal(web->encap, LB_ENCAP_GUE);  /* its own */
	assert_int_equal(dns->encap, LB_ENCAP_IPIP); /* the section's */
	assert_int_equal(web->proto, 6);
	assert_int_equal(web->port, 443);
	assert_int_equal(web->n_members, 2);
	assert_int_equal(web->members[0].server, 0);
	assert_int_equal(web->members[0].weight, 100);
	assert_int_equal(web->members[1].server, 1); /* found by address */
	assert_int_equal(web->members[1].weight, 50);
	assert_int_equal(web->table_size, 65537);
	assert_int_equal(web->health.type, LB_HEALTH_HTTP);
	assert_string_equal(web->health.path, "/healthz");
	assert_int_equal(web->health.interval_s, 3);
	assert_int_equal(web->health.timeout_s, LB_HEALTH_TIMEOUT_S);
	assert_int_equal(web->health.rise, LB_HEALTH_RISE);
	assert_int_equal(web->health.fall, 4);
	assert_int_equal(dns->port, 0);
	assert_int_equal(dns->vip.len, 64);
	assert_int_equal(dns->n_members, 3); /* no servers: list: the whole fleet */
	assert_int_equal(dns->members[2].weight, 300);
	assert_int_equal(dns->table_size, 131071);
	assert_int_equal(dns->health.type, LB_HEALTH_NONE);
	assert_int_equal(lb_config_find_server(lc, "s6"), 2);
	assert_int_equal(lb_config_find_server(lc, "2001:db8::11"), 2);
	assert_int_equal(lb_config_find_server(lc, "s9"), -1);
}

/* Services before servers in the file: names resolve all the same. */
static void test_services_first(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "lb:\n"
	                              "  services:\n"
	                              "    - {name: web, vip: 203.0.113.10, proto: tcp, port: 80,"
	                              " servers: [b]}\n"
	                              "  servers:\n"
	                              "    - {name: a, address: 198.51.100.11}\n"
	                              "    - {name: b, address: 198.51.100.12}\n"),
	                 0);
	assert_int_equal(f->cfg.lb.services[0].members[0].server, 1);
	assert_int_equal(f->cfg.lb.encap, LB_ENCAP_GUE);
	assert_int_equal(f->cfg.lb.gue_port, LB_DEFAULT_GUE_PORT);
}

/* Table sizes follow the servers: at least 100 slots each, prime. */
static void test_table_size_for_many_servers(void **state)
{
	struct fx *f = *state;
	size_t cap = 64 * 1024, n;
	char *text = malloc(cap);

	assert_non_null(text);
	n = snprintf(text, cap, HEAD "lb:\n  servers:\n");
	for (int i = 0; i < 1000; i++)
		n += snprintf(text + n, cap - n, "    - {name: s%d, address: 100.64.%d.%d}\n", i,
		              i / 250, 1 + i % 250);
	snprintf(text + n, cap - n,
	         "  services:\n    - {name: web, vip: 203.0.113.10, proto: tcp, port: 80}\n");
	assert_int_equal(load(f, text), 0);
	assert_int_equal(f->cfg.lb.services[0].table_size, 100003);
	free(text);
}

static void test_errors_name_the_fix(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f,
	                          HEAD "lb:\n"
	                               "  servers:\n"
	                               "    - {name: s1, address: 198.51.100.0/24}\n"
	                               "    - {name: s1, address: 198.51.100.12, weight: 0}\n"
	                               "    - {name: s3, address: 198.51.100.12}\n"
	                               "  services:\n"
	                               "    - {name: web, vip: 203.0.113.10, proto: sctp, port: 80,"
	                               " servers: [s1, nope], encap: vxlan}\n"),
	                     0);
	assert_true(has_error(
	        f, "t.yaml:5:27: lb.servers[0].address",
	        "'198.51.100.0/24' is a prefix; give one address, such as 198.51.100.0", NULL));
	assert_true(has_error(f, "t.yaml:6:7:", "a server named 's1' already exists", NULL));
	assert_true(has_error(f, "t.yaml:6:50: lb.servers[1].weight", "out of range: 1 to 65535",
	                      NULL));
	assert_true(has_error(f, "t.yaml:7:7:", "has the address 198.51.100.12/32 too", NULL));
	assert_true(has_error(f, "proto", "use tcp or udp", NULL));
	assert_true(has_error(f, "encap", "use gue", NULL));
	assert_true(
	        has_error(f, "lb.services[0].servers[1]", "no server 'nope' in lb.servers", NULL));
}

static void test_service_clashes(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f,
	                          HEAD "lb:\n"
	                               "  servers: [{name: s1, address: 198.51.100.11}]\n"
	                               "  services:\n"
	                               "    - {name: a, vip: 203.0.113.10, proto: tcp, port: 80}\n"
	                               "    - {name: a, vip: 203.0.113.10, proto: tcp, port: 80}\n"
	                               "    - {name: c, vip: 203.0.113.10, proto: tcp, port: 80,"
	                               " servers: []}\n"),
	                     0);
	assert_true(has_error(f, "t.yaml:7:7:", "a service named 'a' already exists", NULL));
	assert_true(has_error(f, "t.yaml:7:7:", "same VIP 203.0.113.10/32", NULL));
	assert_true(has_error(f, "t.yaml:8:7:", "servers is empty", NULL));
}

static void test_table_size_checks(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f, HEAD "lb:\n"
	                                  "  servers: [{name: s1, address: 198.51.100.11},"
	                                  " {name: s2, address: 198.51.100.12}]\n"
	                                  "  services:\n"
	                                  "    - {name: a, vip: 203.0.113.10, proto: tcp, port: 80,"
	                                  " table_size: 65536}\n"
	                                  "    - {name: b, vip: 203.0.113.11, proto: tcp, port: 80,"
	                                  " table_size: 151}\n"),
	                     0);
	assert_true(has_error(f, "table_size", "65536 is not prime", "65537", NULL));
	assert_true(has_error(f, "table_size 151 is too small for 2 servers", "use 65537", NULL));
}

static void test_health_checks(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f,
	                          HEAD "lb:\n"
	                               "  servers: [{name: s1, address: 198.51.100.11}]\n"
	                               "  services:\n"
	                               "    - {name: a, vip: 203.0.113.10, proto: tcp, port: any,"
	                               " health: {check: tcp}}\n"
	                               "    - {name: b, vip: 203.0.113.11, proto: tcp, port: 80,"
	                               " health: {check: http, interval: 2s, timeout: 3s}}\n"
	                               "    - {name: c, vip: 203.0.113.12, proto: tcp, port: 80,"
	                               " health: {check: tcp, interval: 500ms}}\n"
	                               "    - {name: d, vip: 203.0.113.13, proto: tcp, port: 80,"
	                               " health: {check: ping}}\n"
	                               "    - {name: e, vip: 203.0.113.14, proto: tcp, port: 80,"
	                               " health: {interval: 2s}}\n"),
	                     0);
	assert_true(has_error(f, "services[0].health", "give the port to check", NULL));
	assert_true(
	        has_error(f, "services[1].health", "timeout 3s is longer than interval 2s", NULL));
	assert_true(has_error(f, "services[1].health", "needs a path", NULL));
	assert_true(has_error(f, "interval", "1-second tick", NULL));
	assert_true(has_error(f, "check", "'ping': use tcp", NULL));
	assert_true(has_error(f, "missing required key 'check'", NULL));
	assert_int_equal(load(f, HEAD
	                      "lb:\n"
	                      "  servers: [{name: s1, address: 198.51.100.11}]\n"
	                      "  services:\n"
	                      "    - {name: a, vip: 203.0.113.10, proto: tcp, port: any,"
	                      " health: {check: tcp, port: 8080, interval: 1m, timeout: 5s}}\n"),
	                 0);
	assert_int_equal(f->cfg.lb.services[0].health.port, 8080);
	assert_int_equal(f->cfg.lb.services[0].health.interval_s, 60);
}

/* A typo in a key gets a suggestion, as everywhere in the config. */
static void test_unknown_key(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(load(f, HEAD "lb:\n  servres: []\n"), 0);
	assert_true(has_error(f, "t.yaml:4:3", "did you mean 'servers'", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_full_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_services_first, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_table_size_for_many_servers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors_name_the_fix, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_service_clashes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_table_size_checks, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_health_checks, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
	};

	return cmocka_run_group_tests_name("lb_config", tests, NULL, NULL);
}
