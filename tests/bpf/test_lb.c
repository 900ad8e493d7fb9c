// SPDX-License-Identifier: GPL-2.0
/*
 * The load balancer stage of xdp_edge (bpf/lb.bpf.h) through BPF_PROG_TEST_RUN, in a network
 * namespace of its own that gives the FIB lookups and socket lookups something real to find:
 *
 *        lbt1 02:..:01 (router)                          lbt3
 *          |                                               |
 *        lbt0 198.51.100.1/24 2001:db8:100::1/64         lbt2 198.51.101.1/24
 *          | neighbours s0 .11, s1 .12, s2 ::11            | neighbour s3 .13
 *        [xdp_edge, lb stage, run on frames "received" on lbt0]
 *        lo: VIPs 203.0.113.20, 2001:db8:f::20 (listeners on :80), client 192.0.2.1, 2001:db8::1
 *
 * The maps are filled here by hand, as traffic/fixtures/gen_lb.py describes, and the fixture
 * sets lb_encap, lb_decap and lb_second_chance check every action, every output byte, and
 * that exactly uplink_stats[stage][verdict] moved. Further tests build frames at run time:
 * the SYN-cookie corner (an ACK completing a cookie handshake with the local listener is
 * local, a wrong cookie is not), the counters, and edged's own table building (lb_maps.c)
 * against an independent Maglev computation, including a drain's second chance.
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
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "harness.h"
#include "lb.h"
#include "edge.skel.h"
#include "config.h"
#include "datapath.h"
#include "lb_maps.h"
#include "maglev.h"

#define SLOT_LBT0 1
#define SLOT_LBT2 2
#define SELF_ID   4
#define GUE_PORT  6080

/* Where the test runs: a namespace with veths and neighbours, so that the FIB lookups are
 * real; or, where no veth exists (the Debian 6.1 guest of tests/e2e/core_6_1.sh has no
 * modules), lo only, with the per-CPU next-hop cache preset to what those lookups return:
 * every frame is the same, only the FIB lookup itself is not exercised. */
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
        "ip addr add 2001:db8:100::1/64 dev lbt0 nodad",
        "ip addr add 198.51.101.1/24 dev lbt2",
        "ip neigh add 198.51.100.11 lladdr 02:00:00:00:0b:00 dev lbt0 nud permanent",
        "ip neigh add 198.51.100.12 lladdr 02:00:00:00:0c:00 dev lbt0 nud permanent",
        "ip -6 neigh add 2001:db8:100::11 lladdr 02:00:00:00:0d:00 dev lbt0 nud permanent",
        "ip neigh add 198.51.101.13 lladdr 02:00:00:00:0e:00 dev lbt2 nud permanent",
        "sh -c 'echo 1 > /proc/sys/net/ipv4/conf/lbt0/forwarding'",
        "sh -c 'echo 1 > /proc/sys/net/ipv4/conf/lbt2/forwarding'",
};

/* The VIPs and the client live on lo (IPv6 on lo needs no DAD); without veths, lo has this
 * edge's fleet address too (edged's self detection looks for it). */
static const char *const lo_cmds[] = {
        "ip addr add 203.0.113.20/32 dev lo",
        "ip addr add 2001:db8:f::20/128 dev lo",
        "ip addr add 192.0.2.1/32 dev lo",
        "ip addr add 2001:db8::1/128 dev lo",
};

/* bpf_fib_lookup refuses packets that arrive where forwarding is off; cookies always on, so
 * the listener's SYN-ACKs carry one. */
static const char *const sysctls[][2] = {
        {"/proc/sys/net/ipv4/conf/all/forwarding", "1"},
        {"/proc/sys/net/ipv6/conf/all/forwarding", "1"},
        {"/proc/sys/net/ipv4/tcp_syncookies", "2"},
};

/* The next hops the FIB gives in the veth namespace: server id, egress, source and neighbour
 * MACs (gen_lb.py's SERVERS). */
static const struct {
	bool lbt2;
	uint8_t smac[6], dmac[6];
} nexthops[4] = {
        {false, {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0x0b, 0}},
        {false, {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0x0c, 0}},
        {false, {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0x0d, 0}},
        {true, {2, 0, 0, 0, 0, 0x12}, {2, 0, 0, 0, 0x0e, 0}},
};

