/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The IP-sharing stage of the XDP edge program (bpf/eshare.h has the data and the
 * rules; edged/egress_share.c fills the maps).
 *
 *   IPIP / GUE to egress.self ----> eshare_decap: inner for a shared address?
 *       no ----------------------------> continue (the load balancer's tunnel)
 *       sender not a member -----------> drop
 *       bad inner packet --------------> drop
 *       else --------------------------> strip, pass (conntrack de-NATs it)
 *   IPv4 to a shared address ------> eshare_steer: the port's member
 *       this edge, outside the range --> pass
 *       another member ----------------> eshare_forward: IPIP or GUE, fib lookup, TX
 *   anything else -----------------> continue
 *
 * The encapsulation is the load balancer's (lb_push_v4, lb_nexthop_refresh): same headers,
 * same RSS-friendly GUE source port, same per-CPU next-hop cache, so one decapsulation
 * format serves both. Its maps and settings are this stage's own, so sharing works with
 * the load balancer off.
 */
#ifndef EDGED_BPF_EGRESS_SHARE_BPF_H
#define EDGED_BPF_EGRESS_SHARE_BPF_H

#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "lb.bpf.h"
#include "eshare.h"

/* ---- maps ---------------------------------------------------------------------------- */

struct eshare_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ESHARE_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct eshare_slot));
};

/* Shared addresses in slot 0: address -> range, members, slices, in the slots of an
 * open-addressed array (bpf/eshare.h). edged builds a new table aside and swaps it in whole,
 * so a packet never sees half a reload. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct eshare_table);
} eshare_addrs SEC(".maps");

/* This edge's fleet address, the encapsulation and the GUE port. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eshare_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eshare_settings SEC(".maps");

/* Next hops of the members, per CPU, by address index * ESHARE_MAX_MEMBERS + member; an
 * entry's gen is the member's address, so a reload that moves a slot starts it over.
 * Written by this program only. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ESHARE_MAX_ADDRS *ESHARE_MAX_MEMBERS);
	__type(key, __u32);
	__type(value, struct lb_nexthop);
} eshare_nexthops SEC(".maps");

/* Owners of fragment trains by their first fragment, for the later ones (no ports). Written
 * by this program only. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ESHARE_MAX_FRAGS);
	__type(key, struct eshare_frag_key);
	__type(value, struct eshare_frag_owner);
} eshare_frags SEC(".maps");

/* Counters by address index, and global ones. Written by this program; edged zeroes an
 * index when it gives it to another address. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ESHARE_MAX_ADDRS);
	__type(key, __u32);
	__type(value, struct eshare_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eshare_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eshare_global_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eshare_global SEC(".maps");

/* ---- counters ------------------------------------------------------------------------ */

/* Per-CPU values: this CPU is their only writer, no atomics needed. */
static __always_inline void eshare_count(__u32 index, int c, __u64 n)
{
	struct eshare_counters *v = bpf_map_lookup_elem(&eshare_stats, &index);

	if (v && c >= 0 && c < ESHARE_NCOUNTERS)
		v->c[c] += n;
}

static __always_inline void eshare_count_global(int c)
{
	__u32 zero = 0;
	struct eshare_global_counters *v = bpf_map_lookup_elem(&eshare_global, &zero);

	if (v && c >= 0 && c < ESHARE_G_NCOUNTERS)
		v->c[c]++;
}

/* Two counters in one lookup: packets and their bytes. */
static __always_inline void eshare_count2(__u32 index, int c, int c_bytes, __u64 bytes)
{
	struct eshare_counters *v = bpf_map_lookup_elem(&eshare_stats, &index);

	if (v && c >= 0 && c < ESHARE_NCOUNTERS && c_bytes >= 0 && c_bytes < ESHARE_NCOUNTERS) {
		v->c[c]++;
		v->c[c_bytes] += bytes;
	}
}

/* Linear probing from the address's slot to the first empty one. */
static __always_inline struct eshare_addr *eshare_addr_of(__be32 addr)
{
	__u32 zero = 0, slot = eshare_slot_of(addr);
	void *tbl = bpf_map_lookup_elem(&eshare_addrs, &zero);

	if (!tbl)
		return NULL;
#pragma unroll
	for (int i = 0; i < ESHARE_PROBES; i++) {
		__u32 idx = (slot + i) & (ESHARE_SLOTS - 1);
		struct eshare_slot *e = bpf_map_lookup_elem(tbl, &idx);

		if (!e || !e->addr)
			return NULL;
		if (e->addr == addr)
			return &e->a;
	}
	return NULL;
}

