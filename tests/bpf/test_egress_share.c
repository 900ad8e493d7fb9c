// SPDX-License-Identifier: GPL-2.0
/*
 * The IP-sharing stage of xdp_edge (bpf/egress_share.bpf.h) through BPF_PROG_TEST_RUN, in a
 * network namespace of its own so that the FIB lookups find real next hops:
 *
 *        lbt1 02:..:01 (router)                  lbt3
 *          |                                       |
 *        lbt0 198.51.100.1/24 (egress.self)      lbt2 198.51.101.1/24
 *          | neighbours .11, .12                   | neighbour 198.51.101.13
 *        [xdp_edge, egress stage, frames "received" on lbt0]
 *
 * The maps are filled here by hand as traffic/fixtures/gen_egress_share.py describes (two
 * shared addresses, three members each); the fixture sets check every action, every output
 * byte, that exactly uplink_stats[stage][verdict] moved, and that exactly the sharing counter
 * the .expect line names moved (by one packet, and by the frame's bytes where it has a bytes
 * companion). Then: the stage off, and edged's own map building (edged/egress_share.c) from
 * an egress config, against the slices edged/port_range.c gives.
 *
 * Run as root from the repository root (or set EDGED_FIXTURES); needs `ip` (iproute2).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "harness.h"
#include "eshare.h"
#include "egress_share.h"
#include "config.h"
#include "datapath.h"
#include "edge.skel.h"

#define SLOT_LBT0 1
#define SLOT_LBT2 2
#define GUE_PORT  6080

static bool have_veth;

static const char *const veth_cmds[] = {
        "ip link add lbt0 address 02:00:00:00:00:02 type veth peer name lbt1 address "
        "02:00:00:00:00:01",
        "ip link add lbt2 address 02:00:00:00:00:12 type veth peer name lbt3 address "
        "02:00:00:00:00:13",
        "ip link set lbt0 up",
        "ip link set lbt1 up",
        "ip link set lbt2 up",
        "ip link set lbt3 up",
        "ip addr add 198.51.100.1/24 dev lbt0",
        "ip addr add 198.51.101.1/24 dev lbt2",
        "ip neigh add 198.51.100.11 lladdr 02:00:00:00:0b:00 dev lbt0 nud permanent",
        "ip neigh add 198.51.100.12 lladdr 02:00:00:00:0c:00 dev lbt0 nud permanent",
        "ip neigh add 198.51.101.13 lladdr 02:00:00:00:0e:00 dev lbt2 nud permanent",
        "sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/forwarding'",
        "sh -c 'echo 1 > /proc/sys/net/ipv4/conf/lbt0/forwarding'",
        "sh -c 'echo 1 > /proc/sys/net/ipv4/conf/lbt2/forwarding'",
};

#define IFINDEX_NO_LBT2 4242

struct env {
	struct edge_bpf *skel;
	int prog_fd, slots_fd, stats_fd;
	uint32_t lbt0, lbt2;
	struct harness_uplink_check up; /* lbt0's counters around each fixture packet */
	struct eshare_counters share_before;
	struct eshare_global_counters global_before;
};

/* ---- the namespace ------------------------------------------------------------------ */

static int netns_setup(void)
{
	if (harness_netns_enter("test_egress_share"))
		return -1;
	if (harness_veths("test_egress_share", "TEST_LB_NO_VETH", veth_cmds,
	                  sizeof(veth_cmds) / sizeof(veth_cmds[0]), &have_veth))
		return -1;
	if (!have_veth)
		fprintf(stderr, "test_egress_share: no veth here: next hops preset in the cache, "
		                "the FIB lookup is not exercised\n");
	return 0;
}

/* ---- the maps ------------------------------------------------------------------------ */

static __be32 a4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		fail_msg("bad address in the test: %s", s);
	return a.s_addr;
}

