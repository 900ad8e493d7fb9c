// SPDX-License-Identifier: GPL-2.0
/*
 * SYN cookies in XDP (bpf/syncookie.bpf.h), through BPF_PROG_TEST_RUN of xdp_edge with the
 * DoS stage on. Frames are built here (expected fields are computed, not copied from the
 * program's output); every SYN-ACK is taken apart and checked field by field, checksums
 * recomputed; the ACK that echoes its cookie must pass, a forged one must not.
 *
 *   SYN  --> xdp_edge --> XDP_TX, SYN-ACK (cookie in seq)
 *   ACK (ack = cookie + 1) --> xdp_edge --> XDP_PASS (to nft synproxy)
 *   ACK (ack = anything else) --> xdp_edge --> XDP_DROP
 *
 * The ACK checks need the conntrack kfuncs (kernel BTF has struct bpf_ct_opts); without them
 * (Debian 6.1 with nf_conntrack not loaded) the program leaves ACKs to the stack, and the
 * test checks that instead. Run as root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#include "harness.h"
#include "dos.h"
#include "syncookie.h"
#include "edge.skel.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* Addresses: clients in 192.0.2.0/24 and 2001:db8::/64, servers in 203.0.113.0/24 and
 * 2001:db8:1::/64 (RFC 5737, RFC 3849). */
#define CLIENT4    "192.0.2.1"
#define CLIENT6    "2001:db8::1"
#define PROTECTED4 "203.0.113.10" /* always, ports 8080 and 9000-9010 */
#define PROTECTED6 "2001:db8:1::10"
#define OPEN4      "203.0.113.99" /* no policy */
#define AUTO4      "203.0.113.20" /* auto, 3 SYN/s */
#define AUTO6      "2001:db8:1::20"
#define MSS4       "203.0.113.30" /* always, every port, mss 1200 */
#define AUTO_PPS   3
#define CONF_MSS   1200

static const uint8_t mac_client[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t mac_edge[6] = {0x02, 0, 0, 0, 0, 0x02};

struct env {
	struct edge_bpf *skel;
	int prog_fd;
	int stats_fd;
	int dest_fd[2]; /* the LPM tries installed in dos_dest_v4/v6 */
	bool ct;        /* the kernel has the conntrack kfuncs */
};

/* ---- the kernel's conntrack kfuncs, as the program's CO-RE check sees them ------------- */

static bool btf_has_ct_opts(struct btf *btf)
{
	return btf && btf__find_by_name_kind(btf, "bpf_ct_opts", BTF_KIND_STRUCT) > 0;
}

static bool kernel_has_conntrack_kfuncs(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct btf *mod = NULL;
	bool found = btf_has_ct_opts(vmlinux);

	if (!found && vmlinux && access("/sys/kernel/btf/nf_conntrack", R_OK) == 0) {
		mod = btf__load_module_btf("nf_conntrack", vmlinux);
		found = btf_has_ct_opts(mod);
	}
	btf__free(mod);
	btf__free(vmlinux);
	return found;
}

/* ---- maps ------------------------------------------------------------------------------ */

static int dest_install(struct env *env, int fam, int outer_fd)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	__u32 key_size = fam == 0 ? sizeof(struct dos_lpm_v4) : sizeof(struct dos_lpm_v6);
	__u32 zero = 0;
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "sc_test_dest", key_size,
	                        sizeof(struct dos_dest_policy), DOS_MAX_DEST_PREFIXES, &opts);

	if (fd < 0)
		return -errno;
	env->dest_fd[fam] = fd;
	return bpf_map_update_elem(outer_fd, &zero, &fd, BPF_ANY) ? -errno : 0;
}

static void policy_add(struct env *env, const char *addr, int plen,
                       const struct dos_dest_policy *pol)
{
	struct {
		__u32 prefixlen;
		__u8 addr[16];
	} k = {.prefixlen = plen};
	int fam = strchr(addr, ':') ? 1 : 0;

	assert_int_equal(inet_pton(fam ? AF_INET6 : AF_INET, addr, k.addr), 1);
	assert_int_equal(bpf_map_update_elem(env->dest_fd[fam], &k, pol, BPF_ANY), 0);
}

