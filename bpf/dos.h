/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The DoS stage's data, shared by bpf/dos.bpf.h (the XDP stage) and edged/dos*.c (what
 * fills it). Change both together.
 *
 * Order of evaluation, per packet (after parse, before everything else):
 *   1. allow lists (source address): a hit skips the block lists, rules and ceilings
 *   2. block lists (source address): a hit drops
 *   3. signature rules, in order: the first rule that matches decides (drop, rate-limit,
 *      pass = skip later DoS rules, count = note it and go on to the next rule)
 *   4. per-destination packet-rate ceilings
 *   5. SYN cookies for protected destinations (TCP SYN answered in XDP, cookie ACKs checked):
 *      last, so a ceiling also bounds the SYN-ACKs XDP sends
 *
 * A list is two maps: a hash of exact addresses (its /32 or /128 entries: what most block
 * lists hold, at the cost of one hash lookup) and an LPM trie of the other prefixes (and of
 * exact addresses that did not fit the hash). An address is listed when either holds a
 * live entry for it.
 *
 * Atomic changes: lists, rule sets and destination policies live in inner maps of
 * ARRAY_OF_MAPS, in two generations of slots. edged builds every new inner map into the
 * generation not in use, then flips dos_active (the generation and the DOS_HAS_* bits of
 * what it holds) with one 4-byte write; a packet reads dos_active once, so it sees the old
 * sets or the new ones, never a mix. Single list entries added at runtime (edgectl) go
 * straight into the live inner maps: one entry is atomic by itself.
 */
#ifndef EDGED_BPF_DOS_H
#define EDGED_BPF_DOS_H

#include "edge.h"

#ifndef __VMLINUX_H__ /* userspace */
#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */
#endif

/* Rules per set. Rules are evaluated with bpf_loop, so the verifier's cost does not grow
 * with this; 1024 covers the largest hand-written rule sets we know of with room. */
#define DOS_MAX_RULES 1024
/* Entries per list and family. 2M leaves room over the 1M the issue asks for; LPM tries
 * are not preallocated, so an empty list costs nothing. */
#define DOS_MAX_LIST_ENTRIES (2 * 1024 * 1024)
/* Rate-limiter and ceiling state: LRU, so spoofed-source floods evict old keys instead of
 * growing memory; 256k keys x ~64 B = 16 MiB. */
#define DOS_MAX_BUCKETS (256 * 1024)
/* Protected destinations (SYN cookies) and ceilings, as prefixes. */
#define DOS_MAX_DEST_PREFIXES 4096
/* Payload bytes a rule can match. */
#define DOS_PAYLOAD_MAX 16

/* The lists (outer slot index of dos_lists_v4 / dos_lists_v6). */
enum dos_list {
	DOS_LIST_ALLOW = 0,
	DOS_LIST_BLOCK,
	DOS_NLISTS,
};

/* Generations of inner-map slots (see the top); slot of LIST in generation GEN of the list
 * outer maps. The rule and destination outer maps have one slot per generation. */
#define DOS_GENS                 2
#define DOS_LIST_SLOT(gen, list) ((gen)*DOS_NLISTS + (list))

/* dos_active: the live generation in the top bit, and what it holds in DOS_HAS_* bits, so
 * that the data path skips the lookups of what is empty. FAM is 0 for IPv4, 1 for IPv6. */
#define DOS_ACTIVE_GEN            (1u << 31)
#define DOS_HAS_EXACT(list, fam)  (1u << ((list)*4 + (fam)*2))
#define DOS_HAS_PREFIX(list, fam) (1u << ((list)*4 + (fam)*2 + 1))
#define DOS_HAS_LIST(list)        (0xfu << ((list)*4))
#define DOS_HAS_RULES             (1u << 8)
#define DOS_HAS_CEILINGS          (1u << 9)
#define DOS_HAS_SYN_COOKIES       (1u << 10)
#define DOS_HAS_ALL               0x7ffu
/* The bits that need the DoS stage's own function (the SYN cookies have theirs). */
#define DOS_HAS_STAGE                                                                              \
	(DOS_HAS_LIST(DOS_LIST_ALLOW) | DOS_HAS_LIST(DOS_LIST_BLOCK) | DOS_HAS_RULES |             \
	 DOS_HAS_CEILINGS)

static inline __u32 dos_active_gen(__u32 active)
{
	return active & DOS_ACTIVE_GEN ? 1 : 0;
}

