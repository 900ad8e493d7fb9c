/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The L4 load balancer stage of the XDP edge program. bpf/lb.h holds the data layout and the
 * order of evaluation; edged (edged/lb_maps.c) fills the maps below.
 *
 *   encapsulated to our fleet address ---------> lb_decap: strip, parse the inner packet
 *       untrusted source, bad GUE, bad inner --> drop      |
 *       inner not for a VIP -------------------> drop      |
 *       second-chance hop ---------------------> pass      v
 *   VIP (+ ICMP errors quoting a VIP flow) ----> hash -> bucket -> first server
 *       first is another server ---------------> lb_forward: IPIP or GUE, fib lookup, TX
 *       first is this machine, or decapsulated -> lb_local: a local socket owns it -> pass
 *                                                  TCP, not a SYN, no owner -> second server
 *   anything else -----------------------------> continue
 *
 * Verification cost: the stage's parts are global functions, each verified once on its own
 * (the decap path parses a second packet; inlined, every path of the first parse would be
 * checked against every path of the second). They take the context, scalars and pointers to
 * the caller's stack only; the packet is re-read from ctx after every head adjustment.
 */
#ifndef EDGED_BPF_LB_BPF_H
#define EDGED_BPF_LB_BPF_H

#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "lb.h"

#define AF_INET     2
#define AF_INET6    10
#define IP_DF       0x4000
#define LB_ETH_ALEN 6

/* ---- maps ---------------------------------------------------------------------------- */

/* Inner map templates: edged creates inner maps with exactly these parameters. Tables are
 * BPF_F_INNER_MAP, so each may have its own size (max_entries here is a placeholder), and
 * BPF_F_MMAPABLE, so edged writes and reads a whole table with one memcpy. */
struct lb_table_tmpl {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct lb_bucket));
};

struct lb_vip_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_VIP_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct lb_vip_slot));
};

struct lb_vip_v4_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_MAX_VIP_PREFIXES);
	__uint(key_size, sizeof(struct lb_vip_lpm_v4));
	__uint(value_size, sizeof(struct lb_vip));
};

struct lb_vip_v6_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_MAX_VIP_PREFIXES);
	__uint(key_size, sizeof(struct lb_vip_lpm_v6));
	__uint(value_size, sizeof(struct lb_vip));
};

struct lb_fleet_hash {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_FLEET);
	__uint(key_size, sizeof(struct lb_addr_key));
	__uint(value_size, sizeof(__u32));
};

/* Maglev tables by service id: edged builds a new table aside and swaps it in whole. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_table_tmpl);
} lb_tables SEC(".maps");

/* Exact VIPs in slot 0: (address, protocol, port | any | fragments) -> service, in the slots
 * of an open-addressed array (bpf/lb.h). Swapped whole by edged on reload. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_vip_array);
} lb_vips SEC(".maps");

/* IPv4 VIP prefixes in slot 0 (LPM over frag, protocol, port, address). Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_vip_v4_trie);
} lb_vip_prefixes_v4 SEC(".maps");

/* IPv6 VIP prefixes, as lb_vip_prefixes_v4. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_vip_v6_trie);
} lb_vip_prefixes_v6 SEC(".maps");

/* Fleet members (servers and LB-only edges) in slot 0: the only sources whose encapsulated
 * packets this server unwraps. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct lb_fleet_hash);
} lb_fleet SEC(".maps");

/* Server id -> address and flags. Written by edged before any table names the id; an id's
 * address never changes while a table holds it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_SERVERS);
	__type(key, __u32);
	__type(value, struct lb_server);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_servers SEC(".maps");

/* Next hops of the servers, per CPU (bpf/lb.h): written by this program only. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_SERVERS);
	__type(key, __u32);
	__type(value, struct lb_nexthop);
} lb_nexthops SEC(".maps");

/* Our fleet addresses and the GUE port. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_settings SEC(".maps");

/* Counters by service id, by server id, and global ones. Written by this program; edged reads
 * them and zeroes an id's counters when it gives the id to a new service or server. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct lb_service_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_service_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_SERVERS);
	__type(key, __u32);
	__type(value, struct lb_server_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_server_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_global_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_stats SEC(".maps");

/* ---- counters ------------------------------------------------------------------------ */

/* Per-CPU values: this CPU is their only writer, no atomics needed. */
static __always_inline void lb_count_svc(__u32 svc, int c, __u64 n)
{
	struct lb_service_counters *v = bpf_map_lookup_elem(&lb_service_stats, &svc);

	if (v && c >= 0 && c < LB_SVC_NCOUNTERS)
		v->c[c] += n;
}

static __always_inline void lb_count_srv(__u32 srv, int c, __u64 n)
{
	struct lb_server_counters *v = bpf_map_lookup_elem(&lb_server_stats, &srv);

	if (v && c >= 0 && c < LB_SRV_NCOUNTERS)
		v->c[c] += n;
}

/* A service's or server's counters, for several updates after one lookup. */
static __always_inline struct lb_service_counters *lb_svc_counters(__u32 svc)
{
	return bpf_map_lookup_elem(&lb_service_stats, &svc);
}

static __always_inline struct lb_server_counters *lb_srv_counters(__u32 srv)
{
	return bpf_map_lookup_elem(&lb_server_stats, &srv);
}

static __always_inline void lb_count(int c)
{
	__u32 zero = 0;
	struct lb_global_counters *v = bpf_map_lookup_elem(&lb_stats, &zero);

	if (v && c >= 0 && c < LB_G_NCOUNTERS)
		v->c[c]++;
}

/* ---- flows --------------------------------------------------------------------------- */

