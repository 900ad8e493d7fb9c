/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * IP sharing across the fleet ('soft-unicast'), the data shared by bpf/egress_share.bpf.h
 * (the XDP stage) and edged/egress_share.c (what fills it). Change both together.
 *
 * Several edges SNAT their VPN clients to one egress IPv4, each to its own slice of the
 * address's source-port range (egress.snat[].share, split by edged/port_range.c). Replies
 * come back by anycast + ECMP to any edge. Per IPv4 packet whose destination is a shared
 * address, the stage takes the packet's port on that address:
 *   TCP/UDP            the destination port
 *   ICMP echo reply    the identifier (conntrack SNATs echo ids into the same range)
 *   ICMP error         the source port (or echo id) of the packet it quotes, which the
 *                      shared address sent
 *   first fragment     its destination port, remembered by (source, destination, protocol,
 *                      IP id) for the later fragments, which have no port (eshare_frags)
 * and the member whose slice holds the port owns the flow: this edge -> pass (conntrack
 * de-NATs it); another edge -> encapsulated to that edge's fleet address (IPIP or GUE, as the
 * load balancer sends: bpf/lb.bpf.h) and sent. A port outside the shared range: pass.
 *
 * The owning edge receives the tunnel on its `egress.self` address from a member of the
 * same shared address, strips it and passes the inner packet up: no `lb:` config needed.
 */
#ifndef EDGED_BPF_ESHARE_H
#define EDGED_BPF_ESHARE_H

#include "lb.h"

#ifndef __VMLINUX_H__ /* userspace */
#include <linux/types.h>
#endif

/* Shared addresses one edged serves: a few per fleet (IPv4 is the scarce thing). */
#define ESHARE_MAX_ADDRS 64
/* Edges sharing one address. A slice of 64512 ports (1024-65535) split 64 ways is 1008
 * ports per edge: more members than that leave too few ports per edge to be useful. */
#define ESHARE_MAX_MEMBERS 64 /* a power of two: the data path masks indexes with it */
/* Fragment trains in flight whose first fragment was seen (eshare_frags): LRU, so a train
 * whose first fragment never comes ages out. */
#define ESHARE_MAX_FRAGS 8192

/*
 * The table is an open-addressed array (linear probing), not a BPF hash map: every IPv4
 * packet looks its destination up, and a miss in an array whose lookups the verifier inlines
 * costs a few ns where a hash map lookup measured about 45 (make bench, egress_share_miss).
 * Twice the addresses keeps it at most half full; edged refuses a set needing more probes.
 */
#define ESHARE_SLOTS     (2 * ESHARE_MAX_ADDRS)
#define ESHARE_SLOT_BITS 7 /* log2(ESHARE_SLOTS) */
#define ESHARE_PROBES    8

/* "This edge is not a member" in eshare_addr.self. */
#define ESHARE_NO_SELF 0xffff

/*
 * Value of the shared-address table (hash, key: the address, network order). Member i owns
 * ports first + i * size ... first + (i + 1) * size - 1; the last member owns the rest up to
 * `last` (edged/port_range.c's split). The data path computes i by one division.
 */
struct eshare_addr {
	__u32 index; /* counters slot (eshare_stats), 0..ESHARE_MAX_ADDRS-1 */
	__u16 first; /* the shared range, host order */
	__u16 last;
	__u16 size; /* ports per member (the last one: the remainder too); >= 1 */
	__u16 n;    /* members, 1..ESHARE_MAX_MEMBERS */
	__u16 self; /* this edge's member index, or ESHARE_NO_SELF */
	__u16 pad;
	__be32 member[ESHARE_MAX_MEMBERS]; /* fleet address of each member, network order */
};

/* A slot of the table; addr 0 = empty (ends a probe). */
struct eshare_slot {
	__be32 addr; /* the shared address, network order */
	__u32 pad;
	struct eshare_addr a;
};

/* Settings (eshare_settings[0]): how to reach other members. lb.src_v4 is `egress.self`,
 * the outer source and the address tunnels to us arrive on. */
struct eshare_settings {
	struct lb_settings lb; /* src_v4, has_src_v4, gue_port; the rest unused */
	__u8 encap;            /* enum lb_encap */
	__u8 pad[3];
};

/* A fragment train's owner, by its first fragment (eshare_frags). */
struct eshare_frag_key {
	__be32 saddr;
	__be32 daddr;
	__u16 id; /* IP identification, network order */
	__u8 proto;
	__u8 pad;
};

struct eshare_frag_owner {
	__u16 member; /* member index in the address's entry */
	__u16 pad;
	__be32 addr; /* that member's fleet address when the first fragment was steered */
};

/* Per shared address (eshare_stats, per CPU, by eshare_addr.index). */
enum eshare_counter {
	ESHARE_FORWARDED = 0, /* sent to the owning edge */
	ESHARE_FORWARDED_BYTES,
	ESHARE_LOCAL, /* our own slice (or outside the shared range): passed up */
	ESHARE_LOCAL_BYTES,
	ESHARE_RECEIVED, /* steered to us by another member, decapsulated */
	ESHARE_RECEIVED_BYTES,
	ESHARE_NO_ROUTE, /* dropped: no route or neighbour to the owner */
	ESHARE_TOO_BIG,  /* dropped: with the tunnel headers above the egress MTU */
	ESHARE_NO_PORT,  /* passed up: a later fragment whose first was not seen here, a
	                    fragment quoted by an ICMP error, an unknown ICMP type */
	ESHARE_NCOUNTERS,
};

struct eshare_counters {
	__u64 c[ESHARE_NCOUNTERS];
};

/* Not one address's (eshare_global, per CPU). */
enum eshare_global_counter {
	ESHARE_G_UNTRUSTED = 0, /* dropped: a tunnel for a shared address from a non-member */
	ESHARE_G_MALFORMED,     /* dropped: a tunnel from a member with a bad inner packet */
	ESHARE_G_NCOUNTERS,
};

struct eshare_global_counters {
	__u64 c[ESHARE_G_NCOUNTERS];
};

/* Rule id of the stage's decisions in captures. */
#define ESHARE_RULE_ID 0xfffffff7u

#ifdef __VMLINUX_H__
#define ESHARE_INLINE static __always_inline
#else
#define ESHARE_INLINE static inline
#endif

/* The first slot of ADDR (network order): a Fibonacci multiply, whose top bits pick it. */
ESHARE_INLINE __u32 eshare_slot_of(__be32 addr)
{
	return ((__u32)addr * 0x9e3779b1u) >> (32 - ESHARE_SLOT_BITS);
}

/* The member owning PORT, or -1 when the port is outside the shared range. */
ESHARE_INLINE int eshare_member_of(const struct eshare_addr *a, __u16 port)
{
	__u32 i;

	if (port < a->first || port > a->last || !a->size || !a->n)
		return -1;
	i = ((__u32)port - a->first) / a->size;
	if (i >= a->n)
		i = a->n - 1;
	return (int)i;
}

#endif