static void policies_fill(struct env *env)
{
	struct dos_dest_policy always = {
	        .syn_cookies = DOS_SYN_COOKIES_ALWAYS,
	        .syn_nports = 2,
	        .syn_port_lo = {8080, 9000},
	        .syn_port_hi = {8080, 9010},
	};
	struct dos_dest_policy automode = {
	        .syn_cookies = DOS_SYN_COOKIES_AUTO,
	        .syn_auto_pps = AUTO_PPS,
	};
	struct dos_dest_policy mss = {
	        .syn_cookies = DOS_SYN_COOKIES_ALWAYS,
	        .syn_mss = CONF_MSS,
	};
	struct dos_dest_policy ceiling_only = {.ceiling_pps = 1000000};

	policy_add(env, PROTECTED4, 32, &always);
	policy_add(env, PROTECTED6, 128, &always);
	policy_add(env, AUTO4, 32, &automode);
	policy_add(env, AUTO6, 128, &automode);
	policy_add(env, MSS4, 32, &mss);
	policy_add(env, OPEN4, 32, &ceiling_only);
}

static int setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));

	assert_non_null(env);
	env->skel = edge_bpf__open();
	assert_non_null(env->skel);
	env->skel->rodata->enable_dos = true;
	assert_int_equal(harness_unpin_maps(env->skel->obj), 0);
	assert_int_equal(edge_bpf__load(env->skel), 0);
	assert_int_equal(harness_dos_active(bpf_map__fd(env->skel->maps.dos_active), DOS_HAS_ALL),
	                 0);
	env->prog_fd = bpf_program__fd(env->skel->progs.xdp_edge);
	env->stats_fd = bpf_map__fd(env->skel->maps.syncookie_stats);
	assert_int_equal(dest_install(env, 0, bpf_map__fd(env->skel->maps.dos_dest_v4)), 0);
	assert_int_equal(dest_install(env, 1, bpf_map__fd(env->skel->maps.dos_dest_v6)), 0);
	policies_fill(env);
	env->ct = kernel_has_conntrack_kfuncs();
	if (!env->ct)
		print_message("  no conntrack kfuncs in this kernel: ACKs must go to the stack\n");
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	for (int i = 0; i < 2; i++)
		if (env->dest_fd[i] > 0)
			close(env->dest_fd[i]);
	edge_bpf__destroy(env->skel);
	free(env);
	return 0;
}

static uint64_t stat_read(const struct env *env, __u32 what)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v = calloc(ncpu, sizeof(*v)), sum = 0;

	assert_non_null(v);
	assert_int_equal(bpf_map_lookup_elem(env->stats_fd, &what, v), 0);
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	free(v);
	return sum;
}

/* ---- building frames ------------------------------------------------------------------- */

struct flow {
	int family; /* 4 or 6 */
	const char *src, *dst;
	uint16_t sport, dport;
	int vlans;        /* 802.1Q tags, 0..2 */
	int ip_opt_words; /* IPv4 options (NOPs), 4-byte words */
};

