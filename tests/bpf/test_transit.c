// SPDX-License-Identifier: GPL-2.0
/*
 * Anycast GRE transit's data path through BPF_PROG_TEST_RUN: the decap stage of xdp_edge
 * (bpf/transit.bpf.h) and the TC encap program (bpf/transit_encap.bpf.c), with the maps
 * filled by edged's own loader (edged/transit_dp.c), in a network namespace of its own:
 *
 *      [xdp_edge on lo: frames "received" there]
 *
 *      trh0 02:00:00:00:07:01 ---- trh1 02:00:00:00:07:02   acme's veth (edged's side, ns side)
 *      trb0 ---- trb1                                        beta's veth
 *      tru0 100.64.0.1/24 2001:db8:ee::1/64 ---- tru1       the uplink: default routes via
 *                                                            100.64.0.2 / 2001:db8:ee::2
 *
 * traffic/fixtures/gen_transit.py describes the customers and tunnels and builds every
 * expected frame; the sets check each action, every output byte and exactly which counters
 * moved. Further tests: per-tunnel and per-customer counters, health (flows over the tunnels
 * that are up, all of them when none is), a reload that removes a customer, transit off.
 *
 * Without veths (the Debian 6.1 guest of tests/e2e/core_6_1.sh has no modules) lo stands in
 * for acme's veth: the decap fixtures run, the TC ones (which need the FIB) are skipped.
 *
 * Run as root from the repository root (or set EDGED_FIXTURES); needs `ip` (iproute2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <net/if.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "harness.h"
#include "transit_gre.h"
#include "edge.skel.h"
#include "transit_encap.skel.h"
#include "datapath.h"
#include "transit_dp.h"

static bool have_veth;
/* Whether edged's loader can attach the TC program here (tcx, or clsact where the kernel's
 * cls_bpf is available): the 6.1 guest's initramfs has neither. Without, the maps are
 * filled all the same (decap_only) and the decapsulation tests run; the TC ones skip. */
static bool loader_ok;

static const char *const veth_cmds[] = {
        "ip link add trh0 address 02:00:00:00:07:01 type veth peer name trh1 address "
        "02:00:00:00:07:02",
        "ip link add trb0 type veth peer name trb1",
        "ip link add tru0 type veth peer name tru1",
        "ip link set trh0 up",
        "ip link set trh1 up",
        "ip link set trb0 up",
        "ip link set trb1 up",
        "ip link set tru0 up",
        "ip link set tru1 up",
        "ip addr add 100.64.0.1/24 dev tru0",
        "ip addr add 2001:db8:ee::1/64 dev tru0 nodad",
        "ip route add default via 100.64.0.2 dev tru0",
        "ip -6 route add default via 2001:db8:ee::2 dev tru0",
};

static const char *const sysctls[][2] = {
        {"/proc/sys/net/ipv4/conf/all/forwarding", "1"},
        {"/proc/sys/net/ipv6/conf/all/forwarding", "1"},
};

struct env {
	struct edge_bpf *skel;
	struct datapath dp;
	struct transit_dp_state st;
	int xdp_fd, slots_fd, stats_fd;
	int acme_ifindex, beta_ifindex;
	struct edge_uplink_stats before;
	struct transit_global_counters gbefore;
};

/* ---- the namespace ------------------------------------------------------------------ */

static int netns_setup(void)
{
	if (harness_netns_enter("test_transit") ||
	    harness_sysctls("test_transit", sysctls, sizeof(sysctls) / sizeof(sysctls[0])))
		return -1;
	if (harness_veths("test_transit", "TEST_TRANSIT_NO_VETH", veth_cmds,
	                  sizeof(veth_cmds) / sizeof(veth_cmds[0]), &have_veth))
		return -1;
	if (!have_veth)
		fprintf(stderr, "test_transit: no veth here: lo stands in for the customer veth, "
		                "the TC fixtures are skipped\n");
	return 0;
}

/* ---- the config, as gen_transit.py describes it ---------------------------------------- */

static void addr(const char *s, int *family, uint8_t *out)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, s, out) == 1)
		*family = AF_INET6;
	else
		fail_msg("bad address in the test: %s", s);
}

