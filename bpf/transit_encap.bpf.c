// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * GRE encapsulation toward customer sites (issue 8): a TC program on the ingress of edged's
 * side of every customer veth, i.e. on whatever the customer's namespace sends back to edged.
 *
 *   destination not in the customer's prefixes (decapsulated site traffic to the internet,
 *     ARP, neighbour discovery) -> TC_ACT_OK: the stack routes it
 *   destination in them (internet traffic that passed the customer's firewall):
 *     TCP SYN -> MSS lowered to the tunnel's MTU minus IP and TCP headers
 *     larger than the tunnel's MTU (and not GSO) -> ICMP fragmentation needed / packet too
 *       big back to the sender, so that nobody meets a silent black hole
 *     else -> GRE (outer IPv4: source the endpoint, destination the router of a healthy
 *       tunnel chosen by flow hash, DF, TTL 64, DSCP and ECN copied from the inner header,
 *       id 0; or outer IPv6 for a tunnel whose addresses are IPv6: hop limit 64, traffic
 *       class copied, flow label 0; GRE with the key when the tunnel has one, no checksum),
 *       then the FIB picks the uplink and bpf_redirect_neigh sends it there.
 *
 * Outer DF is always set: fragments of GRE would have to be reassembled by the customer's
 * router, and a path MTU problem between us and the site should show as ICMP, not as slow
 * reassembly. For the same reason an oversized IPv4 packet without DF gets fragmentation-
 * needed too rather than fragments (BPF cannot split a packet); senders lower their path MTU
 * on it either way. GSO packets are not checked: bpf_skb_adjust_room lowers their segment
 * size by the encapsulation, so each segment keeps the size it had.
 */
#include "defs.h"
#include "edge.h"
#include "transit_gre.h"
#include "transit_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_REDIRECT   7
#define AF_INET           2
#define AF_INET6          10
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED  4
#define ICMPV6_PKT_TOOBIG 2
#define IP_DF             0x4000

/* The ICMP under construction: its header and the quote, checksummed in one piece. A map
 * value, not the stack: 264 bytes would not fit beside the FIB parameters. */
struct transit_icmp_buf {
	__u8 b[8 + TRANSIT_ICMP_QUOTE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct transit_icmp_buf);
} transit_icmp_scratch SEC(".maps");

/* What the program needs of the packet the namespace sent. */
struct transit_inner {
	int family; /* 4 or 6 */
	__u32 len;  /* IP packet length (skb->len - ETH_HLEN) */
	__u8 l4_proto;
	__u8 tcp_flags;
	__u8 tos; /* v4 tos / v6 traffic class */
	__u8 df;
	__u32 l4_off; /* from the start of the frame */
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline int inner_read(struct __sk_buff *skb, struct transit_inner *in)
{
	__u8 h[40];

	in->len = skb->len - ETH_HLEN;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, h, 20) || (h[0] >> 4) != 4 || (h[0] & 15) < 5)
			return -1;
		in->family = 4;
		in->tos = h[1];
		in->df = (h[6] & 0x40) != 0;
		in->l4_proto = h[9];
		in->l4_off = ETH_HLEN + (h[0] & 15) * 4;
		__builtin_memcpy(in->saddr, &h[12], 4);
		__builtin_memcpy(in->daddr, &h[16], 4);
		/* Only a first fragment carries the TCP header. */
		if ((h[6] & 0x1f) || h[7])
			in->l4_proto = 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, h, 40) || (h[0] >> 4) != 6)
			return -1;
		in->family = 6;
		in->tos = (h[0] << 4) | (h[1] >> 4);
		in->df = 1;          /* IPv6 is never fragmented on the way */
		in->l4_proto = h[6]; /* extension headers: not TCP to us, never clamped */
		in->l4_off = ETH_HLEN + 40;
		__builtin_memcpy(in->saddr, &h[8], 16);
		__builtin_memcpy(in->daddr, &h[24], 16);
	} else {
		return 1; /* not IP: ARP, ... */
	}
	if (in->l4_proto == IPPROTO_TCP &&
	    bpf_skb_load_bytes(skb, in->l4_off + 13, &in->tcp_flags, 1))
		return -1;
	return 0;
}

/* The tunnel for this flow: by flow hash among the customer's tunnels that are up, or
 * among all of them when none is. TRANSIT_DP_MAX_TUNNELS when the customer has none. Out of
 * line, with one pass: unrolled twice inline, its branches multiplied the verifier's work
 * past its limit. */
