/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The load balancer's answer to a packet that no longer fits once encapsulated: an ICMP
 * "fragmentation needed" (IPv4, type 3 code 4) or "packet too big" (IPv6, type 2) back to
 * the client, announcing the egress MTU minus the tunnel headers. The client's TCP (or its
 * PMTU-aware UDP) then sends smaller packets, which do fit: the path MTU through the tunnel
 * is discovered the way it would be through any router, instead of the flow stalling on
 * silent drops. Included by bpf/lb.bpf.h; called from lb_forward with the frame untouched.
 *
 * Not answered, dropped (counted `too_big` only):
 *   - IPv4 without DF: the sender allows fragmentation, and XDP cannot fragment; an error
 *     would not make it send smaller packets (RFC 1191 needs DF). Give the fleet network the
 *     larger MTU (docs/config.md).
 *   - ICMP itself (only errors are balanced): no error about an error (RFC 1122 3.2.2).
 *   - second-chance hops: the frame came from another edge, not from the client's path.
 *
 * The reply is built in place: the frame is cut to the quoted part, then the new headers are
 * pushed in front of it. It is smaller than the packet it answers, so it amplifies nothing,
 * and the DoS stage has already run on that packet.
 */
#ifndef EDGED_BPF_LB_ICMP_BPF_H
#define EDGED_BPF_LB_ICMP_BPF_H

/* Bytes of the offending packet quoted: an IPv4 header with the longest options (60) and the
 * 8 bytes of L4 header RFC 792 asks for (TCP's sequence number, which Linux checks before it
 * believes the error); an IPv6 header, a fragment header and a whole TCP header with room for
 * options. Multiples of 4: bpf_csum_diff takes whole words. */
#define LB_ICMP_QUOTE_V4  68
#define LB_ICMP_QUOTE_V6  128
#define LB_ICMP_HLEN      8 /* type, code, checksum, 4 bytes of MTU (v4: unused 2 + MTU 2) */
#define LB_ICMP_TTL       64
#define LB_ICMPV6_TOO_BIG 2

/* The addresses and protocol of the offending packet, read before the frame is rewritten. */
struct lb_too_big_orig {
	__u8 smac[LB_ETH_ALEN];
	__u8 dmac[LB_ETH_ALEN];
	union {
		struct iphdr v4;
		struct ipv6hdr v6;
	} ip;
};

/* Cuts the frame to Ethernet + QUOTE bytes of the packet, then makes room for PUSH bytes of
 * new headers in front of the quote. */
static __always_inline int lb_too_big_room(struct xdp_md *ctx, __u32 quote, __u32 push)
{
	__u32 len = bpf_xdp_get_buff_len(ctx), keep = ETH_HLEN + quote;

	if (len < keep)
		return -1;
	if (len > keep && bpf_xdp_adjust_tail(ctx, -(int)(len - keep)))
		return -1;
	return bpf_xdp_adjust_head(ctx, -(int)push);
}

static __always_inline void lb_too_big_eth(struct ethhdr *eth, const struct lb_too_big_orig *o,
                                           __u16 proto)
{
	/* Back where the packet came from: the router towards the client. */
	__builtin_memcpy(eth->h_dest, o->smac, LB_ETH_ALEN);
	__builtin_memcpy(eth->h_source, o->dmac, LB_ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
}

static __always_inline int lb_too_big_v4(struct xdp_md *ctx, const struct lb_too_big_orig *o,
                                         __u32 mtu)
{
	__u32 push = sizeof(struct iphdr) + LB_ICMP_HLEN, sum = 0;
	void *data, *data_end;
	struct iphdr *ip;
	__u8 *icmp;
	__u16 *w;
	__s64 cs;

	if (!(o->ip.v4.frag_off & bpf_htons(IP_DF)) || o->ip.v4.protocol == IPPROTO_ICMP)
		return EDGE_VERDICT_DROP;
	if (lb_too_big_room(ctx, LB_ICMP_QUOTE_V4, push))
		return EDGE_VERDICT_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN + push + LB_ICMP_QUOTE_V4 > data_end)
		return EDGE_VERDICT_DROP;
	lb_too_big_eth(data, o, ETH_P_IP);
	ip = data + ETH_HLEN;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(push + LB_ICMP_QUOTE_V4);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = LB_ICMP_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	/* From the VIP the client was talking to: the edge speaks for it, as its server would. */
	ip->saddr = o->ip.v4.daddr;
	ip->daddr = o->ip.v4.saddr;
	w = (__u16 *)ip;
#pragma unroll
	for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
		sum += w[i];
	ip->check = lb_csum_fold(sum);
	icmp = (__u8 *)(ip + 1);
	icmp[0] = 3; /* destination unreachable */
	icmp[1] = 4; /* fragmentation needed and DF set */
	*(__u16 *)(icmp + 2) = 0;
	*(__u16 *)(icmp + 4) = 0;
	*(__be16 *)(icmp + 6) = bpf_htons(mtu);
	cs = bpf_csum_diff(NULL, 0, (__be32 *)icmp, LB_ICMP_HLEN + LB_ICMP_QUOTE_V4, 0);
	*(__u16 *)(icmp + 2) = lb_csum_fold((__u32)cs);
	return EDGE_VERDICT_TX;
}