static struct transit_dp_tunnel tunnel(const char *name, const char *local, const char *remote,
                                       int key, uint16_t mtu)
{
	struct transit_dp_tunnel t = {.has_key = key >= 0, .key = key >= 0 ? key : 0, .mtu = mtu};

	snprintf(t.name, sizeof(t.name), "%s", name);
	addr(local, &t.family, t.local);
	addr(remote, &t.family, t.remote);
	return t;
}

static struct transit_dp_prefix prefix(const char *a, uint8_t len)
{
	struct transit_dp_prefix p = {.len = len};

	addr(a, &p.family, p.addr);
	return p;
}

struct config {
	struct transit_dp_prefix endpoints[2], acme_pfx[2], beta_pfx[1];
	struct transit_dp_tunnel acme_tun[3], beta_tun[1];
	struct transit_dp_customer customers[2];
	struct transit_dp_spec spec;
};

/* acme, and beta unless WITHOUT_BETA. */
static void config_build(struct env *env, struct config *c, bool without_beta)
{
	struct transit_dp_customer *acme = &c->customers[0], *beta = &c->customers[1];

	memset(c, 0, sizeof(*c));
	c->endpoints[0] = prefix("192.0.2.100", 32);
	c->endpoints[1] = prefix("2001:db8:ff::100", 128);
	c->acme_pfx[0] = prefix("198.51.100.0", 24);
	c->acme_pfx[1] = prefix("2001:db8:ac::", 48);
	c->beta_pfx[0] = prefix("203.0.113.128", 25);
	c->acme_tun[0] = tunnel("acme-a", "192.0.2.100", "203.0.113.50", -1, 1476);
	c->acme_tun[1] = tunnel("acme-b", "192.0.2.100", "203.0.113.51", 42, 1472);
	c->acme_tun[2] = tunnel("acme-6", "2001:db8:ff::100", "2001:db8:51::50", -1, 1456);
	c->beta_tun[0] = tunnel("beta-a", "192.0.2.100", "203.0.113.60", -1, 0);

	snprintf(acme->name, sizeof(acme->name), "acme");
	acme->id = 7;
	acme->host_ifindex = env->acme_ifindex;
	memcpy(acme->host_mac, (uint8_t[]){2, 0, 0, 0, 7, 1}, 6);
	memcpy(acme->ns_mac, (uint8_t[]){2, 0, 0, 0, 7, 2}, 6);
	acme->prefixes = c->acme_pfx;
	acme->n_prefixes = 2;
	acme->tunnels = c->acme_tun;
	acme->n_tunnels = 3;

	snprintf(beta->name, sizeof(beta->name), "beta");
	beta->id = 9;
	beta->host_ifindex = env->beta_ifindex;
	beta->prefixes = c->beta_pfx;
	beta->n_prefixes = 1;
	beta->tunnels = c->beta_tun;
	beta->n_tunnels = 1;

	c->spec.endpoints = c->endpoints;
	c->spec.n_endpoints = 2;
	c->spec.customers = c->customers;
	/* Without veths there is only lo for a customer veth: acme's. */
	c->spec.n_customers = without_beta || !have_veth ? 1 : 2;
	c->spec.decap_only = !loader_ok;
}

static void apply(struct env *env, bool without_beta)
{
	struct config c;

	config_build(env, &c, without_beta);
	assert_int_equal(transit_dp_prepare_spec(&env->st, &env->dp, &c.spec), 0);
	transit_dp_commit(&env->st, &env->dp);
}

/* acme-a and acme-b up or down as given; acme-6 (outer IPv6) up only when SIX. */
static void health3(struct env *env, bool a, bool b, bool six)
{
	assert_int_equal(transit_dp_set_tunnel_health(&env->st, &env->dp, "acme-a", a), 0);
	assert_int_equal(transit_dp_set_tunnel_health(&env->st, &env->dp, "acme-b", b), 0);
	assert_int_equal(transit_dp_set_tunnel_health(&env->st, &env->dp, "acme-6", six), 0);
}

static void health(struct env *env, bool a, bool b)
{
	health3(env, a, b, false);
}

static int tc_fd(struct env *env)
{
	return bpf_program__fd(env->st.skel->progs.transit_encap);
}

