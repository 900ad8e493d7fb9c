/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The maps of anycast GRE transit (bpf/transit_gre.h), declared once for both programs that use
 * them: the XDP edge program (decap stage) owns and pins them; the TC encap program
 * (transit_encap.bpf.c) is loaded with the same maps handed over by fd (edged/transit_dp.c,
 * tests/bpf/test_transit.c), so both read and count into one set.
 */
#ifndef EDGED_BPF_TRANSIT_MAPS_BPF_H
#define EDGED_BPF_TRANSIT_MAPS_BPF_H

#include "defs.h"
#include "transit_gre.h"

/* Our anycast GRE endpoints: GRE to any other address is not ours. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TRANSIT_DP_MAX_ENDPOINTS);
	__type(key, struct transit_addr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_endpoints SEC(".maps");

/* (outer addresses, key) -> tunnel id; plus a TRANSIT_KEY_ANY marker per address pair, so
 * that a wrong key is told apart from an unknown router. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * TRANSIT_DP_MAX_TUNNELS);
	__type(key, struct transit_tunnel_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_tunnel_ids SEC(".maps");

/* Tunnel id -> addresses, key, customer, MTU. Written by edged before any id points here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRANSIT_DP_MAX_TUNNELS);
	__type(key, __u32);
	__type(value, struct transit_tunnel);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_tunnels SEC(".maps");

/* Tunnel id -> 1 when up (health checks, edgectl): one word, so a flip is one write. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRANSIT_DP_MAX_TUNNELS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_health SEC(".maps");

/* Customer id -> veth and tunnels. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRANSIT_DP_MAX_CUSTOMERS);
	__type(key, __u32);
	__type(value, struct transit_customer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_customers SEC(".maps");

/* ifindex of edged's side of a customer veth -> customer id (0: not a customer veth). An
 * array, as uplink_slots: inlined by the verifier. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EDGE_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_veths SEC(".maps");

/* The customers' prefixes, (customer, address) LPM. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TRANSIT_DP_MAX_PREFIXES);
	__type(key, struct transit_prefix_v4);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_prefixes_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TRANSIT_DP_MAX_PREFIXES);
	__type(key, struct transit_prefix_v6);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_prefixes_v6 SEC(".maps");

/* ICMP sources (struct transit_settings). Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct transit_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_settings SEC(".maps");

/* Counters, per CPU: by tunnel id, by customer id, and the global ones. Zeroed by edged when
 * it gives an id to a new tunnel or customer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRANSIT_DP_MAX_TUNNELS);
	__type(key, __u32);
	__type(value, struct transit_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_tunnel_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRANSIT_DP_MAX_CUSTOMERS);
	__type(key, __u32);
	__type(value, struct transit_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_customer_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct transit_global_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_stats SEC(".maps");

/* Tunnel id -> name: edged's record, so that ids (and counters) survive restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRANSIT_DP_MAX_TUNNELS);
	__type(key, __u32);
	__type(value, struct transit_name);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} transit_tunnel_names SEC(".maps");

static __always_inline void transit_count(int c)
{
	__u32 zero = 0;
	struct transit_global_counters *g = bpf_map_lookup_elem(&transit_stats, &zero);

	if (g && c >= 0 && c < TRANSIT_G_COUNT)
		g->c[c]++; /* per CPU: this CPU is the only writer */
}

/* The tunnel's and its customer's counters; either may be NULL after a failed lookup. */
struct transit_stat_pair {
	struct transit_counters *tun;
	struct transit_counters *cust;
};

static __always_inline struct transit_stat_pair transit_stats_of(__u32 tunnel, __u32 customer)
{
	struct transit_stat_pair s = {
	        .tun = bpf_map_lookup_elem(&transit_tunnel_stats, &tunnel),
	        .cust = bpf_map_lookup_elem(&transit_customer_stats, &customer),
	};

	return s;
}

/* Whether ADDR (4 or 16 bytes by FAMILY) is in a prefix of CUSTOMER. */
static __always_inline bool transit_customer_owns(__u32 customer, int family, const void *addr)
{
	if (family == 4) {
		struct transit_prefix_v4 k = {.prefixlen = TRANSIT_PREFIX_HDR_BITS + 32,
		                              .customer = bpf_htonl(customer)};

		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(&transit_prefixes_v4, &k) != NULL;
	} else {
		struct transit_prefix_v6 k = {.prefixlen = TRANSIT_PREFIX_HDR_BITS + 128,
		                              .customer = bpf_htonl(customer)};

		__builtin_memcpy(k.addr, addr, 16);
		return bpf_map_lookup_elem(&transit_prefixes_v6, &k) != NULL;
	}
}

