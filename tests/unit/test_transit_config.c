// SPDX-License-Identifier: GPL-2.0
/*
 * The `transit:` section: what a full section compiles to (defaults included), the errors a
 * user can make, each at FILE:LINE:COL and naming the fix, and the helpers reload uses
 * (equality, deep copy) and edgectl prints (rules in the config's own words).
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
        HEAD "transit:\n"
             "  endpoints: [192.0.2.100, 192.0.2.101]\n"
             "  customers:\n"
             "    - name: acme\n"
             "      prefixes: [203.0.113.0/26, \"2001:db8:ac::/48\"]\n"
             "      tunnels:\n"
             "        - {name: acme-nyc, remote: 198.51.100.50, endpoint: 192.0.2.100, key: 42,\n"
             "           health: {interval: 500ms, timeout: 3s}}\n"
             "        - {name: acme-lax, remote: 198.51.100.51, endpoint: 192.0.2.101,\n"
             "           mtu: 1400, health: off}\n"
             "      firewall:\n"
             "        default: deny\n"
             "        rules:\n"
             "          - {action: deny, proto: tcp, dst_port: 23}\n"
             "          - {action: allow, src: 0.0.0.0/0, proto: udp, dst_port: 53-54}\n"
             "          - {action: deny, direction: out, dst: \"2001:db8:f::/64\"}\n"
             "    - name: globex\n"
             "      prefixes: [203.0.113.64/26]\n"
             "      tunnels: [{name: globex-1, remote: 198.51.100.60, endpoint: 192.0.2.101}]\n";

static void test_full_section(void **state)
{
	struct fx *f = *state;
	const struct transit_config *tc;
	const struct transit_customer_config *acme, *globex;
	const struct transit_tunnel_config *nyc, *lax;
	const struct transit_rule *r;

	assert_int_equal(load(f, full), 0);
	assert_true(f->cfg.fn[FN_TRANSIT].enabled);
	tc = &f->cfg.transit;
	assert_int_equal(tc->n_endpoints, 2);
	assert_int_equal(tc->endpoints[1].s_addr, inet_addr("192.0.2.101"));
	assert_int_equal(tc->n_customers, 2);
	acme = &tc->customers[0];
	globex = &tc->customers[1];
	assert_string_equal(acme->name, "acme");
	assert_int_equal(acme->n_prefixes, 2);
	assert_int_equal(acme->prefixes[1].family, AF_INET6);
	assert_int_equal(acme->prefixes[1].len, 48);
	assert_int_equal(acme->n_tunnels, 2);
	nyc = &acme->tunnels[0];
	lax = &acme->tunnels[1];
	assert_int_equal(nyc->remote.s_addr, inet_addr("198.51.100.50"));
	assert_true(nyc->has_key);
	assert_int_equal(nyc->key, 42);
	assert_int_equal(nyc->mtu, 1472); /* 1500 - IPv4 - GRE - key */
	assert_true(nyc->health.enabled);
	assert_int_equal(nyc->health.interval_ms, 500);
	assert_int_equal(nyc->health.timeout_ms, 3000);
	assert_false(lax->has_key);
	assert_int_equal(lax->mtu, 1400);
	assert_false(lax->health.enabled);
	assert_int_equal(acme->default_in, TRANSIT_DENY);
	assert_int_equal(acme->default_out, TRANSIT_ALLOW);
	assert_int_equal(acme->n_rules, 3);
	r = &acme->rules[0];
	assert_int_equal(r->action, TRANSIT_DENY);
	assert_int_equal(r->direction, TRANSIT_IN);
	assert_int_equal(r->proto, IPPROTO_TCP);
	assert_int_equal(r->family, 0);
	assert_int_equal(r->dport_lo, 23);
	assert_int_equal(r->dport_hi, 23);
	assert_int_equal(r->line, 16);
	r = &acme->rules[1];
	assert_int_equal(r->family, AF_INET);
	assert_int_equal(r->src.len, 0);
	assert_int_equal(r->dport_hi, 54);
	r = &acme->rules[2];
	assert_int_equal(r->direction, TRANSIT_OUT);
	assert_int_equal(r->family, AF_INET6);
	/* defaults: one health config, the default MTU without a key, allow both ways */
	assert_int_equal(globex->tunnels[0].mtu, 1476);
	assert_int_equal(globex->tunnels[0].health.interval_ms, TRANSIT_HEALTH_INTERVAL_MS);
	assert_int_equal(globex->tunnels[0].health.timeout_ms, TRANSIT_HEALTH_TIMEOUT_MS);
	assert_int_equal(globex->default_in, TRANSIT_ALLOW);
	assert_int_equal(globex->n_rules, 0);
}