/* An uplink index that no packet arrives on when there is no lbt2: frames for s3 are then a
 * redirect all the same. */
#define IFINDEX_NO_LBT2 4242

struct env {
	struct edge_bpf *skel;
	int prog_fd, slots_fd, stats_fd;
	uint32_t lbt0, lbt2;
	int listen4, listen6, est[4]; /* established: client and server ends, both families */
	char pin_dir[64]; /* test_edged_tables' pins: removed at teardown, even after a failure */
	struct harness_uplink_check up; /* lbt0's counters around each fixture packet */
};

static struct env *the_env;

/* ---- the namespace ------------------------------------------------------------------ */

/* A network namespace of our own: nothing here touches the machine's interfaces. */
static int netns_setup(void)
{
	if (harness_netns_enter("test_lb") ||
	    harness_sh_all("test_lb", lo_cmds, sizeof(lo_cmds) / sizeof(lo_cmds[0])) ||
	    harness_sysctls("test_lb", sysctls, sizeof(sysctls) / sizeof(sysctls[0])))
		return -1;
	/* TEST_LB_NO_VETH=1 runs the guest's way on a host that has veths. */
	if (harness_veths("test_lb", "TEST_LB_NO_VETH", veth_cmds,
	                  sizeof(veth_cmds) / sizeof(veth_cmds[0]), &have_veth))
		return -1;
	if (!have_veth) {
		fprintf(stderr, "test_lb: no veth here: next hops preset in the cache, the FIB "
		                "lookup is not exercised\n");
		if (harness_sh("ip addr add 198.51.100.1/32 dev lo"))
			return -1;
	}
	return 0;
}

/* ---- the maps, as gen_lb.py describes them ------------------------------------------- */

static void addr_of(const char *s, uint8_t *out, uint8_t *family)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		*family = 4;
	else if (inet_pton(AF_INET6, s, out) == 1)
		*family = 6;
	else
		fail_msg("bad address in the test: %s", s);
}

static int map_fd(struct env *env, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(env->skel->obj, name);

	assert_non_null(m);
	return bpf_map__fd(m);
}

static void slot_set(int outer, uint32_t slot, int inner)
{
	assert_int_equal(bpf_map_update_elem(outer, &slot, &inner, BPF_ANY), 0);
	close(inner);
}

static void server_set(struct env *env, uint32_t id, const char *addr, uint8_t flags)
{
	struct lb_server s = {.flags = flags};

	addr_of(addr, s.addr, &s.family);
	assert_int_equal(bpf_map_update_elem(map_fd(env, "lb_servers"), &id, &s, BPF_ANY), 0);
}

/* A table of M buckets: FIRST[b] for bucket b + 1, second SECOND everywhere. */
static int table_make(uint32_t m, const uint32_t *first, uint32_t second)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_table", 4, sizeof(struct lb_bucket),
	                        m + 1, &opts);
	struct lb_bucket hdr = {.first = m};

	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &(uint32_t){0}, &hdr, BPF_ANY), 0);
	for (uint32_t b = 1; b <= m; b++) {
		struct lb_bucket v = {.first = first[b - 1], .second = second};

		assert_int_equal(bpf_map_update_elem(fd, &b, &v, BPF_ANY), 0);
	}
	return fd;
}

struct svc_spec {
	uint32_t sid;
	const char *vip;
	uint8_t plen; /* 0: an address */
	uint8_t proto;
	uint16_t port;
	uint8_t encap;
	uint32_t m;
	uint32_t first[2];
	uint32_t second;
};