/* ---- setup ----------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));

	if (!env || netns_setup())
		return -1;
	env->skel = edge_bpf__open();
	if (!env->skel)
		return -1;
	env->skel->rodata->enable_transit = true;
	if (harness_unpin_maps(env->skel->obj) || edge_bpf__load(env->skel)) {
		fprintf(stderr, "test_transit: couldn't load xdp_edge with the transit stage\n");
		return -1;
	}
	env->xdp_fd = bpf_program__fd(env->skel->progs.xdp_edge);
	env->slots_fd = bpf_map__fd(env->skel->maps.uplink_slots);
	env->stats_fd = bpf_map__fd(env->skel->maps.uplink_stats);
	if (harness_uplink_register(env->slots_fd, env->stats_fd, HARNESS_IFINDEX_LO, 1))
		return -1;
	env->dp.lock_fd = -1;
	env->dp.skel = env->skel; /* no pin dir: nothing is pinned */
	env->acme_ifindex = have_veth ? (int)if_nametoindex("trh0") : HARNESS_IFINDEX_LO;
	env->beta_ifindex = have_veth ? (int)if_nametoindex("trb0") : 4242;
	transit_dp_init(&env->st);
	*state = env;
	if (!have_veth) {
		struct config c;

		/* TEST_TRANSIT_NO_TC=1 runs the guest's way on a host that can attach. */
		loader_ok = !getenv("TEST_TRANSIT_NO_TC");
		config_build(env, &c, true);
		loader_ok = loader_ok && transit_dp_prepare_spec(&env->st, &env->dp, &c.spec) == 0;
		transit_dp_abort(&env->st);
		if (!loader_ok)
			fprintf(stderr,
			        "test_transit: the encap program cannot be attached here: "
			        "the maps are filled without it (decap_only), TC tests skip\n");
		return 0;
	}
	loader_ok = true;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	if (!env)
		return 0;
	transit_dp_close(&env->st);
	edge_bpf__destroy(env->skel);
	free(env);
	return 0;
}

/* ---- the checks the fixture lines name ------------------------------------------------- */

static int counter_index(const char *name)
{
	for (int i = 0; i < TRANSIT_G_COUNT; i++)
		if (!strcmp(transit_dp_counter_name(i), name))
			return i;
	return -1;
}

static void before(void *arg, const struct fixture_line *fl)
{
	struct env *env = arg;

	(void)fl;
	harness_uplink_stats_read(env->stats_fd, 1, &env->before);
	transit_dp_global_counters(&env->dp, &env->gbefore);
}

