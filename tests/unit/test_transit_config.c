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
	assert_int_equal(tc->endpoints[1].family, AF_INET);
	assert_int_equal(tc->endpoints[1].addr.v4.s_addr, inet_addr("192.0.2.101"));
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
	assert_int_equal(nyc->remote.family, AF_INET);
	assert_int_equal(nyc->remote.addr.v4.s_addr, inet_addr("198.51.100.50"));
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
	assert_int_equal(f->cfg.transit.customers[0].tunnels[0].endpoint.addr.v4.s_addr,
	                 inet_addr("192.0.2.100"));
}

/* GRE over an IPv6 underlay: IPv6 endpoints and remotes, next to IPv4 ones. */
static const char dual[] =
        HEAD "transit:\n"
             "  endpoints: [192.0.2.100, \"2001:db8:e::100\", \"2001:db8:e::101\"]\n"
             "  customers:\n"
             "    - name: acme\n"
             "      prefixes: [203.0.113.0/26, \"2001:db8:ac::/48\"]\n"
             "      tunnels:\n"
             "        - {name: v4, remote: 198.51.100.50}\n"
             "        - {name: v6, remote: \"2001:db8:5::50\", endpoint: \"2001:db8:e::101\",\n"
             "           key: 7}\n"
             "        - {name: v6b, remote: \"2001:db8:5::51\", endpoint: \"2001:db8:e::100\"}\n";

