// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP edge program: one per edged instance, attached to every uplink.
 *
 *   parse -> dos -> transit (GRE decap) -> egress (IP sharing) -> lb -> end (XDP_PASS)
 *
 * Each stage either lets the packet continue or decides its verdict. Stages that the config
 * turns off are `const volatile` false at load time, so the verifier prunes them and they
 * cost nothing. Every packet is counted once, per uplink, by the stage that decided it.
 */
#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "dos.bpf.h"
#include "syncookie.bpf.h"
#include "lb.bpf.h"
#include "egress_share.bpf.h"
#include "transit.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by edged from the config before load; the verifier prunes stages that are off. */
const volatile bool enable_dos = false;
const volatile bool enable_transit = false;
const volatile bool enable_lb = false;
/* egress with at least one shared address (egress.snat[].share) */
const volatile bool enable_egress_share = false;

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

/* What to capture; written by edged when `edgectl capture` starts and stops. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edge_capture_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} edge_capture SEC(".maps");

/* Per-CPU count of matching packets since the last sample, for 1-in-N sampling. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} edge_capture_seq SEC(".maps");

/* Sampled packets (struct edge_sample), read by edged while a capture runs. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EDGE_SAMPLES_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} edge_samples SEC(".maps");

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

static __always_inline bool capture_wanted(const struct edge_capture_cfg *cfg, int stage,
                                           int verdict, __u32 rule_id)
{
	__u32 zero = 0, *seq;

	if (!(cfg->verdicts & (1u << verdict)))
		return false;
	if (cfg->stages && !(cfg->stages & (1u << stage)))
		return false;
	if (cfg->rule_id != EDGE_RULE_ANY && cfg->rule_id != rule_id)
		return false;
	if (cfg->every <= 1)
		return true;
	seq = bpf_map_lookup_elem(&edge_capture_seq, &zero);
	if (!seq || ++*seq < cfg->every)
		return false;
	*seq = 0;
	return true;
}

/* Copies the frame's first EDGE_SAMPLE_MAX bytes to the ring buffer; a full ring loses the
 * sample, never the packet. */
static __noinline int capture(struct xdp_md *ctx, __u32 stage, __u32 verdict, __u32 rule_id)
{
	struct edge_sample *s;
	__u64 len = bpf_xdp_get_buff_len(ctx), cap = len;

	if (cap > EDGE_SAMPLE_MAX)
		cap = EDGE_SAMPLE_MAX;
	/* clang 14 drops the clamp's bounds on the way to the helper call: restate them on a
	 * register it cannot reason away (shared/platform.md, verifier traps). The lower bound
	 * is a '<' on purpose: clang turns `< 1` into `== 0`, from which 6.1's verifier learns
	 * no minimum (tests/e2e/core_6_1.sh caught it). XDP never sees frames under ETH_HLEN. */
	barrier_var(cap);
	if (cap < ETH_HLEN || cap > EDGE_SAMPLE_MAX)
		return 0;
	s = bpf_ringbuf_reserve(&edge_samples, sizeof(*s), 0);
	if (!s)
		return 0;
	if (bpf_xdp_load_bytes(ctx, 0, s->data, cap)) {
		bpf_ringbuf_discard(s, 0);
		return 0;
	}
	s->ts_ns = bpf_ktime_get_boot_ns();
	s->ifindex = ctx->ingress_ifindex;
	s->rule_id = rule_id;
	s->len = len;
	s->cap_len = cap;
	s->stage = stage;
	s->verdict = verdict;
	bpf_ringbuf_submit(s, 0);
	return 0;
}

static __always_inline int finish(struct xdp_md *ctx, const struct pkt *p, int stage, int verdict)
{
	struct edge_capture_cfg *cap;
	__u32 zero = 0;
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
		c->bytes += p->len; /* as received: stages may rewrite the frame */
	}
	cap = bpf_map_lookup_elem(&edge_capture, &zero);
	if (cap && cap->verdicts && stage >= 0 && stage < EDGE_NSTAGES && verdict >= 0 &&
	    verdict < EDGE_NVERDICTS && capture_wanted(cap, stage, verdict, p->rule_id))
		capture(ctx, stage, verdict, p->rule_id);
	return verdict_action(verdict);
}

/*
 * The function stages. Each returns EDGE_CONTINUE or an EDGE_VERDICT_*; the DoS, transit
 * and load-balancer issues give them their rules. Until a function has rules, enabling it
 * lets every packet continue.
 */
static __always_inline int stage_dos(struct xdp_md *ctx, struct pkt *p)
{
	__u32 active = dos_active_word(); /* once: one generation of maps for the packet */
	int v = dos_stage(ctx, p, active);

	return v != EDGE_CONTINUE ? v : syncookie_stage(ctx, p, active);
}

static __always_inline int stage_transit(struct xdp_md *ctx, struct pkt *p)
{
	return transit_stage(ctx, p);
}

/*
 * IP sharing (bpf/egress_share.bpf.h). After DoS: replies to a shared address are internet
 * traffic like any other, and a flood aimed at one must be dropped here, not forwarded to a
 * fleet member. Before the load balancer: shared addresses are not VIPs, and the tunnels
 * that members send each other would otherwise reach lb_decap, which unwraps VIP traffic
 * only and drops the rest.
 */
static __always_inline int stage_egress(struct xdp_md *ctx, struct pkt *p)
{
	return eshare_stage(ctx, p);
}

static __always_inline int stage_lb(struct xdp_md *ctx, struct pkt *p)
{
	return lb_stage(ctx, p);
}

SEC("xdp.frags")
int xdp_edge(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = {.rule_id = EDGE_RULE_NONE};
	int v;

	switch (parse_packet(&p, data, data_end, bpf_xdp_get_buff_len(ctx))) {
	case PARSE_OK:
		break;
	case PARSE_NOT_IP:
		return finish(ctx, &p, EDGE_STAGE_PARSE, EDGE_VERDICT_PASS);
	default:
		return finish(ctx, &p, EDGE_STAGE_PARSE, EDGE_VERDICT_DROP);
	}

	if (enable_dos && (v = stage_dos(ctx, &p)) != EDGE_CONTINUE)
		return finish(ctx, &p, EDGE_STAGE_DOS, v);
	if (enable_transit && (v = stage_transit(ctx, &p)) != EDGE_CONTINUE)
		return finish(ctx, &p, EDGE_STAGE_TRANSIT, v);
	if (enable_egress_share && (v = stage_egress(ctx, &p)) != EDGE_CONTINUE)
		return finish(ctx, &p, EDGE_STAGE_EGRESS, v);
	if (enable_lb && (v = stage_lb(ctx, &p)) != EDGE_CONTINUE)
		return finish(ctx, &p, EDGE_STAGE_LB, v);
	return finish(ctx, &p, EDGE_STAGE_END, EDGE_VERDICT_PASS);
}