__noinline __u32 tunnel_pick(struct __sk_buff *skb, const struct transit_customer *c)
{
	__u32 up_ids[TRANSIT_DP_CUSTOMER_TUNNELS] = {}, all_ids[TRANSIT_DP_CUSTOMER_TUNNELS] = {};
	__u32 n, up = 0, hash, pick;

	if (!skb || !c)
		return TRANSIT_DP_MAX_TUNNELS;
	n = c->n_tunnels;
	if (n == 0 || n > TRANSIT_DP_CUSTOMER_TUNNELS)
		return TRANSIT_DP_MAX_TUNNELS;
	hash = bpf_get_hash_recalc(skb);
	for (int i = 0; i < TRANSIT_DP_CUSTOMER_TUNNELS; i++) {
		__u32 id, *h;

		if (i >= n)
			break;
		id = c->tunnels[i];
		all_ids[i] = id;
		h = bpf_map_lookup_elem(&transit_health, &id);
		if (h && *h)
			up_ids[up++ & (TRANSIT_DP_CUSTOMER_TUNNELS - 1)] = id;
	}
	if (!up) {
		transit_count(TRANSIT_G_ENCAP_ALL_DOWN);
		pick = hash % n;
		return all_ids[pick & (TRANSIT_DP_CUSTOMER_TUNNELS - 1)];
	}
	pick = hash % up;
	return up_ids[pick & (TRANSIT_DP_CUSTOMER_TUNNELS - 1)];
}

/* Lowers a SYN's MSS to fit the tunnel, so that the site sends segments that still fit
 * once its router wraps them in GRE toward us. */
__noinline int clamp_mss(struct __sk_buff *skb, const struct transit_inner *in, __u32 mtu)
{
	struct transit_mss_walk w = {};
	__u32 diff, win_off, win_len;
	__u16 limit;
	__u64 hl;

	if (!skb || !in || in->l4_proto != IPPROTO_TCP || !(in->tcp_flags & TCP_FLAG_SYN))
		return false;
	limit = mtu - (in->family == 4 ? 40 : 60);
	if (bpf_skb_load_bytes(skb, in->l4_off, w.th, TRANSIT_TCP_HLEN))
		return false;
	hl = (__u64)(w.th[12] >> 4) * 4;
	barrier_var(hl);
	if (hl <= TRANSIT_TCP_HLEN + 3 || hl > TRANSIT_TCP_MAXLEN)
		return false;
	if (bpf_skb_load_bytes(skb, in->l4_off + TRANSIT_TCP_HLEN, w.th + TRANSIT_TCP_HLEN,
	                       hl - TRANSIT_TCP_HLEN))
		return false;
	w.end = hl;
	transit_mss_find(&w);
	diff = transit_mss_lower(&w, limit, &win_off, &win_len);
	if (!win_len || win_off > TRANSIT_TCP_MAXLEN - 8)
		return false;
	if (bpf_skb_store_bytes(skb, in->l4_off + win_off, &w.th[win_off & 63],
	                        win_len == 8 ? 8 : 4, BPF_F_RECOMPUTE_CSUM))
		return false;
	/* A diff, not from/to: the kernel leaves a CHECKSUM_PARTIAL field alone (the device
	 * sums the bytes later) and updates a complete one. */
	return bpf_l4_csum_replace(skb, in->l4_off + 16, 0, diff, 0) == 0;
}

static __always_inline void count_out(__u32 tunnel, __u32 customer, __u32 len)
{
	struct transit_stat_pair st = transit_stats_of(tunnel, customer);

	if (st.tun) {
		st.tun->out_packets++;
		st.tun->out_bytes += len;
	}
	if (st.cust) {
		st.cust->out_packets++;
		st.cust->out_bytes += len;
	}
}

/* FIB lookup of DST (4 or 16 bytes by FAMILY) from this veth: the egress device and next
 * hop, for bpf_redirect_neigh. TOT_LEN (0: unchecked) is checked against the route's MTU.
 * Returns the BPF_FIB_LKUP_RET_* result. */
static __always_inline int fib_out(struct __sk_buff *skb, int family, const __u8 *src,
                                   const __u8 *dst, __u16 tot_len, struct bpf_fib_lookup *fib)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->ifindex = skb->ifindex;
	fib->tot_len = tot_len;
	if (family == 4) {
		fib->family = AF_INET;
		__builtin_memcpy(&fib->ipv4_src, src, 4);
		__builtin_memcpy(&fib->ipv4_dst, dst, 4);
	} else {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, src, 16);
		__builtin_memcpy(fib->ipv6_dst, dst, 16);
	}
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/* Sends the rewritten packet to the next hop the FIB found (the neighbour subsystem fills in
 * the Ethernet addresses, resolving them first if needed). */