static void test_single_endpoint_is_the_default(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "transit:\n"
	                              "  endpoints: [192.0.2.100]\n"
	                              "  customers:\n"
	                              "    - name: a\n"
	                              "      prefixes: [203.0.113.0/26]\n"
	                              "      tunnels: [{name: t, remote: 198.51.100.50}]\n"),
	                 0);
	assert_int_equal(f->cfg.transit.customers[0].tunnels[0].endpoint.s_addr,
	                 inet_addr("192.0.2.100"));
}

static void test_empty_section(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "transit:\n"), 0);
	assert_true(f->cfg.fn[FN_TRANSIT].enabled);
	assert_int_equal(f->cfg.transit.n_customers, 0);
	assert_int_equal(load(f, HEAD "transit: {enabled: false}\n"), 0);
	assert_false(f->cfg.fn[FN_TRANSIT].enabled);
}

#define ONE_CUSTOMER(tunnel, fw)                                                                   \
	HEAD "transit:\n"                                                                          \
	     "  endpoints: [192.0.2.100]\n"                                                        \
	     "  customers:\n"                                                                      \
	     "    - name: acme\n"                                                                  \
	     "      prefixes: [203.0.113.0/26]\n"                                                  \
	     "      tunnels: [" tunnel "]\n"                                                       \
	     "      firewall: " fw "\n"

#define TUN "{name: t1, remote: 198.51.100.50}"

static void test_rule_errors(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: deny, proto: tcpp}]}")), -1);
	assert_one_error(f, "t.yaml:9:", "'tcpp': use tcp, udp, icmp, icmpv6 or any");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: deny, proto: tcp, "
	                                           "dst_port: 99999}]}")),
	                 -1);
	assert_one_error(f, "t.yaml:9:", "out of range");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: deny, dst_port: 22}]}")), -1);
	assert_one_error(f, "t.yaml:9:", "ports need `proto: tcp`");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: drop}]}")), -1);
	assert_one_error(f, "t.yaml:9:", "'drop': use allow or deny");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{proto: udp}]}")), -1);
	assert_one_error(f, "t.yaml:9:", "missing required key 'action'");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: allow, src: 10.0.0.0/8, "
	                                           "dst: '2001:db8::/32'}]}")),
	                 -1);
	assert_one_error(f, "t.yaml:9:", "different families");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: allow, proto: icmp, "
	                                           "src: '2001:db8::/32'}]}")),
	                 -1);
	assert_one_error(f, "t.yaml:9:", "use `proto: icmpv6`");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: allow, src: 10.0.0.1/8}]}")),
	                 -1);
	assert_one_error(f, "t.yaml:9:", "did you mean 10.0.0.0/8");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN, "{rules: [{action: allow, dircetion: out}]}")),
	                 -1);
	assert_true(has_error(f, "dircetion", NULL));
}