static const struct svc_spec services[] = {
        {0, "203.0.113.10", 0, 6, 80, LB_ENCAP_GUE, 1, {0}, LB_NONE},
        {1, "203.0.113.11", 0, 6, 80, LB_ENCAP_IPIP, 1, {1}, LB_NONE},
        {2, "2001:db8:f::10", 0, 6, 443, LB_ENCAP_GUE, 1, {2}, LB_NONE},
        {3, "203.0.113.12", 0, 17, 0, LB_ENCAP_IPIP, 1, {2}, LB_NONE},
        {4, "203.0.113.128", 25, 6, 0, LB_ENCAP_GUE, 1, {3}, LB_NONE},
        {5, "203.0.113.20", 0, 6, 80, LB_ENCAP_GUE, 1, {SELF_ID}, 0},
        {6, "203.0.113.30", 0, 6, 80, LB_ENCAP_GUE, 2, {0, 1}, LB_NONE},
        {7, "2001:db8:f::20", 0, 6, 80, LB_ENCAP_GUE, 1, {SELF_ID}, 0},
        {8, "203.0.113.40", 0, 6, 80, LB_ENCAP_GUE, 1, {LB_NONE}, LB_NONE},
        {9, "203.0.113.20", 0, 17, 53, LB_ENCAP_GUE, 1, {SELF_ID}, LB_NONE},
        {10, "203.0.113.21", 0, 6, 80, LB_ENCAP_GUE, 1, {SELF_ID}, LB_NONE},
};

/* The exact entry and the fragments' entry (the first service of an address and protocol
 * takes it, as edged does for port services), in edged's slot array. */
static void vip_exact(struct lb_vip_slot *slots, const struct svc_spec *s)
{
	struct lb_vip v = {.service = s->sid, .encap = s->encap};
	struct lb_vip_key k = {.proto = s->proto, .port = htons(s->port)};

	addr_of(s->vip, k.addr, &k.family);
	assert_int_equal(lb_vip_slot_insert(slots, &k, &v, true), 0);
	k.port = 0;
	k.frag = 1;
	assert_int_equal(lb_vip_slot_insert(slots, &k, &v, false), 0);
}

static void vip_prefix(int fd, const struct svc_spec *s)
{
	struct lb_vip v = {.service = s->sid, .encap = s->encap};
	struct lb_vip_lpm_v4 k = {.prefixlen = LB_LPM_HDR_BITS + s->plen, .proto = s->proto};
	uint8_t family;
	uint8_t addr[16];

	addr_of(s->vip, addr, &family);
	memcpy(k.addr, addr, 4);
	assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
}

static void install_vips(struct env *env)
{
	struct lb_vip_slot *slots = calloc(LB_VIP_SLOTS, sizeof(*slots));
	LIBBPF_OPTS(bpf_map_create_opts, lpm, .map_flags = BPF_F_NO_PREALLOC);
	int pfx = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "test_pfx4", sizeof(struct lb_vip_lpm_v4),
	                         sizeof(struct lb_vip), LB_MAX_VIP_PREFIXES, &lpm);

	assert_true(slots && pfx >= 0);
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		const struct svc_spec *s = &services[i];

		if (s->plen)
			vip_prefix(pfx, s);
		else
			vip_exact(slots, s);
		slot_set(map_fd(env, "lb_tables"), s->sid, table_make(s->m, s->first, s->second));
	}
	slot_set(map_fd(env, "lb_vips"), 0, lb_vip_map_create(slots));
	slot_set(map_fd(env, "lb_vip_prefixes_v4"), 0, pfx);
	free(slots);
}

static void install_fleet(struct env *env)
{
	static const char *const members[] = {"198.51.100.11", "198.51.100.12", "2001:db8:100::11",
	                                      "198.51.101.13"};
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_fleet", sizeof(struct lb_addr_key),
	                        sizeof(uint32_t), LB_MAX_FLEET, NULL);
	uint32_t one = 1;

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		struct lb_addr_key k = {};

		addr_of(members[i], k.addr, &k.family);
		assert_int_equal(bpf_map_update_elem(fd, &k, &one, BPF_ANY), 0);
		server_set(env, i, members[i], 0);
	}
	server_set(env, SELF_ID, "198.51.100.1", LB_SERVER_SELF);
	slot_set(map_fd(env, "lb_fleet"), 0, fd);
}

static void install_settings(struct env *env)
{
	struct lb_settings s = {
	        .gue_port = htons(GUE_PORT), .has_src_v4 = 1, .has_src_v6 = 1, .prefixes_v4 = 1};
	uint32_t zero = 0;

	inet_pton(AF_INET, "198.51.100.1", s.src_v4);
	inet_pton(AF_INET6, "2001:db8:100::1", s.src_v6);
	assert_int_equal(bpf_map_update_elem(map_fd(env, "lb_settings"), &zero, &s, BPF_ANY), 0);
}