static __always_inline int send_fib(const struct bpf_fib_lookup *fib, int family)
{
	struct bpf_redir_neigh nh = {};

	if (family == 4) {
		nh.nh_family = AF_INET;
		nh.ipv4_nh = fib->ipv4_dst;
	} else {
		nh.nh_family = AF_INET6;
		__builtin_memcpy(nh.ipv6_nh, fib->ipv6_dst, 16);
	}
	return bpf_redirect_neigh(fib->ifindex, &nh, sizeof(nh), 0);
}

static __always_inline bool fib_usable(int rc)
{
	return rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH;
}

/* ---- ICMP too big ---------------------------------------------------------------------- */

/*
 * Turns the packet into an ICMP fragmentation-needed (IPv4) or packet-too-big (IPv6) for its
 * sender, quoting its first bytes, and sends it. MTU: the largest inner packet that fits.
 */
__noinline int icmp_too_big(struct __sk_buff *skb, const struct transit_inner *in, __u32 mtu)
{
	struct transit_settings *s;
	struct transit_icmp_buf *buf;
	struct bpf_fib_lookup fib;
	__u32 zero = 0, quote, hl, sum;
	__u8 src[16] = {}, h[40] = {};
	__u16 csum;
	int rc;

	if (!skb || !in)
		return TC_ACT_SHOT;
	buf = bpf_map_lookup_elem(&transit_icmp_scratch, &zero);
	s = bpf_map_lookup_elem(&transit_settings, &zero);
	if (!buf || !s)
		return TC_ACT_SHOT;
	/* A multiple of 4, for bpf_csum_diff; an IP packet is at least 20 bytes. */
	quote = in->len > TRANSIT_ICMP_QUOTE ? TRANSIT_ICMP_QUOTE : in->len & ~3u;
	if (quote < 20)
		return TC_ACT_SHOT;
	/* The same value, in a form whose bounds [1, 256] the verifier sees without a compare
	 * that clang could move onto a copy. */
	quote = ((quote - 1) & (TRANSIT_ICMP_QUOTE - 1)) + 1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, buf->b + 8, quote))
		return TC_ACT_SHOT;

	/* The sender's address becomes the destination; ours (an endpoint's), or the address it
	 * wanted to reach when we have none of the family, the source. */
	if (in->family == 4) {
		if (s->has_v4)
			__builtin_memcpy(src, s->icmp_src_v4, 4);
		else
			__builtin_memcpy(src, in->daddr, 4);
		buf->b[0] = ICMP_DEST_UNREACH;
		buf->b[1] = ICMP_FRAG_NEEDED;
		*(__be16 *)&buf->b[4] = 0;
		*(__be16 *)&buf->b[6] = bpf_htons(mtu);
		hl = 20;
	} else {
		if (s->has_v6)
			__builtin_memcpy(src, s->icmp_src_v6, 16);
		else
			__builtin_memcpy(src, in->daddr, 16);
		buf->b[0] = ICMPV6_PKT_TOOBIG;
		buf->b[1] = 0;
		*(__be32 *)&buf->b[4] = bpf_htonl(mtu);
		hl = 40;
	}
	buf->b[2] = 0;
	buf->b[3] = 0;
	sum = bpf_csum_diff(NULL, 0, (void *)buf->b, 8 + quote, 0);

	/* The new IP header: v4 header checksum over itself; v6's ICMP checksum covers a
	 * pseudo-header of the addresses, length and next header. */
	if (in->family == 4) {
		h[0] = 0x45;
		*(__be16 *)&h[2] = bpf_htons(hl + 8 + quote);
		h[8] = TRANSIT_OUTER_TTL;
		h[9] = IPPROTO_ICMP;
		__builtin_memcpy(&h[12], src, 4);
		__builtin_memcpy(&h[16], in->saddr, 4);
		*(__u16 *)&h[10] = transit_csum_fold(bpf_csum_diff(NULL, 0, (void *)h, 20, 0));
		csum = transit_csum_fold(sum);
	} else {
		__be32 ph[10] = {};

		__builtin_memcpy(ph, src, 16);
		__builtin_memcpy(&ph[4], in->saddr, 16);
		ph[8] = bpf_htonl(8 + quote);
		ph[9] = bpf_htonl(IPPROTO_ICMPV6);
		csum = transit_csum_fold(bpf_csum_diff(NULL, 0, ph, sizeof(ph), sum));
		h[0] = 0x60;
		*(__be16 *)&h[4] = bpf_htons(8 + quote);
		h[6] = IPPROTO_ICMPV6;
		h[7] = TRANSIT_OUTER_TTL;
		__builtin_memcpy(&h[8], src, 16);
		__builtin_memcpy(&h[24], in->saddr, 16);
	}
	__builtin_memcpy(&buf->b[2], &csum, 2);

	/* Rebuild the frame: Ethernet, the new IP header, ICMP header and quote. */
	if (bpf_skb_change_tail(skb, ETH_HLEN + quote, 0) ||
	    bpf_skb_adjust_room(skb, hl + 8, BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	if (hl == 20) {
		if (bpf_skb_store_bytes(skb, ETH_HLEN, h, 20, 0))
			return TC_ACT_SHOT;
	} else if (bpf_skb_store_bytes(skb, ETH_HLEN, h, 40, 0)) {
		return TC_ACT_SHOT;
	}
	if (bpf_skb_store_bytes(skb, ETH_HLEN + hl, buf->b, 8, 0))
		return TC_ACT_SHOT;
	rc = fib_out(skb, in->family, src, in->saddr, 0, &fib);
	if (!fib_usable(rc))
		return TC_ACT_SHOT;
	return send_fib(&fib, in->family);
}

/* ---- encapsulation ------------------------------------------------------------------- */

struct gre_outer {
	__u8 ip[20];
	__be16 flags;
	__be16 proto;
	__be32 key;
};

/* Wraps the packet in outer IPv4 + GRE for tunnel T. Returns 0 or -1. */
static __always_inline int encap_v4(struct __sk_buff *skb, const struct transit_inner *in,
                                    const struct transit_tunnel *t)
{
	__u32 hlen = t->flags & TRANSIT_TUNNEL_F_KEY ? 28 : 24;
	__u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE;
	struct gre_outer o = {};
	__be16 eth_proto = bpf_htons(ETH_P_IP);

	o.ip[0] = 0x45;
	o.ip[1] = in->tos; /* RFC 6040 normal mode: DSCP and ECN as the inner packet's */
	*(__be16 *)&o.ip[2] = bpf_htons(in->len + hlen);
	*(__be16 *)&o.ip[6] = bpf_htons(IP_DF);
	o.ip[8] = TRANSIT_OUTER_TTL;
	o.ip[9] = IPPROTO_GRE;
	__builtin_memcpy(&o.ip[12], t->local, 4);
	__builtin_memcpy(&o.ip[16], t->remote, 4);
	*(__u16 *)&o.ip[10] = transit_csum_fold(bpf_csum_diff(NULL, 0, (void *)o.ip, 20, 0));
	o.flags = t->flags & TRANSIT_TUNNEL_F_KEY ? bpf_htons(GRE_F_KEY) : 0;
	o.proto = in->family == 4 ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6);
	o.key = t->key;

	if (bpf_skb_adjust_room(skb, hlen, BPF_ADJ_ROOM_MAC, flags))
		return -1;
	if (hlen == 28) {
		if (bpf_skb_store_bytes(skb, ETH_HLEN, &o, 28, 0))
			return -1;
	} else if (bpf_skb_store_bytes(skb, ETH_HLEN, &o, 24, 0)) {
		return -1;
	}
	return bpf_skb_store_bytes(skb, 12, &eth_proto, 2, 0) ? -1 : 0;
}