/* ---- forwarding ---------------------------------------------------------------------- */

/* What eshare_forward needs; filled by eshare_steer in the stage's frame. */
struct eshare_fwd {
	__u32 index;  /* the address's counters slot */
	__u32 member; /* the owner's member index */
	__be32 owner; /* its fleet address */
	__u32 hash;   /* GUE source port and next-hop choice: the reply's flow */
	__u32 inner_len;
	__u32 trim; /* Ethernet padding after the IP packet: not carried */
	__u32 bytes;
};

#define ESHARE_DO_FORWARD 101 /* not a verdict: eshare_forward(fwd) decides */

/* Sends the packet to FWD->owner, as lb_forward sends to a server. */
__noinline int eshare_forward(struct xdp_md *ctx, const struct eshare_fwd *fwd)
{
	struct lb_server srv = {.family = 4};
	struct eshare_settings *s;
	struct lb_nexthop *nh;
	struct lb_outer o;
	__u32 zero = 0, key, hlen;
	__u64 now;
	bool gue;

	if (!fwd || fwd->index >= ESHARE_MAX_ADDRS || fwd->member >= ESHARE_MAX_MEMBERS)
		return EDGE_VERDICT_PASS;
	s = bpf_map_lookup_elem(&eshare_settings, &zero);
	key = fwd->index * ESHARE_MAX_MEMBERS + fwd->member;
	nh = bpf_map_lookup_elem(&eshare_nexthops, &key);
	if (!s || !nh)
		return EDGE_VERDICT_PASS;
	__builtin_memcpy(srv.addr, &fwd->owner, 4);
	srv.gen = fwd->owner;
	gue = s->encap == LB_ENCAP_GUE;
	if (!s->lb.has_src_v4 || (gue && !s->lb.gue_port)) {
		eshare_count(fwd->index, ESHARE_NO_ROUTE, 1); /* edged refuses such a config */
		return EDGE_VERDICT_DROP;
	}
	hlen = lb_outer_len(false, gue, false);
	o.s = &s->lb;
	o.srv = &srv;
	o.nh = nh;
	o.hash = fwd->hash;
	o.inner_len = fwd->inner_len;
	o.inner_v6 = 0;
	o.tos = lb_inner_tos(ctx);
	now = bpf_jiffies64();
	if ((!nh->valid || nh->gen != srv.gen || now >= nh->expires) &&
	    lb_nexthop_refresh(ctx, nh, &s->lb, &srv, o.tos, now) != BPF_FIB_LKUP_RET_SUCCESS) {
		/* Passing it up instead would lose it just the same: no conntrack entry here. */
		eshare_count(fwd->index, ESHARE_NO_ROUTE, 1);
		return EDGE_VERDICT_DROP;
	}
	if (hlen + o.inner_len > nh->mtu) {
		eshare_count(fwd->index, ESHARE_TOO_BIG, 1);
		return EDGE_VERDICT_DROP; /* with the tunnel headers it exceeds the egress MTU */
	}
	if (fwd->trim && bpf_xdp_adjust_tail(ctx, -(int)fwd->trim))
		return EDGE_VERDICT_DROP; /* cannot happen: shrinking within the frame */
	if (bpf_xdp_adjust_head(ctx, -(int)hlen))
		return EDGE_VERDICT_DROP; /* no headroom: drivers give XDP 256 bytes */
	if (gue ? lb_push_v4(ctx, &o, true, false) : lb_push_v4(ctx, &o, false, false))
		return EDGE_VERDICT_DROP;
	eshare_count2(fwd->index, ESHARE_FORWARDED, ESHARE_FORWARDED_BYTES, fwd->bytes);
	if (nh->ifindex == ctx->ingress_ifindex)
		return EDGE_VERDICT_TX;
	return bpf_redirect(nh->ifindex, 0) == XDP_REDIRECT ? EDGE_VERDICT_REDIRECT
	                                                    : EDGE_VERDICT_DROP;
}