/* Without veths: what the FIB would have said, valid for ever, on every CPU. */
static void preset_nexthops(struct env *env)
{
	int ncpus = libbpf_num_possible_cpus();
	struct lb_nexthop *v = calloc(ncpus, sizeof(*v));

	assert_non_null(v);
	for (uint32_t id = 0; id < 4; id++) {
		struct lb_nexthop nh = {.expires = UINT64_MAX, .mtu = 1500, .valid = 1};

		nh.ifindex = nexthops[id].lbt2 ? env->lbt2 : env->lbt0;
		memcpy(nh.smac, nexthops[id].smac, 6);
		memcpy(nh.dmac, nexthops[id].dmac, 6);
		for (int c = 0; c < ncpus; c++)
			v[c] = nh;
		assert_int_equal(bpf_map_update_elem(map_fd(env, "lb_nexthops"), &id, v, BPF_ANY),
		                 0);
	}
	free(v);
}

/* ---- sockets ------------------------------------------------------------------------ */

static int tcp_listen(int family, const char *addr)
{
	struct sockaddr_storage ss = {};
	int fd = socket(family, SOCK_STREAM, 0), one = 1;
	socklen_t len;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	ss.ss_family = family;
	if (family == AF_INET) {
		inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr);
		((struct sockaddr_in *)&ss)->sin_port = htons(80);
		len = sizeof(struct sockaddr_in);
	} else {
		inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(80);
		len = sizeof(struct sockaddr_in6);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

/* The client's end of client:40000 -> vip:80; the server's end into *ACCEPTED. */
static int tcp_established(int family, const char *client, const char *vip, int lfd, int *accepted)
{
	struct sockaddr_storage me = {}, to = {};
	int fd = socket(family, SOCK_STREAM, 0), one = 1;
	socklen_t len =
	        family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	me.ss_family = to.ss_family = family;
	if (family == AF_INET) {
		inet_pton(AF_INET, client, &((struct sockaddr_in *)&me)->sin_addr);
		((struct sockaddr_in *)&me)->sin_port = htons(40000);
		inet_pton(AF_INET, vip, &((struct sockaddr_in *)&to)->sin_addr);
		((struct sockaddr_in *)&to)->sin_port = htons(80);
	} else {
		inet_pton(AF_INET6, client, &((struct sockaddr_in6 *)&me)->sin6_addr);
		((struct sockaddr_in6 *)&me)->sin6_port = htons(40000);
		inet_pton(AF_INET6, vip, &((struct sockaddr_in6 *)&to)->sin6_addr);
		((struct sockaddr_in6 *)&to)->sin6_port = htons(80);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&me, len), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, len), 0);
	*accepted = accept(lfd, NULL, NULL);
	assert_true(*accepted >= 0);
	return fd;
}

/* ---- setup -------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));
	struct edge_bpf *s;

	assert_non_null(env);
	env->lbt0 = have_veth ? if_nametoindex("lbt0") : if_nametoindex("lo");
	env->lbt2 = have_veth ? if_nametoindex("lbt2") : IFINDEX_NO_LBT2;
	assert_true(env->lbt0 && env->lbt2);
	s = env->skel = edge_bpf__open();
	assert_non_null(s);
	s->rodata->enable_lb = true;
	assert_int_equal(harness_unpin_maps(s->obj), 0);
	assert_int_equal(edge_bpf__load(s), 0);
	env->prog_fd = bpf_program__fd(s->progs.xdp_edge);
	env->slots_fd = bpf_map__fd(s->maps.uplink_slots);
	env->stats_fd = bpf_map__fd(s->maps.uplink_stats);
	env->up = (struct harness_uplink_check){.stats_fd = env->stats_fd, .slot = SLOT_LBT0};
	assert_int_equal(
	        harness_uplink_register(env->slots_fd, env->stats_fd, env->lbt0, SLOT_LBT0), 0);
	assert_int_equal(
	        harness_uplink_register(env->slots_fd, env->stats_fd, env->lbt2, SLOT_LBT2), 0);
	install_settings(env);
	install_fleet(env);
	install_vips(env);
	if (!have_veth)
		preset_nexthops(env);
	env->listen4 = tcp_listen(AF_INET, "203.0.113.20");
	env->listen6 = tcp_listen(AF_INET6, "2001:db8:f::20");
	env->est[0] =
	        tcp_established(AF_INET, "192.0.2.1", "203.0.113.20", env->listen4, &env->est[1]);
	env->est[2] = tcp_established(AF_INET6, "2001:db8::1", "2001:db8:f::20", env->listen6,
	                              &env->est[3]);
	the_env = env;
	*state = env;
	return 0;
}

static void pin_dir_remove(const char *dir);

static int group_teardown(void **state)
{
	struct env *env = *state;

	if (env->pin_dir[0])
		pin_dir_remove(env->pin_dir);
	for (int i = 0; i < 4; i++)
		close(env->est[i]);
	close(env->listen4);
	close(env->listen6);
	edge_bpf__destroy(env->skel);
	free(env);
	return 0;
}

/* ---- fixtures ----------------------------------------------------------------------- */