struct gre_outer6 {
	__u8 ip[40];
	__be16 flags;
	__be16 proto;
	__be32 key;
};

/* Wraps the packet in outer IPv6 + GRE for tunnel T (IPv6 never fragments in the network:
 * no DF to set). Returns 0 or -1. */
static __always_inline int encap_v6(struct __sk_buff *skb, const struct transit_inner *in,
                                    const struct transit_tunnel *t)
{
	__u32 glen = t->flags & TRANSIT_TUNNEL_F_KEY ? 8 : 4, hlen = 40 + glen;
	__u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE;
	struct gre_outer6 o = {};
	__be16 eth_proto = bpf_htons(ETH_P_IPV6);

	o.ip[0] = 0x60 | in->tos >> 4; /* version, traffic class (RFC 6040 normal mode) */
	o.ip[1] = in->tos << 4;
	*(__be16 *)&o.ip[4] = bpf_htons(in->len + glen); /* payload: GRE and the inner packet */
	o.ip[6] = IPPROTO_GRE;
	o.ip[7] = TRANSIT_OUTER_TTL;
	__builtin_memcpy(&o.ip[8], t->local, 16);
	__builtin_memcpy(&o.ip[24], t->remote, 16);
	o.flags = t->flags & TRANSIT_TUNNEL_F_KEY ? bpf_htons(GRE_F_KEY) : 0;
	o.proto = in->family == 4 ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6);
	o.key = t->key;

	if (bpf_skb_adjust_room(skb, hlen, BPF_ADJ_ROOM_MAC, flags))
		return -1;
	if (hlen == 48) {
		if (bpf_skb_store_bytes(skb, ETH_HLEN, &o, 48, 0))
			return -1;
	} else if (bpf_skb_store_bytes(skb, ETH_HLEN, &o, 44, 0)) {
		return -1;
	}
	return bpf_skb_store_bytes(skb, 12, &eth_proto, 2, 0) ? -1 : 0;
}