/* Shared addresses as gen_egress_share.py describes them. */
static struct eshare_addr addr_entry(uint32_t index, uint16_t first, uint16_t last, uint16_t self,
                                     const char *const *members)
{
	struct eshare_addr a = {.index = index, .first = first, .last = last, .n = 3, .self = self};

	a.size = (last - first + 1) / a.n;
	for (int i = 0; i < 3; i++)
		a.member[i] = a4(members[i]);
	return a;
}

/* SELF_A: this edge's index in A's list (1; another value for the failure test). */
static void install_addrs(struct env *env, uint16_t self_a)
{
	static const char *const ma[] = {"198.51.100.11", "198.51.100.1", "198.51.100.12"};
	static const char *const mb[] = {"198.51.100.1", "198.51.100.12", "198.51.101.13"};
	struct eshare_addr ea = addr_entry(0, 1024, 65535, self_a, ma);
	struct eshare_addr eb = addr_entry(1, 10000, 10009, 0, mb);
	struct eshare_slot *slots = calloc(ESHARE_SLOTS, sizeof(*slots));
	uint32_t zero = 0;
	int fd;

	assert_non_null(slots);
	assert_int_equal(egress_share_slot_insert(slots, a4("203.0.113.10"), &ea), 0);
	assert_int_equal(egress_share_slot_insert(slots, a4("203.0.113.11"), &eb), 0);
	fd = egress_share_table_create(slots);
	free(slots);
	assert_true(fd >= 0);
	assert_int_equal(
	        bpf_map_update_elem(bpf_map__fd(env->skel->maps.eshare_addrs), &zero, &fd, BPF_ANY),
	        0);
	close(fd);
}

static void install_settings(struct env *env, uint8_t encap)
{
	struct eshare_settings s = {.encap = encap};
	uint32_t zero = 0;

	s.lb.has_src_v4 = 1;
	s.lb.gue_port = htons(GUE_PORT);
	*(__be32 *)s.lb.src_v4 = a4("198.51.100.1");
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->skel->maps.eshare_settings), &zero,
	                                     &s, BPF_ANY),
	                 0);
}

/* Without veths: what the FIB would have said, valid for ever, on every CPU. */
static void preset_nexthop(struct env *env, uint32_t index, uint32_t member, const char *addr,
                           bool lbt2, uint8_t nb)
{
	int ncpus = libbpf_num_possible_cpus();
	struct lb_nexthop *v = calloc(ncpus, sizeof(*v));
	struct lb_nexthop nh = {.expires = UINT64_MAX, .mtu = 1500, .valid = 1};
	uint8_t smac[6] = {2, 0, 0, 0, 0, lbt2 ? 0x12 : 2}, dmac[6] = {2, 0, 0, 0, nb, 0};
	uint32_t key = index * ESHARE_MAX_MEMBERS + member;

	assert_non_null(v);
	nh.ifindex = lbt2 ? env->lbt2 : env->lbt0;
	nh.gen = a4(addr);
	memcpy(nh.smac, smac, 6);
	memcpy(nh.dmac, dmac, 6);
	for (int c = 0; c < ncpus; c++)
		v[c] = nh;
	assert_int_equal(
	        bpf_map_update_elem(bpf_map__fd(env->skel->maps.eshare_nexthops), &key, v, BPF_ANY),
	        0);
	free(v);
}

static void preset_nexthops(struct env *env)
{
	preset_nexthop(env, 0, 0, "198.51.100.11", false, 0x0b);
	preset_nexthop(env, 0, 2, "198.51.100.12", false, 0x0c);
	preset_nexthop(env, 1, 1, "198.51.100.12", false, 0x0c);
	preset_nexthop(env, 1, 2, "198.51.101.13", true, 0x0e);
}

/* ---- setup -------------------------------------------------------------------------- */

static struct edge_bpf *load(bool share)
{
	struct edge_bpf *s = edge_bpf__open();

	assert_non_null(s);
	s->rodata->enable_egress_share = share;
	assert_int_equal(harness_unpin_maps(s->obj), 0);
	assert_int_equal(edge_bpf__load(s), 0);
	return s;
}