struct frame {
	uint8_t b[512];
	uint32_t len;
	uint32_t l3, l4;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The one's complement sum of the TCP segment at L4 (LEN bytes) with its pseudo-header:
 * 0xffff when the checksum in it is right. */
static uint16_t tcp_sum(const uint8_t *f, uint32_t l3, uint32_t l4, uint32_t len, int family)
{
	uint32_t s = 0;

	if (family == 4)
		s = harness_csum_add(s, f + l3 + 12, 8);
	else
		s = harness_csum_add(s, f + l3 + 8, 32);
	s += 6 + len;
	return harness_csum_fold(harness_csum_add(s, f + l4, len));
}

static uint32_t put_l2(struct frame *f, const struct flow *fl)
{
	uint32_t off = 12;

	memcpy(f->b, mac_edge, 6);
	memcpy(f->b + 6, mac_client, 6);
	for (int i = 0; i < fl->vlans; i++) {
		put16(f->b + off, 0x8100);
		put16(f->b + off + 2, 100 + i);
		off += 4;
	}
	put16(f->b + off, fl->family == 4 ? 0x0800 : 0x86dd);
	return off + 2;
}

static uint32_t put_ip(struct frame *f, const struct flow *fl, uint32_t l4_len)
{
	uint8_t *ip = f->b + f->l3;

	if (fl->family == 4) {
		uint32_t hlen = 20 + fl->ip_opt_words * 4;

		ip[0] = 0x40 | hlen / 4;
		put16(ip + 2, hlen + l4_len);
		ip[8] = 64;
		ip[9] = 6;
		assert_int_equal(inet_pton(AF_INET, fl->src, ip + 12), 1);
		assert_int_equal(inet_pton(AF_INET, fl->dst, ip + 16), 1);
		memset(ip + 20, 1, hlen - 20); /* NOP options */
		put16(ip + 10, ~harness_csum_fold(harness_csum_add(0, ip, hlen)));
		return hlen;
	}
	ip[0] = 0x60;
	put16(ip + 4, l4_len);
	ip[6] = 6;
	ip[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, fl->src, ip + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, fl->dst, ip + 24), 1);
	return 40;
}

/* A TCP segment with options OPT (padded with EOL to 4 bytes) and PAYLOAD zero bytes. */
static void frame_tcp(struct frame *f, const struct flow *fl, uint8_t flags, uint32_t seq,
                      uint32_t ack, const uint8_t *opt, size_t optlen, size_t payload)
{
	uint32_t thlen = 20 + (optlen + 3) / 4 * 4;
	uint8_t *th;

	memset(f, 0, sizeof(*f));
	f->l3 = put_l2(f, fl);
	f->l4 = f->l3 + put_ip(f, fl, thlen + payload);
	th = f->b + f->l4;
	put16(th, fl->sport);
	put16(th + 2, fl->dport);
	put32(th + 4, seq);
	put32(th + 8, ack);
	th[12] = thlen / 4 << 4;
	th[13] = flags;
	put16(th + 14, 64240);
	if (optlen) /* memcpy from NULL is undefined even for 0 bytes */
		memcpy(th + 20, opt, optlen);
	f->len = f->l4 + thlen + payload;
	put16(th + 16, ~tcp_sum(f->b, f->l3, f->l4, thlen + payload, fl->family));
	assert_int_equal(tcp_sum(f->b, f->l3, f->l4, thlen + payload, fl->family), 0xffff);
}

/* The options of a Linux client's SYN: MSS 1460, SACK-perm, TS, NOP, WS 7. */
static size_t linux_syn_opts(uint8_t *o, uint32_t tsval, uint8_t wscale)
{
	static const uint8_t tmpl[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
	                                 0, 0, 0,    0,    0, 0, 1, 3,  3, 7};

	memcpy(o, tmpl, sizeof(tmpl));
	put32(o + 8, tsval);
	o[19] = wscale;
	return sizeof(tmpl);
}

/* The options of the ACK after it: NOP, NOP, TS. */
static size_t ack_opts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	put32(o + 4, tsval);
	put32(o + 8, tsecr);
	return 12;
}

static void run(const struct env *env, const struct frame *f, struct xdp_result *res)
{
	assert_int_equal(harness_xdp_run(env->prog_fd, HARNESS_IFINDEX_LO, f->b, f->len, res), 0);
}

/* ---- taking a SYN-ACK apart -------------------------------------------------------------- */

struct synack {
	uint32_t seq, ack;
	uint8_t flags;
	int mss;    /* -1: no option */
	int wscale; /* -1: no option */
	bool sack, ts;
	uint32_t tsval, tsecr;
};

