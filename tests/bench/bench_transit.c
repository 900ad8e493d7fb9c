// SPDX-License-Identifier: GPL-2.0
/*
 * GRE decapsulation's cost per packet (issue 8): parse + the transit stage (endpoint lookup,
 * GRE checks, tunnel and customer lookups, inner parse, anti-spoofing LPM, strip, counters,
 * redirect) on keyed GRE frames, against a bare `return XDP_PASS`. Decapsulation rewrites the
 * frame, so it runs inside a wrapper that puts the outer headers back (repeat reuses one
 * buffer); the wrapper's own cost, measured alone, is taken off:
 *     decap = decap_and_undo - (undo - xdp_pass).
 * The maps are filled by edged's loader (transit_dp.c) in a network namespace of its own.
 * Throughput through the whole transit path is tests/bench/transit_throughput.sh.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>

#include "bench.h"
#include "datapath.h"
#include "edge.skel.h"
#include "harness.h"
#include "transit_bench.skel.h"
#include "transit_dp.h"

static const char *const setup_cmds[] = {
        "ip link add trb0 type veth peer name trb1",
        "ip link set trb0 up",
        "ip link set trb1 up",
};

static int netns_setup(void)
{
	return harness_netns_enter("bench_transit") ||
	                       harness_sh_all("bench_transit", setup_cmds,
	                                      sizeof(setup_cmds) / sizeof(setup_cmds[0]))
	               ? -1
	               : 0;
}

/* Ether/IP(src=198.51.100.50, dst=192.0.2.100)/GRE(key=42)/IP(src=203.0.113.10,
 * dst=192.0.2.1)/UDP(sport=5000, dport=40000)/Raw(PAYLOAD zero bytes): acme's router. */
static uint32_t gre_frame(uint8_t *f, uint32_t payload)
{
	uint32_t inner = 20 + 8 + payload, outer = 20 + 8 + inner;
	uint8_t *ip = f + 14, *in = ip + 28;

	memset(f, 0, 14 + outer);
	memcpy(f, (uint8_t[]){2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}, 14);
	ip[0] = 0x45;
	ip[2] = outer >> 8;
	ip[3] = outer & 0xff;
	ip[8] = 64;
	ip[9] = 47;
	inet_pton(AF_INET, "198.51.100.50", ip + 12);
	inet_pton(AF_INET, "192.0.2.100", ip + 16);
	ip[20] = 0x20; /* K */
	ip[22] = 0x08; /* IPv4 */
	ip[27] = 42;
	in[0] = 0x45;
	in[2] = inner >> 8;
	in[3] = inner & 0xff;
	in[8] = 64;
	in[9] = 17;
	inet_pton(AF_INET, "203.0.113.10", in + 12);
	inet_pton(AF_INET, "192.0.2.1", in + 16);
	in[20] = 5000 >> 8;
	in[21] = 5000 & 0xff;
	in[22] = 40000 >> 8;
	in[23] = 40000 & 0xff;
	in[24] = (8 + payload) >> 8;
	in[25] = (8 + payload) & 0xff;
	return 14 + outer;
}

static int apply(struct datapath *dp, struct transit_dp_state *st)
{
	struct transit_dp_prefix ep = {.family = AF_INET, .len = 32};
	struct transit_dp_prefix pfx = {.family = AF_INET, .len = 24};
	struct transit_dp_tunnel t = {
	        .name = "acme-1", .family = AF_INET, .has_key = true, .key = 42};
	struct transit_dp_customer c = {.name = "acme",
	                                .id = 1,
	                                .prefixes = &pfx,
	                                .n_prefixes = 1,
	                                .tunnels = &t,
	                                .n_tunnels = 1};
	struct transit_dp_spec spec = {
	        .endpoints = &ep, .n_endpoints = 1, .customers = &c, .n_customers = 1};
	int err;

	inet_pton(AF_INET, "192.0.2.100", ep.addr);
	inet_pton(AF_INET, "203.0.113.0", pfx.addr);
	inet_pton(AF_INET, "192.0.2.100", t.local);
	inet_pton(AF_INET, "198.51.100.50", t.remote);
	c.host_ifindex = if_nametoindex("trb0");
	err = transit_dp_prepare_spec(st, dp, &spec);
	if (!err)
		transit_dp_commit(st, dp);
	return err;
}

/* The wrappers on the edge program's maps. */
static struct transit_bench_bpf *load_wrappers(const struct datapath *dp)
{
	struct transit_bench_bpf *skel = transit_bench_bpf__open();
	struct bpf_map *m;

	if (!skel)
		return NULL;
	harness_unpin_maps(skel->obj);
	bpf_object__for_each_map(m, skel->obj)
	{
		int fd = datapath_map_fd(dp, bpf_map__name(m));

		if (fd >= 0 && bpf_map__reuse_fd(m, fd))
			goto fail;
	}
	if (!transit_bench_bpf__load(skel))
		return skel;
fail:
	transit_bench_bpf__destroy(skel);
	return NULL;
}

int main(void)
{
	static const uint32_t payloads[] = {18, 1372};
	static const char *const names[] = {"transit_decap_udp64", "transit_decap_udp1400"};
	struct transit_dp_state st;
	struct datapath dp = {.lock_fd = -1};
	struct transit_bench_bpf *w = NULL;
	int pass_fd, ret = 1;
	uint8_t f[1600];

	if (netns_setup())
		return 1;
	transit_dp_init(&st);
	dp.skel = edge_bpf__open();
	if (!dp.skel)
		return 1;
	dp.skel->rodata->enable_transit = true;
	harness_unpin_maps(dp.skel->obj);
	pass_fd = bench_load_xdp_pass();
	if (edge_bpf__load(dp.skel) || pass_fd < 0 || apply(&dp, &st) ||
	    !(w = load_wrappers(&dp))) {
		fprintf(stderr, "bench_transit: couldn't load the programs (root needed)\n");
		goto out;
	}
	bench_pin_cpu(0);
	printf("%-24s %14s %12s %12s %12s\n", "frame", "decap+undo", "undo", "xdp_pass", "decap");
	for (int i = 0; i < 2; i++) {
		int fds[3] = {bpf_program__fd(w->progs.transit_bench_decap),
		              bpf_program__fd(w->progs.transit_bench_undo), pass_fd};
		uint32_t len = gre_frame(f, payloads[i]);
		double ns[3], decap;

		if (bench_xdp_side_by_side(fds, 3, f, len, ns)) {
			fprintf(stderr, "bench_transit: test run failed on %s\n", names[i]);
			goto out;
		}
		decap = ns[0] - (ns[1] - ns[2]);
		printf("%-24s %11.1f ns %9.1f ns %9.1f ns %9.1f ns\n", names[i], ns[0], ns[1],
		       ns[2], decap);
		bench_line(names[i], "ns_per_pkt", decap, "xdp_pass", ns[2]);
	}
	ret = 0;
out:
	transit_bench_bpf__destroy(w);
	transit_dp_close(&st);
	edge_bpf__destroy(dp.skel);
	if (pass_fd >= 0)
		close(pass_fd);
	return ret;
}