static int group_setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));

	assert_non_null(env);
	env->lbt0 = have_veth ? if_nametoindex("lbt0") : if_nametoindex("lo");
	env->lbt2 = have_veth ? if_nametoindex("lbt2") : IFINDEX_NO_LBT2;
	assert_true(env->lbt0 && env->lbt2);
	env->skel = load(true);
	env->prog_fd = bpf_program__fd(env->skel->progs.xdp_edge);
	env->slots_fd = bpf_map__fd(env->skel->maps.uplink_slots);
	env->stats_fd = bpf_map__fd(env->skel->maps.uplink_stats);
	env->up = (struct harness_uplink_check){.stats_fd = env->stats_fd, .slot = SLOT_LBT0};
	assert_int_equal(
	        harness_uplink_register(env->slots_fd, env->stats_fd, env->lbt0, SLOT_LBT0), 0);
	assert_int_equal(
	        harness_uplink_register(env->slots_fd, env->stats_fd, env->lbt2, SLOT_LBT2), 0);
	install_settings(env, LB_ENCAP_GUE);
	install_addrs(env, 1);
	if (!have_veth)
		preset_nexthops(env);
	*state = env;
	return 0;
}

static int group_teardown(void **state)
{
	struct env *env = *state;

	edge_bpf__destroy(env->skel);
	free(env);
	return 0;
}

/* ---- counters ----------------------------------------------------------------------- */

/* The per-CPU counters of every address, summed. */
static void share_read(struct env *env, struct eshare_counters *sum,
                       struct eshare_global_counters *g)
{
	int ncpus = libbpf_num_possible_cpus();
	struct eshare_counters *v = calloc(ncpus, sizeof(*v));
	struct eshare_global_counters *gv = calloc(ncpus, sizeof(*gv));
	uint32_t zero = 0;

	assert_true(v && gv);
	memset(sum, 0, sizeof(*sum));
	memset(g, 0, sizeof(*g));
	for (uint32_t i = 0; i < ESHARE_MAX_ADDRS; i++) {
		assert_int_equal(
		        bpf_map_lookup_elem(bpf_map__fd(env->skel->maps.eshare_stats), &i, v), 0);
		for (int c = 0; c < ncpus; c++)
			for (int k = 0; k < ESHARE_NCOUNTERS; k++)
				sum->c[k] += v[c].c[k];
	}
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(env->skel->maps.eshare_global), &zero, gv),
	                 0);
	for (int c = 0; c < ncpus; c++)
		for (int k = 0; k < ESHARE_G_NCOUNTERS; k++)
			g->c[k] += gv[c].c[k];
	free(v);
	free(gv);
}

/* The .expect names of the sharing counters: (counter, its bytes companion or -1). */
static const struct {
	const char *name;
	int c, bytes;
	bool global;
} share_names[] = {
        {"fwd", ESHARE_FORWARDED, ESHARE_FORWARDED_BYTES, false},
        {"local", ESHARE_LOCAL, ESHARE_LOCAL_BYTES, false},
        {"recv", ESHARE_RECEIVED, ESHARE_RECEIVED_BYTES, false},
        {"noroute", ESHARE_NO_ROUTE, -1, false},
        {"toobig", ESHARE_TOO_BIG, -1, false},
        {"noport", ESHARE_NO_PORT, -1, false},
        {"untrust", ESHARE_G_UNTRUSTED, -1, true},
        {"bad", ESHARE_G_MALFORMED, -1, true},
};

static void snapshot(void *arg, const struct fixture_line *fl)
{
	struct env *env = arg;

	harness_uplink_snapshot(&env->up, fl);
	share_read(env, &env->share_before, &env->global_before);
}