static void test_ipv6_underlay(void **state)
{
	struct fx *f = *state;
	const struct transit_config *tc;
	const struct transit_tunnel_config *v4, *v6, *v6b;
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(load(f, dual), 0);
	tc = &f->cfg.transit;
	assert_int_equal(tc->n_endpoints, 3);
	assert_int_equal(tc->endpoints[1].family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8:e::100", &a);
	assert_memory_equal(&tc->endpoints[1].addr.v6, &a, 16);
	v4 = &tc->customers[0].tunnels[0];
	v6 = &tc->customers[0].tunnels[1];
	v6b = &tc->customers[0].tunnels[2];
	/* the only IPv4 endpoint is the IPv4 tunnel's, though the section has three */
	assert_int_equal(v4->endpoint.family, AF_INET);
	assert_int_equal(v4->endpoint.addr.v4.s_addr, inet_addr("192.0.2.100"));
	assert_int_equal(v4->mtu, 1476);
	assert_int_equal(v6->remote.family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8:5::50", &a);
	assert_memory_equal(&v6->remote.addr.v6, &a, 16);
	assert_string_equal(transit_ip_format(&v6->endpoint, buf, sizeof(buf)), "2001:db8:e::101");
	assert_int_equal(v6->mtu, 1452);  /* 1500 - IPv6 40 - GRE 4 - key 4 */
	assert_int_equal(v6b->mtu, 1456); /* without a key */
	assert_false(transit_ip_equal(&v6->endpoint, &v6b->endpoint));
	/* reload sees a changed IPv6 remote */
	{
		struct transit_customer_config copy;

		assert_int_equal(transit_customer_copy(&copy, &tc->customers[0]), 0);
		assert_true(transit_customer_equal(&copy, &tc->customers[0]));
		copy.tunnels[1].remote.addr.v6.s6_addr[15] ^= 1;
		assert_false(transit_customer_equal(&copy, &tc->customers[0]));
		transit_customer_release(&copy);
	}
}

#define V6_SECTION(endpoints, tunnels)                                                             \
	HEAD "transit:\n"                                                                          \
	     "  endpoints: " endpoints "\n"                                                        \
	     "  customers:\n"                                                                      \
	     "    - name: acme\n"                                                                  \
	     "      prefixes: [203.0.113.0/26]\n"                                                  \
	     "      tunnels: [" tunnels "]\n"

static void test_ipv6_underlay_errors(void **state)
{
	struct fx *f = *state;

	/* an IPv6 remote with only an IPv4 endpoint: at the remote, naming the fix */
	assert_int_equal(load(f, V6_SECTION("[192.0.2.100]", "{name: t1, remote: '2001:db8::1'}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:36:",
	                 "remote 2001:db8::1 is IPv6 and transit.endpoints has "
	                 "no IPv6 address");
	assert_true(has_error(f, "add an IPv6 endpoint there", NULL));
	/* and the other way round */
	assert_int_equal(
	        load(f, V6_SECTION("['2001:db8:e::100']", "{name: t1, remote: 198.51.100.50}")),
	        -1);
	assert_one_error(f, "t.yaml:8:",
	                 "remote 198.51.100.50 is IPv4 and transit.endpoints has no "
	                 "IPv4 address");
	/* mixed families within a tunnel: at the endpoint */
	assert_int_equal(
	        load(f, V6_SECTION("[192.0.2.100, '2001:db8:e::100']",
	                           "{name: t1, remote: '2001:db8::1', endpoint: 192.0.2.100}")),
	        -1);
	assert_one_error(f, "t.yaml:8:61:",
	                 "endpoint 192.0.2.100 is IPv4 but remote 2001:db8::1 is "
	                 "IPv6");
	assert_true(has_error(f, "use an IPv6 endpoint of transit.endpoints", NULL));
	assert_int_equal(load(f, V6_SECTION("[192.0.2.100, '2001:db8:e::100']",
	                                    "{name: t1, remote: 198.51.100.9, "
	                                    "endpoint: '2001:db8:e::100'}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:",
	                 "endpoint 2001:db8:e::100 is IPv6 but remote 198.51.100.9 "
	                 "is IPv4");
	/* two IPv6 endpoints: a tunnel says which */
	assert_int_equal(load(f, V6_SECTION("[192.0.2.100, '2001:db8:e::100', '2001:db8:e::101']",
	                                    "{name: t1, remote: '2001:db8::1'}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "with 2 IPv6 endpoints, say which one");
	/* an IPv6 endpoint that is not listed */
	assert_int_equal(
	        load(f, V6_SECTION("['2001:db8:e::100']", "{name: t1, remote: '2001:db8::1', "
	                                                  "endpoint: '2001:db8:e::7'}")),
	        -1);
	assert_one_error(f, "t.yaml:8:", "endpoint 2001:db8:e::7 is not one of transit.endpoints");
	/* addresses that are not one routable host */
	assert_int_equal(
	        load(f, V6_SECTION("['2001:db8:e::100']", "{name: t1, remote: 'fe80::1'}")), -1);
	assert_one_error(f, "t.yaml:8:", "'fe80::1' is link-local");
	assert_int_equal(load(f, V6_SECTION("['ff02::1']", "{name: t1, remote: '2001:db8::1'}")),
	                 -1);
	assert_true(has_error(f, "t.yaml:4:15:", "'ff02::1' is a multicast address", NULL));
	assert_int_equal(load(f, V6_SECTION("['2001:db8:e::100']",
	                                    "{name: t1, remote: '::ffff:198.51.100.1'}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "write the IPv4 address itself");
	assert_int_equal(load(f, V6_SECTION("[192.0.2.100]", "{name: t1, remote: 127.0.0.1}")), -1);
	assert_one_error(f, "t.yaml:8:", "is a loopback address");
	assert_int_equal(
	        load(f, V6_SECTION("['2001:db8:e::100']", "{name: t1, remote: 'acme-nyc'}")), -1);
	assert_one_error(f, "t.yaml:8:", "expected one IPv4 or IPv6 address");
	/* the MTU bound is IPv6's: 40 bytes of outer header */
	assert_int_equal(load(f, V6_SECTION("['2001:db8:e::100']",
	                                    "{name: t1, remote: '2001:db8::1', mtu: 1460}")),
	                 -1);
	assert_one_error(f, "t.yaml:8:", "over IPv6; at most 1456");
	/* same remote, endpoint and key: GRE could not tell them apart, over IPv6 too */
	assert_int_equal(
	        load(f, V6_SECTION("['2001:db8:e::100']", "{name: t1, remote: '2001:db8::1'}, "
	                                                  "{name: t2, remote: '2001:db8:0::1'}")),
	        -1);
	assert_one_error(f, "t.yaml:8:", "could not tell them apart");
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
	        cmocka_unit_test_setup_teardown(test_ipv6_underlay, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ipv6_underlay_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_empty_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rule_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tunnel_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_customer_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_equal_copy_format, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
