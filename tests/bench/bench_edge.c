// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of the chassis: xdp_edge (parse, stage switches, per-uplink counters) against a
 * bare `return XDP_PASS`, on the packets an edge sees most, with all stages off and on.
 */
#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "bench.h"
#include "edge.skel.h"
#include "harness.h"

/* A TCP SYN and a 1400 B UDP datagram, IPv4 and IPv6: made with scapy,
 * Ether()/IP(dst="192.0.2.2")/TCP(dport=443, flags="S") and so on (see bench_frames.py). */
#include "bench_frames.h"

static struct edge_bpf *load_edge(bool stages_on)
{
	struct edge_bpf *skel = edge_bpf__open();

	if (!skel)
		return NULL;
	harness_unpin_maps(skel->obj);
	skel->rodata->enable_dos = stages_on;
	skel->rodata->enable_transit = stages_on;
	skel->rodata->enable_lb = stages_on;
	if (edge_bpf__load(skel) ||
	    harness_uplink_register(bpf_map__fd(skel->maps.uplink_slots),
	                            bpf_map__fd(skel->maps.uplink_stats), HARNESS_IFINDEX_LO, 1)) {
		edge_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

int main(void)
{
	struct edge_bpf *off = load_edge(false), *on = load_edge(true);
	int pass_fd = bench_load_xdp_pass();
	int ret = 1;

	if (!off || !on || pass_fd < 0) {
		fprintf(stderr, "bench_edge: couldn't load the programs (root needed)\n");
		goto out;
	}
	bench_pin_cpu(0);
	printf("%-22s %12s %12s %12s\n", "frame", "edge(off)", "edge(on)", "xdp_pass");
	for (unsigned int i = 0; i < sizeof(bench_frames) / sizeof(bench_frames[0]); i++) {
		const struct bench_frame *f = &bench_frames[i];
		int fds[3] = {bpf_program__fd(off->progs.xdp_edge),
		              bpf_program__fd(on->progs.xdp_edge), pass_fd};
		double ns[3];
		char name[64];

		if (bench_xdp_side_by_side(fds, 3, f->data, f->len, ns)) {
			fprintf(stderr, "bench_edge: test run failed on %s\n", f->name);
			goto out;
		}
		printf("%-22s %9.1f ns %9.1f ns %9.1f ns\n", f->name, ns[0], ns[1], ns[2]);
		snprintf(name, sizeof(name), "edge_parse_%s", f->name);
		bench_line(name, "ns_per_pkt", ns[1], "xdp_pass", ns[2]);
	}
	ret = 0;
out:
	edge_bpf__destroy(off);
	edge_bpf__destroy(on);
	if (pass_fd >= 0)
		close(pass_fd);
	return ret;
}
