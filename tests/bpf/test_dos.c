// SPDX-License-Identifier: GPL-2.0
/*
 * The DoS stage of xdp_edge (bpf/dos.bpf.h) through BPF_PROG_TEST_RUN. Each test builds the
 * inner maps as edged does (bpf_map_create + one update of the outer slot), then runs the
 * fixtures of traffic/fixtures/dos_* (gen_dos.py) or frames built here, and checks the
 * action, the uplink counter of the deciding stage, and the DoS counters that moved.
 *
 *   test: bpf_map_create(LPM / ARRAY) --> dos_lists_v4/v6[allow|block], dos_rules[0],
 *         dos_dest_v4/v6[0] (outer slots)
 *   frame --> BPF_PROG_TEST_RUN(xdp_edge, ingress lo) --> action
 *                  |--> uplink_stats[1].c[stage][verdict]
 *                  +--> dos_list_stats / dos_rule_stats / dos_ceiling_stats
 *
 * Run as root from the repository root (or set EDGED_FIXTURES).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "harness.h"
#include "dos.h"
#include "edge.skel.h"

#define SLOT_LO 1
/* Rule ids whose counters the fixture checks compare (the sets use ids below this). */
#define SNAP_RULES   32
#define NSEC_PER_SEC 1000000000ULL

static int ncpus;

struct env {
	struct edge_bpf *skel;
	int prog_fd, slots_fd, stats_fd;
	int lists[2]; /* outer dos_lists_v4, dos_lists_v6 */
	int exact[2]; /* outer dos_exact_v4, dos_exact_v6 */
	int active;   /* dos_active */
	int dest[2];  /* outer dos_dest_v4, dos_dest_v6 */
	int rules;    /* outer dos_rules */
	int rule_stats, list_stats, ceiling_stats, buckets;
};

/* ---- loading --------------------------------------------------------------------------- */

static int env_setup(void **state, bool all_stages)
{
	struct env *env = calloc(1, sizeof(*env));
	struct edge_bpf *s;

	assert_non_null(env);
	s = env->skel = edge_bpf__open();
	assert_non_null(s);
	s->rodata->enable_dos = true;
	s->rodata->enable_transit = all_stages;
	s->rodata->enable_lb = all_stages;
	assert_int_equal(harness_unpin_maps(s->obj), 0);
	assert_int_equal(edge_bpf__load(s), 0);

	/* Every step on: the tests install (or leave out) the maps of generation 0. */
	assert_int_equal(harness_dos_active(bpf_map__fd(s->maps.dos_active), DOS_HAS_ALL), 0);
	env->prog_fd = bpf_program__fd(s->progs.xdp_edge);
	env->slots_fd = bpf_map__fd(s->maps.uplink_slots);
	env->stats_fd = bpf_map__fd(s->maps.uplink_stats);
	env->lists[0] = bpf_map__fd(s->maps.dos_lists_v4);
	env->lists[1] = bpf_map__fd(s->maps.dos_lists_v6);
	env->exact[0] = bpf_map__fd(s->maps.dos_exact_v4);
	env->exact[1] = bpf_map__fd(s->maps.dos_exact_v6);
	env->active = bpf_map__fd(s->maps.dos_active);
	env->dest[0] = bpf_map__fd(s->maps.dos_dest_v4);
	env->dest[1] = bpf_map__fd(s->maps.dos_dest_v6);
	env->rules = bpf_map__fd(s->maps.dos_rules);
	env->rule_stats = bpf_map__fd(s->maps.dos_rule_stats);
	env->list_stats = bpf_map__fd(s->maps.dos_list_stats);
	env->ceiling_stats = bpf_map__fd(s->maps.dos_ceiling_stats);
	env->buckets = bpf_map__fd(s->maps.dos_buckets);
	assert_int_equal(
	        harness_uplink_register(env->slots_fd, env->stats_fd, HARNESS_IFINDEX_LO, SLOT_LO),
	        0);
	*state = env;
	return 0;
}

static int setup(void **state)
{
	return env_setup(state, false);
}

static int setup_all_stages(void **state)
{
	return env_setup(state, true);
}

static int teardown(void **state)
{
	struct env *env = *state;

	edge_bpf__destroy(env->skel);
	free(env);
	return 0;
}

/* ---- the DoS configuration, built as edged builds it ---------------------------------- */

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* "203.0.113.0/24" or "2001:db8::/32" into an LPM key; returns the family index (0: IPv4,
 * 1: IPv6). An IPv4 key is the first 8 bytes of the struct. */
static int prefix_parse(const char *s, struct dos_lpm_v6 *key)
{
	char buf[64];
	char *slash;
	int v6 = strchr(s, ':') != NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	memset(key, 0, sizeof(*key));
	key->prefixlen = slash ? (uint32_t)atoi(slash + 1) : (v6 ? 128 : 32);
	if (slash)
		*slash = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, key->addr) != 1)
		fail_msg("bad prefix in the test: %s", s);
	return v6;
}

/* An inner LPM trie with exactly the template's parameters (dos.bpf.h). */
static int trie_create(int v6, uint32_t value_size, uint32_t max_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "test_trie",
	                        v6 ? sizeof(struct dos_lpm_v6) : sizeof(struct dos_lpm_v4),
	                        value_size, max_entries, &opts);

	assert_true(fd >= 0);
	return fd;
}

static int list_create(int v6)
{
	return trie_create(v6, sizeof(struct dos_list_entry), DOS_MAX_LIST_ENTRIES);
}

static void list_add(int fd, const char *prefix, uint64_t expires_ns)
{
	struct dos_list_entry e = {.expires_ns = expires_ns};
	struct dos_lpm_v6 key;

	prefix_parse(prefix, &key);
	assert_int_equal(bpf_map_update_elem(fd, &key, &e, BPF_ANY), 0);
}

/* An inner exact-address hash with the template's parameters (dos.bpf.h). */
static int exact_create(int v6)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = DOS_EXACT_MAP_FLAGS);
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_exact", v6 ? 16 : 4,
	                        sizeof(struct dos_list_entry), 1024, &opts);

	assert_true(fd >= 0);
	return fd;
}

/* A list as edged builds it: exact addresses into the hash EXACT, the rest into TRIE. */
struct split_list {
	int trie, exact;
};

static void split_add(const struct split_list *l, const char *prefix, uint64_t expires_ns)
{
	struct dos_list_entry e = {.expires_ns = expires_ns};
	struct dos_lpm_v6 key;
	int v6 = prefix_parse(prefix, &key);

	if (key.prefixlen == (v6 ? 128u : 32u))
		assert_int_equal(bpf_map_update_elem(l->exact, key.addr, &e, BPF_ANY), 0);
	else
		assert_int_equal(bpf_map_update_elem(l->trie, &key, &e, BPF_ANY), 0);
}

/* Puts INNER into SLOT of OUTER (the atomic swap) and closes our fd: the outer map holds
 * the inner one from now on. */
static void slot_set(int outer, uint32_t slot, int inner)
{
	assert_int_equal(bpf_map_update_elem(outer, &slot, &inner, BPF_ANY), 0);
	close(inner);
}

static void slot_clear(int outer, uint32_t slot)
{
	int err = bpf_map_delete_elem(outer, &slot);

	assert_true(err == 0 || errno == ENOENT);
}

/* A rule as the tables below write it: the struct, plus prefixes as text. */
struct rule_spec {
	struct dos_rule r;
	const char *src, *dst;
};

#define DROP(...)                                                                                  \
	{                                                                                          \
		.r = {.action = DOS_ACT_DROP, __VA_ARGS__ }                                        \
	}
#define PASS(...)                                                                                  \
	{                                                                                          \
		.r = {.action = DOS_ACT_PASS, __VA_ARGS__ }                                        \
	}
#define COUNT(...)                                                                                 \
	{                                                                                          \
		.r = {.action = DOS_ACT_COUNT, __VA_ARGS__ }                                       \
	}