/* Exactly the named sharing counter moved (or none, without a name). */
static bool share_counter_moved(struct env *env, const struct fixture_line *fl, const char *name,
                                uint32_t len)
{
	struct eshare_counters now;
	struct eshare_global_counters g;
	int want = -1;
	bool ok = true;

	for (size_t i = 0; name && i < sizeof(share_names) / sizeof(share_names[0]); i++)
		if (!strcmp(share_names[i].name, name))
			want = (int)i;
	if (name && want < 0) {
		fixture_report(fl, "unknown sharing counter '%s' in the .expect file", name);
		return false;
	}
	share_read(env, &now, &g);
	for (int k = 0; k < ESHARE_NCOUNTERS; k++) {
		uint64_t d = now.c[k] - env->share_before.c[k], exp = 0;

		if (want >= 0 && !share_names[want].global && share_names[want].c == k)
			exp = 1;
		if (want >= 0 && !share_names[want].global && share_names[want].bytes == k)
			exp = len;
		if (d != exp) {
			fixture_report(fl, "sharing counter %d moved by %llu, not %llu", k,
			               (unsigned long long)d, (unsigned long long)exp);
			ok = false;
		}
	}
	for (int k = 0; k < ESHARE_G_NCOUNTERS; k++) {
		uint64_t d = g.c[k] - env->global_before.c[k];
		uint64_t exp = want >= 0 && share_names[want].global && share_names[want].c == k;

		if (d != exp) {
			fixture_report(fl, "global sharing counter %d moved by %llu, not %llu", k,
			               (unsigned long long)d, (unsigned long long)exp);
			ok = false;
		}
	}
	return ok;
}

static bool counters_moved(void *arg, const struct fixture_line *fl, const struct pcap_pkt *in,
                           const struct xdp_result *res)
{
	struct env *env = arg;
	char stage[sizeof(fl->stage)];
	char *name;

	snprintf(stage, sizeof(stage), "%s", fl->stage);
	name = strchr(stage, '/');
	if (name)
		*name++ = '\0';
	return harness_uplink_check_stage(&env->up, fl, stage, in, res) &
	       share_counter_moved(env, fl, name, in->len);
}

static void run_set(struct env *env, const char *set)
{
	struct fixture_hooks hooks = {.arg = env, .before = snapshot, .check = counters_moved};

	assert_int_equal(harness_run_fixtures(env->prog_fd, env->lbt0, set, &hooks), 0);
}

static void test_steer_fixtures(void **state)
{
	run_set(*state, "eshare_steer");
}

static void test_frag_fixtures(void **state)
{
	run_set(*state, "eshare_frags");
}

static void test_decap_fixtures(void **state)
{
	run_set(*state, "eshare_decap");
}

static void test_ipip_fixtures(void **state)
{
	struct env *env = *state;

	install_settings(env, LB_ENCAP_IPIP);
	run_set(env, "eshare_ipip");
	install_settings(env, LB_ENCAP_GUE);
}

/* The checks above can fail: a wrong slice table makes the steer set report mismatches. */
static void test_wrong_slices_fail(void **state)
{
	struct env *env = *state;
	struct fixture_hooks hooks = {.arg = env, .before = snapshot, .check = counters_moved};

	install_addrs(env, 0); /* as if we owned .11's slice */
	fprintf(stderr, "test_egress_share: mismatches expected below:\n");
	assert_true(harness_run_fixtures(env->prog_fd, env->lbt0, "eshare_steer", &hooks) > 0);
	install_addrs(env, 1);
}

/* ---- the stage switched off --------------------------------------------------------- */

/* 192.0.2.77:443 -> 203.0.113.10:1024 (gen_egress_share.py's t(A, 1024)). */
static const uint8_t frame_a1024[] = {
        2,    0,    0, 0, 0,  2, 2, 0, 0,   0, 0,    1,    0x08, 0x00, 0x45, 0,  0,    40,
        0,    1,    0, 0, 64, 6, 0, 0, 192, 0, 2,    77,   203,  0,    113,  10, 0x01, 0xbb,
        0x04, 0x00, 0, 0, 0,  0, 0, 0, 0,   0, 0x50, 0x10, 0x20, 0,    0,    0,  0,    0,
};