/* ---- steering ------------------------------------------------------------------------ */

/* The flow hash for the GUE source port: lb_flow_hash's words, over the reply as received. */
static __always_inline __u32 eshare_hash(const struct pkt *p, __u16 remote_port, __u16 port)
{
	__u32 h = LB_HASH_SEED;

	h = lb_hash_word(h, bpf_ntohl(p->saddr.v4));
	h = lb_hash_word(h, bpf_ntohl(p->daddr.v4));
	h = lb_hash_word(h, (__u32)remote_port << 16 | port);
	h = lb_hash_word(h, p->l4_proto);
	return lb_hash_final(h, 4);
}

/* The first fragment's owner, remembered for the rest of the train. */
static __always_inline void eshare_frag_key(struct xdp_md *ctx, const struct pkt *p,
                                            struct eshare_frag_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr = p->saddr.v4;
	k->daddr = p->daddr.v4;
	k->proto = p->l4_proto;
	if (bpf_xdp_load_bytes(ctx, p->l3_off + 4, &k->id, sizeof(k->id)))
		k->id = 0;
}

/* An error (unreachable, time exceeded) quoting an echo request the shared address sent, as
 * ICMP traceroutes get: the quoted identifier. */
static __always_inline int eshare_port_quoted_echo(struct xdp_md *ctx, const struct pkt *p,
                                                   __u16 *port, __u16 *remote)
{
	__u32 off = (__u32)p->l4_off + 8; /* the quoted IP header */
	struct iphdr ih;
	__u8 icmp[2];
	__be16 id;

	if (bpf_xdp_load_bytes(ctx, p->l4_off, icmp, sizeof(icmp)) ||
	    (icmp[0] != 3 && icmp[0] != 11))
		return -1;
	if (off + sizeof(ih) > p->l3_end || bpf_xdp_load_bytes(ctx, off, &ih, sizeof(ih)))
		return -1;
	if (ih.version != 4 || ih.ihl < 5 || ih.protocol != IPPROTO_ICMP ||
	    ih.saddr != p->daddr.v4 || (ih.frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return -1;
	off += ih.ihl * 4;
	if (off + 8 > p->l3_end || bpf_xdp_load_bytes(ctx, off, icmp, sizeof(icmp)) ||
	    icmp[0] != 8 || bpf_xdp_load_bytes(ctx, off + 4, &id, sizeof(id)))
		return -1;
	*port = bpf_ntohs(id);
	*remote = 0;
	return 0;
}

/*
 * The port of the packet on the shared address (bpf/eshare.h), and the remote port
 * for the hash: 0, or -1 when the packet has none we can know.
 */
static __always_inline int eshare_port(struct xdp_md *ctx, const struct pkt *p, __u16 *port,
                                       __u16 *remote)
{
	struct lb_flow f;
	__u8 icmp[2];
	__be16 id;

	if (p->l4_proto == IPPROTO_TCP || p->l4_proto == IPPROTO_UDP) {
		/* A first fragment carries the header (parse_l4 checked it is in reach). */
		*port = bpf_ntohs(p->dport);
		*remote = bpf_ntohs(p->sport);
		return 0;
	}
	if (p->l4_proto != IPPROTO_ICMP || p->frag)
		return -1;
	if (bpf_xdp_load_bytes(ctx, p->l4_off, icmp, sizeof(icmp)))
		return -1;
	if (icmp[0] == 0 && icmp[1] == 0) { /* echo reply: conntrack SNATs the identifier */
		if (p->l4_off + 8 > p->l3_end ||
		    bpf_xdp_load_bytes(ctx, p->l4_off + 4, &id, sizeof(id)))
			return -1;
		*port = bpf_ntohs(id);
		*remote = 0;
		return 0;
	}
	/* An error quoting what the shared address sent: lb_flow_icmp turns the quoted flow
	 * around, so its dport is the quoted source port, ours. A quoted fragment: no port. */
	if (lb_flow_of(ctx, p, &f)) {
		if (f.frag || f.daddr[0] != p->daddr.v4)
			return -1;
		*port = f.dport;
		*remote = f.sport;
		return 0;
	}
	return eshare_port_quoted_echo(ctx, p, port, remote);
}

static __always_inline int eshare_local(const struct eshare_addr *a, const struct pkt *p, int c)
{
	if (c == ESHARE_LOCAL)
		eshare_count2(a->index, ESHARE_LOCAL, ESHARE_LOCAL_BYTES, p->len);
	else
		eshare_count(a->index, c, 1);
	return EDGE_VERDICT_PASS;
}

/* a->member[I] for a member index that the caller checked is below n: masked again, since
 * clang 14 may drop the checked bound on the way to the load (shared/platform.md). */
static __always_inline __be32 eshare_member_addr(const struct eshare_addr *a, __u32 i)
{
	barrier_var(i);
	return a->member[i & (ESHARE_MAX_MEMBERS - 1)];
}

static __always_inline int eshare_fwd_set(struct eshare_fwd *fwd, const struct eshare_addr *a,
                                          const struct pkt *p, __u32 member, __u32 hash)
{
	if (member >= ESHARE_MAX_MEMBERS)
		return EDGE_VERDICT_PASS;
	fwd->index = a->index;
	fwd->member = member;
	fwd->owner = eshare_member_addr(a, member);
	fwd->hash = hash;
	fwd->inner_len = p->l3_end - p->l3_off;
	fwd->trim = p->len > p->l3_end ? p->len - p->l3_end : 0;
	fwd->bytes = p->len;
	return ESHARE_DO_FORWARD;
}

/* A later fragment: to whoever got the first one, if this edge saw it. */
static __always_inline int eshare_steer_later(struct xdp_md *ctx, const struct pkt *p,
                                              const struct eshare_addr *a, struct eshare_fwd *fwd)
{
	struct eshare_frag_owner *o;
	struct eshare_frag_key k;

	eshare_frag_key(ctx, p, &k);
	o = bpf_map_lookup_elem(&eshare_frags, &k);
	/* Not seen (it overtook its first fragment, or the first went to another edge): pass;
	 * if this edge does not own the flow, the datagram is lost, as it would be without
	 * sharing when fragments take different paths. */
	if (!o)
		return eshare_local(a, p, ESHARE_NO_PORT);
	if (o->member == a->self || o->member >= a->n || o->member >= ESHARE_MAX_MEMBERS ||
	    eshare_member_addr(a, o->member) != o->addr) /* a reload moved the slice: ours now */
		return eshare_local(a, p, ESHARE_LOCAL);
	return eshare_fwd_set(fwd, a, p, o->member, eshare_hash(p, 0, 0));
}

/* A packet to a shared address: pass it here or set FWD for its owner. */
__noinline int eshare_steer(struct xdp_md *ctx, const struct pkt *p, struct eshare_fwd *fwd)
{
	struct eshare_frag_owner owner = {};
	struct eshare_frag_key k;
	struct eshare_addr *a;
	__u16 port, remote;
	int m;

	if (!p || !fwd)
		return EDGE_CONTINUE;
	a = eshare_addr_of(p->daddr.v4);
	if (!a)
		return EDGE_CONTINUE;
	if (p->frag_later)
		return eshare_steer_later(ctx, p, a, fwd);
	if (eshare_port(ctx, p, &port, &remote))
		return eshare_local(a, p, ESHARE_NO_PORT);
	m = eshare_member_of(a, port);
	if (p->frag && m >= 0) { /* a first fragment: the train follows it */
		eshare_frag_key(ctx, p, &k);
		owner.member = m;
		owner.addr = eshare_member_addr(a, m);
		bpf_map_update_elem(&eshare_frags, &k, &owner, BPF_ANY);
	}
	if (m < 0 || m == a->self)
		return eshare_local(a, p, ESHARE_LOCAL);
	return eshare_fwd_set(fwd, a, p, m, eshare_hash(p, remote, port));
}

/* ---- decapsulation ------------------------------------------------------------------- */

static __always_inline bool eshare_member(const struct eshare_addr *a, __be32 addr)
{
#pragma unroll
	for (int i = 0; i < ESHARE_MAX_MEMBERS; i++)
		if (i < a->n && a->member[i] == addr)
			return true;
	return false;
}

/* IPIP or GUE to egress.self, not fragmented (we cannot reassemble). */
static __always_inline bool eshare_tunnel_to_us(const struct pkt *p,
                                                const struct eshare_settings *s)
{
	if (!s->lb.has_src_v4 || p->frag || !lb_addr_eq(&p->daddr.v4, s->lb.src_v4, 1))
		return false;
	if (p->l4_proto == IPPROTO_IPIP)
		return true;
	return p->l4_proto == IPPROTO_UDP && s->lb.gue_port && p->dport == s->lb.gue_port;
}

/* A tunnel to us: a share member's steered reply -> strip and pass; anything else is the
 * load balancer's (continue). */
__noinline int eshare_decap(struct xdp_md *ctx, const struct pkt *p)
{
	struct pkt in = {.rule_id = EDGE_RULE_NONE};
	struct lb_tunnel t = {};
	struct eshare_addr *a;
	struct iphdr ih;
	__u32 index;

	if (!p)
		return EDGE_CONTINUE;
	if (lb_tunnel_parse(ctx, p, &t) || t.proto != ETH_P_IP ||
	    bpf_xdp_load_bytes(ctx, ETH_HLEN + t.strip, &ih, sizeof(ih)))
		return EDGE_CONTINUE;
	a = eshare_addr_of(ih.daddr);
	if (!a)
		return EDGE_CONTINUE;
	if (!eshare_member(a, p->saddr.v4)) {
		eshare_count_global(ESHARE_G_UNTRUSTED);
		return EDGE_VERDICT_DROP; /* a tunnel from outside would skip the DoS checks */
	}
	index = a->index;
	if (lb_strip(ctx, &t) ||
	    parse_packet(&in, (void *)(long)ctx->data, (void *)(long)ctx->data_end,
	                 bpf_xdp_get_buff_len(ctx)) != PARSE_OK ||
	    in.l3_end > p->l3_end - t.strip) {
		eshare_count_global(ESHARE_G_MALFORMED);
		return EDGE_VERDICT_DROP; /* the inner packet is malformed or overruns the outer */
	}
	eshare_count2(index, ESHARE_RECEIVED, ESHARE_RECEIVED_BYTES, p->len);
	return EDGE_VERDICT_PASS;
}

/* ---- the stage ----------------------------------------------------------------------- */

static __always_inline int eshare_stage_run(struct xdp_md *ctx, struct pkt *p)
{
	struct eshare_fwd fwd = {};
	struct eshare_settings *s;
	__u32 zero = 0;
	int v;

	/* IPv4 only (sharing saves IPv4 addresses); VLAN-tagged: no tag for the way back out. */
	if (p->l3_proto != ETH_P_IP || p->l3_off != ETH_HLEN)
		return EDGE_CONTINUE;
	s = bpf_map_lookup_elem(&eshare_settings, &zero);
	if (!s)
		return EDGE_CONTINUE;
	if (eshare_tunnel_to_us(p, s))
		return eshare_decap(ctx, p);
	/* The lookup inline first: most packets are for no shared address, and they should
	 * not pay for the call (eshare_steer looks again: 6.1 passes no map value to it). */
	if (!eshare_addr_of(p->daddr.v4))
		return EDGE_CONTINUE;
	v = eshare_steer(ctx, p, &fwd);
	if (v == ESHARE_DO_FORWARD)
		v = eshare_forward(ctx, &fwd);
	return v;
}

static __always_inline int eshare_stage(struct xdp_md *ctx, struct pkt *p)
{
	int v = eshare_stage_run(ctx, p);

	/* A global function's result is any int to the verifier: hand the caller constants. */
	switch (v) {
	case EDGE_VERDICT_PASS:
		p->rule_id = ESHARE_RULE_ID;
		return lb_verdict(EDGE_VERDICT_PASS);
	case EDGE_VERDICT_DROP:
		p->rule_id = ESHARE_RULE_ID;
		return lb_verdict(EDGE_VERDICT_DROP);
	case EDGE_VERDICT_TX:
		p->rule_id = ESHARE_RULE_ID;
		return lb_verdict(EDGE_VERDICT_TX);
	case EDGE_VERDICT_REDIRECT:
		p->rule_id = ESHARE_RULE_ID;
		return lb_verdict(EDGE_VERDICT_REDIRECT);
	default:
		return EDGE_CONTINUE;
	}
}

#endif