static void run_set(struct env *env, const char *set)
{
	struct fixture_hooks hooks = {
	        .arg = &env->up, .before = harness_uplink_snapshot, .check = harness_uplink_check};

	assert_int_equal(harness_run_fixtures(env->prog_fd, env->lbt0, set, &hooks), 0);
}

static void test_encap_fixtures(void **state)
{
	run_set(*state, "lb_encap");
}

static void test_decap_fixtures(void **state)
{
	run_set(*state, "lb_decap");
}

static void test_second_chance_fixtures(void **state)
{
	run_set(*state, "lb_second_chance");
}

/* ---- frames built here -------------------------------------------------------------- */

struct frame {
	uint32_t len;
	uint8_t data[256];
};

/* Ether(02:..:01 > 02:..:02)/IPv4(SRC > DST)/TCP(SPORT > DPORT, FLAGS, SEQ, ACK), checksums
 * right. */
static struct frame tcp4(const char *src, const char *dst, uint16_t sport, uint16_t dport,
                         uint8_t flags, uint32_t seq, uint32_t ack)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0};
	struct frame f = {.len = 14 + 20 + 20};
	struct iphdr ip = {
	        .version = 4, .ihl = 5, .tot_len = htons(40), .ttl = 64, .protocol = IPPROTO_TCP};
	struct tcphdr th = {.source = htons(sport),
	                    .dest = htons(dport),
	                    .seq = htonl(seq),
	                    .ack_seq = htonl(ack),
	                    .doff = 5,
	                    .window = htons(65535)};
	uint32_t sum;

	/* Headers built as themselves, then copied: stores through a header pointer into the
	 * byte array would be aliasing the compiler may drop. */
	inet_pton(AF_INET, src, &ip.saddr);
	inet_pton(AF_INET, dst, &ip.daddr);
	ip.check = htons(~harness_csum_fold(harness_csum_add(0, &ip, 20)));
	((uint8_t *)&th)[13] = flags;
	sum = harness_csum_add(0, &ip.saddr, 8) + IPPROTO_TCP + 20;
	th.check = htons(~harness_csum_fold(harness_csum_add(sum, &th, 20)));
	memcpy(f.data, eth, 14);
	memcpy(f.data + 14, &ip, 20);
	memcpy(f.data + 34, &th, 20);
	return f;
}

static int run(struct env *env, const struct frame *f, struct xdp_result *res)
{
	assert_int_equal(harness_xdp_run(env->prog_fd, env->lbt0, f->data, f->len, res), 0);
	return res->retval;
}

static uint64_t global_counter(struct env *env, int c)
{
	struct datapath dp = {.skel = env->skel};
	struct lb_global_counters g;

	assert_int_equal(lb_global_counters(&dp, &g), 0);
	return g.c[c];
}

/* Sends a SYN from 192.0.2.1:SPORT to the listener through a raw socket and returns the
 * cookie its SYN-ACK carries (tcp_syncookies=2: every SYN-ACK has one). */