/* ---- checksums and the MSS clamp, shared by decap (XDP) and encap (TC) ----------------- */

/* The complement of the folded sum: what a checksum field holds. */
static __always_inline __u16 transit_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

#define TRANSIT_TCP_HLEN   20
#define TRANSIT_TCP_MAXLEN 60
#define TRANSIT_TCPOPT_EOL 0
#define TRANSIT_TCPOPT_NOP 1
#define TRANSIT_TCPOPT_MSS 2

/* A SYN's TCP header, copied to the stack, and the walk over its options. */
struct transit_mss_walk {
	__u8 th[TRANSIT_TCP_MAXLEN + 4]; /* + 4: the 8-byte checksum window may end past 60 */
	__u32 off;                       /* next option */
	__u32 end;                       /* end of the options (doff * 4) */
	__u32 at;                        /* offset of the MSS value (2 bytes); 0: none */
};

static __always_inline __u8 transit_opt_byte(const struct transit_mss_walk *w, __u64 i)
{
	/* clang 14 can drop a mask on the way to the stack address (shared/platform.md). */
	i &= 63;
	barrier_var(i);
	return w->th[i];
}

/* One option; bpf_loop calls it until it returns 1 (an unrolled 40-byte walk costs the
 * verifier too much, shared/platform.md). Ends as the kernel's tcp_parse_options() does. */
static long transit_mss_step(__u32 i, void *arg)
{
	struct transit_mss_walk *w = arg;
	__u64 off = w->off, len;
	__u8 kind;

	(void)i;
	if (off >= w->end || off >= TRANSIT_TCP_MAXLEN)
		return 1;
	kind = transit_opt_byte(w, off);
	if (kind == TRANSIT_TCPOPT_EOL)
		return 1;
	if (kind == TRANSIT_TCPOPT_NOP) {
		w->off = off + 1;
		return 0;
	}
	if (off + 2 > w->end)
		return 1;
	len = transit_opt_byte(w, off + 1);
	if (len < 2 || off + len > w->end || off + len > TRANSIT_TCP_MAXLEN)
		return 1;
	if (kind == TRANSIT_TCPOPT_MSS && len == 4) {
		w->at = off + 2;
		return 1;
	}
	w->off = off + len;
	return 0;
}

/* Finds the MSS option of the header in W (th and end filled); W->at is 0 without one. */
static __always_inline void transit_mss_find(struct transit_mss_walk *w)
{
	w->off = TRANSIT_TCP_HLEN;
	w->at = 0;
	bpf_loop(TRANSIT_TCP_MAXLEN - TRANSIT_TCP_HLEN, transit_mss_step, w, 0);
}

/*
 * Lowers the MSS in W->th to LIMIT when it is above. Returns the checksum difference of the
 * change (for the TCP checksum) and sets *WIN_OFF and *WIN_LEN to the aligned 4- or 8-byte window
 * of the header that changed, or returns 0 with *WIN_LEN = 0 when nothing changes. The window
 * is word-aligned so that the difference is right whatever the option's alignment.
 */
static __always_inline __u32 transit_mss_lower(struct transit_mss_walk *w, __u16 limit,
                                               __u32 *win_off, __u32 *win_len)
{
	__u32 old[2] = {}, new[2] = {};
	__u64 at = w->at, start, n;
	__u16 mss;

	*win_len = 0;
	if (!at || at + 2 > w->end || at > TRANSIT_TCP_MAXLEN - 2)
		return 0;
	mss = (__u16)transit_opt_byte(w, at) << 8 | transit_opt_byte(w, at + 1);
	if (mss <= limit)
		return 0;
	start = at & ~3ull;
	n = (at & 3) == 3 ? 8 : 4;
	barrier_var(start);
	if (start > TRANSIT_TCP_MAXLEN - 4)
		return 0;
	__builtin_memcpy(old, &w->th[start], 8);
	w->th[at & 63] = limit >> 8;
	w->th[(at + 1) & 63] = limit & 0xff;
	__builtin_memcpy(new, &w->th[start], 8);
	*win_off = start;
	*win_len = n;
	return bpf_csum_diff(old, n == 8 ? 8 : 4, new, n == 8 ? 8 : 4, 0);
}

#endif