#define RATE(...)                                                                                  \
	{                                                                                          \
		.r = {.action = DOS_ACT_RATE_LIMIT, __VA_ARGS__ }                                  \
	}

static struct dos_rule rule_of(const struct rule_spec *s, uint32_t id)
{
	struct dos_rule r = s->r;
	struct dos_lpm_v6 k;

	r.id = id;
	if (s->src) {
		r.l3 = prefix_parse(s->src, &k) ? 6 : 4;
		r.src_len = k.prefixlen;
		memcpy(r.src, k.addr, sizeof(r.src));
		r.match |= DOS_M_SRC;
	}
	if (s->dst) {
		r.l3 = prefix_parse(s->dst, &k) ? 6 : 4;
		r.dst_len = k.prefixlen;
		memcpy(r.dst, k.addr, sizeof(r.dst));
		r.match |= DOS_M_DST;
	}
	return r;
}

/* A rule set array holding SPECS (ids FIRST_ID, FIRST_ID + 1, ...) then DOS_ACT_END; not
 * installed yet. */
static int ruleset_create(const struct rule_spec *specs, int n, uint32_t first_id)
{
	struct dos_rule end = {.action = DOS_ACT_END};
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_rules", sizeof(uint32_t),
	                        sizeof(struct dos_rule), DOS_MAX_RULES, NULL);
	uint32_t i;

	assert_true(fd >= 0);
	for (i = 0; i < (uint32_t)n; i++) {
		struct dos_rule r = rule_of(&specs[i], first_id + i);

		assert_int_equal(bpf_map_update_elem(fd, &i, &r, BPF_ANY), 0);
	}
	assert_int_equal(bpf_map_update_elem(fd, &i, &end, BPF_ANY), 0);
	return fd;
}

static void rules_install(struct env *env, const struct rule_spec *specs, int n, uint32_t first_id)
{
	slot_set(env->rules, 0, ruleset_create(specs, n, first_id));
}

static void ceiling_add(int fd, const char *prefix, uint64_t pps, uint64_t burst)
{
	struct dos_dest_policy pol = {.ceiling_pps = pps, .ceiling_burst = burst};
	struct dos_lpm_v6 key;

	prefix_parse(prefix, &key);
	assert_int_equal(bpf_map_update_elem(fd, &key, &pol, BPF_ANY), 0);
}

static void dos_clear(struct env *env)
{
	for (int f = 0; f < 2; f++) {
		slot_clear(env->lists[f], DOS_LIST_ALLOW);
		slot_clear(env->lists[f], DOS_LIST_BLOCK);
		slot_clear(env->exact[f], DOS_LIST_ALLOW);
		slot_clear(env->exact[f], DOS_LIST_BLOCK);
		slot_clear(env->dest[f], 0);
	}
	slot_clear(env->rules, 0);
}

/* ---- counters -------------------------------------------------------------------------- */

/* A per-CPU dos_counters entry summed over the CPUs. */
static struct dos_counters counters(int fd, uint32_t idx)
{
	struct dos_counters *v = calloc(ncpus, sizeof(*v)), sum = {};

	assert_non_null(v);
	assert_int_equal(bpf_map_lookup_elem(fd, &idx, v), 0);
	for (int c = 0; c < ncpus; c++)
		for (int o = 0; o < DOS_NOUTCOMES; o++) {
			sum.packets[o] += v[c].packets[o];
			sum.bytes[o] += v[c].bytes[o];
		}
	free(v);
	return sum;
}

struct dos_snapshot {
	struct edge_uplink_stats up;
	struct dos_counters rules[SNAP_RULES], lists[DOS_NLISTS], ceiling;
};

static void snapshot(const struct env *env, struct dos_snapshot *s)
{
	assert_int_equal(harness_uplink_stats_read(env->stats_fd, SLOT_LO, &s->up), 0);
	for (uint32_t i = 0; i < SNAP_RULES; i++)
		s->rules[i] = counters(env->rule_stats, i);
	for (uint32_t i = 0; i < DOS_NLISTS; i++)
		s->lists[i] = counters(env->list_stats, i);
	s->ceiling = counters(env->ceiling_stats, 0);
}

/* ---- frames built here ----------------------------------------------------------------- */

struct frame {
	uint32_t len;
	uint8_t data[4096];
};

/*
 * What scapy builds with Ether(src=02:00:00:00:00:01, dst=02:00:00:00:00:02)/IP(src=SRC,
 * dst=DST)/UDP(sport=1234, dport=53)/Raw(b'x' * n), or IPv6() when SRC has a colon, with n
 * chosen so the frame is LEN bytes; the UDP checksum is left 0 (the program ignores it).
 */
static struct frame udp_frame(const char *src, const char *dst, uint32_t len)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
	bool v6 = strchr(src, ':') != NULL;
	uint32_t ip_len = v6 ? 40 : 20, l3_len = len - 14;
	struct frame f = {.len = len};
	uint8_t *ip = f.data + 14, *udp = ip + ip_len;

	assert_true(len >= 14 + ip_len + 8 && len <= sizeof(f.data));
	memcpy(f.data, eth, sizeof(eth));
	f.data[12] = v6 ? 0x86 : 0x08;
	f.data[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (l3_len - 40) >> 8;
		ip[5] = (l3_len - 40) & 0xff;
		ip[6] = 17;
		ip[7] = 64;
		assert_int_equal(inet_pton(AF_INET6, src, ip + 8), 1);
		assert_int_equal(inet_pton(AF_INET6, dst, ip + 24), 1);
	} else {
		uint16_t csum;

		ip[0] = 0x45;
		ip[2] = l3_len >> 8;
		ip[3] = l3_len & 0xff;
		ip[8] = 64;
		ip[9] = 17;
		assert_int_equal(inet_pton(AF_INET, src, ip + 12), 1);
		assert_int_equal(inet_pton(AF_INET, dst, ip + 16), 1);
		csum = ~harness_csum_fold(harness_csum_add(0, ip, 20));
		ip[10] = csum >> 8;
		ip[11] = csum & 0xff;
	}
	udp[0] = 1234 >> 8;
	udp[1] = 1234 & 0xff;
	udp[3] = 53;
	udp[4] = (l3_len - ip_len) >> 8;
	udp[5] = (l3_len - ip_len) & 0xff;
	memset(udp + 8, 'x', l3_len - ip_len - 8);
	return f;
}

/* Runs F once; checks the action and that exactly uplink_stats[STAGE][verdict of ACTION]
 * moved, by one packet and the frame's length. */
static void run_expect(const struct env *env, const struct frame *f, int action, int stage)
{
	int verdict = action == XDP_DROP ? EDGE_VERDICT_DROP : EDGE_VERDICT_PASS;
	struct edge_uplink_stats before, after;
	struct xdp_result *res = malloc(sizeof(*res));

	assert_non_null(res);
	assert_int_equal(harness_uplink_stats_read(env->stats_fd, SLOT_LO, &before), 0);
	assert_int_equal(harness_xdp_run(env->prog_fd, HARNESS_IFINDEX_LO, f->data, f->len, res),
	                 0);
	assert_int_equal(harness_uplink_stats_read(env->stats_fd, SLOT_LO, &after), 0);
	assert_string_equal(harness_action_name(res->retval), harness_action_name(action));
	for (int s = 0; s < EDGE_NSTAGES; s++)
		for (int v = 0; v < EDGE_NVERDICTS; v++) {
			bool this = s == stage && v == verdict;

			assert_int_equal(after.c[s][v].packets - before.c[s][v].packets, this);
			assert_int_equal(after.c[s][v].bytes - before.c[s][v].bytes,
			                 this ? f->len : 0);
		}
	free(res);
}

static void expect_pass(const struct env *env, const struct frame *f)
{
	run_expect(env, f, XDP_PASS, EDGE_STAGE_END);
}