/* What the balancer hashes and matches: the flow in its forward direction (client -> VIP). */
struct lb_flow {
	__u32 saddr[4]; /* network order; IPv4 in [0] */
	__u32 daddr[4];
	__u16 sport; /* host order; 0 for fragments */
	__u16 dport;
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u8 frag; /* a fragment, or an ICMP error quoting one: ports are not used */
	__u8 icmp; /* an ICMP error about the flow, not the flow's own packet */
};

static __always_inline bool lb_is_v4(const struct pkt *p)
{
	return p->l3_proto == ETH_P_IP;
}

static __always_inline bool lb_is_syn(const struct pkt *p)
{
	return p->l4_proto == IPPROTO_TCP && !p->frag &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* An ICMP error quoting a packet the server sent (VIP -> client): the flow is the quoted one,
 * turned around, so the error reaches the server that owns the flow. IPv4 types 3
 * (unreachable, fragmentation needed) and 11 (time exceeded); IPv6 1, 2 (packet too big), 3. */
static __always_inline bool lb_flow_icmp(struct xdp_md *ctx, const struct pkt *p, struct lb_flow *f)
{
	__u32 off = (__u32)p->l4_off + 8; /* the ICMP header */
	__u16 ports[2];
	__u8 type;

	if (p->frag || bpf_xdp_load_bytes(ctx, p->l4_off, &type, 1))
		return false;
	if (lb_is_v4(p)) {
		struct iphdr ih;

		if (p->l4_proto != IPPROTO_ICMP || (type != 3 && type != 11))
			return false;
		if (off + sizeof(ih) > p->l3_end || bpf_xdp_load_bytes(ctx, off, &ih, sizeof(ih)))
			return false;
		if (ih.version != 4 || ih.ihl < 5)
			return false;
		f->proto = ih.protocol;
		f->saddr[0] = ih.daddr;
		f->daddr[0] = ih.saddr;
		f->frag = (ih.frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
		off += ih.ihl * 4;
	} else {
		struct ipv6hdr ih;

		if (p->l4_proto != IPPROTO_ICMPV6 || type < 1 || type > 3)
			return false;
		if (off + sizeof(ih) > p->l3_end || bpf_xdp_load_bytes(ctx, off, &ih, sizeof(ih)))
			return false;
		f->proto = ih.nexthdr; /* quoted extension headers: not matched */
		__builtin_memcpy(f->saddr, &ih.daddr, 16);
		__builtin_memcpy(f->daddr, &ih.saddr, 16);
		off += sizeof(ih);
	}
	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		return false;
	f->icmp = 1;
	if (f->frag)
		return true;
	/* Errors quote at least 8 bytes of L4 header: the ports. */
	if (off + sizeof(ports) > p->l3_end || bpf_xdp_load_bytes(ctx, off, ports, sizeof(ports)))
		return false;
	f->sport = bpf_ntohs(ports[1]);
	f->dport = bpf_ntohs(ports[0]);
	return true;
}

/* The flow of a parsed packet; false when the balancer has nothing to do with it. */
static __always_inline bool lb_flow_of(struct xdp_md *ctx, const struct pkt *p, struct lb_flow *f)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->family = lb_is_v4(p) ? 4 : 6;
	if (p->l4_proto == IPPROTO_ICMP || p->l4_proto == IPPROTO_ICMPV6)
		return lb_flow_icmp(ctx, p, f);
	if (p->l4_proto != IPPROTO_TCP && p->l4_proto != IPPROTO_UDP)
		return false;
	f->proto = p->l4_proto;
	if (lb_is_v4(p)) {
		f->saddr[0] = p->saddr.v4;
		f->daddr[0] = p->daddr.v4;
	} else {
		__builtin_memcpy(f->saddr, &p->saddr.v6, 16);
		__builtin_memcpy(f->daddr, &p->daddr.v6, 16);
	}
	/* Later fragments have no ports: every fragment of a datagram hashes by addresses and
	 * protocol alone, so that all of them reach the same server. */
	f->frag = p->frag;
	if (!p->frag) {
		f->sport = bpf_ntohs(p->sport);
		f->dport = bpf_ntohs(p->dport);
	}
	return true;
}

/* bpf/lb.h's flow hash. */
static __always_inline __u32 lb_flow_hash(const struct lb_flow *f)
{
	__u32 n = f->family == 4 ? 1 : 4;
	__u32 h = LB_HASH_SEED;

#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < (int)n)
			h = lb_hash_word(h, bpf_ntohl(f->saddr[i]));
#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < (int)n)
			h = lb_hash_word(h, bpf_ntohl(f->daddr[i]));
	h = lb_hash_word(h, (__u32)f->sport << 16 | f->dport);
	h = lb_hash_word(h, f->proto);
	return lb_hash_final(h, 2 * n + 2);
}

/* ---- VIPs ---------------------------------------------------------------------------- */

static __always_inline bool lb_vip_key_eq(const struct lb_vip_key *a, const struct lb_vip_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*a) / 4); i++)
		if (x[i] != y[i])
			return false;
	return true;
}

/* Linear probing from the key's slot to the first empty one. */
static __always_inline struct lb_vip *lb_vip_probe(void *vips, const struct lb_vip_key *k)
{
	__u32 slot = lb_vip_slot_of(k);

#pragma unroll
	for (int i = 0; i < LB_VIP_PROBES; i++) {
		__u32 idx = (slot + i) & (LB_VIP_SLOTS - 1);
		struct lb_vip_slot *e = bpf_map_lookup_elem(vips, &idx);

		if (!e || !e->key.family)
			return NULL;
		if (lb_vip_key_eq(&e->key, k))
			return &e->vip;
	}
	return NULL;
}