static uint32_t syn_cookie_of_listener(uint16_t sport, uint32_t isn)
{
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	struct timeval tv = {.tv_sec = 2};
	struct sockaddr_in to = {.sin_family = AF_INET}, me = {.sin_family = AF_INET};
	struct frame syn = tcp4("192.0.2.1", "203.0.113.20", sport, 80, 0x02, isn, 0);
	uint8_t buf[1500];

	assert_true(raw >= 0);
	setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	inet_pton(AF_INET, "192.0.2.1", &me.sin_addr);
	inet_pton(AF_INET, "203.0.113.20", &to.sin_addr);
	assert_int_equal(bind(raw, (struct sockaddr *)&me, sizeof(me)), 0);
	assert_int_equal(sendto(raw, syn.data + 34, 20, 0, (struct sockaddr *)&to, sizeof(to)), 20);
	for (;;) {
		ssize_t n = recv(raw, buf, sizeof(buf), 0);
		struct iphdr *ip = (void *)buf;
		struct tcphdr *th;

		if (n < 0)
			fail_msg("no SYN-ACK from the listener: %s", strerror(errno));
		th = (void *)(buf + ip->ihl * 4);
		if (n >= 40 && th->source == htons(80) && th->dest == htons(sport) && th->syn &&
		    th->ack) {
			assert_int_equal(ntohl(th->ack_seq), isn + 1);
			close(raw);
			return ntohl(th->seq);
		}
	}
}

/*
 * The corner case of the BPF architecture talk: a listener answered a SYN with a cookie and
 * kept nothing, so the handshake's last ACK finds only the listener. Its cookie says it is
 * ours: delivered. The same ACK with a wrong cookie is another server's flow: second chance.
 */
static void test_syncookie_ack_is_local(void **state)
{
	struct env *env = *state;
	struct xdp_result *res = malloc(sizeof(*res));
	uint32_t isn = 0x11223344, cookie = syn_cookie_of_listener(40100, isn);
	uint64_t owned = global_counter(env, LB_G_SYNCOOKIE_OWNED);
	struct frame ack = tcp4("192.0.2.1", "203.0.113.20", 40100, 80, 0x10, isn + 1, cookie + 1);

	assert_non_null(res);
	assert_int_equal(run(env, &ack, res), XDP_PASS);
	assert_int_equal(global_counter(env, LB_G_SYNCOOKIE_OWNED), owned + 1);
	/* The cookie's top byte holds its age: flipping it makes it stale, whatever the rest. */
	ack = tcp4("192.0.2.1", "203.0.113.20", 40100, 80, 0x10, isn + 1,
	           (cookie ^ 0x80000000u) + 1);
	assert_int_equal(run(env, &ack, res), XDP_TX);
	assert_int_equal(global_counter(env, LB_G_SYNCOOKIE_OWNED), owned + 1);
	free(res);
}

/* Per service and per server: packets, bytes, new flows, encapsulated, second chance. */
static void test_counters(void **state)
{
	struct env *env = *state;
	struct datapath dp = {.skel = env->skel};
	struct lb_service_counters s0, s1, l0, l1;
	struct lb_server_counters v0, v1;
	struct xdp_result *res = malloc(sizeof(*res));
	struct frame syn = tcp4("192.0.2.1", "203.0.113.10", 41000, 80, 0x02, 1, 0);
	struct frame orphan = tcp4("192.0.2.1", "203.0.113.20", 41001, 80, 0x10, 1, 1);

	assert_non_null(res);
	assert_int_equal(lb_service_counters(&dp, 0, &s0), 0);
	assert_int_equal(lb_service_counters(&dp, 5, &l0), 0);
	assert_int_equal(lb_server_counters(&dp, 0, &v0), 0);
	assert_int_equal(run(env, &syn, res), XDP_TX);
	assert_int_equal(run(env, &orphan, res), XDP_TX);
	assert_int_equal(lb_service_counters(&dp, 0, &s1), 0);
	assert_int_equal(lb_service_counters(&dp, 5, &l1), 0);
	assert_int_equal(lb_server_counters(&dp, 0, &v1), 0);
	assert_int_equal(s1.c[LB_SVC_PACKETS] - s0.c[LB_SVC_PACKETS], 1);
	assert_int_equal(s1.c[LB_SVC_BYTES] - s0.c[LB_SVC_BYTES], syn.len);
	assert_int_equal(s1.c[LB_SVC_NEW_FLOWS] - s0.c[LB_SVC_NEW_FLOWS], 1);
	assert_int_equal(s1.c[LB_SVC_ENCAP] - s0.c[LB_SVC_ENCAP], 1);
	assert_int_equal(l1.c[LB_SVC_SECOND_CHANCE] - l0.c[LB_SVC_SECOND_CHANCE], 1);
	assert_int_equal(l1.c[LB_SVC_LOCAL] - l0.c[LB_SVC_LOCAL], 0);
	assert_int_equal(v1.c[LB_SRV_PACKETS] - v0.c[LB_SRV_PACKETS], 2);
	assert_int_equal(v1.c[LB_SRV_NEW_FLOWS] - v0.c[LB_SRV_NEW_FLOWS], 1);
	assert_int_equal(v1.c[LB_SRV_SECOND_CHANCE] - v0.c[LB_SRV_SECOND_CHANCE], 1);
	free(res);
}