static void expect_drop(const struct env *env, const struct frame *f)
{
	run_expect(env, f, XDP_DROP, EDGE_STAGE_DOS);
}

/* Sends F N times; returns how many passed (the rest must have been dropped by dos). */
static unsigned int send_n(const struct env *env, const struct frame *f, unsigned int n)
{
	struct xdp_result *res = malloc(sizeof(*res));
	unsigned int passed = 0;

	assert_non_null(res);
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(
		        harness_xdp_run(env->prog_fd, HARNESS_IFINDEX_LO, f->data, f->len, res), 0);
		assert_true(res->retval == XDP_PASS || res->retval == XDP_DROP);
		passed += res->retval == XDP_PASS;
	}
	free(res);
	return passed;
}

/* ---- fixture sets ---------------------------------------------------------------------- */

/* The lists of the dos_lists set (gen_dos.py states the same). */
static void lists_fixture(struct env *env)
{
	uint64_t past = 1, future = boot_ns() + 3600 * NSEC_PER_SEC;
	int b4 = list_create(0), a4 = list_create(0), b6 = list_create(1), a6 = list_create(1);

	list_add(b4, "203.0.113.0/24", 0);
	list_add(b4, "198.51.100.7/32", 0);
	list_add(b4, "198.51.100.66/32", past);
	list_add(b4, "198.51.100.77/32", future);
	list_add(b4, "192.0.2.128/25", 0);
	list_add(b4, "192.0.2.192/27", past);
	list_add(b4, "192.0.2.200/32", past);
	list_add(b4, "198.51.100.128/25", past);
	list_add(b4, "198.51.100.200/32", past);
	list_add(a4, "203.0.113.8/29", 0);
	list_add(a4, "203.0.113.16/32", past);
	list_add(a4, "203.0.113.24/29", future);
	list_add(a4, "203.0.113.25/32", past);
	list_add(b6, "2001:db8:bad::/48", 0);
	list_add(b6, "2001:db8:dead::66/128", past);
	list_add(b6, "2001:db8:dead::77/128", future);
	list_add(b6, "2001:db8:c0::/44", 0);
	list_add(b6, "2001:db8:c0:1::/64", past);
	list_add(b6, "2001:db8:c0:1::1/128", past);
	list_add(a6, "2001:db8:bad:1::/64", 0);
	slot_set(env->lists[0], DOS_LIST_BLOCK, b4);
	slot_set(env->lists[0], DOS_LIST_ALLOW, a4);
	slot_set(env->lists[1], DOS_LIST_BLOCK, b6);
	slot_set(env->lists[1], DOS_LIST_ALLOW, a6);
}

/* lists_fixture's entries as edged stores them: /32 and /128 in the exact hashes (their
 * expiry included: an expired exact entry must fall through to a live covering prefix). */
static void lists_fixture_split(struct env *env)
{
	uint64_t past = 1, future = boot_ns() + 3600 * NSEC_PER_SEC;
	struct split_list b4 = {list_create(0), exact_create(0)};
	struct split_list a4 = {list_create(0), exact_create(0)};
	struct split_list b6 = {list_create(1), exact_create(1)};
	struct split_list a6 = {list_create(1), exact_create(1)};

	split_add(&b4, "203.0.113.0/24", 0);
	split_add(&b4, "198.51.100.7/32", 0);
	split_add(&b4, "198.51.100.66/32", past);
	split_add(&b4, "198.51.100.77/32", future);
	split_add(&b4, "192.0.2.128/25", 0);
	split_add(&b4, "192.0.2.192/27", past);
	split_add(&b4, "192.0.2.200/32", past);
	split_add(&b4, "198.51.100.128/25", past);
	split_add(&b4, "198.51.100.200/32", past);
	split_add(&a4, "203.0.113.8/29", 0);
	split_add(&a4, "203.0.113.16/32", past);
	split_add(&a4, "203.0.113.24/29", future);
	split_add(&a4, "203.0.113.25/32", past);
	split_add(&b6, "2001:db8:bad::/48", 0);
	split_add(&b6, "2001:db8:dead::66/128", past);
	split_add(&b6, "2001:db8:dead::77/128", future);
	split_add(&b6, "2001:db8:c0::/44", 0);
	split_add(&b6, "2001:db8:c0:1::/64", past);
	split_add(&b6, "2001:db8:c0:1::1/128", past);
	split_add(&a6, "2001:db8:bad:1::/64", 0);
	slot_set(env->lists[0], DOS_LIST_BLOCK, b4.trie);
	slot_set(env->exact[0], DOS_LIST_BLOCK, b4.exact);
	slot_set(env->lists[0], DOS_LIST_ALLOW, a4.trie);
	slot_set(env->exact[0], DOS_LIST_ALLOW, a4.exact);
	slot_set(env->lists[1], DOS_LIST_BLOCK, b6.trie);
	slot_set(env->exact[1], DOS_LIST_BLOCK, b6.exact);
	slot_set(env->lists[1], DOS_LIST_ALLOW, a6.trie);
	slot_set(env->exact[1], DOS_LIST_ALLOW, a6.exact);
}

static void block_fixture(struct env *env)
{
	int b4 = list_create(0);

	list_add(b4, "203.0.113.0/24", 0);
	slot_set(env->lists[0], DOS_LIST_BLOCK, b4);
}

#define TCP_SYN 0x02
#define TCP_ACK 0x10

static const struct rule_spec rules_l3_l4[] = {
        DROP(.match = DOS_M_L3 | DOS_M_L4, .l3 = 6, .l4_proto = 17),
        DROP(.match = DOS_M_L4, .l4_proto = 1),
        DROP(.match = DOS_M_L4, .l4_proto = 132),
};
static const struct rule_spec rules_src[] = {
        {.r.action = DOS_ACT_DROP, .src = "203.0.113.0/24"},
        {.r.action = DOS_ACT_DROP, .src = "2001:db8:bad::/48"},
        {.r.action = DOS_ACT_DROP, .src = "192.0.2.64/26"},
        {.r.action = DOS_ACT_DROP, .src = "2001:db8:0:8::/61"},
        {.r.action = DOS_ACT_PASS, .src = "0.0.0.0/0"},
};
static const struct rule_spec rules_dst[] = {
        {.r.action = DOS_ACT_DROP, .dst = "198.51.100.1/32"},
        {.r.action = DOS_ACT_DROP, .dst = "198.51.100.128/25"},
        {.r.action = DOS_ACT_DROP, .dst = "2001:db8:1::/64"},
};
static const struct rule_spec rules_ports[] = {
        DROP(.match = DOS_M_DPORT, .dport_min = 1000, .dport_max = 2000),
        DROP(.match = DOS_M_SPORT, .sport_min = 53, .sport_max = 53),
};
static const struct rule_spec rules_flags[] = {
        DROP(.match = DOS_M_TCP_FLAGS, .tcp_flags_mask = TCP_SYN | TCP_ACK,
             .tcp_flags_value = TCP_SYN),
        DROP(.match = DOS_M_TCP_FLAGS, .tcp_flags_mask = 0x3f, .tcp_flags_value = 0),
};
static const struct rule_spec rules_ttl[] = {
        DROP(.match = DOS_M_TTL, .ttl_min = 1, .ttl_max = 5),
        PASS(.match = DOS_M_TTL, .ttl_min = 255, .ttl_max = 255),
};
static const struct rule_spec rules_len[] = {
        DROP(.match = DOS_M_LEN, .len_min = 100, .len_max = 200),
        DROP(.match = DOS_M_LEN, .len_min = 3000, .len_max = 65535),
};
static const struct rule_spec rules_frag[] = {
        DROP(.match = DOS_M_FRAG, .frag = DOS_FRAG_FIRST),
        DROP(.match = DOS_M_FRAG, .frag = DOS_FRAG_LATER),
        PASS(.match = DOS_M_FRAG, .frag = DOS_FRAG_NONE),
};
static const struct rule_spec rules_frag_any[] = {
        DROP(.match = DOS_M_FRAG, .frag = DOS_FRAG_ANY_FRAGMENT),
};