static __always_inline struct lb_vip *lb_vip_exact(const struct lb_flow *f)
{
	struct lb_vip_key k = {.family = f->family, .proto = f->proto};
	struct lb_vip *v;
	__u32 zero = 0;
	void *vips;

	vips = bpf_map_lookup_elem(&lb_vips, &zero);
	if (!vips) /* no VIP set installed */
		return NULL;
	__builtin_memcpy(k.addr, f->daddr, 16);
	if (f->frag) {
		k.frag = 1;
		return lb_vip_probe(vips, &k);
	}
	k.port = bpf_htons(f->dport);
	v = lb_vip_probe(vips, &k);
	if (v)
		return v;
	k.port = 0;
	return lb_vip_probe(vips, &k);
}

/* The longest VIP prefix for (frag, proto, port, address); the key is the v6 layout, of
 * which an IPv4 key uses the first 12 bytes. */
static __always_inline struct lb_vip *lb_vip_prefix(const struct lb_flow *f)
{
	struct lb_vip_lpm_v6 k = {.frag = f->frag, .proto = f->proto};
	__u16 port = f->frag ? 0 : bpf_htons(f->dport);
	struct lb_vip *v;
	__u32 zero = 0;
	void *trie;

	if (f->family == 4) {
		trie = bpf_map_lookup_elem(&lb_vip_prefixes_v4, &zero);
		k.prefixlen = LB_LPM_HDR_BITS + 32;
		__builtin_memcpy(k.addr, f->daddr, 4);
	} else {
		trie = bpf_map_lookup_elem(&lb_vip_prefixes_v6, &zero);
		k.prefixlen = LB_LPM_HDR_BITS + 128;
		__builtin_memcpy(k.addr, f->daddr, 16);
	}
	if (!trie)
		return NULL;
	__builtin_memcpy(k.port, &port, 2);
	v = bpf_map_lookup_elem(trie, &k);
	if (v || f->frag)
		return v;
	__builtin_memset(k.port, 0, 2);
	return bpf_map_lookup_elem(trie, &k);
}

/* The service of the flow: exact address and port, then any port of the address, then
 * prefixes (the LPM lookups only when some prefix VIP of the family exists). Copies the
 * entry to OUT: 0, or -1 for no VIP. */
static __always_inline int lb_vip_match(const struct lb_flow *f, struct lb_vip *out)
{
	struct lb_settings *s;
	struct lb_vip *v;
	__u32 zero = 0;

	v = lb_vip_exact(f);
	if (!v) {
		s = bpf_map_lookup_elem(&lb_settings, &zero);
		if (!s || !(f->family == 4 ? s->prefixes_v4 : s->prefixes_v6))
			return -1;
		v = lb_vip_prefix(f);
		if (!v)
			return -1;
	}
	*out = *v;
	return 0;
}

/* lb_vip_match as a function of its own, for the decap path (verified once there). */
__noinline int lb_vip_find(const struct lb_flow *f, struct lb_vip *out)
{
	if (!f || !out)
		return -1;
	return lb_vip_match(f, out);
}

/* ---- tables -------------------------------------------------------------------------- */

/* The bucket of HASH in the service's table; NULL without a table. The size comes from the
 * table map itself (M buckets after the header entry), so a packet never pairs a new size
 * with an old table, and costs one load instead of a lookup. */
static __always_inline struct lb_bucket *lb_bucket_of(__u32 svc, __u32 hash)
{
	struct bpf_map *table;
	__u32 m, idx;

	table = bpf_map_lookup_elem(&lb_tables, &svc);
	if (!table)
		return NULL;
	m = table->max_entries;
	if (m < 2)
		return NULL;
	idx = lb_bucket_index(hash, m - 1);
	return bpf_map_lookup_elem(table, &idx);
}

static __always_inline struct lb_server *lb_server_of(__u32 id)
{
	struct lb_server *s = bpf_map_lookup_elem(&lb_servers, &id);

	return s && s->family ? s : NULL;
}

/* ---- encapsulation ------------------------------------------------------------------- */

/*
 * What lb_forward needs to send a packet to a server. The deciding function fills it in the
 * stage's frame and returns LB_DO_FORWARD; the stage then calls lb_forward itself, so that
 * the decap path's frame and lb_forward's are never on the stack together (512 bytes for a
 * whole chain of calls; 6.1's verifier rounds every frame up to 32).
 */
struct lb_fwd {
	__u32 service;
	__u32 server;
	__u32 hash;
	__u32 inner_len;    /* the IP packet's own length */
	__u32 trim;         /* bytes after it (Ethernet padding, trailers): not carried */
	__u32 bytes;        /* the frame as it arrived, for the counters */
	__u8 encap;         /* enum lb_encap of the service */
	__u8 second_chance; /* a second-chance hop: GUE with the marker, whatever the encap */
	__u8 inner_v6;
	__u8 syn;
};

#define LB_DO_FORWARD 100 /* not a verdict: lb_forward(fwd) decides */

static __always_inline int lb_fwd_set(struct lb_fwd *fwd, const struct pkt *p, __u32 server)
{
	fwd->server = server;
	fwd->inner_len = p->l3_end - p->l3_off;
	fwd->trim = p->len > p->l3_end ? p->len - p->l3_end : 0;
	fwd->bytes = p->len;
	fwd->inner_v6 = !lb_is_v4(p);
	fwd->syn = lb_is_syn(p);
	return LB_DO_FORWARD;
}

static __always_inline __u16 lb_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* The inner packet's DSCP and ECN, copied to the outer header (RFC 6040, normal mode), so
 * the fleet network treats the tunnel as it would the packet. */
static __always_inline __u8 lb_inner_tos(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u8 *ip = data + ETH_HLEN;

	if ((void *)(ip + 2) > data_end)
		return 0;
	if ((ip[0] >> 4) == 4)
		return ip[1];
	return (ip[0] << 4) | (ip[1] >> 4);
}

