// SPDX-License-Identifier: GPL-2.0
/*
 * The `dispatch:` section and the binding compiler: what the config states, the errors a
 * user can make (each at FILE:LINE:COL and naming the fix), and the precedence the compiled
 * port tables encode (longest prefix, then exact > range > any).
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
#include "dispatch_compile.h"

static void test_full_section(void **state)
{
	struct fx *f = *state;
	const struct dispatch_config *dc;
	const struct sockaddr_in *o;
	char buf[64];

	assert_int_equal(load(f,
	                      HEAD "dispatch:\n"
	                           "  local_prefixes: [203.0.113.0/24, \"2001:db8:100::/64\"]\n"
	                           "  tproxy: {mark: 0x10, table: 100}\n"
	                           "  services:\n"
	                           "    - web\n"
	                           "    - name: spectrum\n"
	                           "      proxy:\n"
	                           "        origins:\n"
	                           "          - {prefix: 203.0.113.0/24, address: 198.51.100.10}\n"
	                           "          - {prefix: 203.0.113.128/25, port: 8443, address: "
	                           "198.51.100.20}\n"
	                           "        proxy_protocol: v2\n"
	                           "        tcp_idle_timeout: 5m\n"
	                           "        metrics: \"[::1]:9421\"\n"
	                           "  bindings:\n"
	                           "    - {prefix: 203.0.113.0/24, proto: tcp, ports: any, "
	                           "service: spectrum}\n"
	                           "    - {prefix: 203.0.113.10/32, proto: udp, ports: 1000-2000, "
	                           "service: web, mechanism: tproxy}\n"),
	                 0);
	assert_true(f->cfg.fn[FN_DISPATCH].enabled);
	dc = &f->cfg.dispatch;
	assert_int_equal(dc->n_local, 2);
	assert_int_equal(dc->local_prefixes[1].family, AF_INET6);
	assert_int_equal(dc->tproxy_mark, 0x10);
	assert_int_equal(dc->tproxy_table, 100);
	assert_int_equal(dc->n_services, 2);
	assert_string_equal(dc->services[0].name, "web");
	assert_false(dc->services[0].proxy.enabled);
	assert_true(dc->services[1].proxy.enabled);
	assert_true(dc->services[1].proxy.proxy_protocol_v2);
	assert_int_equal(dc->services[1].proxy.tcp_idle_s, 300);
	assert_int_equal(dc->services[1].proxy.udp_idle_s, DISPATCH_DEFAULT_UDP_IDLE_S);
	assert_int_equal(dc->services[1].proxy.n_origins, 2);
	assert_false(dc->services[0].proxy.metrics);
	assert_true(dc->services[1].proxy.metrics);
	assert_string_equal(dc->services[1].proxy.metrics_listen, "[::1]:9421");
	assert_int_equal(dc->services[1].proxy.metrics_addr.ss_family, AF_INET6);
	o = (const struct sockaddr_in *)&dc->services[1].proxy.origins[1].addr;
	assert_int_equal(o->sin_family, AF_INET);
	assert_int_equal(ntohs(o->sin_port), 8443); /* port written before the address stays */
	assert_int_equal(dc->n_bindings, 2);
	assert_int_equal(dc->bindings[0].kind, DISPATCH_PORT_ANY);
	assert_int_equal(dc->bindings[0].service, 1);
	assert_int_equal(dc->bindings[0].mechanism, DISPATCH_MECH_SK_LOOKUP);
	assert_int_equal(dc->bindings[1].kind, DISPATCH_PORT_RANGE);
	assert_int_equal(dc->bindings[1].protocol, IPPROTO_UDP);
	assert_int_equal(dc->bindings[1].mechanism, DISPATCH_MECH_TPROXY);
	assert_string_equal(dispatch_ports_format(&dc->bindings[1], buf, sizeof(buf)), "1000-2000");
}

static void test_origin_longest_prefix(void **state)
{
	struct fx *f = *state;
	const struct dispatch_proxy_config *pc;
	struct sockaddr_storage dst = {.ss_family = AF_INET};
	struct sockaddr_in *d = (struct sockaddr_in *)&dst;

	assert_int_equal(load(f,
	                      HEAD "dispatch:\n"
	                           "  services:\n"
	                           "    - name: p\n"
	                           "      proxy:\n"
	                           "        origins:\n"
	                           "          - {prefix: 203.0.113.0/24, address: 198.51.100.10}\n"
	                           "          - {prefix: 203.0.113.128/25, address: "
	                           "\"2001:db8::20\"}\n"),
	                 0);
	pc = &f->cfg.dispatch.services[0].proxy;
	inet_pton(AF_INET, "203.0.113.200", &d->sin_addr);
	assert_ptr_equal(dispatch_origin_for(pc, &dst), &pc->origins[1]);
	inet_pton(AF_INET, "203.0.113.5", &d->sin_addr);
	assert_ptr_equal(dispatch_origin_for(pc, &dst), &pc->origins[0]);
	inet_pton(AF_INET, "192.0.2.5", &d->sin_addr);
	assert_null(dispatch_origin_for(pc, &dst));
}