#define FF4                                                                                        \
	{                                                                                          \
		0xff, 0xff, 0xff, 0xff                                                             \
	}
#define AB16                                                                                       \
	{                                                                                          \
		0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,      \
		        0xab, 0xab, 0xab                                                           \
	}
#define FF16                                                                                       \
	{                                                                                          \
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,      \
		        0xff, 0xff, 0xff                                                           \
	}
static const struct rule_spec rules_payload[] = {
        DROP(.match = DOS_M_PAYLOAD, .payload_off = 8, .payload_len = 4,
             .payload = {0xde, 0xad, 0xbe, 0xef}, .payload_mask = FF4),
        DROP(.match = DOS_M_PAYLOAD, .payload_off = 8, .payload_len = 1, .payload = {0x40},
             .payload_mask = {0xf0}),
        DROP(.match = DOS_M_PAYLOAD, .payload_off = 20, .payload_len = 4, .payload = "GET ",
             .payload_mask = FF4),
        DROP(.match = DOS_M_PAYLOAD, .payload_off = 3528, .payload_len = 16, .payload = AB16,
             .payload_mask = FF16),
        DROP(.match = DOS_M_PAYLOAD, .payload_off = 40000, .payload_len = 1),
};
static const struct rule_spec rules_order[] = {
        {.r.action = DOS_ACT_COUNT, .src = "192.0.2.0/24"},
        {.r.action = DOS_ACT_PASS, .dst = "198.51.100.10/32"},
        DROP(.match = DOS_M_L4, .l4_proto = 17),
        {.r.action = DOS_ACT_DROP, .src = "192.0.2.0/24"},
        DROP(.match = DOS_M_L4, .l4_proto = 17),
};

struct dos_set {
	const char *name;
	void (*lists)(struct env *env);
	const struct rule_spec *rules;
	int nrules;
	uint32_t first_id;
};

#define SET(name, lists, rules, first_id)                                                          \
	{                                                                                          \
		name, lists, rules, sizeof(rules) / sizeof(rules[0]), first_id                     \
	}

static const struct dos_set match_sets[] = {
        SET("dos_match_l3_l4", NULL, rules_l3_l4, 0),
        SET("dos_match_src", NULL, rules_src, 0),
        SET("dos_match_dst", NULL, rules_dst, 0),
        SET("dos_match_ports", NULL, rules_ports, 0),
        SET("dos_match_tcp_flags", NULL, rules_flags, 0),
        SET("dos_match_ttl", NULL, rules_ttl, 0),
        SET("dos_match_len", NULL, rules_len, 0),
        SET("dos_match_frag", NULL, rules_frag, 0),
        SET("dos_match_frag_any", NULL, rules_frag_any, 0),
        SET("dos_match_payload", NULL, rules_payload, 0),
};

static const struct dos_set lists_set = {"dos_lists", lists_fixture, NULL, 0, 0};
/* The same packets and verdicts with the exact addresses in the hashes. */
static const struct dos_set lists_split_set = {"dos_lists", lists_fixture_split, NULL, 0, 0};
static const struct dos_set order_set = SET("dos_rule_order", block_fixture, rules_order, 10);

static const char *const outcome_names[DOS_NOUTCOMES] = {"matched", "dropped", "rate_limited",
                                                         "passed"};

struct fixture_ctx {
	const struct env *env;
	const struct dos_set *set;
	struct dos_snapshot before;
};

static void fixture_before(void *arg, const struct fixture_line *fl)
{
	struct fixture_ctx *fc = arg;

	(void)fl;
	snapshot(fc->env, &fc->before);
}

/* The counter a stage-column tag names (its place in the "after" snapshot), and the outcome
 * column that moves with MATCHED (MATCHED itself: only that one, for a count-only rule). */
struct expected_move {
	const struct dos_counters *counter;
	int outcome;
};

/* Outcome of a deciding rule: from its action in the set, and the packet's fate. */
static int rule_outcome(const struct dos_set *set, uint32_t id, int action)
{
	uint32_t pos = id - set->first_id;

	if (id < set->first_id || pos >= (uint32_t)set->nrules)
		return -1;
	switch (set->rules[pos].r.action) {
	case DOS_ACT_DROP:
		return DOS_OUT_DROPPED;
	case DOS_ACT_PASS:
		return DOS_OUT_PASSED;
	case DOS_ACT_RATE_LIMIT:
		return action == XDP_PASS ? DOS_OUT_PASSED : DOS_OUT_RATE_LIMITED;
	default:
		return -1;
	}
}

/* Parses one tag (allow, block, ceil, r<id>, c<id>) into the outcome it moves and which
 * counter; -1 for a tag it does not know. */
static int tag_parse(const struct fixture_ctx *fc, const struct dos_snapshot *after,
                     const char *tag, int action, struct expected_move *m)
{
	char *end;
	unsigned long id;

	if (!strcmp(tag, "allow") || !strcmp(tag, "block")) {
		int l = tag[0] == 'a' ? DOS_LIST_ALLOW : DOS_LIST_BLOCK;

		m->counter = &after->lists[l];
		return m->outcome = l == DOS_LIST_ALLOW ? DOS_OUT_PASSED : DOS_OUT_DROPPED;
	}
	if (!strcmp(tag, "ceil")) {
		m->counter = &after->ceiling;
		return m->outcome = action == XDP_PASS ? DOS_OUT_PASSED : DOS_OUT_RATE_LIMITED;
	}
	if ((tag[0] != 'r' && tag[0] != 'c') || !tag[1])
		return -1;
	id = strtoul(tag + 1, &end, 10);
	if (*end || id >= SNAP_RULES)
		return -1;
	m->counter = &after->rules[id];
	m->outcome = tag[0] == 'c' ? DOS_OUT_MATCHED : rule_outcome(fc->set, id, action);
	return m->outcome;
}

/* Every DoS counter the tags do not name stays still; each named one moves by one packet
 * and LEN bytes in MATCHED and its outcome column, nothing else. */
static bool counters_as_tagged(const struct fixture_line *fl, const struct dos_counters *before,
                               const struct dos_counters *after, const char *what,
                               const struct expected_move *m, uint32_t len)
{
	bool ok = true;

	for (int o = 0; o < DOS_NOUTCOMES; o++) {
		bool moves = m && (o == DOS_OUT_MATCHED || o == m->outcome);
		uint64_t dp = after->packets[o] - before->packets[o];
		uint64_t db = after->bytes[o] - before->bytes[o];

		if (dp == (moves ? 1 : 0) && db == (moves ? len : 0))
			continue;
		fixture_report(
		        fl,
		        "DoS counter %s/%s moved by %llu packets, %llu bytes; expected %u and %u",
		        what, outcome_names[o], (unsigned long long)dp, (unsigned long long)db,
		        moves ? 1 : 0, moves ? len : 0);
		ok = false;
	}
	return ok;
}

#define MAX_TAGS 4

struct tagged {
	int stage;
	int n;
	struct expected_move moves[MAX_TAGS];
};

/* Reads the stage column, <stage>[/<tag>]... (see gen_dos.py), against the AFTER snapshot. */
static bool column_parse(const struct fixture_ctx *fc, const struct fixture_line *fl,
                         const struct dos_snapshot *after, int action, struct tagged *t)
{
	char col[sizeof(fl->stage)], *tok, *save;

	snprintf(col, sizeof(col), "%s", fl->stage);
	tok = strtok_r(col, "/", &save);
	t->stage = tok ? harness_stage_parse(tok) : -1;
	t->n = 0;
	if (t->stage < 0) {
		fixture_report(fl, "unknown stage in '%s'", fl->stage);
		return false;
	}
	while ((tok = strtok_r(NULL, "/", &save))) {
		if (t->n == MAX_TAGS || tag_parse(fc, after, tok, action, &t->moves[t->n]) < 0) {
			fixture_report(fl, "bad DoS counter tag '%s' in '%s'", tok, fl->stage);
			return false;
		}
		t->n++;
	}
	return true;
}