struct lb_outer {
	const struct lb_settings *s;
	const struct lb_server *srv;
	const struct lb_nexthop *nh;
	__u32 inner_len;
	__u32 hash;
	__u8 inner_v6;
	__u8 tos;
};

static __always_inline void lb_write_eth(struct ethhdr *eth, const struct lb_nexthop *nh,
                                         __u16 proto)
{
	__builtin_memcpy(eth->h_dest, nh->dmac, LB_ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, LB_ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
}

static __always_inline void lb_write_gue(struct udphdr *udp, const struct lb_outer *o,
                                         __u32 gue_len, bool sc)
{
	struct lb_gue_hdr *g = (void *)(udp + 1);

	udp->source = bpf_htons(LB_GUE_SPORT_BASE | (o->hash & LB_GUE_SPORT_MASK));
	udp->dest = o->s->gue_port;
	udp->len = bpf_htons(sizeof(*udp) + gue_len + o->inner_len);
	/* 0: the inner packet carries its own checksums, and computing one over the payload
	 * is a loop XDP cannot afford; RFC 6935 allows it for tunnels over IPv6 too. */
	udp->check = 0;
	g->hlen_ver = sc ? 1 : 0;
	g->proto = o->inner_v6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	g->flags = 0;
	if (sc)
		*(__be32 *)(g + 1) = bpf_htonl(LB_GUE_SECOND_CHANCE);
}

/* Writes Ethernet + IPv4 [+ UDP + GUE [+ marker]] in front of the inner packet, which starts
 * right after; GUE and SC are constants at each call, so each layout is its own code. */
static __always_inline int lb_push_v4(struct xdp_md *ctx, const struct lb_outer *o, bool gue,
                                      bool sc)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 gue_len = sizeof(struct lb_gue_hdr) + (sc ? 4 : 0);
	__u32 l4_len = gue ? sizeof(struct udphdr) + gue_len : 0;
	struct iphdr *ip = data + ETH_HLEN;
	__u16 *w = (__u16 *)ip;
	__u32 sum = 0;

	if ((void *)(ip + 1) + l4_len > data_end)
		return -1;
	lb_write_eth(data, o->nh, ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = o->tos;
	ip->tot_len = bpf_htons(sizeof(*ip) + l4_len + o->inner_len);
	ip->id = 0;
	/* DF: a fragmented tunnel packet would reach the server's XDP in pieces it cannot
	 * reassemble; the fib lookup already checked the egress MTU. */
	ip->frag_off = bpf_htons(IP_DF);
	ip->ttl = LB_OUTER_TTL;
	ip->protocol = gue ? IPPROTO_UDP : o->inner_v6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	ip->check = 0;
	__builtin_memcpy(&ip->saddr, o->s->src_v4, 4);
	__builtin_memcpy(&ip->daddr, o->srv->addr, 4);
#pragma unroll
	for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
		sum += w[i];
	ip->check = lb_csum_fold(sum);
	if (gue)
		lb_write_gue((void *)(ip + 1), o, gue_len, sc);
	return 0;
}

static __always_inline int lb_push_v6(struct xdp_md *ctx, const struct lb_outer *o, bool gue,
                                      bool sc)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 gue_len = sizeof(struct lb_gue_hdr) + (sc ? 4 : 0);
	__u32 l4_len = gue ? sizeof(struct udphdr) + gue_len : 0;
	struct ipv6hdr *ip = data + ETH_HLEN;
	__u32 flow = o->hash & 0xfffff;

	if ((void *)(ip + 1) + l4_len > data_end)
		return -1;
	lb_write_eth(data, o->nh, ETH_P_IPV6);
	ip->version = 6;
	ip->priority = o->tos >> 4;
	/* The flow label from the flow hash: routers and NICs spread on it (RFC 6438). */
	ip->flow_lbl[0] = ((o->tos & 0xf) << 4) | (flow >> 16);
	ip->flow_lbl[1] = flow >> 8;
	ip->flow_lbl[2] = flow;
	ip->payload_len = bpf_htons(l4_len + o->inner_len);
	ip->nexthdr = gue ? IPPROTO_UDP : o->inner_v6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	ip->hop_limit = LB_OUTER_TTL;
	__builtin_memcpy(&ip->saddr, o->s->src_v6, 16);
	__builtin_memcpy(&ip->daddr, o->srv->addr, 16);
	if (gue)
		lb_write_gue((void *)(ip + 1), o, gue_len, sc);
	return 0;
}

/* One constant layout per branch: the verifier checks each write against a fixed length. */
static __always_inline int lb_push(struct xdp_md *ctx, const struct lb_outer *o, bool v6, bool gue,
                                   bool sc)
{
	if (v6 && sc)
		return lb_push_v6(ctx, o, true, true);
	if (v6 && gue)
		return lb_push_v6(ctx, o, true, false);
	if (v6)
		return lb_push_v6(ctx, o, false, false);
	if (sc)
		return lb_push_v4(ctx, o, true, true);
	if (gue)
		return lb_push_v4(ctx, o, true, false);
	return lb_push_v4(ctx, o, false, false);
}

static __always_inline __u32 lb_outer_len(bool v6, bool gue, bool sc)
{
	__u32 n = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);

	if (gue || sc)
		n += sizeof(struct udphdr) + sizeof(struct lb_gue_hdr) + (sc ? 4 : 0);
	return n;
}

/* One FIB lookup for a packet from our fleet address to SRV; a TOT_LEN makes the kernel check
 * it against the egress MTU. Returns a BPF_FIB_LKUP_RET_*. */
