// SPDX-License-Identifier: GPL-2.0
/*
 * An XDP program that passes every frame, attached by the lab to the router's end of every
 * veth link to an edge (lab/lablib/runtime.py, peer_xdp_pass). A veth delivers the frames
 * that the other end's XDP program sends back with XDP_TX (edged's SYN-ACK cookies) only when
 * this end runs NAPI, which an XDP program turns on; without it they are dropped silently
 * (counted as rx_queue_0_xdp_tx_errors by `ethtool -S` on the edge's end). A router NIC on a
 * real wire has no such condition. No headers: it builds with clang alone.
 */
#define SEC(name) __attribute__((section(name), used))
#define XDP_PASS  2

struct xdp_md;

SEC("xdp") int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
