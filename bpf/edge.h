/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Shared between the XDP edge program (bpf/edge.bpf.c) and edged: the stage and verdict
 * numbering, the counter layout and the map names. Change them together.
 */
#ifndef EDGED_BPF_EDGE_H
#define EDGED_BPF_EDGE_H

#ifndef __VMLINUX_H__ /* userspace; BPF programs get the types from vmlinux.h */
#include <linux/types.h>
#endif

/*
 * Stages of the XDP edge program, in the order a packet meets them. A packet is counted
 * once, by the stage that decided its verdict; packets that every stage let through are
 * counted by EDGE_STAGE_END.
 */
enum edge_stage {
	EDGE_STAGE_PARSE = 0,
	EDGE_STAGE_DOS,
	EDGE_STAGE_TRANSIT,
	EDGE_STAGE_LB,
	EDGE_STAGE_END,
	EDGE_NSTAGES,
};

/* Verdicts as counted; they map 1:1 to XDP actions (see edge_verdict_action()). */
enum edge_verdict {
	EDGE_VERDICT_PASS = 0,
	EDGE_VERDICT_DROP,
	EDGE_VERDICT_TX,
	EDGE_VERDICT_REDIRECT,
	EDGE_VERDICT_ABORTED,
	EDGE_NVERDICTS,
};

/* A stage's answer when it has no verdict for the packet (BPF side only). */
#define EDGE_CONTINUE -1

/* struct pkt's rule_id before a stage sets it: no rule decided. */
#define EDGE_RULE_NONE 0xffffffffu

struct edge_counter {
	__u64 packets;
	__u64 bytes;
};

/* Value of the per-CPU `uplink_stats` array, indexed by the uplink's slot. */
struct edge_uplink_stats {
	struct edge_counter c[EDGE_NSTAGES][EDGE_NVERDICTS];
};

/*
 * How many uplinks one edged instance may attach to. Servers have 2-4; 64 leaves room for
 * lab topologies with many veths without making the stats map large (65 x 400 B per CPU).
 */
#define EDGE_MAX_UPLINKS 64
/* Slot 0 of uplink_stats counts packets on interfaces that are not (or no longer) uplinks;
 * uplinks use slots 1..EDGE_MAX_UPLINKS. */
#define EDGE_SLOT_OTHER 0
#define EDGE_NSLOTS     (EDGE_MAX_UPLINKS + 1)
/*
 * uplink_slots is an array indexed by ifindex: an array lookup is inlined by the verifier,
 * where a hash lookup costs about 35 ns per packet here (measured with make bench). 65536
 * entries (256 KiB) cover the ifindexes a network namespace hands out; edged refuses an
 * uplink beyond it with a message.
 */
#define EDGE_MAX_IFINDEX 65536

/* Name of the pinned program, under /sys/fs/bpf/edged/<instance>/. */
#define EDGE_PIN_PROG "prog_xdp_edge"
/* Prefix of the pinned XDP links; the uplink's interface name follows. */
#define EDGE_PIN_LINK_PREFIX "link_xdp_"

#endif
