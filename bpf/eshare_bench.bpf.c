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
#include "egress_share.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct bench_eth {
	__u8 b[ETH_HLEN];
};

static __always_inline int eth_save(struct xdp_md *ctx, struct bench_eth *e)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	if (data + ETH_HLEN > data_end)
		return -1;
	__builtin_memcpy(e->b, data, ETH_HLEN);
	return 0;
}

/* Moves the start of the frame by DELTA and writes E there. */
static __always_inline int eth_restore(struct xdp_md *ctx, const struct bench_eth *e, int delta)
{
	void *data, *data_end;

	if (bpf_xdp_adjust_head(ctx, delta))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN > data_end)
		return -1;
	__builtin_memcpy(data, e->b, ETH_HLEN);
	return 0;
}

SEC("xdp")
int eshare_bench_steer(struct xdp_md *ctx)
{
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	__u32 len = bpf_xdp_get_buff_len(ctx);
	struct bench_eth e;

	if (eth_save(ctx, &e))
		return XDP_ABORTED;
	if (parse_packet(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end, len) != PARSE_OK)
		return XDP_ABORTED;
	if (eshare_stage(ctx, &p) != EDGE_VERDICT_TX)
		return XDP_ABORTED; /* the bench sends only replies that go to another member */
	if (eth_restore(ctx, &e, bpf_xdp_get_buff_len(ctx) - len))
		return XDP_ABORTED;
	return XDP_TX;
}

SEC("xdp")
int eshare_bench_undo(struct xdp_md *ctx)
{
	__u32 len = bpf_xdp_get_buff_len(ctx);
	struct bench_eth e;

	if (eth_save(ctx, &e))
		return XDP_ABORTED;
	if (eth_restore(ctx, &e, bpf_xdp_get_buff_len(ctx) - len))
		return XDP_ABORTED;
	return XDP_TX;
}