/* One DoS counter: as its tag says if it has one, else unmoved. */
static bool counter_check(const struct fixture_line *fl, const struct tagged *t,
                          const struct dos_counters *before, const struct dos_counters *after,
                          const char *what, uint32_t len)
{
	const struct expected_move *m = NULL;

	for (int i = 0; i < t->n; i++)
		if (t->moves[i].counter == after)
			m = &t->moves[i];
	return counters_as_tagged(fl, before, after, what, m, len);
}

/* The check hook: the uplink counter of the stage, and every DoS counter. */
static bool fixture_check(void *arg, const struct fixture_line *fl, const struct pcap_pkt *in,
                          const struct xdp_result *res)
{
	struct fixture_ctx *fc = arg;
	const struct dos_snapshot *b = &fc->before;
	struct dos_snapshot after;
	struct tagged t;
	bool ok;

	snapshot(fc->env, &after);
	if (!column_parse(fc, fl, &after, res->retval, &t))
		return false;
	ok = harness_uplink_moved_once(
	        fl, &b->up, &after.up, t.stage,
	        res->retval == XDP_DROP ? EDGE_VERDICT_DROP : EDGE_VERDICT_PASS, in->len);
	ok &= counter_check(fl, &t, &b->lists[DOS_LIST_ALLOW], &after.lists[DOS_LIST_ALLOW],
	                    "allow", in->len);
	ok &= counter_check(fl, &t, &b->lists[DOS_LIST_BLOCK], &after.lists[DOS_LIST_BLOCK],
	                    "block", in->len);
	ok &= counter_check(fl, &t, &b->ceiling, &after.ceiling, "ceiling", in->len);
	for (uint32_t r = 0; r < SNAP_RULES; r++) {
		char what[16];

		snprintf(what, sizeof(what), "rule %u", r);
		ok &= counter_check(fl, &t, &b->rules[r], &after.rules[r], what, in->len);
	}
	return ok;
}

/* Installs SET's configuration, runs its fixtures (in DIR, or the fixture directory), then
 * removes the configuration; returns the number of packets not as expected. */
static int run_set_in(struct env *env, const struct dos_set *set, const char *dir)
{
	struct fixture_ctx fc = {.env = env, .set = set};
	struct fixture_hooks hooks = {.arg = &fc, .before = fixture_before, .check = fixture_check};
	int bad;

	if (set->lists)
		set->lists(env);
	if (set->rules)
		rules_install(env, set->rules, set->nrules, set->first_id);
	bad = dir ? harness_run_fixtures_in(dir, env->prog_fd, HARNESS_IFINDEX_LO, set->name,
	                                    &hooks)
	          : harness_run_fixtures(env->prog_fd, HARNESS_IFINDEX_LO, set->name, &hooks);
	if (bad < 0)
		fail_msg("cannot run fixture set %s: %s", set->name, strerror(-bad));
	dos_clear(env);
	return bad;
}

/* ---- tests: loading -------------------------------------------------------------------- */

/* Every stage on: the program loads, the outer maps start with empty slots (no list, no
 * rules, no ceilings), and a packet goes through to the end. */
static void test_loads_with_every_stage(void **state)
{
	struct env *env = *state;
	struct frame f = udp_frame("192.0.2.1", "198.51.100.1", 100);
	uint32_t slot = 0, id;

	assert_int_equal(bpf_map_lookup_elem(env->rules, &slot, &id), -ENOENT);
	assert_int_equal(bpf_map_lookup_elem(env->lists[1], &slot, &id), -ENOENT);
	assert_int_equal(bpf_map_lookup_elem(env->dest[0], &slot, &id), -ENOENT);
	expect_pass(env, &f);
}

/* ---- tests: fixtures ------------------------------------------------------------------- */

static void test_lists(void **state)
{
	assert_int_equal(run_set_in(*state, &lists_set, NULL), 0);
}

static void test_lists_split(void **state)
{
	assert_int_equal(run_set_in(*state, &lists_split_set, NULL), 0);
}

static void active_set(const struct env *env, uint32_t word)
{
	assert_int_equal(harness_dos_active(env->active, word), 0);
}

/*
 * dos_active: a step whose DOS_HAS_* bit is clear is skipped even with its maps installed
 * (that is how an empty list costs nothing), and the generation bit picks which slots a
 * packet uses, so a reload flips lists, rules and ceilings together with one write.
 */
static void test_active_generations(void **state)
{
	struct env *env = *state;
	const struct rule_spec drop_udp[] = {DROP(.match = DOS_M_L4, .l4_proto = 17)};
	struct frame from1 = udp_frame("192.0.2.1", "198.51.100.1", 100);
	struct frame from2 = udp_frame("192.0.2.2", "198.51.100.1", 100);
	struct frame from3 = udp_frame("192.0.2.3", "198.51.100.1", 100);
	struct frame from6 = udp_frame("2001:db8::1", "2001:db8:1::1", 100);
	struct split_list g0 = {list_create(0), exact_create(0)};
	struct split_list g1 = {list_create(0), exact_create(0)};
	uint32_t g1_block = DOS_LIST_SLOT(1, DOS_LIST_BLOCK);

	split_add(&g0, "192.0.2.1/32", 0);
	split_add(&g0, "192.0.2.0/31", 0); /* 192.0.2.0 and .1 */
	split_add(&g1, "192.0.2.2/32", 0);
	slot_set(env->lists[0], DOS_LIST_BLOCK, g0.trie);
	slot_set(env->exact[0], DOS_LIST_BLOCK, g0.exact);
	slot_set(env->lists[0], g1_block, g1.trie);
	slot_set(env->exact[0], g1_block, g1.exact);
	rules_install(env, drop_udp, 1, 0); /* generation 0 only */

	active_set(env, DOS_HAS_EXACT(DOS_LIST_BLOCK, 0));
	expect_drop(env, &from1);
	expect_pass(env, &from2);
	expect_pass(env, &from3); /* no rules: the bit is clear */
	active_set(env, DOS_HAS_PREFIX(DOS_LIST_BLOCK, 0));
	expect_drop(env, &from1); /* the /31 */
	active_set(env, 0);
	expect_pass(env, &from1); /* maps installed, nothing on */
	active_set(env, DOS_HAS_RULES);
	expect_drop(env, &from3);
	expect_drop(env, &from6); /* the rule drops UDP of both families */
	active_set(env, DOS_ACTIVE_GEN | DOS_HAS_LIST(DOS_LIST_BLOCK) | DOS_HAS_RULES);
	expect_pass(env, &from1); /* generation 1: its own list, no rule set */
	expect_drop(env, &from2);
	expect_pass(env, &from3);
	active_set(env, DOS_HAS_LIST(DOS_LIST_BLOCK) | DOS_HAS_RULES); /* back to 0 */
	expect_drop(env, &from1);
	expect_drop(env, &from3);
	active_set(env, DOS_HAS_LIST(DOS_LIST_BLOCK));
	expect_pass(env, &from2);
	slot_clear(env->lists[0], g1_block);
	slot_clear(env->exact[0], g1_block);
	active_set(env, DOS_HAS_ALL);
}

static void test_match_fields(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(match_sets) / sizeof(match_sets[0]); i++)
		bad += run_set_in(*state, &match_sets[i], NULL);
	assert_int_equal(bad, 0);
}

static void test_rule_order(void **state)
{
	assert_int_equal(run_set_in(*state, &order_set, NULL), 0);
}