static __always_inline int lb_fib(struct xdp_md *ctx, struct bpf_fib_lookup *fib,
                                  const struct lb_settings *s, const struct lb_server *srv,
                                  __u16 tot_len, __u8 tos)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->ifindex = ctx->ingress_ifindex;
	fib->tot_len = tot_len;
	fib->l4_protocol = IPPROTO_UDP;
	if (srv->family == 4) {
		fib->family = AF_INET;
		fib->tos = tos;
		__builtin_memcpy(&fib->ipv4_src, s->src_v4, 4);
		__builtin_memcpy(&fib->ipv4_dst, srv->addr, 4);
	} else {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, s->src_v6, 16);
		__builtin_memcpy(fib->ipv6_dst, srv->addr, 16);
	}
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/* Asks the FIB again for SRV's next hop: first with the largest length, which fails with the
 * egress MTU when it is smaller (a successful lookup does not report it), then for the
 * Ethernet addresses. Returns a BPF_FIB_LKUP_RET_*; NH is valid only on success. */
static __always_inline int lb_nexthop_refresh(struct xdp_md *ctx, struct lb_nexthop *nh,
                                              const struct lb_settings *s,
                                              const struct lb_server *srv, __u8 tos, __u64 now)
{
	struct bpf_fib_lookup fib;
	__u16 mtu = 0xffff;
	int ret;

	nh->valid = 0;
	ret = lb_fib(ctx, &fib, s, srv, 0xffff, tos);
	if (ret == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		mtu = fib.mtu_result;
		ret = lb_fib(ctx, &fib, s, srv, 0, tos);
	}
	if (ret != BPF_FIB_LKUP_RET_SUCCESS)
		return ret;
	nh->ifindex = fib.ifindex;
	nh->mtu = mtu;
	nh->gen = srv->gen;
	nh->expires = now + LB_NEXTHOP_TTL_JIFFIES;
	__builtin_memcpy(nh->smac, fib.smac, LB_ETH_ALEN);
	__builtin_memcpy(nh->dmac, fib.dmac, LB_ETH_ALEN);
	nh->valid = 1;
	return ret;
}

#include "lb_icmp.bpf.h"

/*
 * Sends the packet to FWD->server: IPIP or GUE over the server's family, next hop from the
 * kernel's FIB (cached per CPU), out of the uplink it came in on (XDP_TX) or another one
 * (XDP_REDIRECT).
 */
__noinline int lb_forward(struct xdp_md *ctx, const struct lb_fwd *fwd)
{
	struct lb_server_counters *sv;
	struct lb_nexthop *nh;
	struct lb_outer o;
	struct lb_server *srv;
	struct lb_settings *s;
	__u32 zero = 0, hlen, id;
	bool v6, gue, sc;
	__u64 now;

	if (!fwd)
		return EDGE_VERDICT_PASS;
	s = bpf_map_lookup_elem(&lb_settings, &zero);
	srv = lb_server_of(fwd->server);
	id = fwd->server; /* a key on our stack: 6.1 takes no global function's memory as one */
	nh = bpf_map_lookup_elem(&lb_nexthops, &id);
	if (!s || !srv || !nh) { /* a table naming a server edged has not written: not expected */
		lb_count_svc(fwd->service, LB_SVC_NO_SERVER, 1);
		return EDGE_VERDICT_PASS;
	}
	v6 = srv->family == 6;
	sc = fwd->second_chance;
	gue = sc || fwd->encap == LB_ENCAP_GUE;
	hlen = lb_outer_len(v6, gue, sc);
	o.s = s;
	o.srv = srv;
	o.nh = nh;
	o.hash = fwd->hash;
	o.inner_len = fwd->inner_len;
	o.inner_v6 = fwd->inner_v6;
	o.tos = lb_inner_tos(ctx);
	if (!(v6 ? s->has_src_v6 : s->has_src_v4) || (gue && !s->gue_port)) {
		/* No fleet address of that family (edged warns): we cannot send it anywhere. */
		lb_count_svc(fwd->service, LB_SVC_NO_ROUTE, 1);
		return EDGE_VERDICT_DROP;
	}
	now = bpf_jiffies64();
	if ((!nh->valid || nh->gen != srv->gen || now >= nh->expires) &&
	    lb_nexthop_refresh(ctx, nh, s, srv, o.tos, now) != BPF_FIB_LKUP_RET_SUCCESS) {
		lb_count_svc(fwd->service, LB_SVC_NO_ROUTE, 1);
		/* No route, or the neighbour is not resolved yet (edged's health checks keep it
		 * so): delivering here would put the flow on the wrong server. */
		return EDGE_VERDICT_DROP;
	}
	if (hlen + o.inner_len > nh->mtu) {
		/* With the tunnel headers it exceeds the egress MTU: the client is told the MTU
		 * inside the tunnel, where it may be told (bpf/lb_icmp.bpf.h). */
		lb_count_svc(fwd->service, LB_SVC_TOO_BIG, 1);
		return nh->mtu > hlen ? lb_too_big(ctx, fwd, nh->mtu - hlen) : EDGE_VERDICT_DROP;
	}
	if (fwd->trim && bpf_xdp_adjust_tail(ctx, -(int)fwd->trim))
		return EDGE_VERDICT_DROP; /* cannot happen: shrinking within the frame */
	if (bpf_xdp_adjust_head(ctx, -(int)hlen) || lb_push(ctx, &o, v6, gue, sc))
		return EDGE_VERDICT_DROP; /* no headroom: drivers give XDP 256 bytes */

	sv = lb_srv_counters(fwd->server);
	if (sv) {
		sv->c[LB_SRV_PACKETS]++;
		sv->c[LB_SRV_BYTES] += fwd->bytes;
		if (sc)
			sv->c[LB_SRV_SECOND_CHANCE]++;
		else if (fwd->syn)
			sv->c[LB_SRV_NEW_FLOWS]++;
	}
	if (nh->ifindex == ctx->ingress_ifindex)
		return EDGE_VERDICT_TX;
	return bpf_redirect(nh->ifindex, 0) == XDP_REDIRECT ? EDGE_VERDICT_REDIRECT
	                                                    : EDGE_VERDICT_DROP;
}

