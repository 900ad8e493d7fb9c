/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Packet parsing for the XDP edge program: Ethernet (up to two VLAN tags), IPv4 (options,
 * fragments), IPv6 (extension headers, fragments), and the first bytes of TCP, UDP, ICMP,
 * ICMPv6 and GRE. Every pointer is checked against data_end where it is advanced.
 *
 * The parser decides only what is malformed; what to do with well-formed packets is the
 * business of the stages. Malformed means the kernel would drop it too (truncated headers,
 * lengths that contradict the frame), so dropping it in XDP changes nothing for a real peer
 * and takes it out of every later stage's way.
 */
#ifndef EDGED_BPF_PARSE_H
#define EDGED_BPF_PARSE_H

#include "defs.h"

enum parse_result {
	PARSE_OK = 0,    /* IPv4/IPv6 with the L4 header in reach (or a later fragment) */
	PARSE_NOT_IP,    /* ARP, LLDP, ...: not ours to judge */
	PARSE_MALFORMED, /* truncated or self-contradicting headers */
};

struct pkt {
	__u16 l3_proto;  /* ETH_P_IP or ETH_P_IPV6, host order */
	__u8 l4_proto;   /* IPPROTO_*; for IPv6 the one after the extension headers */
	__u8 frag;       /* any fragment */
	__u8 frag_later; /* fragment with offset != 0: no L4 header in this packet */
	__u8 ttl;        /* TTL or hop limit */
	__u8 tcp_flags;  /* TCP flags byte (FIN..CWR), 0 for other protocols */
	__u8 pad;
	__u16 l3_off; /* from the start of the frame */
	__u16 l4_off;
	__u32 l3_end; /* where the IP packet ends by its own length field: L4 stays before it */
	__be16 sport; /* TCP/UDP ports, network order; 0 when absent */
	__be16 dport;
	__u32 len;     /* frame length as received, all fragments of a multi-buffer frame */
	__u32 rule_id; /* set by the stage that decides: which rule (for counters, captures) */
	union {
		__be32 v4;
		struct in6_addr v6;
	} saddr, daddr;
};

struct edge_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* Two tags: 802.1ad outer + 802.1Q inner is the deepest stacking uplinks see. */
#define PARSE_MAX_VLANS 2
/* Extension headers walked before giving up; real traffic uses 0-2, attackers use more. */
#define PARSE_MAX_IPV6_EXT 6

/* True when N bytes at OFF fit in the IP packet: headers must end before the IP length does,
 * or Ethernet padding and trailers would be read as header bytes (the stack trims them). */
static __always_inline bool in_ip(const struct pkt *p, __u32 off, __u32 n)
{
	return off + n <= p->l3_end;
}

static __always_inline int parse_l4(struct pkt *p, void *data, void *data_end)
{
	void *l4 = data + p->l4_off;

	if (p->frag_later)
		return PARSE_OK;

	switch (p->l4_proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end || !in_ip(p, p->l4_off, sizeof(*th)))
			return PARSE_MALFORMED;
		if (th->doff < 5 || l4 + th->doff * 4 > data_end ||
		    !in_ip(p, p->l4_off, th->doff * 4))
			return PARSE_MALFORMED;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		return PARSE_OK;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end || !in_ip(p, p->l4_off, sizeof(*uh)))
			return PARSE_MALFORMED;
		/* Length 0 is an IPv6 jumbogram's; no uplink carries those. A first fragment's
		 * length covers the whole datagram, so only unfragmented ones are checked. */
		if (bpf_ntohs(uh->len) < sizeof(*uh))
			return PARSE_MALFORMED;
		if (!p->frag && !in_ip(p, p->l4_off, bpf_ntohs(uh->len)))
			return PARSE_MALFORMED;
		p->sport = uh->source;
		p->dport = uh->dest;
		return PARSE_OK;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* type, code and checksum at least */
		if (l4 + 4 > data_end || !in_ip(p, p->l4_off, 4))
			return PARSE_MALFORMED;
		return PARSE_OK;
	case IPPROTO_GRE:
		/* flags+version and protocol; the transit stage validates the rest */
		if (l4 + 4 > data_end || !in_ip(p, p->l4_off, 4))
			return PARSE_MALFORMED;
		return PARSE_OK;
	default:
		return PARSE_OK;
	}
}