/*
 * The DoS check catches wrong counter tags: a wrong rule, a counter that does not move, a
 * missing tag and a wrong stage each make one mismatch. Uses dos_match_l3_l4's packets in a
 * temporary directory (0: IPv6 UDP, dropped by r0; 1: IPv4 UDP, passes; 5: IPv4 ICMP, r1).
 */
static void test_check_catches_wrong_tags(void **state)
{
	char dir[] = "/tmp/edged-dos-XXXXXX", path[PATH_MAX];
	struct pcap_file pf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/dos_match_l3_l4.pcap", harness_fixture_dir());
	assert_int_equal(pcap_read(path, &pf), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dos_match_l3_l4.pcap", dir);
	assert_int_equal(pcap_write(path, pf.pkts, pf.n), 0);
	snprintf(path, sizeof(path), "%s/dos_match_l3_l4.expect", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "0 XDP_DROP dos/r1     # wrong rule\n"
	           "1 XDP_PASS end/r0     # no counter moves\n"
	           "2 XDP_PASS end\n3 XDP_DROP dos/r0\n4 XDP_DROP dos/r0\n"
	           "5 XDP_DROP dos        # the r1 tag is missing\n"
	           "6 XDP_DROP end/r1     # wrong stage\n"
	           "7 XDP_PASS end\n8 XDP_DROP dos/r2\n9 XDP_DROP dos/r2\n");
	fclose(f);
	fprintf(stderr, "-- the 4 mismatches reported next are what this test expects --\n");
	assert_int_equal(run_set_in(*state, &match_sets[0], dir), 4);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dos_match_l3_l4.pcap", dir);
	unlink(path);
	rmdir(dir);
	pcap_free(&pf);
}

/* A rule set array of N rules (ids = positions) where every rule drops UDP to port 1000 + i
 * (nothing the test sends), then DOS_ACT_END if N < DOS_MAX_RULES. */
static int ruleset_filler(uint32_t n)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_rules", sizeof(uint32_t),
	                        sizeof(struct dos_rule), DOS_MAX_RULES, NULL);

	assert_true(fd >= 0);
	for (uint32_t i = 0; i <= n && i < DOS_MAX_RULES; i++) {
		struct dos_rule r = {.id = i % SNAP_RULES,
		                     .action = i < n ? DOS_ACT_DROP : DOS_ACT_END,
		                     .match = DOS_M_DPORT,
		                     .dport_min = 1000 + i,
		                     .dport_max = 1000 + i};

		assert_int_equal(bpf_map_update_elem(fd, &i, &r, BPF_ANY), 0);
	}
	return fd;
}

static void rule_put(int fd, uint32_t pos, struct dos_rule r)
{
	assert_int_equal(bpf_map_update_elem(fd, &pos, &r, BPF_ANY), 0);
}

/*
 * Long sets, across the program's steps of several rules each: a count rule and the deciding
 * rule far down the set, END right at a step boundary, a decision in the very last slot,
 * and a set of DOS_MAX_RULES rules without END.
 */
static void test_long_rule_sets(void **state)
{
	struct env *env = *state;
	struct frame f = udp_frame("192.0.2.1", "198.51.100.1", 100); /* dport 53 */
	struct dos_rule count_udp = {
	        .id = 9, .action = DOS_ACT_COUNT, .match = DOS_M_L4, .l4_proto = 17};
	struct dos_rule drop_53 = {.id = 17,
	                           .action = DOS_ACT_DROP,
	                           .match = DOS_M_DPORT,
	                           .dport_min = 53,
	                           .dport_max = 53};
	int fd;

	fd = ruleset_filler(20);
	rule_put(fd, 9, count_udp);
	rule_put(fd, 17, drop_53);
	slot_set(env->rules, 0, fd);
	expect_drop(env, &f);
	assert_int_equal(counters(env->rule_stats, 9).packets[DOS_OUT_MATCHED], 1);
	assert_int_equal(counters(env->rule_stats, 17).packets[DOS_OUT_DROPPED], 1);

	for (uint32_t n = 7; n <= 9; n++) { /* END just before, at and after a step boundary */
		slot_set(env->rules, 0, ruleset_filler(n));
		expect_pass(env, &f);
		fd = ruleset_filler(n);
		rule_put(fd, n - 1, drop_53);
		slot_set(env->rules, 0, fd);
		expect_drop(env, &f);
	}

	slot_set(env->rules, 0, ruleset_filler(DOS_MAX_RULES)); /* full, no END */
	expect_pass(env, &f);
	fd = ruleset_filler(DOS_MAX_RULES);
	rule_put(fd, DOS_MAX_RULES - 1, drop_53);
	slot_set(env->rules, 0, fd);
	expect_drop(env, &f);
	assert_int_equal(counters(env->rule_stats, 17).packets[DOS_OUT_DROPPED], 5);
}

/* ---- tests: lists at runtime ----------------------------------------------------------- */

/* An entry stops matching by itself once its time is past, and entries added to the live
 * list (as edgectl does) take effect at once. */
static void test_list_entry_expires(void **state)
{
	struct env *env = *state;
	struct frame f = udp_frame("192.0.2.50", "198.51.100.1", 80);
	struct frame g = udp_frame("2001:db8::50", "2001:db8:1::1", 80);
	int b4 = list_create(0), b6 = list_create(1);
	uint64_t expires = boot_ns() + 300 * 1000000ULL;

	assert_int_equal(bpf_map_update_elem(env->lists[0], &(uint32_t){DOS_LIST_BLOCK}, &b4, 0),
	                 0);
	assert_int_equal(bpf_map_update_elem(env->lists[1], &(uint32_t){DOS_LIST_BLOCK}, &b6, 0),
	                 0);
	expect_pass(env, &f);
	list_add(b4, "192.0.2.50/32", expires); /* into the live list */
	list_add(b6, "2001:db8::50/128", expires);
	expect_drop(env, &f);
	expect_drop(env, &g);
	while (boot_ns() <= expires + 10 * 1000000ULL)
		usleep(20000);
	expect_pass(env, &f);
	expect_pass(env, &g);
	close(b4);
	close(b6);
}

/* ---- tests: rate limits ---------------------------------------------------------------- */

/* A rule limiting to 1 pps with a burst of 5: refill is 1 packet a second, so within the
 * test a flood of 20 passes exactly 5; the counters split 5 passed / 15 rate-limited. */
static void test_rate_limit_burst(void **state)
{
	struct env *env = *state;
	const struct rule_spec rl[] = {
	        RATE(.match = DOS_M_L4, .l4_proto = 17, .pps = 1, .burst_pkts = 5),
	};
	struct frame f = udp_frame("192.0.2.1", "198.51.100.1", 120);
	struct dos_counters c;

	rules_install(env, rl, 1, 7);
	for (int i = 0; i < 5; i++)
		expect_pass(env, &f);
	for (int i = 0; i < 15; i++)
		expect_drop(env, &f);
	c = counters(env->rule_stats, 7);
	assert_int_equal(c.packets[DOS_OUT_MATCHED], 20);
	assert_int_equal(c.packets[DOS_OUT_PASSED], 5);
	assert_int_equal(c.packets[DOS_OUT_RATE_LIMITED], 15);
	assert_int_equal(c.packets[DOS_OUT_DROPPED], 0);
	assert_int_equal(c.bytes[DOS_OUT_PASSED], 5 * 120);
	assert_int_equal(c.bytes[DOS_OUT_RATE_LIMITED], 15 * 120);
}

/* Which packets share a bucket, by the rule's key. */
struct key_case {
	uint8_t rl_key;
	const char *a_src, *a_dst, *b_src, *b_dst;
	bool shared;
};

/*
 * Rate limit 1 pps, burst 1: packet A passes; B then passes only if it has a bucket of its
 * own. Each case has its own rule id, so its buckets are fresh.
 */
