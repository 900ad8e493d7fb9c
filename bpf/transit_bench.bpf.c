// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Not loaded by edged: the wrappers tests/bench/bench_transit.c measures GRE decapsulation
 * with. BPF_PROG_TEST_RUN with repeat reuses one buffer, so decapsulation would see its own
 * output (no GRE) from the second run on (shared/platform.md). transit_bench_decap runs the
 * real parse + transit stage on a GRE frame, then puts the outer headers back; transit_bench_undo
 * does only the wrapper's part (the same strip and restore on an untouched frame), so that its
 * cost can be subtracted. The maps are the edge program's, handed over by fd.
 */
#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "transit.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The bench frame's headers before the inner packet: Ethernet, IPv4, GRE with key. */
#define BENCH_OUTER (ETH_HLEN + 20 + 8)

struct bench_outer {
	__u8 b[BENCH_OUTER];
};

static __always_inline int outer_save(struct xdp_md *ctx, struct bench_outer *o)
{
	return bpf_xdp_load_bytes(ctx, 0, o->b, BENCH_OUTER) ? -1 : 0;
}

/* Grows the frame back to its original start and writes the saved headers there. */
static __always_inline int outer_restore(struct xdp_md *ctx, const struct bench_outer *o, int delta)
{
	if (bpf_xdp_adjust_head(ctx, delta))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, (void *)o->b, BENCH_OUTER) ? -1 : 0;
}

SEC("xdp")
int transit_bench_decap(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	__u32 len = bpf_xdp_get_buff_len(ctx);
	struct bench_outer o;

	if (outer_save(ctx, &o))
		return XDP_ABORTED;
	if (parse_packet(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end, len) != PARSE_OK)
		return XDP_ABORTED;
	if (transit_stage(ctx, &p) != EDGE_VERDICT_REDIRECT)
		return XDP_ABORTED; /* the bench sends only GRE that decapsulates */
	if (outer_restore(ctx, &o, bpf_xdp_get_buff_len(ctx) - len))
		return XDP_ABORTED;
	return XDP_PASS;
}

SEC("xdp")
int transit_bench_undo(struct xdp_md *ctx)
{
	struct bench_outer o;

	if (outer_save(ctx, &o) || bpf_xdp_adjust_head(ctx, BENCH_OUTER - ETH_HLEN))
		return XDP_ABORTED;
	if (outer_restore(ctx, &o, -(BENCH_OUTER - ETH_HLEN)))
		return XDP_ABORTED;
	return XDP_PASS;
}