/* ---- edged's tables (lb_maps.c) against an independent computation ------------------ */

static const char edged_config[] = "instance: lbtest\n"
                                   "uplinks: [lbt0]\n"
                                   "lb:\n"
                                   "  servers:\n"
                                   "    - {name: s0, address: 198.51.100.11}\n"
                                   "    - {name: s1, address: 198.51.100.12, weight: 200}\n"
                                   "    - {name: me, address: 198.51.100.1}\n"
                                   "  services:\n"
                                   "    - {name: web, vip: 203.0.113.50, proto: tcp, port: 80}\n";

static const char *const cfg_servers[] = {"198.51.100.11", "198.51.100.12", "198.51.100.1"};
static const uint32_t cfg_weights[] = {100, 200, 100};

/* Where Maglev over the servers not in OUT (a mask) sends bucket B of the 65537: index into
 * cfg_servers. */
static void expected_table(unsigned int out, uint32_t *t)
{
	uint8_t keys[3][17];
	struct maglev_backend b[3];
	int idx[3], n = 0;

	for (int i = 0; i < 3; i++) {
		if (out & (1u << i))
			continue;
		memset(keys[n], 0, 17);
		keys[n][0] = 4; /* lb_maps.c keys a server by family, then 16 address bytes */
		inet_pton(AF_INET, cfg_servers[i], keys[n] + 1);
		b[n] = (struct maglev_backend){keys[n], 17, cfg_weights[i]};
		idx[n++] = i;
	}
	assert_int_equal(maglev_build(b, n, 65537, t), 0);
	for (uint32_t s = 0; s < 65537; s++)
		t[s] = idx[t[s]];
}

static uint32_t flow_bucket(uint16_t sport)
{
	uint32_t h = LB_HASH_SEED;
	uint8_t src[4], dst[4];

	inet_pton(AF_INET, "192.0.2.1", src);
	inet_pton(AF_INET, "203.0.113.50", dst);
	h = lb_hash_word(h, ntohl(*(uint32_t *)src));
	h = lb_hash_word(h, ntohl(*(uint32_t *)dst));
	h = lb_hash_word(h, (uint32_t)sport << 16 | 80);
	h = lb_hash_word(h, IPPROTO_TCP);
	return lb_bucket_index(lb_hash_final(h, 4), 65537);
}

/* Which server got the frame: its index in cfg_servers, from the outer destination; 2 (us)
 * for XDP_PASS. Sets *SC when the GUE header carries the second-chance marker. */
static int receiver(const struct xdp_result *res, bool *sc)
{
	char dst[INET_ADDRSTRLEN];

	*sc = false;
	if (res->retval == XDP_PASS)
		return 2;
	assert_int_equal(res->retval, XDP_TX);
	inet_ntop(AF_INET, res->out + 14 + 16, dst, sizeof(dst));
	*sc = res->out[14 + 20 + 8] == 1;
	for (int i = 0; i < 3; i++)
		if (!strcmp(dst, cfg_servers[i]))
			return i;
	fail_msg("sent to %s, not a server", dst);
	return -1;
}

static char *pin_dir_make(char *buf, size_t len)
{
	snprintf(buf, len, "/sys/fs/bpf/edged-test-lb-%d", getpid());
	assert_true(mkdir(buf, 0700) == 0 || errno == EEXIST);
	return buf;
}