/* The outer headers' length: IP (20 or 40) and GRE (4, 8 with the key). */
static __always_inline __u32 outer_len(const struct transit_tunnel *t)
{
	return (t->family == 6 ? 40 : 20) + (t->flags & TRANSIT_TUNNEL_F_KEY ? 8 : 4);
}

SEC("tc")
int transit_encap(struct __sk_buff *skb)
{
	struct transit_inner in = {};
	struct bpf_fib_lookup fib;
	struct transit_customer *c;
	struct transit_tunnel *t;
	__u32 ifindex = skb->ifindex, *cid, tid, hlen, len;
	bool gso = skb->gso_segs > 1 || skb->gso_size;
	int rc;

	cid = bpf_map_lookup_elem(&transit_veths, &ifindex);
	if (!cid || !*cid)
		return TC_ACT_OK; /* not a customer veth (yet): leave it to the stack */
	c = bpf_map_lookup_elem(&transit_customers, cid);
	if (!c)
		return TC_ACT_OK;
	rc = inner_read(skb, &in);
	if (rc > 0)
		return TC_ACT_OK;
	if (rc < 0) {
		transit_count(TRANSIT_G_ENCAP_ERROR);
		return TC_ACT_SHOT; /* the namespace's own stack never sends these */
	}
	if (!transit_customer_owns(*cid, in.family, in.daddr)) {
		transit_count(TRANSIT_G_ENCAP_PASS);
		return TC_ACT_OK;
	}
	tid = tunnel_pick(skb, c);
	t = bpf_map_lookup_elem(&transit_tunnels, &tid);
	if (!t || t->customer != *cid || (t->family != 4 && t->family != 6)) {
		transit_count(TRANSIT_G_ENCAP_NO_TUNNEL);
		return TC_ACT_SHOT;
	}
	hlen = outer_len(t);
	len = in.len;

	if (clamp_mss(skb, &in, t->mtu)) {
		struct transit_stat_pair st = transit_stats_of(tid, *cid);

		transit_count(TRANSIT_G_MSS_CLAMPED);
		if (st.tun)
			st.tun->mss_clamped++;
		if (st.cust)
			st.cust->mss_clamped++;
	}
	rc = fib_out(skb, t->family, t->local, t->remote, gso ? 0 : len + hlen, &fib);
	if (!gso && (len > t->mtu || rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)) {
		struct transit_stat_pair st = transit_stats_of(tid, *cid);
		__u32 mtu = t->mtu;

		if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && fib.mtu_result - hlen < mtu)
			mtu = fib.mtu_result - hlen;
		if (st.tun)
			st.tun->too_big++;
		if (st.cust)
			st.cust->too_big++;
		rc = icmp_too_big(skb, &in, mtu);
		transit_count(rc == TC_ACT_REDIRECT ? TRANSIT_G_ENCAP_TOO_BIG
		                                    : TRANSIT_G_ENCAP_TOO_BIG_FAIL);
		return rc == TC_ACT_REDIRECT ? TC_ACT_REDIRECT : TC_ACT_SHOT;
	}
	if (!fib_usable(rc)) {
		struct transit_stat_pair st = transit_stats_of(tid, *cid);

		if (st.tun)
			st.tun->out_dropped++;
		transit_count(TRANSIT_G_ENCAP_NO_ROUTE);
		return TC_ACT_SHOT;
	}
	if (t->family == 6 ? encap_v6(skb, &in, t) : encap_v4(skb, &in, t)) {
		transit_count(TRANSIT_G_ENCAP_ERROR);
		return TC_ACT_SHOT;
	}
	count_out(tid, *cid, len);
	transit_count(TRANSIT_G_ENCAP);
	return send_fib(&fib, t->family);
}