static void test_unknown_service_named(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  services: [web]\n"
	                              "  bindings:\n"
	                              "    - {prefix: 203.0.113.0/24, proto: tcp, ports: 80, "
	                              "service: wbe}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:6:7: dispatch.bindings[0]: ", "no service named 'wbe'");
}

static void test_overlap_same_kind_refused(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f,
	                      HEAD "dispatch:\n"
	                           "  services: [a, b]\n"
	                           "  bindings:\n"
	                           "    - {prefix: 203.0.113.0/24, proto: tcp, ports: 1000-2000, "
	                           "service: a}\n"
	                           "    - {prefix: 203.0.113.0/24, proto: tcp, ports: 1500-2500, "
	                           "service: b}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:7:7: dispatch.bindings[1]: ",
	                 "overlap ports 1000-2000 of bindings[0] (line 6)");
	/* Different kinds, protocols or prefixes are precedence, not a conflict. */
	assert_int_equal(load(f,
	                      HEAD "dispatch:\n"
	                           "  services: [a, b]\n"
	                           "  bindings:\n"
	                           "    - {prefix: 203.0.113.0/24, proto: tcp, ports: 1000-2000, "
	                           "service: a}\n"
	                           "    - {prefix: 203.0.113.0/24, proto: tcp, ports: 1500, "
	                           "service: b}\n"
	                           "    - {prefix: 203.0.113.0/24, proto: udp, ports: 1000-2000, "
	                           "service: b}\n"
	                           "    - {prefix: 203.0.113.0/25, proto: tcp, ports: 1000-2000, "
	                           "service: b}\n"),
	                 0);
}

static void test_bad_values_name_the_fix(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  services: [a]\n"
	                              "  bindings:\n"
	                              "    - {prefix: 203.0.113.0/24, proto: sctp, ports: 80, "
	                              "service: a}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:6:39: dispatch.bindings[0].proto: ", "expected tcp or udp");
	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  services: [a]\n"
	                              "  bindings:\n"
	                              "    - {prefix: 203.0.113.0/24, proto: tcp, ports: 80, "
	                              "service: a, mechanism: iptables}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:6:78: dispatch.bindings[0].mechanism: ",
	                 "expected sk_lookup (BPF, the default) or tproxy");
	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  services: [a]\n"
	                              "  bindings:\n"
	                              "    - {prefix: 203.0.113.1/24, proto: tcp, ports: 80, "
	                              "service: a}\n"),
	                 -1);
	assert_one_error(
	        f, "t.yaml:6:16: dispatch.bindings[0].prefix: ", "did you mean 203.0.113.0/24?");
	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  services: [a, a]\n"),
	                 -1);
	assert_one_error(f, "t.yaml:4:17: dispatch.services[1].name: ", "already exists");
	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  tproxy: {table: 254}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:4:19: dispatch.tproxy.table: ", "the kernel's main table");
	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  services:\n"
	                              "    - {name: p, proxy: {origins: [{prefix: 192.0.2.0/24, "
	                              "address: origin.example}]}}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:", "edged does not resolve names");
	assert_int_equal(load(f,
	                      HEAD "dispatch:\n"
	                           "  services:\n"
	                           "    - {name: p, proxy: {origins: [], udp_idle_timeout: 2d}}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:", "expected a duration of 1s to 24h");
	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  services:\n"
	                              "    - {name: p, proxy: {origins: [], metrics: 9421}}\n"),
	                 -1);
	assert_one_error(f, "t.yaml:5:", "such as 127.0.0.1:9421, or off");
	assert_int_equal(load(f, HEAD "dispatch:\n"
	                              "  bindings:\n"
	                              "    - {prefix: 203.0.113.0/24, proto: tcp, service: a}\n"),
	                 -1);
	assert_string_not_equal(f->errs.msgs[0], "");
	assert_non_null(strstr(f->errs.msgs[0], "missing required key 'ports'"));
}

/* A prefix whose port table cannot fit the data path is refused at load, naming it. */
static void test_too_many_segments(void **state)
{
	struct fx *f = *state;
	char *text = malloc(65536), *end = text;

	end += sprintf(end, HEAD "dispatch:\n  services: [a, b]\n  bindings:\n");
	for (int i = 0; i < DISPATCH_MAX_SEGMENTS / 2 + 1; i++)
		end += sprintf(
		        end, "    - {prefix: 203.0.113.0/24, proto: tcp, ports: %d, service: a}\n",
		        1000 + 2 * i);
	end += sprintf(end, "    - {prefix: 203.0.113.0/24, proto: tcp, ports: any, service: b}\n");
	assert_int_equal(load(f, text), -1);
	assert_one_error(f, "t.yaml: dispatch.bindings: 203.0.113.0/24 tcp: ", "merge exact ports");
	free(text);
}