static void test_rate_limit_keys(void **state)
{
	static const struct key_case cases[] = {
	        {DOS_RL_SRC, "192.0.2.1", "198.51.100.1", "192.0.2.2", "198.51.100.1", false},
	        {DOS_RL_SRC, "192.0.2.1", "198.51.100.1", "192.0.2.1", "198.51.100.9", true},
	        {DOS_RL_SRC, "2001:db8::1", "2001:db8:1::1", "2001:db8::2", "2001:db8:1::1", false},
	        {DOS_RL_SRC24, "192.0.2.1", "198.51.100.1", "192.0.2.200", "198.51.100.1", true},
	        {DOS_RL_SRC24, "192.0.2.1", "198.51.100.1", "192.0.3.1", "198.51.100.1", false},
	        {DOS_RL_SRC24, "2001:db8:0:1::1", "2001:db8:1::1", "2001:db8:0:2::1",
	         "2001:db8:1::1", true}, /* IPv6: a /48 */
	        {DOS_RL_SRC24, "2001:db8:0:1::1", "2001:db8:1::1", "2001:db8:1::1", "2001:db8:1::1",
	         false},
	        {DOS_RL_SRC64, "2001:db8::1", "2001:db8:1::1", "2001:db8::ffff", "2001:db8:1::1",
	         true},
	        {DOS_RL_SRC64, "2001:db8::1", "2001:db8:1::1", "2001:db8:0:1::1", "2001:db8:1::1",
	         false},
	        {DOS_RL_SRC64, "192.0.2.1", "198.51.100.1", "192.0.2.2", "198.51.100.1",
	         false}, /* IPv4: a /32 */
	        {DOS_RL_DST, "192.0.2.1", "198.51.100.1", "192.0.2.2", "198.51.100.1", true},
	        {DOS_RL_DST, "192.0.2.1", "198.51.100.1", "192.0.2.1", "198.51.100.2", false},
	        {DOS_RL_DST, "2001:db8::1", "2001:db8:1::1", "2001:db8::1", "2001:db8:1::2", false},
	        {DOS_RL_RULE, "192.0.2.1", "198.51.100.1", "203.0.113.9", "198.51.100.7", true},
	        {DOS_RL_RULE, "192.0.2.1", "198.51.100.1", "2001:db8::1", "2001:db8:1::1", true},
	};
	struct env *env = *state;

	for (uint32_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct key_case *kc = &cases[i];
		const struct rule_spec rl[] = {
		        RATE(.pps = 1, .burst_pkts = 1, .rl_key = kc->rl_key)};
		struct frame a = udp_frame(kc->a_src, kc->a_dst, 100);
		struct frame b = udp_frame(kc->b_src, kc->b_dst, 100);

		rules_install(env, rl, 1, i);
		expect_pass(env, &a);
		expect_drop(env, &a);
		if (send_n(env, &b, 1) != (kc->shared ? 0u : 1u))
			fail_msg("case %u: %s > %s and %s > %s should %sshare a bucket", i,
			         kc->a_src, kc->a_dst, kc->b_src, kc->b_dst,
			         kc->shared ? "" : "not ");
	}
}

/* A byte limit (1 B/s: no refill to speak of) with a 1000-byte burst takes exactly the
 * frames' lengths: 3 x 300 pass, a 4th does not fit the 100 left, a 100-byte frame does. */
static void test_rate_limit_bytes(void **state)
{
	struct env *env = *state;
	const struct rule_spec rl[] = {RATE(.bps = 1, .burst_bytes = 1000, .rl_key = DOS_RL_RULE)};
	struct frame f300 = udp_frame("192.0.2.1", "198.51.100.1", 300);
	struct frame f100 = udp_frame("192.0.2.1", "198.51.100.1", 100);
	struct frame f60 = udp_frame("192.0.2.1", "198.51.100.1", 60);
	struct dos_counters c;

	rules_install(env, rl, 1, 0);
	expect_pass(env, &f300);
	expect_pass(env, &f300);
	expect_pass(env, &f300);
	expect_drop(env, &f300);
	expect_pass(env, &f100);
	expect_drop(env, &f60);
	c = counters(env->rule_stats, 0);
	assert_int_equal(c.bytes[DOS_OUT_PASSED], 1000);
	assert_int_equal(c.bytes[DOS_OUT_RATE_LIMITED], 360);
}

/* Packets and bytes together: whichever runs out first limits, and a packet one measure
 * refuses takes nothing from the other. */
static void test_rate_limit_packets_and_bytes(void **state)
{
	struct env *env = *state;
	const struct rule_spec rl[] = {
	        RATE(.pps = 1, .burst_pkts = 3, .bps = 1, .burst_bytes = 10000,
	             .rl_key = DOS_RL_SRC),
	};
	const struct rule_spec rl2[] = {
	        RATE(.pps = 1, .burst_pkts = 3, .bps = 1, .burst_bytes = 500, .rl_key = DOS_RL_SRC),
	};
	struct frame f = udp_frame("192.0.2.1", "198.51.100.1", 200);
	struct frame small = udp_frame("192.0.2.1", "198.51.100.1", 100);

	rules_install(env, rl, 1, 0);
	assert_int_equal(send_n(env, &f, 10), 3); /* packets ran out */
	rules_install(env, rl2, 1, 1);
	assert_int_equal(send_n(env, &f, 10), 2);    /* bytes ran out: 100 B and 1 packet left */
	assert_int_equal(send_n(env, &small, 1), 1); /* the 8 refused took no packet token */
	assert_int_equal(send_n(env, &small, 1), 0);
}

/* Tokens come back with time, fractions included: at 10 pps with a burst of 1, a second
 * packet right after the first is dropped, and one 250 ms later passes (2.5 tokens' worth,
 * capped at the burst of 1, so the next is dropped again). */
static void test_rate_limit_refills(void **state)
{
	struct env *env = *state;
	const struct rule_spec rl[] = {RATE(.pps = 10, .burst_pkts = 1)};
	struct frame f = udp_frame("192.0.2.1", "198.51.100.1", 100);

	rules_install(env, rl, 1, 0);
	expect_pass(env, &f);
	expect_drop(env, &f);
	usleep(250000);
	expect_pass(env, &f);
	expect_drop(env, &f);
}

/* A rate-limit rule without any rate limits nothing. */
static void test_rate_limit_without_rate(void **state)
{
	struct env *env = *state;
	const struct rule_spec rl[] = {RATE(.rl_key = DOS_RL_RULE)};
	struct frame f = udp_frame("192.0.2.1", "198.51.100.1", 100);

	rules_install(env, rl, 1, 0);
	assert_int_equal(send_n(env, &f, 50), 50);
	assert_int_equal(counters(env->rule_stats, 0).packets[DOS_OUT_PASSED], 50);
}

/* ---- tests: ceilings ------------------------------------------------------------------- */

/*
 * Per-destination ceilings: each destination address under a ceiling prefix has its own
 * bucket; destinations outside pass untouched; the allow list skips the ceiling, a pass rule
 * does not (it only skips later rules); burst 0 means one second of the rate.
 */
