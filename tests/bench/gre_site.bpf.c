// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The customer router of tests/bench/transit_throughput.sh, in BPF because this kernel has no
 * GRE device: its uplink's TC ingress strips GRE addressed to it (keyed, as the bench's
 * tunnel), and its uplink's TC egress wraps the site's own packets in GRE toward edged's
 * anycast endpoint. Fixed addresses, no maps: a bench peer, not a product.
 *
 * TC, not XDP, for the decapsulation: an XDP program on a veth takes GSO away from its peer
 * (the edge's side, which then segments every encapsulated packet in software) and copies
 * every frame into a page of its own. A router's NIC does neither, so a bench peer that did
 * would charge edged with the peer's costs.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SITE     0xc6336432u /* 198.51.100.50: the router */
#define ENDPOINT 0xc0000264u /* 192.0.2.100: edged's anycast endpoint */
#define PREFIX   0xcb007100u /* 203.0.113.0/24: the site's hosts */
#define KEY      42
#define GRE_HLEN 8 /* flags+protocol, key */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Linux 6.3+ and 6.12+ (bookworm's UAPI headers predate them): the inner packet is IPv4,
 * and the GSO type loses its GRE bit with the header. */
#define ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define ADJ_ROOM_DECAP_L4_GRE  (1ULL << 9)

SEC("tc/ingress")
int site_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | ADJ_ROOM_DECAP_L3_IPV4;

	if ((void *)(ip + 1) + GRE_HLEN > data_end || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->protocol != IPPROTO_GRE || ip->daddr != bpf_htonl(SITE) || ip->ihl != 5)
		return TC_ACT_OK;
	/* The segments keep their size: only the outer headers go (FIXED_GSO). */
	if (bpf_skb_adjust_room(skb, -(int)(sizeof(*ip) + GRE_HLEN), BPF_ADJ_ROOM_MAC,
	                        flags | ADJ_ROOM_DECAP_L4_GRE) &&
	    bpf_skb_adjust_room(skb, -(int)(sizeof(*ip) + GRE_HLEN), BPF_ADJ_ROOM_MAC, flags))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

struct outer {
	struct iphdr ip;
	__be16 flags, proto;
	__be32 key;
};

SEC("tc/egress")
int site_encap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct outer o = {};
	__u32 sum = 0;
	__u16 *w = (void *)&o.ip;

	if ((void *)(ip + 1) > data_end || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if ((ip->saddr & bpf_htonl(0xffffff00)) != bpf_htonl(PREFIX) || ip->protocol == IPPROTO_GRE)
		return TC_ACT_OK;
	o.ip.version = 4;
	o.ip.ihl = 5;
	o.ip.tot_len = bpf_htons(skb->len - sizeof(struct ethhdr) + sizeof(o));
	o.ip.frag_off = bpf_htons(0x4000);
	o.ip.ttl = 64;
	o.ip.protocol = IPPROTO_GRE;
	o.ip.saddr = bpf_htonl(SITE);
	o.ip.daddr = bpf_htonl(ENDPOINT);
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	o.ip.check = ~((sum & 0xffff) + (sum >> 16));
	o.flags = bpf_htons(0x2000);
	o.proto = bpf_htons(ETH_P_IP);
	o.key = bpf_htonl(KEY);
	if (bpf_skb_adjust_room(skb, sizeof(o), BPF_ADJ_ROOM_MAC,
	                        BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}