/* ---- the compiler ---- */

static struct dispatch_rule rule(const char *prefix, uint8_t proto, enum dispatch_port_kind kind,
                                 uint16_t lo, uint16_t hi, uint16_t binding)
{
	struct dispatch_rule r = {.protocol = proto, .kind = kind, .lo = lo, .hi = hi};

	assert_int_equal(prefix_parse(prefix, &r.prefix), 0);
	r.binding = binding;
	r.dest = binding * 10;
	r.index = binding;
	return r;
}

/* The binding owning PORT in the entry of PREFIX/PROTO, or 0. */
static int owner_of(const struct dispatch_table *t, const char *prefix, uint8_t proto, int port)
{
	struct prefix p;

	assert_int_equal(prefix_parse(prefix, &p), 0);
	for (int i = 0; i < t->n; i++) {
		const struct dispatch_entry *e = &t->entries[i];

		if (e->protocol != proto || !dispatch_prefix_holds(&e->prefix, &p) ||
		    !dispatch_prefix_holds(&p, &e->prefix))
			continue;
		for (unsigned int s = 0; s < e->ports.n; s++)
			if (port >= e->ports.seg[s].lo && port <= e->ports.seg[s].hi)
				return e->ports.seg[s].binding;
		return 0;
	}
	fail_msg("no entry for %s", prefix);
	return -1;
}

static void test_compile_precedence(void **state)
{
	struct dispatch_rule rules[] = {
	        rule("203.0.113.0/24", IPPROTO_TCP, DISPATCH_PORT_ANY, 0, 65535, 1),
	        rule("203.0.113.0/24", IPPROTO_TCP, DISPATCH_PORT_RANGE, 1000, 2000, 2),
	        rule("203.0.113.0/24", IPPROTO_TCP, DISPATCH_PORT_EXACT, 1500, 1500, 3),
	        rule("203.0.113.8/29", IPPROTO_TCP, DISPATCH_PORT_EXACT, 443, 443, 4),
	        rule("203.0.113.0/24", IPPROTO_UDP, DISPATCH_PORT_EXACT, 53, 53, 5),
	};
	struct dispatch_table t;
	char err[256];

	(void)state;
	assert_int_equal(dispatch_compile(rules, 5, &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 3);
	/* Longest prefix first: the order TPROXY rules are written in. */
	assert_int_equal(t.entries[0].prefix.len, 29);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_TCP, 80), 1);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_TCP, 1000), 2);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_TCP, 1499), 2);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_TCP, 1500), 3);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_TCP, 1501), 2);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_TCP, 2001), 1);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_TCP, 65535), 1);
	/* The /29 holds its own port and inherits everything else of the /24. */
	assert_int_equal(owner_of(&t, "203.0.113.8/29", IPPROTO_TCP, 443), 4);
	assert_int_equal(owner_of(&t, "203.0.113.8/29", IPPROTO_TCP, 1500), 3);
	assert_int_equal(owner_of(&t, "203.0.113.8/29", IPPROTO_TCP, 80), 1);
	/* UDP is a table of its own: no TCP binding leaks into it. */
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_UDP, 53), 5);
	assert_int_equal(owner_of(&t, "203.0.113.0/24", IPPROTO_UDP, 80), 0);
	/* Segments are sorted, disjoint, and neighbours of one owner are merged. */
	assert_int_equal(t.entries[1].ports.n + t.entries[2].ports.n, 5 + 1);
	dispatch_table_free(&t);
}

static void test_compile_more_specific_prefix_wins_over_exact_port(void **state)
{
	struct dispatch_rule rules[] = {
	        rule("2001:db8::/32", IPPROTO_TCP, DISPATCH_PORT_EXACT, 443, 443, 1),
	        rule("2001:db8:1::/48", IPPROTO_TCP, DISPATCH_PORT_ANY, 0, 65535, 2),
	};
	struct dispatch_table t;
	char err[256];

	(void)state;
	assert_int_equal(dispatch_compile(rules, 2, &t, err, sizeof(err)), 0);
	assert_int_equal(owner_of(&t, "2001:db8:1::/48", IPPROTO_TCP, 443), 2);
	assert_int_equal(owner_of(&t, "2001:db8::/32", IPPROTO_TCP, 443), 1);
	assert_int_equal(owner_of(&t, "2001:db8::/32", IPPROTO_TCP, 444), 0);
	dispatch_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_full_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_origin_longest_prefix, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_service_named, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_overlap_same_kind_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_values_name_the_fix, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_too_many_segments, setup, teardown),
	        cmocka_unit_test(test_compile_precedence),
	        cmocka_unit_test(test_compile_more_specific_prefix_wins_over_exact_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
