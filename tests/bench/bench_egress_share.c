// SPDX-License-Identifier: GPL-2.0
/*
 * IP sharing's costs in XDP, side by side with their floors:
 *
 *   steer   a reply for another member's slice: parse + shared-address lookup + port ->
 *           member + FIB next hop (cached) + GUE or IPIP encapsulation + XDP_TX, against a
 *           bare `return XDP_TX` on the same frame. The stage runs inside a wrapper that undoes
 *           its rewrite (repeat reuses one buffer); the wrapper's own cost is taken off:
 *           steer = steer_and_undo - (undo - xdp_tx).
 *   local   a reply for our own slice (xdp_edge with sharing on) against xdp_edge with it off
 *           on the same frame: what sharing adds to the replies this edge keeps.
 *   miss    traffic for any other address, same pair: what every other packet pays.
 *
 * Runs in a network namespace of its own (veth + a permanent neighbour for the FIB lookup).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>

#include "bench.h"
#include "edge.skel.h"
#include "eshare.h"
#include "egress_share.h"
#include "eshare_bench.skel.h"
#include "harness.h"

static const char *const setup_cmds[] = {
        "ip link add esb0 address 02:00:00:00:00:02 type veth peer name esb1",
        "ip link set esb0 up",
        "ip link set esb1 up",
        "ip addr add 198.51.100.1/24 dev esb0",
        "ip neigh add 198.51.100.11 lladdr 02:00:00:00:0b:00 dev esb0 nud permanent",
        "ip neigh add 198.51.100.12 lladdr 02:00:00:00:0c:00 dev esb0 nud permanent",
        "sysctl -qw net.ipv4.conf.all.forwarding=1",
};

static int netns_setup(void)
{
	return harness_netns_enter("bench_egress_share") ||
	                       harness_sh_all("bench_egress_share", setup_cmds,
	                                      sizeof(setup_cmds) / sizeof(setup_cmds[0]))
	               ? -1
	               : 0;
}

/* Ether/IPv4/TCP ACK of 54 bytes, 192.0.2.77:443 -> DST:DPORT (a reply). */
static void reply4(uint8_t *f, const char *dst, uint16_t dport)
{
	bench_frame4(f, 54, "192.0.2.77", 443, dst, dport, IPPROTO_TCP);
}

/* 203.0.113.10, ports 1024-65535 shared by .11, this edge (.1), .12; 16 other shared
 * addresses beside it, so the lookup is not alone in its table. */
static int fill_maps(struct bpf_object *obj, uint8_t encap)
{
	struct eshare_settings s = {.encap = encap};
	struct eshare_addr a = {.first = 1024, .last = 65535, .n = 3, .self = 1};
	struct eshare_slot *slots = calloc(ESHARE_SLOTS, sizeof(*slots));
	uint32_t zero = 0, key;
	int err = 0, fd;

	if (!slots)
		return -1;
	s.lb.has_src_v4 = 1;
	s.lb.gue_port = htons(6080);
	inet_pton(AF_INET, "198.51.100.1", s.lb.src_v4);
	err |= bpf_map_update_elem(bench_map_fd(obj, "eshare_settings"), &zero, &s, BPF_ANY);
	a.size = (65535 - 1024 + 1) / 3;
	inet_pton(AF_INET, "198.51.100.11", &a.member[0]);
	inet_pton(AF_INET, "198.51.100.1", &a.member[1]);
	inet_pton(AF_INET, "198.51.100.12", &a.member[2]);
	for (uint32_t i = 0; i < 17; i++) {
		a.index = i;
		key = htonl(0xcb007100 + 10 + i); /* 203.0.113.10 + i */
		err |= egress_share_slot_insert(slots, key, &a);
	}
	fd = egress_share_table_create(slots);
	free(slots);
	if (fd < 0)
		return -1;
	err |= bpf_map_update_elem(bench_map_fd(obj, "eshare_addrs"), &zero, &fd, BPF_ANY);
	close(fd);
	return err ? -1 : 0;
}

static int bench_steer(uint8_t encap, const char *name)
{
	struct eshare_bench_bpf *skel = eshare_bench_bpf__open();
	uint32_t ifindex = if_nametoindex("esb0");
	int tx = bench_load_xdp_tx(), ret = -1;
	uint8_t f[54];
	double ns[3], steer;

	reply4(f, "203.0.113.10", 2000); /* .11's slice */
	if (!skel || tx < 0 || harness_unpin_maps(skel->obj) || eshare_bench_bpf__load(skel) ||
	    fill_maps(skel->obj, encap)) {
		fprintf(stderr, "bench_egress_share: couldn't load the wrapper programs\n");
		goto out;
	}
	int fds[3] = {bpf_program__fd(skel->progs.eshare_bench_steer),
	              bpf_program__fd(skel->progs.eshare_bench_undo), tx};

	if (!bench_runs_tx(fds[0], f, sizeof(f), ifindex)) {
		fprintf(stderr, "bench_egress_share: the reply is not steered and restored\n");
		goto out;
	}
	if (bench_xdp_side_by_side_on(fds, 3, f, sizeof(f), ifindex, ns))
		goto out;
	steer = ns[0] - (ns[1] - ns[2]);
	printf("%-16s steer+undo %6.1f ns, undo %6.1f ns, xdp_tx %6.1f ns: steer %6.1f ns\n", name,
	       ns[0], ns[1], ns[2], steer);
	bench_line(name, "ns_per_pkt", steer, "xdp_tx", ns[2]);
	ret = 0;
out:
	eshare_bench_bpf__destroy(skel);
	if (tx >= 0)
		close(tx);
	return ret;
}

static struct edge_bpf *load_edge(bool share)
{
	struct edge_bpf *skel = edge_bpf__open();

	if (!skel)
		return NULL;
	harness_unpin_maps(skel->obj);
	skel->rodata->enable_egress_share = share;
	if (edge_bpf__load(skel) || fill_maps(skel->obj, LB_ENCAP_GUE)) {
		edge_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/* xdp_edge with sharing on and off on the same frame (which both pass). */
static int bench_pass(const char *dst, uint16_t dport, const char *name)
{
	struct edge_bpf *on = load_edge(true), *off = load_edge(false);
	uint8_t f[54];
	double ns[2];
	int ret = -1;

	reply4(f, dst, dport);
	if (on && off) {
		int fds[2] = {bpf_program__fd(on->progs.xdp_edge),
		              bpf_program__fd(off->progs.xdp_edge)};

		if (!bench_xdp_side_by_side(fds, 2, f, sizeof(f), ns)) {
			printf("%-16s %6.1f ns (sharing on) %6.1f ns (off)\n", name, ns[0], ns[1]);
			bench_line(name, "ns_per_pkt", ns[0], "xdp_edge_share_off", ns[1]);
			ret = 0;
		}
	}
	edge_bpf__destroy(on);
	edge_bpf__destroy(off);
	return ret;
}

int main(void)
{
	int err;

	if (netns_setup())
		return 1;
	bench_pin_cpu(0);
	err = bench_steer(LB_ENCAP_GUE, "egress_share_steer_gue");
	err |= bench_steer(LB_ENCAP_IPIP, "egress_share_steer_ipip");
	err |= bench_pass("203.0.113.10", 30000, "egress_share_own_slice");
	err |= bench_pass("198.51.100.1", 22, "egress_share_miss");
	return err ? 1 : 0;
}