/* Capacity of a list's exact-address hash beyond the entries it is built with: room for
 * addresses added at runtime (edgectl). Past it they go to the trie, which takes any. */
#define DOS_EXACT_SPARE 65536

/* Flags of the exact-address hashes (inner maps: edged and the template must agree).
 * Preallocated: loading 1M entries then allocates nothing per entry, and a hash is made
 * only for a list that holds exact addresses, sized for them plus DOS_EXACT_SPARE. */
#define DOS_EXACT_MAP_FLAGS 0

/* Exact-address keys of the list hashes: the address, network order. */
struct dos_exact_v4 {
	__u8 addr[4];
};

struct dos_exact_v6 {
	__u8 addr[16];
};

/* LPM keys; prefixlen counts bits of addr. */
struct dos_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct dos_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Value of list entries. */
struct dos_list_entry {
	/* CLOCK_BOOTTIME ns (bpf_ktime_get_boot_ns) after which the entry no longer matches;
	 * 0 = never. Checked in XDP so expiry is exact; edged deletes expired entries later to
	 * free the memory. */
	__u64 expires_ns;
	/* DOS_ENTRY_RUNTIME: added with edgectl, not from the config; a reload rebuilds the
	 * config's entries and carries these over. The data path ignores it. */
	__u32 flags;
	__u32 pad;
};

#define DOS_ENTRY_RUNTIME 1u

/* What a rule matches: a bit per field; fields without their bit are ignored. */
enum dos_match {
	DOS_M_L3 = 1 << 0,        /* family: 4 or 6 */
	DOS_M_L4 = 1 << 1,        /* l4_proto (IPPROTO_*) */
	DOS_M_SRC = 1 << 2,       /* src/src_len prefix */
	DOS_M_DST = 1 << 3,       /* dst/dst_len prefix */
	DOS_M_SPORT = 1 << 4,     /* sport_min..sport_max (inclusive, host order) */
	DOS_M_DPORT = 1 << 5,     /* dport_min..dport_max */
	DOS_M_TCP_FLAGS = 1 << 6, /* (flags & tcp_flags_mask) == tcp_flags_value */
	DOS_M_TTL = 1 << 7,       /* ttl_min..ttl_max (hop limit for IPv6) */
	DOS_M_LEN = 1 << 8,       /* len_min..len_max: the frame's length, all buffers */
	DOS_M_FRAG = 1 << 9,      /* frag: DOS_FRAG_ANY_FRAGMENT, _FIRST, _LATER or _NONE */
	DOS_M_PAYLOAD = 1 << 10,  /* payload bytes at payload_off from the L4 header */
};

enum dos_frag_match {
	DOS_FRAG_NONE = 0,         /* not a fragment */
	DOS_FRAG_ANY_FRAGMENT = 1, /* any fragment */
	DOS_FRAG_FIRST = 2,        /* first fragment (offset 0, more fragments) */
	DOS_FRAG_LATER = 3,        /* fragment with offset != 0 */
};

enum dos_action {
	DOS_ACT_END = 0,    /* not a rule: marks the end of the set */
	DOS_ACT_DROP,       /* drop */
	DOS_ACT_RATE_LIMIT, /* pass while the rule's bucket for this key has tokens, else drop */
	DOS_ACT_PASS,       /* skip the rest of the DoS rules (lists and SYN cookies still apply) */
	DOS_ACT_COUNT,      /* count the match and evaluate the next rule */
};

/* What a rate-limit rule keeps one bucket per. */
enum dos_rl_key {
	DOS_RL_SRC = 0, /* source address (/32, /128) */
	DOS_RL_SRC24,   /* source /24 (IPv4) or /48 (IPv6) */
	DOS_RL_SRC64,   /* source /64 (IPv6); IPv4 uses /32 */
	DOS_RL_DST,     /* destination address */
	DOS_RL_RULE,    /* one bucket for the whole rule */
};