static void synack_options(const uint8_t *o, uint32_t len, struct synack *sa)
{
	for (uint32_t i = 0; i < len;) {
		uint8_t kind = o[i];

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		assert_true(i + 1 < len && o[i + 1] >= 2 && i + o[i + 1] <= len);
		if (kind == 2 && o[i + 1] == 4)
			sa->mss = get16(o + i + 2);
		else if (kind == 3 && o[i + 1] == 3)
			sa->wscale = o[i + 2];
		else if (kind == 4 && o[i + 1] == 2)
			sa->sack = true;
		else if (kind == 8 && o[i + 1] == 10) {
			sa->ts = true;
			sa->tsval = get32(o + i + 2);
			sa->tsecr = get32(o + i + 6);
		} else
			fail_msg("unexpected option kind %u in the SYN-ACK", kind);
		i += o[i + 1];
	}
}

/* Checks that RES is the SYN-ACK answering IN (of flow FL) and returns its fields. */
static void synack_parse(const struct xdp_result *res, const struct frame *in,
                         const struct flow *fl, struct synack *sa)
{
	const uint8_t *f = res->out;
	uint32_t l3 = in->l3, l4, tcp_len;

	memset(sa, 0, sizeof(*sa));
	sa->mss = sa->wscale = -1;
	assert_int_equal(res->retval, XDP_TX);
	/* L2: addresses swapped, tags and EtherType kept. */
	assert_memory_equal(f, mac_client, 6);
	assert_memory_equal(f + 6, mac_edge, 6);
	assert_memory_equal(f + 12, in->b + 12, l3 - 12);
	if (fl->family == 4) {
		assert_int_equal(f[l3], 0x45);
		assert_int_equal(get16(f + l3 + 2), res->out_len - l3);
		assert_int_equal(f[l3 + 9], 6);
		assert_int_equal(harness_csum_fold(harness_csum_add(0, f + l3, 20)), 0xffff);
		assert_memory_equal(f + l3 + 12, in->b + l3 + 16, 4);
		assert_memory_equal(f + l3 + 16, in->b + l3 + 12, 4);
		l4 = l3 + 20;
	} else {
		assert_int_equal(f[l3] >> 4, 6);
		assert_int_equal(get16(f + l3 + 4), res->out_len - l3 - 40);
		assert_int_equal(f[l3 + 6], 6);
		assert_memory_equal(f + l3 + 8, in->b + l3 + 24, 16);
		assert_memory_equal(f + l3 + 24, in->b + l3 + 8, 16);
		l4 = l3 + 40;
	}
	tcp_len = res->out_len - l4;
	assert_int_equal(tcp_len, (f[l4 + 12] >> 4) * 4u);
	assert_int_equal(get16(f + l4), fl->dport);
	assert_int_equal(get16(f + l4 + 2), fl->sport);
	assert_int_equal(get16(f + l4 + 14), 0); /* window 0, as nf_synproxy */
	assert_int_equal(tcp_sum(f, l3, l4, tcp_len, fl->family), 0xffff);
	sa->seq = get32(f + l4 + 4);
	sa->ack = get32(f + l4 + 8);
	sa->flags = f[l4 + 13];
	assert_int_equal(sa->ack, get32(in->b + in->l4 + 4) + 1);
	synack_options(f + l4 + 20, tcp_len - 20, sa);
}

/* A whole handshake's first two steps: SYN answered, SYN-ACK checked. */
static void syn_answered(const struct env *env, const struct flow *fl, struct synack *sa,
                         uint32_t isn, uint32_t tsval)
{
	uint64_t before = stat_read(env, SC_SYN_ANSWERED);
	struct xdp_result *res = malloc(sizeof(*res));
	uint8_t opts[40];
	struct frame syn;

	assert_non_null(res);
	frame_tcp(&syn, fl, TCP_SYN, isn, 0, opts, linux_syn_opts(opts, tsval, 7), 0);
	run(env, &syn, res);
	synack_parse(res, &syn, fl, sa);
	assert_int_equal(sa->flags, TCP_SYN | TCP_ACK);
	assert_true(sa->ts);
	assert_int_equal(sa->tsecr, tsval);
	/* nf_synproxy's timestamp cookie: the client's shift, SACK in bit 4. */
	assert_int_equal(sa->tsval & 0xf, 7);
	assert_int_equal(sa->tsval & 0x30, 0x10);
	assert_true(sa->sack);
	assert_int_equal(sa->wscale, SYNCOOKIE_WSCALE);
	assert_int_equal(stat_read(env, SC_SYN_ANSWERED), before + 1);
	free(res);
}