static void test_tunnel_errors(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, ONE_CUSTOMER("{name: t1, remote: '2001:db8::1'}", "{}")), -1);
	assert_one_error(f, "t.yaml:8:", "GRE runs over IPv4");
	assert_int_equal(load(f, ONE_CUSTOMER("{name: t1, remote: 198.51.100.50, endpoint: "
	                                      "192.0.2.7}",
	                                      "{}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "not one of transit.endpoints");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN ", {name: t2, remote: 198.51.100.50}", "{}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "could not tell them apart");
	assert_int_equal(load(f, ONE_CUSTOMER(TUN ", {name: t1, remote: 198.51.100.51}", "{}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "a tunnel named 't1' already exists");
	assert_int_equal(load(f, ONE_CUSTOMER("{name: t1, remote: 198.51.100.50, key: 1, mtu: "
	                                      "1476}",
	                                      "{}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "at most 1472");
	assert_int_equal(load(f, ONE_CUSTOMER("{name: t1, remote: 198.51.100.50, health: "
	                                      "{interval: 5s, timeout: 1s}}",
	                                      "{}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "shorter than the interval");
	assert_int_equal(load(f, ONE_CUSTOMER("{name: t1, remote: 198.51.100.50, health: "
	                                      "{interval: 1h}}",
	                                      "{}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "expected a duration");
}

static void test_customer_errors(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "transit:\n"
	                              "  endpoints: [192.0.2.100]\n"
	                              "  customers:\n"
	                              "    - name: a\n"
	                              "      prefixes: [203.0.113.0/25]\n"
	                              "      tunnels: [{name: t1, remote: 198.51.100.50}]\n"
	                              "    - name: a\n"
	                              "      prefixes: [203.0.113.64/26]\n"
	                              "      tunnels: [{name: t2, remote: 198.51.100.51}]\n"),
	                 -1);
	assert_int_equal(f->errs.n, 2);
	assert_true(has_error(f, "t.yaml:9:", "a customer named 'a' already exists", NULL));
	assert_true(has_error(f, "t.yaml:10:", "203.0.113.64/26 overlaps 203.0.113.0/25", NULL));
	assert_int_equal(load(f, HEAD "transit:\n"
	                              "  endpoints: [192.0.2.100]\n"
	                              "  customers:\n"
	                              "    - {name: a, prefixes: [203.0.113.0/25]}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:6:", "missing required key 'tunnels'");
	assert_int_equal(load(f, HEAD "transit:\n"
	                              "  customers:\n"
	                              "    - name: 'a b'\n"
	                              "      prefixes: [203.0.113.0/26]\n"
	                              "      tunnels: [{name: t1, remote: 198.51.100.50}]\n"),
	                 -1);
	assert_true(has_error(f, "t.yaml:5:", "a name is 1-23 letters", NULL));
	assert_true(has_error(f, "need an anycast GRE endpoint", NULL));
}

static void test_equal_copy_format(void **state)
{
	struct fx *f = *state;
	struct transit_customer_config copy;
	char buf[256];

	assert_int_equal(load(f, full), 0);
	assert_int_equal(transit_customer_copy(&copy, &f->cfg.transit.customers[0]), 0);
	assert_true(transit_customer_equal(&copy, &f->cfg.transit.customers[0]));
	assert_false(transit_customer_equal(&copy, &f->cfg.transit.customers[1]));
	copy.rules[0].line = 99; /* where a rule is written changes nothing */
	assert_true(transit_customer_equal(&copy, &f->cfg.transit.customers[0]));
	copy.rules[0].dport_lo = 24;
	assert_false(transit_customer_equal(&copy, &f->cfg.transit.customers[0]));
	transit_customer_release(&copy);

	transit_rule_format(&f->cfg.transit.customers[0].rules[0], buf, sizeof(buf));
	assert_string_equal(buf, "deny in tcp dst_port 23");
	transit_rule_format(&f->cfg.transit.customers[0].rules[1], buf, sizeof(buf));
	assert_string_equal(buf, "allow in udp src 0.0.0.0/0 dst_port 53-54");
	transit_rule_format(&f->cfg.transit.customers[0].rules[2], buf, sizeof(buf));
	assert_string_equal(buf, "deny out dst 2001:db8:f::/64");
	transit_netns_name("e1", "acme", buf, sizeof(buf));
	assert_string_equal(buf, "edged-e1-acme");
	assert_int_equal(transit_config_find(&f->cfg.transit, "globex"), 1);
	assert_int_equal(transit_config_find(&f->cfg.transit, "initech"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_full_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_single_endpoint_is_the_default, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_empty_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rule_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tunnel_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_customer_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_equal_copy_format, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