struct dos_rule {
	__u32 id;    /* index of the rule's counters in dos_rule_stats; stable across reloads
	              * for a rule of the same name */
	__u16 match; /* enum dos_match bits */
	__u8 action; /* enum dos_action */
	__u8 l3;     /* 4 or 6 */
	__u8 l4_proto;
	__u8 src_len; /* prefix lengths in bits */
	__u8 dst_len;
	__u8 frag; /* enum dos_frag_match */
	__u8 tcp_flags_mask;
	__u8 tcp_flags_value;
	__u8 ttl_min;
	__u8 ttl_max;
	__u16 sport_min;
	__u16 sport_max;
	__u16 dport_min;
	__u16 dport_max;
	__u16 len_min;
	__u16 len_max;
	__u8 src[16]; /* IPv4 in the first 4 bytes, network order */
	__u8 dst[16];
	__u16 payload_off; /* from the start of the L4 header */
	__u8 payload_len;  /* 1..DOS_PAYLOAD_MAX */
	__u8 rl_key;       /* enum dos_rl_key */
	__u8 payload[DOS_PAYLOAD_MAX];
	__u8 payload_mask[DOS_PAYLOAD_MAX];
	/* Rate limit: token buckets refilled at these rates, holding at most a burst of one
	 * second's worth (or burst_* when set). 0 = no limit on that measure. */
	__u64 pps;
	__u64 bps; /* bytes per second */
	__u64 burst_pkts;
	__u64 burst_bytes;
};

/* Outcome columns of the per-rule and per-list counters. */
enum dos_outcome {
	DOS_OUT_MATCHED = 0, /* every match, whatever the action */
	DOS_OUT_DROPPED,
	DOS_OUT_RATE_LIMITED, /* dropped because the bucket was empty */
	DOS_OUT_PASSED,       /* matched and let through (pass, allow, within rate) */
	DOS_NOUTCOMES,
};

struct dos_counters {
	__u64 packets[DOS_NOUTCOMES];
	__u64 bytes[DOS_NOUTCOMES];
};

/* Key of the rate-limit buckets (LRU hash). */
struct dos_bucket_key {
	__u32 rule_id; /* DOS_RULE_ID_CEILING for per-destination ceilings */
	__u8 family;   /* 4 or 6; 0 for DOS_RL_RULE */
	__u8 pad[3];
	__u8 addr[16]; /* the key address, masked to the key's prefix */
};

/* Token bucket; units and refill arithmetic are documented in dos.bpf.h. No bpf_spin_lock
 * inside: the kernel refuses one in an LRU map's value (EOPNOTSUPP, then libbpf silently
 * recreates the map without BTF, where bpf_spin_lock cannot be used); the locks guarding the
 * buckets are the striped dos_bucket_locks of dos.bpf.h. */
struct dos_bucket {
	__u64 last_ns;
	__u64 pkt_tokens;
	__u64 byte_tokens;
};

/* dos_dest_policy.syn_cookies: whether, and when, XDP answers SYNs with cookies. */
enum dos_syn_cookies {
	DOS_SYN_COOKIES_OFF = 0,
	DOS_SYN_COOKIES_ALWAYS = 1, /* every SYN to the destination */
	DOS_SYN_COOKIES_AUTO = 2,   /* SYNs beyond syn_auto_pps per destination address */
};

/* Port ranges per SYN-cookie destination: "80,443,8000-8100" is 3; a destination needing
 * more is written as two config entries for two prefixes, or with wider ranges. */
#define DOS_SYN_PORT_RANGES 8

/* A per-destination ceiling or a SYN-cookie-protected destination (LPM values). */
struct dos_dest_policy {
	__u64 ceiling_pps;   /* 0 = no ceiling */
	__u64 ceiling_burst; /* packets; 0 = one second's worth */
	__u8 syn_cookies;    /* enum dos_syn_cookies: answer SYNs to it with cookies */
	__u8 pad[7];
	/* SYN cookies (bpf/syncookie.bpf.h), used when syn_cookies is set: */
	__u64 syn_auto_pps; /* AUTO: SYNs per second per destination address left to the stack */
	__u16 syn_mss;      /* MSS the SYN-ACK offers; 0 = 1460 (IPv4) or 1440 (IPv6) */
	__u8 syn_nports;    /* port ranges below; 0 = every TCP port */
	__u8 syn_pad[5];
	__u16 syn_port_lo[DOS_SYN_PORT_RANGES]; /* inclusive, host order */
	__u16 syn_port_hi[DOS_SYN_PORT_RANGES];
};

/* Rule ids the counters and captures use for what is not a signature rule. */
#define DOS_RULE_ID_NONE      EDGE_RULE_NONE /* the packet met no DoS decision (edge.h) */
#define DOS_RULE_ID_BLOCKLIST 0xfffffff0u    /* dropped by the block list */
#define DOS_RULE_ID_CEILING   0xfffffff1u    /* dropped by a per-destination ceiling */
#define DOS_RULE_ID_SYNCOOKIE 0xfffffff2u    /* SYN answered / ACK checked by SYN cookies */

#endif