/* The client's ACK of SA, with seq SEQ and ack ACK. */
static void ack_frame(struct frame *f, const struct flow *fl, const struct synack *sa, uint32_t seq,
                      uint32_t ack, size_t payload)
{
	uint8_t opts[12];

	frame_tcp(f, fl, TCP_ACK, seq, ack, opts, ack_opts(opts, 1001, sa->tsval), payload);
}

/* ---- tests ----------------------------------------------------------------------------- */

static const struct flow flow4 = {4, CLIENT4, PROTECTED4, 40000, 8080, 0, 0};
static const struct flow flow6 = {6, CLIENT6, PROTECTED6, 40000, 9005, 0, 0};

/* Handshake: SYN -> SYN-ACK with a cookie -> the echoing ACK passes, a forged one drops. */
static void handshake(const struct env *env, const struct flow *fl)
{
	struct xdp_result *res = malloc(sizeof(*res));
	uint64_t valid = stat_read(env, SC_ACK_VALID), invalid = stat_read(env, SC_ACK_INVALID);
	uint64_t noct = stat_read(env, SC_ACK_NO_CONNTRACK);
	struct synack sa;
	struct frame ack;

	assert_non_null(res);
	syn_answered(env, fl, &sa, 0x11223344, 1000);
	ack_frame(&ack, fl, &sa, 0x11223345, sa.seq + 1, 0);
	run(env, &ack, res);
	assert_int_equal(res->retval, XDP_PASS);
	assert_int_equal(res->out_len, ack.len);
	assert_memory_equal(res->out, ack.b, ack.len); /* passed untouched */

	/* Forged: a cookie's low bits carry the client's MSS class, so the kernel accepts an
	 * ack a few units off (and the probe repair one more); these are far off. */
	ack_frame(&ack, fl, &sa, 0x11223345, sa.seq ^ 0x5a5a5a5a, 0);
	run(env, &ack, res);
	assert_int_equal(res->retval, env->ct ? XDP_DROP : XDP_PASS);
	ack_frame(&ack, fl, &sa, 0x11223345, sa.seq + 1 + (1u << 24), 0);
	run(env, &ack, res);
	assert_int_equal(res->retval, env->ct ? XDP_DROP : XDP_PASS);
	if (env->ct) {
		assert_int_equal(stat_read(env, SC_ACK_VALID), valid + 1);
		assert_int_equal(stat_read(env, SC_ACK_INVALID), invalid + 2);
	} else {
		assert_int_equal(stat_read(env, SC_ACK_NO_CONNTRACK), noct + 3);
	}
	free(res);
}

static void test_handshake_v4(void **state)
{
	handshake(*state, &flow4);
}

static void test_handshake_v6(void **state)
{
	handshake(*state, &flow6);
}

/* Without timestamps there is nowhere to keep window scale and SACK: only the MSS is
 * offered. The configured MSS replaces the default. */
