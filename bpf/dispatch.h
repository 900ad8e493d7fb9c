/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Socket dispatch (AnyIP + sk_lookup), shared by bpf/dispatch.bpf.c and edged/dispatch*.c.
 * Change both together.
 *
 * A lookup, for a new TCP connection or a UDP datagram no connected socket claims:
 *   1. dispatch_tables[0] (LPM trie) by {family, protocol, local address}: the longest
 *      prefix that has bindings for this protocol. Its value is the whole port table of that
 *      prefix, with the bindings of shorter prefixes folded in by edged where this prefix
 *      has none, so one lookup answers "more specific prefix wins".
 *   2. a binary search of the port table's segments (disjoint, sorted): exact ports, ranges
 *      and any-port already resolved by edged (exact > range > any).
 *   3. dispatch_sockets[dest]: the service's socket, assigned with bpf_sk_assign.
 * No prefix or no segment: not ours, the kernel's own lookup goes on (SK_PASS). A binding
 * without a socket refuses the packet (SK_DROP) instead of letting the kernel's lookup hand
 * it to whatever else listens there.
 *
 * The program does not know which mechanism a binding uses: for a TPROXY binding nftables
 * assigns the socket in prerouting and the lookup never runs; if it runs anyway (no
 * transparent socket found by nftables), the same service socket is tried here.
 */
#ifndef EDGED_BPF_DISPATCH_H
#define EDGED_BPF_DISPATCH_H

#ifndef __VMLINUX_H__ /* userspace */
#include <linux/types.h>
#endif

/* Port segments per (prefix, protocol). 256 x 8 B = 2 KiB per trie entry, and a binary
 * search of 9 steps; a prefix with more distinct port ranges than this is a config error. */
#define DISPATCH_MAX_SEGMENTS 256
#define DISPATCH_SEARCH_STEPS 9 /* ceil(log2(DISPATCH_MAX_SEGMENTS + 1)) */
/* (prefix, protocol) entries of the trie; not preallocated, so only used ones cost. */
#define DISPATCH_MAX_PREFIXES 16384
/* Binding counter slots; slot 0 counts lookups no binding claimed. */
#define DISPATCH_MAX_BINDINGS 4096
/* Services with a slot in dispatch_sockets: each has one socket per family and protocol. */
#define DISPATCH_MAX_SERVICES      1024
#define DISPATCH_DESTS_PER_SERVICE 4
#define DISPATCH_MAX_DESTS         (DISPATCH_MAX_SERVICES * DISPATCH_DESTS_PER_SERVICE)
#define DISPATCH_SERVICE_NAME_MAX  32

/* Counter slot of lookups that matched no binding. */
#define DISPATCH_BINDING_NONE 0

/* The families of the key; not AF_* so that the key stays one byte and obviously ours. */
enum dispatch_family {
	DISPATCH_FAM_V4 = 0,
	DISPATCH_FAM_V6 = 1,
};

/* dest = service slot * 4 + family * 2 + (protocol == UDP). */
static inline __u32 dispatch_dest(__u32 service, __u32 fam, int udp)
{
	return service * DISPATCH_DESTS_PER_SERVICE + fam * 2 + (udp ? 1 : 0);
}

/* LPM key: prefixlen = 32 (family, protocol, pad: always matched whole) + the prefix length.
 * An IPv4 address takes the first 4 bytes of addr. */
struct dispatch_lpm_key {
	__u32 prefixlen;
	__u8 family; /* enum dispatch_family */
	__u8 protocol;
	__u16 pad;
	__u8 addr[16];
};

#define DISPATCH_KEY_FIXED_BITS 32

/* Ports LO..HI (inclusive, host order) go to BINDING's service socket DEST. */
struct dispatch_segment {
	__u16 lo;
	__u16 hi;
	__u16 binding;
	__u16 dest;
};

/* The port table of one (prefix, protocol): N segments, sorted by lo, disjoint. */
struct dispatch_ports {
	__u32 n;
	__u32 pad;
	struct dispatch_segment seg[DISPATCH_MAX_SEGMENTS];
};

/* Outcomes of a lookup, counted per binding (tubular's names). */
enum dispatch_outcome {
	DISPATCH_OUT_LOOKUPS = 0, /* a binding claimed the lookup */
	DISPATCH_OUT_MISSES,      /* ... but its service has no socket: refused */
	DISPATCH_OUT_BAD_SOCKET,  /* ... and the socket could not take it: refused */
	DISPATCH_NOUTCOMES,
};

/* Value of the per-CPU dispatch_stats array, by binding slot. */
struct dispatch_counters {
	__u64 c[DISPATCH_NOUTCOMES];
};

/* What edged remembers of a registered socket, per dest (edged's own pinned map, so that a
 * restarted edged can still show it and write TPROXY rules for it). */
struct dispatch_dest_info {
	__u64 cookie; /* socket cookie at registration; the socket is gone if the map differs */
	__u32 pid;    /* the registering process, for display */
	__u16 port;   /* bound port, host order: where TPROXY sends */
	__u8 family;  /* AF_INET / AF_INET6 of the socket */
	__u8 pad;
	__u8 addr[16]; /* bound address: where TPROXY sends (a wildcard becomes loopback) */
};

/* Value of dispatch_services, by service slot. An empty name is a free slot. */
struct dispatch_service_slot {
	char name[DISPATCH_SERVICE_NAME_MAX];
	struct dispatch_dest_info dest[DISPATCH_DESTS_PER_SERVICE];
};

/* Value of dispatch_binding_keys, by binding slot: what a slot stands for, so counters stay
 * with their binding across reloads and restarts. protocol 0 is a free slot. */
struct dispatch_binding_key {
	__u8 family; /* enum dispatch_family */
	__u8 protocol;
	__u8 prefixlen;
	__u8 pad;
	__u16 lo;
	__u16 hi;
	__u8 addr[16];
};

/* Pinned under /sys/fs/bpf/edged/<instance>/; the maps are pinned by name (dispatch_*). */
#define DISPATCH_PIN_PROG "prog_sk_lookup_dispatch"
#define DISPATCH_PIN_LINK "netns_link_sk_lookup_dispatch"

#endif
