// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP edge program: one per edged instance, attached to every uplink.
 *
 *   parse -> dos -> transit (GRE decap) -> lb -> end (XDP_PASS to the stack)
 *
 * Each stage either lets the packet continue or decides its verdict. Stages that the config
 * turns off are `const volatile` false at load time, so the verifier prunes them and they
 * cost nothing. Every packet is counted once, per uplink, by the stage that decided it.
 */
#include "defs.h"
#include "edge.h"
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by edged from the config before load; the verifier prunes stages that are off. */
const volatile bool enable_dos = false;
const volatile bool enable_transit = false;
const volatile bool enable_lb = false;

/* Which counter slot each uplink uses: ifindex -> slot (1..EDGE_MAX_UPLINKS), 0 for any
 * other interface. Written by edged when it attaches or detaches an uplink. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EDGE_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} uplink_slots SEC(".maps");

/* Per-uplink packet and byte counters by stage and verdict, indexed by slot. Pinned, so they
 * survive edged restarts; edged zeroes a slot when it gives it to a new uplink. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EDGE_NSLOTS);
	__type(key, __u32);
	__type(value, struct edge_uplink_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} uplink_stats SEC(".maps");

static __always_inline int verdict_action(int verdict)
{
	switch (verdict) {
	case EDGE_VERDICT_PASS:
		return XDP_PASS;
	case EDGE_VERDICT_DROP:
		return XDP_DROP;
	case EDGE_VERDICT_TX:
		return XDP_TX;
	case EDGE_VERDICT_REDIRECT:
		return XDP_REDIRECT;
	default:
		return XDP_ABORTED;
	}
}

static __always_inline int finish(struct xdp_md *ctx, int stage, int verdict)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct edge_uplink_stats *st;
	__u32 slot = EDGE_SLOT_OTHER;
	__u32 *s;

	s = bpf_map_lookup_elem(&uplink_slots, &ifindex);
	if (s)
		slot = *s;
	st = bpf_map_lookup_elem(&uplink_stats, &slot);
	if (st && stage >= 0 && stage < EDGE_NSTAGES && verdict >= 0 && verdict < EDGE_NVERDICTS) {
		struct edge_counter *c = &st->c[stage][verdict];

		/* Per-CPU value: this CPU is its only writer, no atomics needed. */
		c->packets++;
		c->bytes += bpf_xdp_get_buff_len(ctx);
	}
	return verdict_action(verdict);
}

/*
 * The function stages. Each returns EDGE_CONTINUE or an EDGE_VERDICT_*; the DoS, transit
 * and load-balancer issues give them their rules. Until a function has rules, enabling it
 * lets every packet continue.
 */
static __always_inline int stage_dos(struct xdp_md *ctx, struct pkt *p)
{
	return EDGE_CONTINUE;
}

static __always_inline int stage_transit(struct xdp_md *ctx, struct pkt *p)
{
	return EDGE_CONTINUE;
}

static __always_inline int stage_lb(struct xdp_md *ctx, struct pkt *p)
{
	return EDGE_CONTINUE;
}

SEC("xdp.frags")
int xdp_edge(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = { .rule_id = EDGE_RULE_NONE };
	int v;

	switch (parse_packet(&p, data, data_end, bpf_xdp_get_buff_len(ctx))) {
	case PARSE_OK:
		break;
	case PARSE_NOT_IP:
		return finish(ctx, EDGE_STAGE_PARSE, EDGE_VERDICT_PASS);
	default:
		return finish(ctx, EDGE_STAGE_PARSE, EDGE_VERDICT_DROP);
	}

	if (enable_dos && (v = stage_dos(ctx, &p)) != EDGE_CONTINUE)
		return finish(ctx, EDGE_STAGE_DOS, v);
	if (enable_transit && (v = stage_transit(ctx, &p)) != EDGE_CONTINUE)
		return finish(ctx, EDGE_STAGE_TRANSIT, v);
	if (enable_lb && (v = stage_lb(ctx, &p)) != EDGE_CONTINUE)
		return finish(ctx, EDGE_STAGE_LB, v);
	return finish(ctx, EDGE_STAGE_END, EDGE_VERDICT_PASS);
}