static void test_syn_without_timestamps(void **state)
{
	const struct flow fl = {4, CLIENT4, MSS4, 40001, 443, 0, 0};
	const uint8_t opts[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
	struct xdp_result *res = malloc(sizeof(*res));
	struct synack sa;
	struct frame syn;

	assert_non_null(res);
	frame_tcp(&syn, &fl, TCP_SYN | TCP_ECE | TCP_CWR, 7, 0, opts, sizeof(opts), 0);
	run(*state, &syn, res);
	synack_parse(res, &syn, &fl, &sa);
	assert_int_equal(sa.mss, CONF_MSS);
	assert_false(sa.ts);
	assert_int_equal(sa.wscale, -1);
	assert_false(sa.sack);
	assert_int_equal(sa.flags, TCP_SYN | TCP_ACK); /* no ECE: ECN needs the timestamp */
	free(res);
}

/* ECN setup SYN with timestamps: ECE in the SYN-ACK, ECN bit in the timestamp cookie; no
 * window scale offered by the client: 0xf in the cookie and none offered back. */
static void test_syn_ecn_no_wscale(void **state)
{
	const uint8_t opts[] = {2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0};
	struct xdp_result *res = malloc(sizeof(*res));
	struct synack sa;
	struct frame syn;

	assert_non_null(res);
	frame_tcp(&syn, &flow6, TCP_SYN | TCP_ECE | TCP_CWR, 7, 0, opts, sizeof(opts), 0);
	run(*state, &syn, res);
	synack_parse(res, &syn, &flow6, &sa);
	assert_int_equal(sa.mss, SYNCOOKIE_MSS6);
	assert_true(sa.ts);
	assert_int_equal(sa.tsecr, 9);
	assert_int_equal(sa.tsval & 0x3f, 0xf | 0x20);
	assert_int_equal(sa.wscale, -1);
	assert_int_equal(sa.flags, TCP_SYN | TCP_ACK | TCP_ECE);
	free(res);
}

/* Two VLAN tags and IPv4 options: the SYN-ACK keeps the tags and drops the options; a SYN
 * with payload (TFO-like) is answered too, without it. */
static void test_syn_vlan_ip_options_payload(void **state)
{
	const struct flow fl = {4, CLIENT4, PROTECTED4, 40002, 9000, 2, 3};
	struct xdp_result *res = malloc(sizeof(*res));
	uint8_t opts[40];
	struct synack sa;
	struct frame syn;

	assert_non_null(res);
	frame_tcp(&syn, &fl, TCP_SYN, 99, 0, opts, linux_syn_opts(opts, 5, 9), 100);
	run(*state, &syn, res);
	synack_parse(res, &syn, &fl, &sa);
	assert_int_equal(res->out_len, syn.l3 + 20 + 40);
	assert_int_equal(sa.tsval & 0xf, 9);
	free(res);
}

/* A client whose ACK was lost probes the zero window with seq one short: repaired into the
 * lost ACK (seq + 1, checksum updated). With data it is no probe and is dropped. Without the
 * conntrack kfuncs both go to the stack untouched, where synproxy judges them. */
static void test_zero_window_probe_repaired(void **state)
{
	const struct env *env = *state;
	struct xdp_result *res = malloc(sizeof(*res));
	uint64_t noct = stat_read(env, SC_ACK_NO_CONNTRACK);
	struct synack sa;
	struct frame probe;

	assert_non_null(res);
	syn_answered(env, &flow4, &sa, 5000, 77);
	ack_frame(&probe, &flow4, &sa, 5000, sa.seq + 1, 0);
	run(env, &probe, res);
	assert_int_equal(res->retval, XDP_PASS);
	if (env->ct) {
		assert_int_equal(get32(res->out + probe.l4 + 4), 5001);
		assert_int_equal(stat_read(env, SC_ACK_PROBE_FIXED), 1);
	} else {
		assert_memory_equal(res->out, probe.b, probe.len);
	}
	assert_int_equal(tcp_sum(res->out, probe.l3, probe.l4, res->out_len - probe.l4, 4), 0xffff);

	ack_frame(&probe, &flow4, &sa, 5000, sa.seq + 1, 10);
	run(env, &probe, res);
	assert_int_equal(res->retval, env->ct ? XDP_DROP : XDP_PASS);
	if (!env->ct)
		assert_int_equal(stat_read(env, SC_ACK_NO_CONNTRACK), noct + 2);
	free(res);
}

/* What is not a protected SYN or ACK goes on through the program unchanged. */
static void test_others_untouched(void **state)
{
	const struct env *env = *state;
	const struct {
		struct flow fl;
		uint8_t flags;
		const char *what;
	} cases[] = {
	        {{4, CLIENT4, OPEN4, 1, 8080, 0, 0},
	         TCP_SYN,
	         "SYN, destination with a ceiling only"},
	        {{4, CLIENT4, "198.51.100.1", 1, 8080, 0, 0}, TCP_SYN, "SYN, no policy at all"},
	        {{4, CLIENT4, PROTECTED4, 1, 8081, 0, 0}, TCP_SYN, "SYN, unprotected port"},
	        {{6, CLIENT6, PROTECTED6, 1, 80, 0, 0}, TCP_SYN, "IPv6 SYN, unprotected port"},
	        {{4, CLIENT4, PROTECTED4, 1, 8080, 0, 0}, TCP_SYN | TCP_ACK, "SYN-ACK"},
	        {{4, CLIENT4, PROTECTED4, 1, 8080, 0, 0}, TCP_RST, "RST"},
	        {{4, CLIENT4, PROTECTED4, 1, 8080, 0, 0}, TCP_FIN | TCP_ACK, "FIN-ACK"},
	        {{4, CLIENT4, PROTECTED4, 1, 8080, 0, 0}, 0, "no flags"},
	};
	struct xdp_result *res = malloc(sizeof(*res));
	uint64_t answered = stat_read(env, SC_SYN_ANSWERED);
	struct frame f;

	assert_non_null(res);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		frame_tcp(&f, &cases[i].fl, cases[i].flags, 1, 0, NULL, 0, 0);
		run(env, &f, res);
		if (res->retval != XDP_PASS || res->out_len != f.len ||
		    memcmp(res->out, f.b, f.len))
			fail_msg("%s: expected XDP_PASS unchanged, got %s", cases[i].what,
			         harness_action_name(res->retval));
	}
	assert_int_equal(stat_read(env, SC_SYN_ANSWERED), answered);
	free(res);
}