/* ---- local delivery and second chance ------------------------------------------------ */

/* Whether the ACK completes a SYN-cookie handshake with listener SK: no request socket
 * exists then, and without this check the ACK would look like another server's flow. */
static __always_inline bool lb_syncookie_ok(struct xdp_md *ctx, const struct pkt *p,
                                            struct bpf_sock *sk)
{
	struct tcphdr th;
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	} ip;

	if (bpf_xdp_load_bytes(ctx, p->l4_off, &th, sizeof(th)))
		return false;
	if (lb_is_v4(p)) {
		if (bpf_xdp_load_bytes(ctx, p->l3_off, &ip.v4, sizeof(ip.v4)))
			return false;
		return bpf_tcp_check_syncookie(sk, &ip.v4, sizeof(ip.v4), &th, sizeof(th)) == 0;
	}
	if (bpf_xdp_load_bytes(ctx, p->l3_off, &ip.v6, sizeof(ip.v6)))
		return false;
	return bpf_tcp_check_syncookie(sk, &ip.v6, sizeof(ip.v6), &th, sizeof(th)) == 0;
}

/*
 * Whether a local TCP socket owns the packet: an established, closing, TIME_WAIT or request
 * socket of its 4-tuple, or a listener when it is a SYN or an ACK with a valid SYN cookie.
 * 1 owned, 0 not.
 */
__noinline int lb_socket_owns(struct xdp_md *ctx, const struct pkt *p)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	int owned = 1;
	__u32 size;

	if (!p)
		return 1;
	if (lb_is_v4(p)) {
		t.ipv4.saddr = p->saddr.v4;
		t.ipv4.daddr = p->daddr.v4;
		t.ipv4.sport = p->sport;
		t.ipv4.dport = p->dport;
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, &p->saddr.v6, 16);
		__builtin_memcpy(t.ipv6.daddr, &p->daddr.v6, 16);
		t.ipv6.sport = p->sport;
		t.ipv6.dport = p->dport;
		size = sizeof(t.ipv6);
	}
	/* skc, not sk: request sockets (a handshake under way) are returned as themselves
	 * instead of their listener. */
	sk = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	if (sk->state == BPF_TCP_LISTEN && !lb_is_syn(p)) {
		owned = lb_syncookie_ok(ctx, p, sk);
		if (owned)
			lb_count(LB_G_SYNCOOKIE_OWNED);
	}
	bpf_sk_release(sk);
	return owned;
}

/* Where a packet no local socket owns goes: our table's first server for the bucket when it
 * is not us (the edge that sent it saw another table), else the bucket's second. */
static __always_inline __u32 lb_second_target(const struct lb_bucket *b)
{
	struct lb_server *s;

	if (!b)
		return LB_NONE;
	s = lb_server_of(b->first);
	if (s && !(s->flags & LB_SERVER_SELF))
		return b->first;
	s = lb_server_of(b->second);
	if (s && !(s->flags & LB_SERVER_SELF))
		return b->second;
	return LB_NONE;
}

/* Delivery here, unless the packet is a TCP segment of a flow no local socket owns: then
 * once to the server that had the bucket before (second chance), through FWD, or dropped
 * when there is none. Fragments, ICMP errors, UDP and SYNs are always delivered here. */
static __always_inline int lb_local(struct xdp_md *ctx, const struct pkt *p,
                                    const struct lb_flow *f, const struct lb_vip *vip,
                                    const struct lb_bucket *b, struct lb_fwd *fwd)
{
	__u32 target;

	if (f->proto == IPPROTO_TCP && !f->frag && !f->icmp && !lb_is_syn(p)) {
		if (lb_socket_owns(ctx, p)) {
			lb_count(LB_G_SOCKET_OWNED);
		} else {
			target = lb_second_target(b);
			if (target != LB_NONE) {
				fwd->second_chance = 1;
				lb_count_svc(vip->service, LB_SVC_SECOND_CHANCE, 1);
				return lb_fwd_set(fwd, p, target);
			}
			/* No owner and no other server to try: the stack would answer RST and
			 * kill a connection that may live on a server this machine cannot see
			 * now (it was cut off and judged the others dead). Dropped: the client
			 * retransmits, and once the tables agree the segment finds its server. */
			lb_count_svc(vip->service, LB_SVC_NO_OWNER, 1);
			return EDGE_VERDICT_DROP;
		}
	}
	lb_count_svc(vip->service, LB_SVC_LOCAL, 1);
	return EDGE_VERDICT_PASS;
}

/* ---- decapsulation ------------------------------------------------------------------- */

static __always_inline bool lb_addr_eq(const void *a, const void *b, int words)
{
	const __u32 *x = a, *y = b;

#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < words && x[i] != y[i])
			return false;
	return true;
}

/* IPIP, or UDP to the GUE port, addressed to our fleet address. */
static __always_inline bool lb_tunnel_to_us(const struct pkt *p, const struct lb_settings *s)
{
	if (p->frag) /* outer fragments cannot be unwrapped here; the stack drops them */
		return false;
	if (lb_is_v4(p) ? !s->has_src_v4 || !lb_addr_eq(&p->daddr.v4, s->src_v4, 1)
	                : !s->has_src_v6 || !lb_addr_eq(&p->daddr.v6, s->src_v6, 4))
		return false;
	if (p->l4_proto == IPPROTO_IPIP || p->l4_proto == IPPROTO_IPV6)
		return true;
	return p->l4_proto == IPPROTO_UDP && s->gue_port && p->dport == s->gue_port;
}