/* Exactly the named transit counters moved, each by one. */
static bool check_counters(struct env *env, const struct fixture_line *fl, char *names)
{
	struct transit_global_counters now;
	__u64 want[TRANSIT_G_COUNT] = {};
	char *tok, *save;
	bool ok = true;

	for (tok = strtok_r(names, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		int i = counter_index(tok);

		if (!strcmp(tok, "-"))
			continue;
		if (i < 0) {
			fixture_report(fl, "no transit counter named '%s'", tok);
			return false;
		}
		want[i] = 1;
	}
	transit_dp_global_counters(&env->dp, &now);
	for (int i = 0; i < TRANSIT_G_COUNT; i++)
		if (now.c[i] - env->gbefore.c[i] != want[i]) {
			fixture_report(fl, "transit counter %s moved by %llu, expected %llu",
			               transit_dp_counter_name(i),
			               (unsigned long long)(now.c[i] - env->gbefore.c[i]),
			               (unsigned long long)want[i]);
			ok = false;
		}
	return ok;
}

/* Decap lines: <xdp_edge stage>/<counters>: that stage's uplink counter of the verdict moved
 * by the frame, and the transit counters as named. */
static bool check_decap(void *arg, const struct fixture_line *fl, const struct pcap_pkt *in,
                        const struct xdp_result *res)
{
	struct env *env = arg;
	struct edge_uplink_stats now;
	char buf[sizeof(fl->stage)], *slash;
	int stage, verdict = harness_verdict_of_action(res->retval);

	snprintf(buf, sizeof(buf), "%s", fl->stage);
	slash = strchr(buf, '/');
	if (!slash) {
		fixture_report(fl, "stage '%s' has no '/<counters>'", fl->stage);
		return false;
	}
	*slash = '\0';
	stage = harness_stage_parse(buf);
	if (stage < 0) {
		fixture_report(fl, "no xdp_edge stage '%s'", buf);
		return false;
	}
	harness_uplink_stats_read(env->stats_fd, 1, &now);
	if (now.c[stage][verdict].packets - env->before.c[stage][verdict].packets != 1 ||
	    now.c[stage][verdict].bytes - env->before.c[stage][verdict].bytes != in->len) {
		fixture_report(fl, "uplink counter %s/%s did not move by one packet of %u bytes",
		               buf, datapath_verdict_name(verdict), in->len);
		return false;
	}
	return check_counters(env, fl, slash + 1);
}

static bool check_encap(void *arg, const struct fixture_line *fl, const struct pcap_pkt *in,
                        const struct xdp_result *res)
{
	char buf[sizeof(fl->stage)];

	(void)in;
	(void)res;
	snprintf(buf, sizeof(buf), "%s", fl->stage);
	return check_counters(arg, fl, buf);
}

/* ---- the fixture sets ------------------------------------------------------------------ */

static void test_decap_fixtures(void **state)
{
	struct env *env = *state;
	struct fixture_hooks hooks = {.arg = env, .before = before, .check = check_decap};

	apply(env, false);
	assert_int_equal(
	        harness_run_fixtures(env->xdp_fd, HARNESS_IFINDEX_LO, "transit_decap", &hooks), 0);
}

static void test_encap_fixtures(void **state)
{
	struct env *env = *state;
	struct fixture_hooks hooks = {.arg = env, .before = before, .check = check_encap};

	if (!have_veth || !loader_ok)
		skip();
	apply(env, false);
	health(env, true, false);
	assert_int_equal(
	        harness_run_fixtures_tc(tc_fd(env), env->acme_ifindex, "transit_encap_a", &hooks),
	        0);
	health(env, false, true);
	assert_int_equal(
	        harness_run_fixtures_tc(tc_fd(env), env->acme_ifindex, "transit_encap_b", &hooks),
	        0);
	health3(env, false, false, true);
	assert_int_equal(
	        harness_run_fixtures_tc(tc_fd(env), env->acme_ifindex, "transit_encap_6", &hooks),
	        0);
	health(env, true, true);
}

/* The runner fails on a wrong expectation: acme-b's frames are not what acme-a sends. */
static void test_wrong_tunnel_fails(void **state)
{
	struct env *env = *state;

	if (!have_veth)
		skip();
	apply(env, false);
	health(env, true, false);
	assert_int_equal(
	        harness_run_fixtures_tc(tc_fd(env), env->acme_ifindex, "transit_encap_b", NULL), 4);
	health(env, true, true);
}

/* ---- frames built here ---------------------------------------------------------------- */

/* E/IP(src=REMOTE, dst=192.0.2.100)/GRE()/IP(src=198.51.100.10, dst=192.0.2.1)/UDP(), with
 * PAYLOAD zero bytes of UDP data: GRE from acme-a's router (or REMOTE). */
static uint32_t gre_frame(uint8_t *f, const char *remote, uint32_t payload)
{
	uint32_t inner = 20 + 8 + payload, outer = 20 + 4 + inner;
	uint8_t *ip = f + 14, *in = ip + 24;

	memset(f, 0, 14 + outer);
	memcpy(f, (uint8_t[]){2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}, 14);
	ip[0] = 0x45;
	ip[2] = outer >> 8;
	ip[3] = outer & 0xff;
	ip[8] = 64;
	ip[9] = 47;
	inet_pton(AF_INET, remote, ip + 12);
	inet_pton(AF_INET, "192.0.2.100", ip + 16);
	ip[22] = 0x08; /* GRE protocol IPv4 */
	in[0] = 0x45;
	in[2] = inner >> 8;
	in[3] = inner & 0xff;
	in[8] = 64;
	in[9] = 17;
	inet_pton(AF_INET, "198.51.100.10", in + 12);
	inet_pton(AF_INET, "192.0.2.1", in + 16);
	in[24] = (8 + payload) >> 8;
	in[25] = (8 + payload) & 0xff;
	/* Checksums are not looked at on the way in (the stack checks the inner ones). */
	return 14 + outer;
}

/* Ether/IP(src=192.0.2.1, dst=198.51.100.10)/UDP(sport=SPORT) from acme's namespace. */
static uint32_t inet_frame(uint8_t *f, uint16_t sport)
{
	uint8_t *ip = f + 14;

	memset(f, 0, 14 + 28);
	memcpy(f, (uint8_t[]){2, 0, 0, 0, 7, 1, 2, 0, 0, 0, 7, 2, 8, 0}, 14);
	ip[0] = 0x45;
	ip[3] = 28;
	ip[8] = 63;
	ip[9] = 17;
	inet_pton(AF_INET, "192.0.2.1", ip + 12);
	inet_pton(AF_INET, "198.51.100.10", ip + 16);
	ip[20] = sport >> 8;
	ip[21] = sport & 0xff;
	ip[23] = 53;
	ip[25] = 8;
	return 14 + 28;
}

/* Per-tunnel and per-customer counters: in from decap, out from encap, inner bytes. */
static void test_counters(void **state)
{
	struct env *env = *state;
	struct transit_counters a0, a1, c0, c1;
	struct xdp_result *res = malloc(sizeof(*res));
	uint8_t f[1600];
	uint32_t len;

	assert_non_null(res);
	apply(env, false);
	assert_int_equal(transit_dp_tunnel_counters(&env->st, &env->dp, "acme-a", &a0), 0);
	assert_int_equal(transit_dp_customer_counters(&env->dp, 7, &c0), 0);
	len = gre_frame(f, "203.0.113.50", 100);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(harness_xdp_run(env->xdp_fd, HARNESS_IFINDEX_LO, f, len, res), 0);
		assert_int_equal(res->retval, XDP_REDIRECT);
	}
	if (have_veth) {
		health(env, true, false);
		len = inet_frame(f, 1000);
		assert_int_equal(harness_tc_run(tc_fd(env), env->acme_ifindex, f, len, res), 0);
		assert_int_equal(res->retval, HARNESS_TC(7));
		health(env, true, true);
	}
	assert_int_equal(transit_dp_tunnel_counters(&env->st, &env->dp, "acme-a", &a1), 0);
	assert_int_equal(transit_dp_customer_counters(&env->dp, 7, &c1), 0);
	assert_int_equal(a1.in_packets - a0.in_packets, 3);
	assert_int_equal(a1.in_bytes - a0.in_bytes, 3 * 128);
	assert_int_equal(c1.in_packets - c0.in_packets, 3);
	assert_int_equal(c1.out_packets - c0.out_packets, have_veth ? 1 : 0);
	assert_int_equal(a1.out_bytes - a0.out_bytes, have_veth ? 28 : 0);
	assert_int_equal(transit_dp_tunnel_counters(&env->st, &env->dp, "nope", &a1), -ENOENT);
	free(res);
}