static __always_inline int lb_too_big_v6(struct xdp_md *ctx, const struct lb_too_big_orig *o,
                                         __u32 mtu)
{
	__u32 push = sizeof(struct ipv6hdr) + LB_ICMP_HLEN;
	__be32 pseudo[2] = {bpf_htonl(LB_ICMP_HLEN + LB_ICMP_QUOTE_V6), bpf_htonl(IPPROTO_ICMPV6)};
	void *data, *data_end;
	struct ipv6hdr *ip;
	__u8 *icmp;
	__s64 cs;

	if (o->ip.v6.nexthdr == IPPROTO_ICMPV6)
		return EDGE_VERDICT_DROP;
	if (lb_too_big_room(ctx, LB_ICMP_QUOTE_V6, push))
		return EDGE_VERDICT_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN + push + LB_ICMP_QUOTE_V6 > data_end)
		return EDGE_VERDICT_DROP;
	lb_too_big_eth(data, o, ETH_P_IPV6);
	ip = data + ETH_HLEN;
	*(__be32 *)ip = bpf_htonl(6u << 28); /* version 6, traffic class 0, flow label 0 */
	ip->payload_len = bpf_htons(LB_ICMP_HLEN + LB_ICMP_QUOTE_V6);
	ip->nexthdr = IPPROTO_ICMPV6;
	ip->hop_limit = LB_ICMP_TTL;
	ip->saddr = o->ip.v6.daddr;
	ip->daddr = o->ip.v6.saddr;
	icmp = (__u8 *)(ip + 1);
	icmp[0] = LB_ICMPV6_TOO_BIG;
	icmp[1] = 0;
	*(__u16 *)(icmp + 2) = 0;
	/* Below IPv6's minimum of 1280 the client uses 1280 (RFC 8200): the fleet network must
	 * carry 1280 plus the tunnel headers for IPv6 to work at all. */
	*(__be32 *)(icmp + 4) = bpf_htonl(mtu);
	cs = bpf_csum_diff(NULL, 0, (__be32 *)&ip->saddr, 32, 0);
	cs = bpf_csum_diff(NULL, 0, pseudo, sizeof(pseudo), (__u32)cs);
	cs = bpf_csum_diff(NULL, 0, (__be32 *)icmp, LB_ICMP_HLEN + LB_ICMP_QUOTE_V6, (__u32)cs);
	*(__u16 *)(icmp + 2) = lb_csum_fold((__u32)cs);
	return EDGE_VERDICT_TX;
}

/*
 * FWD's packet does not fit the egress MTU once encapsulated; MTU is what would fit inside
 * the tunnel. Turns the frame into the ICMP error for the client: EDGE_VERDICT_TX, or
 * EDGE_VERDICT_DROP when no error is due (above).
 */
__noinline int lb_too_big(struct xdp_md *ctx, const struct lb_fwd *fwd, __u32 mtu)
{
	struct lb_too_big_orig o;
	struct ethhdr eth;
	int v;

	if (!fwd || fwd->second_chance)
		return EDGE_VERDICT_DROP;
	if (bpf_xdp_load_bytes(ctx, 0, &eth, sizeof(eth)))
		return EDGE_VERDICT_DROP;
	__builtin_memcpy(o.smac, eth.h_source, LB_ETH_ALEN);
	__builtin_memcpy(o.dmac, eth.h_dest, LB_ETH_ALEN);
	if (fwd->inner_v6) {
		if (bpf_xdp_load_bytes(ctx, ETH_HLEN, &o.ip.v6, sizeof(o.ip.v6)))
			return EDGE_VERDICT_DROP;
		v = lb_too_big_v6(ctx, &o, mtu);
	} else {
		if (bpf_xdp_load_bytes(ctx, ETH_HLEN, &o.ip.v4, sizeof(o.ip.v4)))
			return EDGE_VERDICT_DROP;
		v = lb_too_big_v4(ctx, &o, mtu);
	}
	if (v == EDGE_VERDICT_TX)
		lb_count_svc(fwd->service, LB_SVC_TOO_BIG_ICMP, 1);
	return v;
}

#endif