static __always_inline bool lb_trusted(const struct pkt *p)
{
	struct lb_addr_key k = {.family = lb_is_v4(p) ? 4 : 6};
	__u32 zero = 0;
	void *fleet;

	fleet = bpf_map_lookup_elem(&lb_fleet, &zero);
	if (!fleet)
		return false;
	if (lb_is_v4(p))
		__builtin_memcpy(k.addr, &p->saddr.v4, 4);
	else
		__builtin_memcpy(k.addr, &p->saddr.v6, 16);
	return bpf_map_lookup_elem(fleet, &k) != NULL;
}

/* What to strip: the outer headers after Ethernet. */
struct lb_tunnel {
	__u32 strip; /* bytes between the Ethernet header and the inner packet */
	__u16 proto; /* ETH_P_IP or ETH_P_IPV6: the inner packet's */
	__u8 second_chance;
};

/* Reads the tunnel headers; -1 when they are not ones we send. */
static __always_inline int lb_tunnel_parse(struct xdp_md *ctx, const struct pkt *p,
                                           struct lb_tunnel *t)
{
	__u32 off = (__u32)p->l4_off + sizeof(struct udphdr), hlen;
	__u8 g[4];
	__u32 priv;

	if (p->l4_proto == IPPROTO_IPIP || p->l4_proto == IPPROTO_IPV6) {
		t->strip = p->l4_off - ETH_HLEN;
		t->proto = p->l4_proto == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6;
		return 0;
	}
	if (off + sizeof(g) > p->l3_end || bpf_xdp_load_bytes(ctx, off, g, sizeof(g)))
		return -1;
	if ((g[0] >> 6) == 1) { /* GUE version 1: the IP header itself */
		t->strip = off - ETH_HLEN;
		t->proto = (g[0] >> 4) == 4 ? ETH_P_IP : ETH_P_IPV6;
		return (g[0] >> 4) == 4 || (g[0] >> 4) == 6 ? 0 : -1;
	}
	/* Version 0, a data message (C = 0), no optional fields (flags 0): what fleet members
	 * send. Control messages and flags we do not implement are refused, not guessed at. */
	if ((g[0] >> 5) != 0 || g[2] || g[3])
		return -1;
	if (g[1] != IPPROTO_IPIP && g[1] != IPPROTO_IPV6)
		return -1;
	hlen = (g[0] & 0x1f) * 4;
	if (off + sizeof(g) + hlen > p->l3_end)
		return -1;
	if (hlen >= 4 && !bpf_xdp_load_bytes(ctx, off + sizeof(g), &priv, sizeof(priv)))
		t->second_chance = priv == bpf_htonl(LB_GUE_SECOND_CHANCE);
	t->strip = off + sizeof(g) + hlen - ETH_HLEN;
	t->proto = g[1] == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6;
	return 0;
}

/* Removes the tunnel headers, keeping the Ethernet addresses (the frame was addressed to
 * us, and the stack checks that). */
static __always_inline int lb_strip(struct xdp_md *ctx, const struct lb_tunnel *t)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr eth, *e;

	if (data + sizeof(eth) > data_end)
		return -1;
	__builtin_memcpy(&eth, data, sizeof(eth));
	if (bpf_xdp_adjust_head(ctx, t->strip))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	e = data;
	if ((void *)(e + 1) > data_end)
		return -1;
	__builtin_memcpy(e, &eth, sizeof(eth));
	e->h_proto = bpf_htons(t->proto);
	return 0;
}

/*
 * An encapsulated packet for us: from a fleet member, well formed, for one of our VIPs. Then
 * local delivery (a second-chance hop: unconditionally) with second chance.
 */
