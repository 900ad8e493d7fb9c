// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Not loaded by edged: the wrappers tests/bench/bench_lb.c measures the load balancer with.
 *
 * BPF_PROG_TEST_RUN with repeat reuses one buffer, so a program that encapsulates would see
 * its own output from the second run on (shared/platform.md). lb_bench_encap runs the real
 * parse + LB stage, then undoes the encapsulation (strips the outer headers, puts the
 * original Ethernet header back), so every run sees the same packet. lb_bench_undo does only
 * the wrapper's part (the same helper calls and copies on an untouched frame), so that its
 * cost can be subtracted. lb_upto_* run the path up to a step and stop with XDP_TX, without
 * touching the frame: where the balancer's time goes, step by step.
 */
#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "bench_wrap.bpf.h"
#include "lb.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int lb_bench_encap(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	__u32 len = bpf_xdp_get_buff_len(ctx);
	struct bench_eth e;

	if (bench_eth_save(ctx, &e))
		return XDP_ABORTED;
	if (parse_packet(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end, len) != PARSE_OK)
		return XDP_ABORTED;
	if (lb_stage(ctx, &p) != EDGE_VERDICT_TX)
		return XDP_ABORTED; /* the bench sends only packets that go to another server */
	if (bench_eth_restore(ctx, &e, bpf_xdp_get_buff_len(ctx) - len))
		return XDP_ABORTED;
	return XDP_TX;
}

SEC("xdp")
int lb_bench_undo(struct xdp_md *ctx)
{
	return bench_undo(ctx);
}

/* ---- the path step by step (bench_lb's breakdown) ------------------------------------ */

static __always_inline int upto_parse(struct xdp_md *ctx, struct pkt *p)
{
	return parse_packet(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end,
	                    bpf_xdp_get_buff_len(ctx));
}

/* Parse only. */
SEC("xdp")
int lb_upto_parse(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};

	return upto_parse(ctx, &p) == PARSE_OK ? XDP_TX : XDP_ABORTED;
}

/* Parse, the flow and its VIP. */
SEC("xdp")
int lb_upto_vip(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	struct lb_vip vip;
	struct lb_flow f;

	if (upto_parse(ctx, &p) != PARSE_OK || !lb_flow_of(ctx, &p, &f) || lb_vip_match(&f, &vip))
		return XDP_ABORTED;
	return XDP_TX;
}

/* ... then the flow hash, the Maglev bucket and its server. */
SEC("xdp")
int lb_upto_table(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	struct lb_bucket *b;
	struct lb_vip vip;
	struct lb_flow f;

	if (upto_parse(ctx, &p) != PARSE_OK || !lb_flow_of(ctx, &p, &f) || lb_vip_match(&f, &vip))
		return XDP_ABORTED;
	b = lb_bucket_of(vip.service, lb_flow_hash(&f));
	return b && lb_server_of(b->first) ? XDP_TX : XDP_ABORTED;
}

/* ... as the stage does it: lb_balance_run (a BPF-to-BPF call), its counters, the decision. */
SEC("xdp")
int lb_upto_balance(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	struct lb_fwd fwd = {};

	if (upto_parse(ctx, &p) != PARSE_OK || lb_balance_run(ctx, &p, &fwd) != LB_DO_FORWARD)
		return XDP_ABORTED;
	return XDP_TX;
}