static uint32_t xlated_len(int prog_fd)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0);
	return info.xlated_prog_len;
}

/* Off (`const volatile` false), the stage is pruned: a shorter program, and a reply for
 * another member's slice passes to the stack even with the tables filled. */
static void test_off_is_pruned(void **state)
{
	struct env *env = *state;
	struct edge_bpf *on = env->skel, *off = load(false);
	struct xdp_result res;

	env->skel = off;
	install_settings(env, LB_ENCAP_GUE);
	install_addrs(env, 1);
	env->skel = on;
	assert_int_equal(harness_xdp_run(bpf_program__fd(off->progs.xdp_edge), env->lbt0,
	                                 frame_a1024, sizeof(frame_a1024), &res),
	                 0);
	assert_int_equal(res.retval, XDP_PASS);
	assert_int_equal(res.out_len, sizeof(frame_a1024));
	assert_true(xlated_len(bpf_program__fd(off->progs.xdp_edge)) + 1000 <
	            xlated_len(env->prog_fd));
	edge_bpf__destroy(off);
}

/* ---- edged's own tables ------------------------------------------------------------- */

/* The fixture environment as an egress config: the same members, ranges and self. */
static const char cfg_ab[] = "instance: estest\n"
                             "uplinks: [lbt0]\n"
                             "egress:\n"
                             "  interface: wgest\n"
                             "  private_key_file: /etc/edged/wg.key\n"
                             "  address: [100.64.0.1/10]\n"
                             "  snat:\n"
                             "    - address: 203.0.113.10\n"
                             "      ports: 1024-65535\n"
                             "      share: [198.51.100.11, 198.51.100.1, 198.51.100.12]\n"
                             "    - address: 203.0.113.11\n"
                             "      ports: 10000-10009\n"
                             "      share: [198.51.100.1, 198.51.100.12, 198.51.101.13]\n"
                             "  self: 198.51.100.1\n";

/* The same addresses in the other order, and a third: slots must follow the addresses. */
static const char cfg_bac[] = "instance: estest\n"
                              "uplinks: [lbt0]\n"
                              "egress:\n"
                              "  interface: wgest\n"
                              "  private_key_file: /etc/edged/wg.key\n"
                              "  address: [100.64.0.1/10]\n"
                              "  snat:\n"
                              "    - address: 203.0.113.12\n"
                              "      share: [198.51.100.1, 198.51.100.12]\n"
                              "    - address: 203.0.113.11\n"
                              "      ports: 10000-10009\n"
                              "      share: [198.51.100.1, 198.51.100.12, 198.51.101.13]\n"
                              "    - address: 203.0.113.10\n"
                              "      ports: 1024-65535\n"
                              "      share: [198.51.100.11, 198.51.100.1, 198.51.100.12]\n"
                              "  self: 198.51.100.1\n";

static void apply_config(struct datapath *dp, struct egress_share_state *st, const char *text)
{
	struct edged_config *cfg = calloc(1, sizeof(*cfg));
	struct config_errors ce = {};

	assert_non_null(cfg);
	if (config_load_string("t.yaml", text, 0, cfg, &ce)) {
		for (int i = 0; i < ce.n; i++)
			fprintf(stderr, "%s\n", ce.msgs[i]);
		fail_msg("the test's config does not load");
	}
	assert_true(egress_share_wanted(cfg));
	assert_int_equal(egress_share_prepare(st, dp, cfg), 0);
	egress_share_commit(st, dp);
	config_release(cfg);
	config_errors_free(&ce);
	free(cfg);
}

static int slot_of_addr(const struct egress_share_state *st, const char *addr)
{
	for (int i = 0; i < ESHARE_MAX_ADDRS; i++)
		if (st->addrs[i] == a4(addr))
			return i;
	return -1;
}

