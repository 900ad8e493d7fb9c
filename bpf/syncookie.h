/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * SYN cookies in XDP, shared by bpf/syncookie.bpf.h (the stage) and edged (edged/syncookie_maps.c
 * reads the counters, edged/synproxy.c sets up the nftables synproxy behind it). Which
 * destinations are protected lives in the DoS stage's dos_dest_v4/v6 policies (bpf/dos.h).
 */
#ifndef EDGED_BPF_SYNCOOKIE_H
#define EDGED_BPF_SYNCOOKIE_H

#ifndef __VMLINUX_H__ /* userspace */
#include <linux/types.h>
#endif

/* Outcome counters of syncookie_stats (per-CPU array of __u64 packets, one per outcome). */
enum syncookie_stat {
	SC_SYN_ANSWERED = 0, /* SYN-ACK with a cookie sent back from XDP (XDP_TX) */
	SC_SYN_BELOW_AUTO,   /* auto mode, rate under auto_pps: SYN left to nft synproxy */
	SC_SYN_NO_ROOM,      /* the frame could not become a SYN-ACK: left to nft synproxy */
	SC_ACK_VALID,        /* cookie ACK passed on to nft synproxy, which completes it */
	SC_ACK_PROBE_FIXED,  /* zero-window probe after a lost cookie ACK, repaired and passed */
	SC_ACK_INVALID,      /* ACK of no known flow with a wrong cookie: dropped */
	SC_ACK_ESTABLISHED,  /* conntrack knows the flow: passed untouched */
	SC_ACK_NO_CONNTRACK, /* no conntrack kfuncs in this kernel: ACK left to nft synproxy */
	SC_CT_ERROR,         /* the conntrack lookup failed: ACK left to nft synproxy */
	SC_SYN_BAD_FLAGS,    /* SYN with RST or FIN: dropped */
	SC_NSTATS,
};

/* Names for edgectl and metrics, in enum order. */
#define SYNCOOKIE_STAT_NAMES                                                                       \
	{                                                                                          \
		"syn_answered", "syn_below_auto", "syn_no_room", "ack_valid", "ack_probe_fixed",   \
		        "ack_invalid", "ack_established", "ack_no_conntrack", "ct_error",          \
		        "syn_bad_flags",                                                           \
	}

/* Pinned name of the counters, under /sys/fs/bpf/edged/<instance>/. */
#define SYNCOOKIE_PIN_STATS "syncookie_stats"

/*
 * The window scale the SYN-ACK offers. nft synproxy completes the handshake with the real
 * listener and must announce the same shift to the client's later segments, so edged
 * configures it with this value too (edged/synproxy.c).
 */
#define SYNCOOKIE_WSCALE 7

/* Default MSS the SYN-ACK offers: a 1500-byte MTU minus the IPv4 or IPv6 and TCP headers. */
#define SYNCOOKIE_MSS4 1460
#define SYNCOOKIE_MSS6 1440

#endif
