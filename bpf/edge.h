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
	EDGE_STAGE_EGRESS, /* IP sharing: replies steered to the edge owning their port */
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

/*
 * Packet capture (edgectl capture): finish() samples packets whose verdict, stage and rule
 * match edge_capture_cfg into the edge_samples ring buffer, from which edged writes pcaps.
 * Off (verdicts == 0) costs one array lookup per packet.
 */
struct edge_capture_cfg {
	__u32 verdicts; /* 1 << EDGE_VERDICT_* for each verdict to capture; 0 = capture off */
	__u32 stages;   /* 1 << EDGE_STAGE_* for each stage; 0 = any stage */
	__u32 rule_id;  /* only packets decided by this rule, or EDGE_RULE_ANY */
	__u32 every;    /* 1 in EVERY matching packets (per CPU); 0 and 1 = all */
};

#define EDGE_RULE_ANY 0xfffffffeu
/* Bytes copied of each sample: a 1500-byte IP packet with Ethernet and two VLAN tags, so a
 * replay reproduces what was seen. */
#define EDGE_SAMPLE_MAX 1536
/* Ring buffer: ~2,500 full-size samples, a second of a heavy flood's 1-in-N sample. */
#define EDGE_SAMPLES_RING_BYTES (4 * 1024 * 1024)

struct edge_sample {
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u32 ifindex;
	__u32 rule_id;
	__u32 len;     /* the frame's length on the wire, all buffers */
	__u16 cap_len; /* bytes of it in data */
	__u8 stage;
	__u8 verdict;
	__u8 data[EDGE_SAMPLE_MAX];
};

/* Name of the pinned program, under /sys/fs/bpf/edged/<instance>/. */
#define EDGE_PIN_PROG "prog_xdp_edge"
/* Prefix of the pinned XDP links; the uplink's interface name follows. */
#define EDGE_PIN_LINK_PREFIX "link_xdp_"

#endif
