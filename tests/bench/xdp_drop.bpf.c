// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The floor of the flood benchmark: drop everything, do nothing else. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