/* Which router a frame went to: the outer destination's last byte (50: acme-a, 51: b). */
static int sent_to(struct env *env, uint16_t sport)
{
	struct xdp_result *res = malloc(sizeof(*res));
	uint8_t f[100];
	uint32_t len = inet_frame(f, sport);
	int r;

	assert_non_null(res);
	assert_int_equal(harness_tc_run(tc_fd(env), env->acme_ifindex, f, len, res), 0);
	assert_int_equal(res->retval, HARNESS_TC(7));
	r = res->out[14 + 19];
	free(res);
	return r;
}

/* Flows spread over the tunnels that are up; a tunnel that goes down gets none; with none
 * up, all of them carry traffic again (and encap_all_down counts it). */
static void test_health(void **state)
{
	struct env *env = *state;
	struct transit_global_counters g0, g1;
	int seen[256] = {};
	bool up;

	if (!have_veth)
		skip();
	apply(env, false);
	health(env, true, true);
	for (int i = 0; i < 64; i++)
		seen[sent_to(env, 2000 + i)]++;
	assert_true(seen[50] > 0 && seen[51] > 0 && seen[50] + seen[51] == 64);
	health(env, false, true);
	for (int i = 0; i < 32; i++)
		assert_int_equal(sent_to(env, 2000 + i), 51);
	assert_int_equal(transit_dp_tunnel_health(&env->st, "acme-a", &up), 0);
	assert_false(up);
	health(env, false, false);
	transit_dp_global_counters(&env->dp, &g0);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 64; i++)
		seen[sent_to(env, 2000 + i)]++;
	assert_true(seen[50] > 0 && seen[51] > 0);
	transit_dp_global_counters(&env->dp, &g1);
	assert_int_equal(g1.c[TRANSIT_G_ENCAP_ALL_DOWN] - g0.c[TRANSIT_G_ENCAP_ALL_DOWN], 64);
	assert_int_equal(transit_dp_set_tunnel_health(&env->st, &env->dp, "nope", true), -ENOENT);
	health(env, true, true);
}