static __always_inline int parse_ipv4(struct pkt *p, void *data, void *data_end)
{
	struct iphdr *iph = data + p->l3_off;
	__u32 hlen;

	if ((void *)(iph + 1) > data_end)
		return PARSE_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return PARSE_MALFORMED;
	hlen = iph->ihl * 4;
	if ((void *)iph + hlen > data_end)
		return PARSE_MALFORMED;
	/* Trailing padding is allowed (short frames are padded to 60 bytes); a claim of more
	 * bytes than arrived is not. Compared with the whole frame, not data_end: a multi-
	 * buffer (xdp.frags) frame carries the rest of its payload in fragments. */
	if (bpf_ntohs(iph->tot_len) < hlen || p->l3_off + bpf_ntohs(iph->tot_len) > p->len)
		return PARSE_MALFORMED;
	p->l3_end = p->l3_off + bpf_ntohs(iph->tot_len);

	p->l4_proto = iph->protocol;
	p->ttl = iph->ttl;
	p->saddr.v4 = iph->saddr;
	p->daddr.v4 = iph->daddr;
	p->frag = (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
	p->frag_later = (iph->frag_off & bpf_htons(IP_OFFSET)) != 0;
	p->l4_off = p->l3_off + hlen;
	return parse_l4(p, data, data_end);
}

static __always_inline int parse_ipv6(struct pkt *p, void *data, void *data_end)
{
	struct ipv6hdr *ip6h = data + p->l3_off;
	__u8 nexthdr;
	__u16 off;

	if ((void *)(ip6h + 1) > data_end)
		return PARSE_MALFORMED;
	if (ip6h->version != 6)
		return PARSE_MALFORMED;
	p->l3_end = p->l3_off + sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	if (p->l3_end > p->len)
		return PARSE_MALFORMED;

	p->ttl = ip6h->hop_limit;
	p->saddr.v6 = ip6h->saddr;
	p->daddr.v6 = ip6h->daddr;
	nexthdr = ip6h->nexthdr;
	off = p->l3_off + sizeof(*ip6h);

#pragma unroll
	for (int i = 0; i < PARSE_MAX_IPV6_EXT; i++) {
		struct ipv6_opt_hdr *eh = data + off;

		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
		    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT &&
		    nexthdr != IPPROTO_AH)
			break;
		if ((void *)(eh + 1) > data_end || !in_ip(p, off, sizeof(*eh)))
			return PARSE_MALFORMED;
		if (nexthdr == IPPROTO_FRAGMENT) {
			struct ipv6_frag_hdr *fh = (void *)eh;

			if ((void *)(fh + 1) > data_end || !in_ip(p, off, sizeof(*fh)))
				return PARSE_MALFORMED;
			p->frag = 1;
			off += sizeof(*fh);
			/* A later fragment carries payload, not headers: walking on would read
			 * payload bytes as extension headers. */
			if (fh->frag_off & bpf_htons(IP6_OFFSET)) {
				p->frag_later = 1;
				p->l4_proto = fh->nexthdr;
				p->l4_off = off;
				return PARSE_OK;
			}
		} else if (nexthdr == IPPROTO_AH) {
			off += (eh->hdrlen + 2) * 4;
		} else {
			off += (eh->hdrlen + 1) * 8;
		}
		nexthdr = eh->nexthdr;
	}
	/* Still an extension header after the walk: too deep to judge, and deep chains are an
	 * evasion technique rather than something legitimate peers send. */
	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	    nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_AH)
		return PARSE_MALFORMED;
	if (data + off > data_end || !in_ip(p, off, 0))
		return PARSE_MALFORMED;

	p->l4_proto = nexthdr;
	p->l4_off = off;
	return parse_l4(p, data, data_end);
}

/* BUFF_LEN: the whole frame's length (bpf_xdp_get_buff_len), beyond data_end when the frame
 * spans several buffers. */
static __always_inline int parse_packet(struct pkt *p, void *data, void *data_end, __u32 buff_len)
{
	struct ethhdr *eth = data;
	__u16 proto;
	__u16 off = sizeof(*eth);

	p->len = buff_len;
	if ((void *)(eth + 1) > data_end)
		return PARSE_MALFORMED;
	proto = bpf_ntohs(eth->h_proto);

#pragma unroll
	for (int i = 0; i < PARSE_MAX_VLANS; i++) {
		struct edge_vlan_hdr *vh = data + off;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if ((void *)(vh + 1) > data_end)
			return PARSE_MALFORMED;
		proto = bpf_ntohs(vh->encap_proto);
		off += sizeof(*vh);
	}
	/* A third tag: no uplink carries one, and letting it through unparsed would let it
	 * bypass every stage. */
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD)
		return PARSE_MALFORMED;

	p->l3_proto = proto;
	p->l3_off = off;
	if (proto == ETH_P_IP)
		return parse_ipv4(p, data, data_end);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(p, data, data_end);
	return PARSE_NOT_IP;
}

#endif