__noinline int lb_decap(struct xdp_md *ctx, const struct pkt *p, struct lb_fwd *fwd)
{
	struct pkt in = {.rule_id = EDGE_RULE_NONE};
	struct lb_tunnel t = {};
	struct lb_bucket *b;
	struct lb_flow f;
	struct lb_vip vip;
	void *data, *data_end;

	if (!p || !fwd)
		return EDGE_VERDICT_PASS;
	if (!lb_trusted(p)) {
		lb_count(LB_G_DECAP_UNTRUSTED);
		return EDGE_VERDICT_DROP; /* tunnels from outside the fleet would skip DoS checks */
	}
	if (lb_tunnel_parse(ctx, p, &t) || lb_strip(ctx, &t)) {
		lb_count(LB_G_DECAP_MALFORMED);
		return EDGE_VERDICT_DROP; /* not a tunnel header fleet members send */
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (parse_packet(&in, data, data_end, bpf_xdp_get_buff_len(ctx)) != PARSE_OK ||
	    in.l3_end > p->l3_end - t.strip) {
		lb_count(LB_G_DECAP_MALFORMED);
		return EDGE_VERDICT_DROP; /* the inner packet is malformed or overruns the outer */
	}
	lb_count(LB_G_DECAP);
	if (!lb_flow_of(ctx, &in, &f) || lb_vip_find(&f, &vip)) {
		lb_count(LB_G_DECAP_NO_VIP);
		return EDGE_VERDICT_DROP; /* we unwrap VIP traffic only, we route for nobody */
	}
	lb_count_svc(vip.service, LB_SVC_PACKETS, 1);
	lb_count_svc(vip.service, LB_SVC_BYTES, in.len);
	if (t.second_chance) {
		lb_count(LB_G_SECOND_CHANCE_IN);
		/* The last stop, but not a reason to reset: the edge that sent it guessed from a
		 * table in flux (one of its health checks back, another not yet), and the
		 * connection may well live on a third server. */
		if (f.proto == IPPROTO_TCP && !f.frag && !f.icmp && !lb_is_syn(&in) &&
		    !lb_socket_owns(ctx, &in)) {
			lb_count_svc(vip.service, LB_SVC_NO_OWNER, 1);
			return EDGE_VERDICT_DROP;
		}
		lb_count_svc(vip.service, LB_SVC_LOCAL, 1);
		return EDGE_VERDICT_PASS;
	}
	fwd->service = vip.service;
	fwd->encap = vip.encap;
	fwd->hash = lb_flow_hash(&f);
	b = lb_bucket_of(vip.service, fwd->hash);
	return lb_local(ctx, &in, &f, &vip, b, fwd);
}

/* ---- the stage ----------------------------------------------------------------------- */

/* A packet for a VIP: to the bucket's first server, here or encapsulated. */
static __always_inline int lb_balance(struct xdp_md *ctx, const struct pkt *p, struct lb_fwd *fwd)
{
	struct lb_service_counters *sc;
	struct lb_server *srv;
	struct lb_bucket *b;
	struct lb_flow f;
	struct lb_vip vip;

	if (!lb_flow_of(ctx, p, &f) || lb_vip_match(&f, &vip))
		return EDGE_CONTINUE;
	fwd->service = vip.service;
	fwd->encap = vip.encap;
	fwd->hash = lb_flow_hash(&f);
	sc = lb_svc_counters(vip.service);
	if (sc) {
		sc->c[LB_SVC_PACKETS]++;
		sc->c[LB_SVC_BYTES] += p->len;
		if (lb_is_syn(p))
			sc->c[LB_SVC_NEW_FLOWS]++;
		if (f.icmp)
			sc->c[LB_SVC_ICMP]++;
	}
	b = lb_bucket_of(vip.service, fwd->hash);
	srv = b ? lb_server_of(b->first) : NULL;
	if (!srv) {
		/* No table or no server left: the VIP is local on every server, so this one
		 * answers (a SYN gets a connection or a reset) rather than a silent drop; but a
		 * segment no local socket owns is not reset (lb_local): this edge may just be
		 * back from being cut off, its health checks not caught up yet. */
		lb_count_svc(vip.service, LB_SVC_NO_SERVER, 1);
		return lb_local(ctx, p, &f, &vip, b, fwd);
	}
	if (!(srv->flags & LB_SERVER_SELF)) {
		if (sc)
			sc->c[LB_SVC_ENCAP]++;
		return lb_fwd_set(fwd, p, b->first);
	}
	lb_count_srv(b->first, LB_SRV_PACKETS, 1);
	lb_count_srv(b->first, LB_SRV_BYTES, p->len);
	if (lb_is_syn(p))
		lb_count_srv(b->first, LB_SRV_NEW_FLOWS, 1);
	return lb_local(ctx, p, &f, &vip, b, fwd);
}

/* The balancing path on its own: its frame and lb_decap's are never stacked. */
__noinline int lb_balance_run(struct xdp_md *ctx, const struct pkt *p, struct lb_fwd *fwd)
{
	if (!p || !fwd)
		return EDGE_CONTINUE;
	return lb_balance(ctx, p, fwd);
}

/* Whether any VIP is installed. Without one there is nothing to balance, and skipping the
 * call to lb_balance_run saves the stage's whole cost (bench_edge, stages on: 82 -> 66 ns). */
static __always_inline bool lb_has_vips(const struct lb_settings *s)
{
	__u32 zero = 0;

	return s->prefixes_v4 || s->prefixes_v6 || bpf_map_lookup_elem(&lb_vips, &zero);
}

static __always_inline int lb_stage_run(struct xdp_md *ctx, struct pkt *p)
{
	struct lb_fwd fwd = {};
	struct lb_settings *s;
	__u32 zero = 0;
	int v;

	if (p->l3_off != ETH_HLEN) {
		/* VLAN-tagged: the FIB gives no tag for the way back out. Left to the stack. */
		lb_count(LB_G_UNSUPPORTED);
		return EDGE_CONTINUE;
	}
	s = bpf_map_lookup_elem(&lb_settings, &zero);
	if (!s)
		return EDGE_CONTINUE;
	if (lb_tunnel_to_us(p, s))
		v = lb_decap(ctx, p, &fwd);
	else if (lb_has_vips(s))
		v = lb_balance_run(ctx, p, &fwd);
	else
		v = EDGE_CONTINUE;
	if (v == LB_DO_FORWARD)
		v = lb_forward(ctx, &fwd);
	return v;
}

/* C, opaque to clang: it cannot merge the switch below back into `return v`, so that each
 * path reaches the caller's counter indexing with a constant the verifier knows. */
static __always_inline int lb_verdict(int c)
{
	barrier_var(c);
	return c;
}

static __always_inline int lb_stage(struct xdp_md *ctx, struct pkt *p)
{
	int v = lb_stage_run(ctx, p);

	/* A global function's result is any int to the verifier: hand the caller constants. */
	switch (v) {
	case EDGE_VERDICT_PASS:
		p->rule_id = LB_RULE_ID;
		return lb_verdict(EDGE_VERDICT_PASS);
	case EDGE_VERDICT_DROP:
		p->rule_id = LB_RULE_ID;
		return lb_verdict(EDGE_VERDICT_DROP);
	case EDGE_VERDICT_TX:
		p->rule_id = LB_RULE_ID;
		return lb_verdict(EDGE_VERDICT_TX);
	case EDGE_VERDICT_REDIRECT:
		p->rule_id = LB_RULE_ID;
		return lb_verdict(EDGE_VERDICT_REDIRECT);
	default:
		return EDGE_CONTINUE;
	}
}

#endif