static void pin_dir_remove(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/lb_service_names", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lb_runtime", dir);
	unlink(path);
	rmdir(dir);
}

/*
 * edged's apply path (config -> lb_prepare -> lb_commit) on the loaded program: every flow
 * goes where an independent Maglev computation says. Then a drain of s1: its buckets move,
 * and an ACK of one of them that lands here (no socket) goes on to s1 with the second-chance
 * marker, while other servers' flows stay put. Our own buckets remember, from the fresh start,
 * where the fleet sent them before we joined (the joining rule of lb_maps.c).
 */
static void test_edged_tables(void **state)
{
	struct env *env = *state;
	struct edged_config *cfg = calloc(1, sizeof(*cfg));
	struct lb_state *st = calloc(1, sizeof(*st));
	struct datapath dp = {.skel = env->skel};
	struct xdp_result *res = malloc(sizeof(*res));
	uint32_t *want = malloc(65537 * 4), *drained = malloc(65537 * 4), *join = malloc(65537 * 4);
	struct config_errors ce = {};
	struct lb_runtime rt = {.flags = LB_RT_DRAINED};
	int moved_checked = 0;
	bool sc;

	assert_true(cfg && st && res && want && drained && join);
	pin_dir_make(dp.pin_dir, sizeof(dp.pin_dir));
	snprintf(env->pin_dir, sizeof(env->pin_dir), "%s", dp.pin_dir);
	assert_int_equal(config_load_string("t.yaml", edged_config, 0, cfg, &ce), 0);
	/* A fresh edged: no table of a previous one to take history from. */
	for (uint32_t sid = 0; sid < LB_MAX_SERVICES; sid++)
		bpf_map_delete_elem(map_fd(env, "lb_tables"), &sid);
	lb_state_init(st);
	assert_int_equal(lb_prepare(st, &dp, &cfg->lb), 0);
	lb_commit(st, &dp);
	expected_table(0, want);
	for (uint16_t p = 30000; p < 30400; p++) {
		struct frame syn = tcp4("192.0.2.1", "203.0.113.50", p, 80, 0x02, 1, 0);

		run(env, &syn, res);
		assert_int_equal(receiver(res, &sc), want[flow_bucket(p) - 1]);
		assert_false(sc);
	}

	assert_int_equal(lb_runtime_set(st, &cfg->lb.servers[1].addr, &rt), 0);
	assert_int_equal(lb_rebuild(st, &dp, &cfg->lb, -1, 1), 0);
	expected_table(1u << 1, drained);
	expected_table(1u << 2, join);
	for (uint16_t p = 30000; p < 32000; p++) {
		uint32_t b = flow_bucket(p) - 1;
		struct frame ack = tcp4("192.0.2.1", "203.0.113.50", p, 80, 0x10, 1, 1);
		int got;

		run(env, &ack, res);
		got = receiver(res, &sc);
		if (drained[b] != 2) { /* another server's bucket: straight there */
			assert_int_equal(got, drained[b]);
			assert_false(sc);
		} else if (want[b] != 2) { /* moved to us: its old server gets it */
			assert_int_equal(got, want[b]);
			assert_true(sc);
			moved_checked += want[b] == 1;
		} else { /* ours from the start: where the fleet sent it before we joined */
			assert_int_equal(got, join[b]);
			assert_true(sc);
		}
	}
	print_message("  %d flows of the drained server reached it through second chance\n",
	              moved_checked);
	assert_true(moved_checked > 0);
	lb_prepare(st, &dp, NULL); /* the function off: tables and VIPs cleared */
	lb_commit(st, &dp);
	lb_state_close(st);
	pin_dir_remove(dp.pin_dir);
	config_release(cfg);
	config_errors_free(&ce);
	free(cfg);
	free(st);
	free(res);
	free(want);
	free(drained);
	free(join);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_encap_fixtures),
	        cmocka_unit_test(test_decap_fixtures),
	        cmocka_unit_test(test_second_chance_fixtures),
	        cmocka_unit_test(test_syncookie_ack_is_local),
	        cmocka_unit_test(test_counters),
	        cmocka_unit_test(test_edged_tables),
	};

	if (netns_setup())
		return 1;
	return cmocka_run_group_tests_name("lb", tests, group_setup, group_teardown);
}