/* A reload without beta removes its tunnel, prefixes and veth; transit off removes all. */
static void test_reload_and_off(void **state)
{
	if (!have_veth)
		skip(); /* beta needs a veth of its own */

	struct env *env = *state;
	struct xdp_result *res = malloc(sizeof(*res));
	struct transit_global_counters g0, g1;
	uint8_t f[200];
	uint32_t len = gre_frame(f, "203.0.113.60", 0), key = env->beta_ifindex, cid = 1;

	assert_non_null(res);
	apply(env, false);
	/* beta's router, but acme's source address: refused as spoofed while beta exists. */
	transit_dp_global_counters(&env->dp, &g0);
	assert_int_equal(harness_xdp_run(env->xdp_fd, HARNESS_IFINDEX_LO, f, len, res), 0);
	assert_int_equal(res->retval, XDP_DROP);
	transit_dp_global_counters(&env->dp, &g1);
	assert_int_equal(g1.c[TRANSIT_G_DECAP_SPOOFED] - g0.c[TRANSIT_G_DECAP_SPOOFED], 1);

	apply(env, true);
	assert_int_equal(harness_xdp_run(env->xdp_fd, HARNESS_IFINDEX_LO, f, len, res), 0);
	assert_int_equal(res->retval, XDP_DROP);
	transit_dp_global_counters(&env->dp, &g0);
	assert_int_equal(g0.c[TRANSIT_G_DECAP_NO_TUNNEL] - g1.c[TRANSIT_G_DECAP_NO_TUNNEL], 1);
	if (have_veth) {
		assert_int_equal(
		        bpf_map_lookup_elem(bpf_map__fd(env->skel->maps.transit_veths), &key, &cid),
		        0);
		assert_int_equal(cid, 0);
	}
	assert_int_equal(env->st.n_customers, 1);

	/* Transit off: the endpoint is no longer ours, GRE to it goes on to the stack. */
	assert_int_equal(transit_dp_prepare_spec(&env->st, &env->dp, NULL), 0);
	transit_dp_commit(&env->st, &env->dp);
	len = gre_frame(f, "203.0.113.50", 0);
	assert_int_equal(harness_xdp_run(env->xdp_fd, HARNESS_IFINDEX_LO, f, len, res), 0);
	assert_int_equal(res->retval, XDP_PASS);
	assert_int_equal(env->st.n_links, 0);
	assert_null(env->st.skel);
	free(res);
}

/* The loader refuses what the maps cannot hold, naming it, and changes nothing. */
static void test_refused_config(void **state)
{
	if (!have_veth)
		skip(); /* the cases need both customers */
	struct env *env = *state;
	struct config c;

	config_build(env, &c, false);
	c.customers[1].id = TRANSIT_DP_MAX_CUSTOMERS;
	assert_int_equal(transit_dp_prepare_spec(&env->st, &env->dp, &c.spec), -ERANGE);
	config_build(env, &c, false);
	c.acme_tun[0].local[3] = 99; /* 192.0.2.99: not an endpoint */
	assert_int_equal(transit_dp_prepare_spec(&env->st, &env->dp, &c.spec), -EINVAL);
	config_build(env, &c, false);
	c.customers[1].host_ifindex = c.customers[0].host_ifindex;
	assert_int_equal(transit_dp_prepare_spec(&env->st, &env->dp, &c.spec), -EINVAL);
	assert_null(env->st.next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_decap_fixtures),
	        cmocka_unit_test(test_encap_fixtures),
	        cmocka_unit_test(test_wrong_tunnel_fails),
	        cmocka_unit_test(test_counters),
	        cmocka_unit_test(test_health),
	        cmocka_unit_test(test_refused_config),
	        cmocka_unit_test(test_reload_and_off),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