/* SYN with RST or FIN to a protected port: dropped in XDP, counted; elsewhere untouched. */
static void test_syn_with_rst_or_fin_dropped(void **state)
{
	const struct env *env = *state;
	const struct flow open = {4, CLIENT4, OPEN4, 1, 8080, 0, 0};
	struct xdp_result *res = malloc(sizeof(*res));
	uint64_t bad = stat_read(env, SC_SYN_BAD_FLAGS);
	struct frame f;

	assert_non_null(res);
	frame_tcp(&f, &flow4, TCP_SYN | TCP_RST, 1, 0, NULL, 0, 0);
	run(env, &f, res);
	assert_int_equal(res->retval, XDP_DROP);
	frame_tcp(&f, &flow6, TCP_SYN | TCP_FIN | TCP_PSH, 1, 0, NULL, 0, 0);
	run(env, &f, res);
	assert_int_equal(res->retval, XDP_DROP);
	assert_int_equal(stat_read(env, SC_SYN_BAD_FLAGS), bad + 2);
	frame_tcp(&f, &open, TCP_SYN | TCP_FIN, 1, 0, NULL, 0, 0);
	run(env, &f, res);
	assert_int_equal(res->retval, XDP_PASS);
	free(res);
}

/* A first IPv4 fragment holding a SYN goes to the stack (it reassembles; nft synproxy then
 * answers), never to the SYN-ACK path. */
static void test_fragment_to_stack(void **state)
{
	struct xdp_result *res = malloc(sizeof(*res));
	struct frame f;

	assert_non_null(res);
	frame_tcp(&f, &flow4, TCP_SYN, 1, 0, NULL, 0, 8);
	f.b[f.l3 + 6] = 0x20; /* MF */
	put16(f.b + f.l3 + 10, 0);
	put16(f.b + f.l3 + 10, ~harness_csum_fold(harness_csum_add(0, f.b + f.l3, 20)));
	run(*state, &f, res);
	assert_int_equal(res->retval, XDP_PASS);
	free(res);
}

/* Auto mode: the first AUTO_PPS SYNs within a second go to the stack, the rest are answered. */
static void auto_mode(const struct env *env, const struct flow *fl)
{
	uint64_t below = stat_read(env, SC_SYN_BELOW_AUTO);
	struct xdp_result *res = malloc(sizeof(*res));
	struct frame syn;
	struct synack sa;

	assert_non_null(res);
	for (int i = 0; i < AUTO_PPS; i++) {
		frame_tcp(&syn, fl, TCP_SYN, 1000 + i, 0, NULL, 0, 0);
		run(env, &syn, res);
		assert_int_equal(res->retval, XDP_PASS);
		assert_memory_equal(res->out, syn.b, syn.len);
	}
	assert_int_equal(stat_read(env, SC_SYN_BELOW_AUTO), below + AUTO_PPS);
	for (int i = 0; i < 5; i++) {
		frame_tcp(&syn, fl, TCP_SYN, 2000 + i, 0, NULL, 0, 0);
		run(env, &syn, res);
		synack_parse(res, &syn, fl, &sa);
	}
	free(res);
}