static void test_ceilings(void **state)
{
	struct env *env = *state;
	int d4 = trie_create(0, sizeof(struct dos_dest_policy), DOS_MAX_DEST_PREFIXES);
	int d6 = trie_create(1, sizeof(struct dos_dest_policy), DOS_MAX_DEST_PREFIXES);
	int a4 = list_create(0);
	const struct rule_spec pass_one[] = {{.r.action = DOS_ACT_PASS, .dst = "198.51.100.1/32"}};
	struct frame to1 = udp_frame("192.0.2.1", "198.51.100.1", 100);
	struct frame to2 = udp_frame("192.0.2.1", "198.51.100.2", 100);
	struct frame other = udp_frame("192.0.2.1", "198.51.101.1", 100);
	struct frame allowed = udp_frame("192.0.2.99", "198.51.100.1", 100);
	struct frame to6 = udp_frame("2001:db8::1", "2001:db8:1::1", 100);
	struct frame zero_burst = udp_frame("192.0.2.1", "203.0.113.1", 100);
	struct dos_counters c;

	ceiling_add(d4, "198.51.100.0/24", 1, 3);
	ceiling_add(d4, "203.0.113.0/24", 2, 0);
	ceiling_add(d6, "2001:db8:1::/48", 1, 2);
	list_add(a4, "192.0.2.99/32", 0);
	slot_set(env->dest[0], 0, d4);
	slot_set(env->dest[1], 0, d6);
	slot_set(env->lists[0], DOS_LIST_ALLOW, a4);

	for (int i = 0; i < 3; i++)
		expect_pass(env, &to1);
	expect_drop(env, &to1);
	expect_drop(env, &to1);
	assert_int_equal(send_n(env, &to2, 5), 3);
	assert_int_equal(send_n(env, &other, 5), 5);
	assert_int_equal(send_n(env, &to6, 5), 2);
	assert_int_equal(send_n(env, &zero_burst, 5), 2);
	c = counters(env->ceiling_stats, 0);
	assert_int_equal(c.packets[DOS_OUT_MATCHED], 20);
	assert_int_equal(c.packets[DOS_OUT_PASSED], 10);
	assert_int_equal(c.packets[DOS_OUT_RATE_LIMITED], 10);
	assert_int_equal(c.bytes[DOS_OUT_RATE_LIMITED], 1000);

	expect_pass(env, &allowed); /* over the ceiling, but allow-listed */
	rules_install(env, pass_one, 1, 0);
	expect_drop(env, &to1); /* the pass rule matched, the ceiling still applies */
	assert_int_equal(counters(env->rule_stats, 0).packets[DOS_OUT_PASSED], 1);
	assert_int_equal(counters(env->ceiling_stats, 0).packets[DOS_OUT_MATCHED], 21);
}

/* ---- tests: atomic swaps --------------------------------------------------------------- */

/* Verdicts follow whichever set is in the outer slot: rules, lists and ceilings, swapped by
 * one update each, and an emptied slot means nothing applies. */
static void test_swap_sets(void **state)
{
	struct env *env = *state;
	const struct rule_spec drop_udp[] = {DROP(.match = DOS_M_L4, .l4_proto = 17)};
	const struct rule_spec drop_v6[] = {DROP(.match = DOS_M_L3, .l3 = 6)};
	struct frame u4 = udp_frame("192.0.2.1", "198.51.100.1", 100);
	struct frame u6 = udp_frame("2001:db8::1", "2001:db8:1::1", 100);
	struct frame from2 = udp_frame("192.0.2.2", "198.51.100.1", 100);
	int la = list_create(0), lb = list_create(0);

	rules_install(env, drop_udp, 1, 0); /* set A */
	expect_drop(env, &u4);
	expect_drop(env, &u6);
	rules_install(env, drop_v6, 1, 1); /* set B */
	expect_pass(env, &u4);
	expect_drop(env, &u6);
	slot_clear(env->rules, 0);
	expect_pass(env, &u6);

	list_add(la, "192.0.2.1/32", 0);
	list_add(lb, "192.0.2.2/32", 0);
	slot_set(env->lists[0], DOS_LIST_BLOCK, la);
	expect_drop(env, &u4);
	expect_pass(env, &from2);
	slot_set(env->lists[0], DOS_LIST_BLOCK, lb);
	expect_pass(env, &u4);
	expect_drop(env, &from2);
	slot_clear(env->lists[0], DOS_LIST_BLOCK);
	expect_pass(env, &from2);
}

/* ---- tests: concurrency ---------------------------------------------------------------- */

struct flood {
	int prog_fd, cpu;
	const struct frame *f;
	uint32_t repeat;
	pthread_barrier_t *start;
	uint64_t t0, t1; /* CLOCK_MONOTONIC ns around the run */
	int err;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void *flood_run(void *arg)
{
	struct flood *fl = arg;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = fl->f->data, .data_size_in = fl->f->len,
	            .repeat = fl->repeat);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(fl->cpu, &set);
	fl->err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(fl->start);
	fl->t0 = mono_ns();
	if (!fl->err && bpf_prog_test_run_opts(fl->prog_fd, &opts))
		fl->err = errno;
	fl->t1 = mono_ns();
	return NULL;
}

/*
 * The same rate-limited flood from two threads pinned to CPUs 0 and 1, each running the
 * program REPEAT times in one BPF_PROG_TEST_RUN: the two CPUs race on one bucket (its
 * creation included), and the packets that pass must be exactly the burst. At 1 pps the
 * refill adds one packet per whole second the flood lasts, which the bound allows for.
 */
static void test_buckets_exact_across_cpus(void **state)
{
	enum { BURST = 20000, REPEAT = 300000 };
	struct env *env = *state;
	const struct rule_spec rl[] = {RATE(.pps = 1, .burst_pkts = BURST, .rl_key = DOS_RL_SRC)};
	struct frame f = udp_frame("192.0.2.1", "198.51.100.1", 100);
	struct flood fl[2];
	pthread_barrier_t start;
	pthread_t th[2];
	uint64_t overlap, first, last;
	struct dos_counters c;
	int attempt;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		skip();
	for (attempt = 0; attempt < 5; attempt++) {
		rules_install(env, rl, 1, attempt);
		pthread_barrier_init(&start, NULL, 2);
		for (int i = 0; i < 2; i++) {
			fl[i] = (struct flood){.prog_fd = env->prog_fd,
			                       .cpu = i,
			                       .f = &f,
			                       .repeat = REPEAT,
			                       .start = &start};
			assert_int_equal(pthread_create(&th[i], NULL, flood_run, &fl[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&start);
		assert_int_equal(fl[0].err, 0);
		assert_int_equal(fl[1].err, 0);
		first = fl[0].t0 > fl[1].t0 ? fl[0].t0 : fl[1].t0;
		last = fl[0].t1 < fl[1].t1 ? fl[0].t1 : fl[1].t1;
		overlap = last > first ? last - first : 0;
		/* Only a run where both CPUs flooded at once tests anything. */
		if (overlap > (fl[0].t1 - fl[0].t0) / 2)
			break;
	}
	assert_true(attempt < 5);
	c = counters(env->rule_stats, attempt);
	{
		uint64_t span_s = ((fl[0].t1 > fl[1].t1 ? fl[0].t1 : fl[1].t1) -
		                   (fl[0].t0 < fl[1].t0 ? fl[0].t0 : fl[1].t0)) /
		                  NSEC_PER_SEC;

		fprintf(stderr,
		        "2 CPUs x %u packets, overlapping %.1f ms: %llu passed, %llu "
		        "rate-limited (burst %u)\n",
		        REPEAT, overlap / 1e6, (unsigned long long)c.packets[DOS_OUT_PASSED],
		        (unsigned long long)c.packets[DOS_OUT_RATE_LIMITED], BURST);
		assert_int_equal(c.packets[DOS_OUT_MATCHED], 2 * REPEAT);
		assert_true(c.packets[DOS_OUT_PASSED] >= BURST);
		assert_true(c.packets[DOS_OUT_PASSED] <= BURST + span_s);
		assert_int_equal(c.packets[DOS_OUT_PASSED] + c.packets[DOS_OUT_RATE_LIMITED],
		                 2 * REPEAT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_loads_with_every_stage, setup_all_stages,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lists_split, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_active_generations, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_match_fields, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rule_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_check_catches_wrong_tags, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_long_rule_sets, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list_entry_expires, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rate_limit_burst, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rate_limit_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rate_limit_bytes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rate_limit_packets_and_bytes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rate_limit_refills, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rate_limit_without_rate, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ceilings, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_swap_sets, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_buckets_exact_across_cpus, setup, teardown),
	};

	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 1) {
		fprintf(stderr, "test_dos: cannot count the possible CPUs\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("xdp_edge dos", tests, NULL, NULL);
}