static uint64_t local_packets(struct env *env, int slot)
{
	struct datapath dp = {.skel = env->skel};
	struct eshare_counters c;

	assert_int_equal(egress_share_counters(&dp, slot, &c), 0);
	return c.c[ESHARE_LOCAL];
}

/*
 * edged builds the tables from the config (edged/egress_share.c): the fixtures pass against
 * them as against the hand-made ones; a restarted edged (fresh state) given the addresses in
 * another order keeps each address's counter slot (read back from the live table), and a new
 * address gets a slot of its own.
 */
static void test_edged_tables(void **state)
{
	struct env *env = *state;
	struct datapath dp = {.skel = env->skel};
	struct egress_share_state *st = calloc(1, sizeof(*st));
	struct fixture_hooks hooks = {.arg = env, .before = snapshot, .check = counters_moved};
	struct xdp_result *res = malloc(sizeof(*res));
	uint8_t f[sizeof(frame_a1024)];
	int slot_a, slot_b;
	uint64_t before;

	assert_true(st && res);
	egress_share_init(st);
	apply_config(&dp, st, cfg_ab);
	slot_a = slot_of_addr(st, "203.0.113.10");
	slot_b = slot_of_addr(st, "203.0.113.11");
	assert_true(slot_a >= 0 && slot_b >= 0 && slot_a != slot_b);
	assert_int_equal(harness_run_fixtures(env->prog_fd, env->lbt0, "eshare_steer", &hooks), 0);
	assert_int_equal(harness_run_fixtures(env->prog_fd, env->lbt0, "eshare_decap", &hooks), 0);
	before = local_packets(env, slot_a);
	assert_true(before > 0);

	/* A restart: a fresh state, the addresses listed in another order, one more. */
	egress_share_abort(st);
	egress_share_init(st);
	apply_config(&dp, st, cfg_bac);
	assert_int_equal(slot_of_addr(st, "203.0.113.10"), slot_a);
	assert_int_equal(slot_of_addr(st, "203.0.113.11"), slot_b);
	assert_true(slot_of_addr(st, "203.0.113.12") >= 0);
	assert_true(slot_of_addr(st, "203.0.113.12") != slot_a);
	assert_true(slot_of_addr(st, "203.0.113.12") != slot_b);
	assert_int_equal(local_packets(env, slot_a), before);
	assert_int_equal(harness_run_fixtures(env->prog_fd, env->lbt0, "eshare_steer", &hooks), 0);
	/* 203.0.113.12, ports 1024-65535 split between us and .12: 40000 is .12's. */
	if (!have_veth)
		preset_nexthop(env, slot_of_addr(st, "203.0.113.12"), 1, "198.51.100.12", false,
		               0x0c);
	memcpy(f, frame_a1024, sizeof(f));
	f[33] = 12;         /* the IPv4 destination's last byte */
	f[36] = 40000 >> 8; /* the TCP destination port */
	f[37] = 40000 & 0xff;
	assert_int_equal(harness_xdp_run(env->prog_fd, env->lbt0, f, sizeof(f), res), 0);
	assert_int_equal(res->retval, XDP_TX);
	f[36] = 30000 >> 8; /* ours */
	f[37] = 30000 & 0xff;
	assert_int_equal(harness_xdp_run(env->prog_fd, env->lbt0, f, sizeof(f), res), 0);
	assert_int_equal(res->retval, XDP_PASS);
	egress_share_abort(st);
	free(st);
	free(res);
	install_addrs(env, 1); /* back to the hand-made table for the other tests */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_steer_fixtures),    cmocka_unit_test(test_frag_fixtures),
	        cmocka_unit_test(test_decap_fixtures),    cmocka_unit_test(test_ipip_fixtures),
	        cmocka_unit_test(test_wrong_slices_fail), cmocka_unit_test(test_off_is_pruned),
	        cmocka_unit_test(test_edged_tables),
	};

	if (netns_setup())
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