static void test_auto_mode_v4(void **state)
{
	const struct flow fl = {4, CLIENT4, AUTO4, 40003, 22, 0, 0};

	auto_mode(*state, &fl);
}

static void test_auto_mode_v6(void **state)
{
	const struct flow fl = {6, CLIENT6, AUTO6, 40003, 22, 1, 0};

	auto_mode(*state, &fl);
}

/* Malformed options never crash the program or get a wrong SYN-ACK: the walk stops at the
 * first bad option, as the kernel's does, and what it read stands. */
static void check_sane(const struct env *env, const struct flow *fl, const uint8_t *opts,
                       size_t len, const char *what)
{
	struct xdp_result *res = malloc(sizeof(*res));
	struct synack sa;
	struct frame syn;

	assert_non_null(res);
	frame_tcp(&syn, fl, TCP_SYN, 42, 0, opts, len, 0);
	run(env, &syn, res);
	if (res->retval != XDP_TX)
		fail_msg("%s: expected a SYN-ACK, got %s", what, harness_action_name(res->retval));
	synack_parse(res, &syn, fl, &sa);
	assert_true(sa.mss > 0);
	free(res);
}

static void test_garbage_options(void **state)
{
	static const struct {
		uint8_t opts[40];
		size_t len;
		const char *what;
	} cases[] = {
	        {{8, 255, 0, 0}, 4, "timestamp with length 255"},
	        {{3, 1, 7, 0}, 4, "window scale with length 1"},
	        {{3, 0}, 4, "length 0"},
	        {{1, 1, 1, 8}, 4, "option kind at the last byte"},
	        {{8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 3, 3, 200, 0, 0, 0}, 16, "window scale 200"},
	        {{4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2,
	          4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2},
	         40,
	         "20 SACK-perm options"},
	        {{[0 ... 39] = 1}, 40, "40 NOPs"},
	        {{[0 ... 39] = 0xff}, 40, "40 bytes of 0xff"},
	};
	const struct env *env = *state;
	uint8_t opts[40];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_sane(env, &flow4, cases[i].opts, cases[i].len, cases[i].what);
		check_sane(env, &flow6, cases[i].opts, cases[i].len, cases[i].what);
	}
	/* Random option bytes, biased towards known kinds and small lengths. */
	srand(4242);
	for (int n = 0; n < 2000; n++) {
		size_t len = (size_t)(rand() % 11) * 4;

		for (size_t i = 0; i < len; i++)
			opts[i] = rand() % 3 ? (uint8_t)(rand() % 10) : (uint8_t)rand();
		check_sane(env, n & 1 ? &flow6 : &flow4, opts, len, "random options");
	}
}

/* A TCP header whose doff claims more than the frame holds: the parser's drop, not ours. */
static void test_truncated_header(void **state)
{
	struct xdp_result *res = malloc(sizeof(*res));
	struct frame f;

	assert_non_null(res);
	frame_tcp(&f, &flow4, TCP_SYN, 1, 0, NULL, 0, 0);
	f.b[f.l4 + 12] = 15 << 4;
	run(*state, &f, res);
	assert_int_equal(res->retval, XDP_DROP);
	free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_handshake_v4, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_handshake_v6, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syn_without_timestamps, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syn_ecn_no_wscale, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syn_vlan_ip_options_payload, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_zero_window_probe_repaired, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_others_untouched, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syn_with_rst_or_fin_dropped, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fragment_to_stack, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_auto_mode_v4, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_auto_mode_v6, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_garbage_options, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_truncated_header, setup, teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("syncookie", tests, NULL, NULL);
}
