// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Not loaded by edged: the wrappers tests/bench/bench_egress_share.c measures IP sharing's
 * steering with (the same scheme as bpf/lb_bench.bpf.c). eshare_bench_steer runs the real
 * parse + sharing stage on a reply for another member's slice, then undoes the
 * encapsulation, so that every run of BPF_PROG_TEST_RUN's repeat sees the same packet;
 * eshare_bench_undo does only the wrapper's part, so that its cost can be subtracted.
 */
#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "bench_wrap.bpf.h"
#include "egress_share.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int eshare_bench_steer(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	__u32 len = bpf_xdp_get_buff_len(ctx);
	struct bench_eth e;

	if (bench_eth_save(ctx, &e))
		return XDP_ABORTED;
	if (parse_packet(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end, len) != PARSE_OK)
		return XDP_ABORTED;
	if (eshare_stage(ctx, &p) != EDGE_VERDICT_TX)
		return XDP_ABORTED; /* the bench sends only replies that go to another member */
	if (bench_eth_restore(ctx, &e, bpf_xdp_get_buff_len(ctx) - len))
		return XDP_ABORTED;
	return XDP_TX;
}

SEC("xdp")
int eshare_bench_undo(struct xdp_md *ctx)
{
	return bench_undo(ctx);
}
