/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Not loaded by edged: the wrapper of the benchmark programs (lb_bench.bpf.c,
 * eshare_bench.bpf.c) that measure a stage which encapsulates the frame.
 *
 * BPF_PROG_TEST_RUN with repeat reuses one buffer, so such a stage would see its own output
 * from the second run on (shared/platform.md). The wrapper saves the Ethernet header before
 * the stage and afterwards strips what the stage prepended and writes the header back, so
 * every run sees the same packet. bench_undo() is the wrapper alone (the same helper calls
 * and copies on an untouched frame), whose cost the benchmark subtracts.
 */
#ifndef EDGED_BENCH_WRAP_BPF_H
#define EDGED_BENCH_WRAP_BPF_H

#include "defs.h"

struct bench_eth {
	__u8 b[ETH_HLEN];
};

static __always_inline int bench_eth_save(struct xdp_md *ctx, struct bench_eth *e)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	if (data + ETH_HLEN > data_end)
		return -1;
	__builtin_memcpy(e->b, data, ETH_HLEN);
	return 0;
}

/* Moves the start of the frame by DELTA and writes E there. */
static __always_inline int bench_eth_restore(struct xdp_md *ctx, const struct bench_eth *e,
                                             int delta)
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

/* The wrapper without a stage in it: XDP_TX with the frame as it came. */
static __always_inline int bench_undo(struct xdp_md *ctx)
{
	__u32 len = bpf_xdp_get_buff_len(ctx);
	struct bench_eth e;

	if (bench_eth_save(ctx, &e))
		return XDP_ABORTED;
	if (bench_eth_restore(ctx, &e, bpf_xdp_get_buff_len(ctx) - len))
		return XDP_ABORTED;
	return XDP_TX;
}

#endif
