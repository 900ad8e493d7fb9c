// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The customer router of tests/bench/transit_throughput.sh, in BPF because this kernel has no
 * GRE device: its uplink's XDP strips GRE addressed to it (keyed, as the bench's tunnel), and
 * its uplink's TC egress wraps the site's own packets in GRE toward edged's anycast endpoint.
 * Fixed addresses, no maps: a bench peer, not a product.
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

SEC("xdp")
int site_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, e;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) + GRE_HLEN > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->protocol != IPPROTO_GRE || ip->daddr != bpf_htonl(SITE) || ip->ihl != 5)
		return XDP_PASS;
	__builtin_memcpy(&e, eth, sizeof(e));
	if (bpf_xdp_adjust_head(ctx, sizeof(*ip) + GRE_HLEN))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(e) > data_end)
		return XDP_DROP;
	__builtin_memcpy(data, &e, sizeof(e));
	return XDP_PASS;
}

struct outer {
	struct iphdr ip;
	__be16 flags, proto;
	__be32 key;
};

SEC("tc")
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
