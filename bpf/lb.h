/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The L4 load balancer's data, shared by bpf/lb.bpf.h (the XDP stage) and edged/lb_*.c (what
 * fills it). Change both together.
 *
 * Per packet, after DoS and transit:
 *   1. encapsulated to this server (IPIP, or GUE on gue_port, outer destination one of our
 *      fleet addresses, outer source a fleet member): strip the outer headers, then 3.
 *   2. a VIP: match the destination, exact (address, protocol, port), then the service of
 *      any port on that address, then prefixes; ICMP errors match by the header they quote.
 *      Hash the flow, look the bucket up in the service's table: the bucket's first server
 *      gets the packet, encapsulated, unless it is this machine (3.).
 *   3. local delivery with second chance: a TCP packet that no local socket owns (no
 *      established, request or TIME_WAIT socket, no listener for a SYN, no valid SYN cookie
 *      for the ACK that completes one) goes to the bucket's second server, once, marked so
 *      that it does not travel further; without a second server it is dropped (a RST from
 *      here would kill a connection that lives elsewhere). Everything else goes up the stack.
 *
 * Tables (Maglev, computed by edged): one per service, an array of buckets of two servers:
 * `first` is where the current table puts the bucket, `second` the server that had it before
 * it last moved (or none). Entry 0 holds the table's size, so that size and contents change
 * together when edged swaps a whole new table into lb_tables (map-in-map: atomic).
 */
#ifndef EDGED_BPF_LB_H
#define EDGED_BPF_LB_H

#include "edge.h"

#ifndef __VMLINUX_H__ /* userspace */
#include <linux/types.h>
#endif

/* Services and fleet members one edged serves. Ids index the counters and tables, and stay
 * with their service (by name) and server (by address) across reloads and restarts. */
#define LB_MAX_SERVICES 1024
#define LB_MAX_SERVERS  4096
/* VIP entries: a service has one, plus one per (address, protocol) for fragments. */
#define LB_MAX_VIPS (2 * LB_MAX_SERVICES)
/* Exact VIPs live in an open-addressed array (linear probing) rather than a BPF hash map: an
 * array lookup is inlined by the verifier, a hash lookup is a call and measured 55 ns here.
 * Twice the entries keeps it half full: a miss usually stops at the first empty slot. */
#define LB_VIP_SLOTS        (2 * LB_MAX_VIPS)
#define LB_VIP_PROBES       16 /* edged refuses a set that needs more (it never came close) */
#define LB_MAX_VIP_PREFIXES LB_MAX_SERVICES
/* Fleet members allowed to send us encapsulated packets: servers plus LB-only edges. */
#define LB_MAX_FLEET (LB_MAX_SERVERS + 1024)
/*
 * Buckets per table: Maglev needs a prime M of at least 100 per server for its balance
 * (about 1%); 1048573 (the largest prime below 2^20) covers 4096 servers at 100 each, and a
 * table of it is 8 MiB.
 */
#define LB_TABLE_MAX 1048573

/* "No server" in a bucket, and the id of no service. */
#define LB_NONE 0xffffffffu

/* Value of a table entry: bucket b (1..M) of a service. Entry 0 is the header: first = M. */
struct lb_bucket {
	__u32 first;  /* server id new flows of the bucket go to */
	__u32 second; /* server id that had the bucket before it last moved, or LB_NONE */
};

/* A fleet member (value of lb_servers, by server id). */
struct lb_server {
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
	__u8 family;   /* 4 or 6; 0 = the id is free */
	__u8 flags;    /* LB_SERVER_* */
	__u16 pad;
	__u32 gen; /* changes when edged rewrites the entry: next-hop caches start over */
};

/* This machine: the table sending a flow here means local delivery, not encapsulation. */
#define LB_SERVER_SELF 1u

enum lb_encap {
	LB_ENCAP_GUE = 0, /* UDP to gue_port, GUE version 0, then the IP packet */
	LB_ENCAP_IPIP,    /* IP in IP: protocol 4 (IPv4 inside) or 41 (IPv6 inside) */
};

/* Key of the exact VIP hash: a service of one port, or of any port (port 0), or the entry
 * fragments use (frag = 1, port 0), which names the service of that address and protocol. */
struct lb_vip_key {
	__u8 addr[16];
	__u8 family; /* 4 or 6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 frag;   /* 1: the entry for fragments (no ports to match) */
	__u8 pad;
	__be16 port; /* 0 = any port */
	__u16 pad2;
};

/* LPM keys of VIP prefixes: prefixlen covers frag, proto and port (32 bits), then the address
 * bits; an any-port prefix service has port 0, a port service its port. */
struct lb_vip_lpm_v4 {
	__u32 prefixlen;
	__u8 frag;
	__u8 proto;
	__u8 port[2]; /* network order */
	__u8 addr[4];
};

struct lb_vip_lpm_v6 {
	__u32 prefixlen;
	__u8 frag;
	__u8 proto;
	__u8 port[2];
	__u8 addr[16];
};

/* The bits of an LPM key before the address. */
#define LB_LPM_HDR_BITS 32

/* What a VIP entry leads to (value of the VIP maps). */
struct lb_vip {
	__u32 service; /* service id: table slot and counters */
	__u8 encap;    /* enum lb_encap */
	__u8 pad[3];
};

/* A slot of the exact-VIP array; key.family 0 = empty (ends a probe). */
struct lb_vip_slot {
	struct lb_vip_key key;
	struct lb_vip vip;
};

/*
 * The next hop of a server, as the last FIB lookup found it (lb_nexthops, per CPU, by server
 * id). A lookup costs about 150 ns here, so the data path asks the FIB again only when the
 * entry is older than LB_NEXTHOP_TTL_JIFFIES or edged rewrote the server: a neighbour's new
 * MAC is picked up within that time. Jiffies, not nanoseconds: the verifier inlines
 * bpf_jiffies64(), while bpf_ktime_get_ns() measured 39 ns on this VM's clock source.
 */
struct lb_nexthop {
	__u64 expires; /* bpf_jiffies64() */
	__u32 ifindex;
	__u32 gen; /* lb_server.gen at the lookup */
	__u16 mtu; /* of the egress device: the outer packet must fit */
	__u8 smac[6];
	__u8 dmac[6];
	__u8 valid;
	__u8 pad;
};

/* 25 jiffies: 25 ms at HZ=1000, 100 ms at Debian's HZ=250, 250 ms at HZ=100. */
#define LB_NEXTHOP_TTL_JIFFIES 25

/* Key of the fleet set (servers and LB-only edges): who may send us encapsulated packets. */
struct lb_addr_key {
	__u8 addr[16];
	__u8 family;
	__u8 pad[3];
};

/* Global settings, one element of lb_settings. */
struct lb_settings {
	__u8 src_v4[4]; /* our fleet address: outer source, and what we decapsulate */
	__u8 src_v6[16];
	__be16 gue_port; /* network order; 0 = GUE off (no service uses it, nothing to decap) */
	__u8 has_src_v4; /* an IPv4 fleet address exists: encapsulation over IPv4 is possible */
	__u8 has_src_v6;
	__u8 prefixes_v4; /* any IPv4 prefix VIP: otherwise the LPM lookup is skipped */
	__u8 prefixes_v6;
	__u8 pad[2];
};

/*
 * GUE (draft-ietf-intarea-gue) version 0: ver(2) C(1) hlen(5) | proto | flags(16). edged
 * sends hlen 0, proto 4 or 41, flags 0; a second-chance hop carries one word of private data,
 * LB_GUE_SECOND_CHANCE, which tells the receiver to deliver locally and forward no further.
 * Version 1 (the IP header right after UDP) is accepted too.
 */
struct lb_gue_hdr {
	__u8 hlen_ver;
	__u8 proto;
	__be16 flags;
};

#define LB_GUE_SECOND_CHANCE 0x65645343u /* "edSC" */

/* The outer UDP source port of GUE: from the flow hash, in the dynamic range (RFC 6335), so
 * NICs and routers on the way spread flows across queues and paths. */
#define LB_GUE_SPORT_BASE 0xc000u
#define LB_GUE_SPORT_MASK 0x3fffu
/* Outer TTL / hop limit: the path between fleet members is a few hops. */
#define LB_OUTER_TTL 64

/* Per-service counters (lb_service_stats, per CPU). */
enum lb_svc_counter {
	LB_SVC_PACKETS = 0, /* every packet that matched the service */
	LB_SVC_BYTES,
	LB_SVC_NEW_FLOWS,     /* TCP SYNs (without ACK) */
	LB_SVC_ENCAP,         /* sent to another server */
	LB_SVC_LOCAL,         /* delivered here */
	LB_SVC_SECOND_CHANCE, /* no local socket: forwarded to the bucket's second server */
	LB_SVC_ICMP,          /* ICMP errors about the service's flows */
	LB_SVC_NO_SERVER,     /* the bucket has no server: delivered here instead */
	LB_SVC_TOO_BIG,       /* with the outer headers above the egress MTU: not sent */
	LB_SVC_NO_ROUTE,      /* no route or neighbour to the server: see lb_stage */
	LB_SVC_TOO_BIG_ICMP,  /* of the too_big: answered with an ICMP too-big (lb_icmp.bpf.h) */
	LB_SVC_NO_OWNER,      /* dropped: TCP, not a SYN, no local socket and no second server */
	LB_SVC_NCOUNTERS,
};

struct lb_service_counters {
	__u64 c[LB_SVC_NCOUNTERS];
};

/* Per-server counters (lb_server_stats, per CPU): what this edge sent each server. */
enum lb_srv_counter {
	LB_SRV_PACKETS = 0,
	LB_SRV_BYTES,
	LB_SRV_NEW_FLOWS,
	LB_SRV_SECOND_CHANCE, /* second-chance hops sent to it */
	LB_SRV_NCOUNTERS,
};

struct lb_server_counters {
	__u64 c[LB_SRV_NCOUNTERS];
};

/* Counters of what is not one service's (lb_stats, per CPU). */
enum lb_global_counter {
	LB_G_DECAP = 0,        /* encapsulated packets for us, decapsulated */
	LB_G_DECAP_UNTRUSTED,  /* dropped: outer source not a fleet member */
	LB_G_DECAP_MALFORMED,  /* dropped: bad GUE header or inner packet */
	LB_G_DECAP_NO_VIP,     /* dropped: the inner packet is for no VIP of ours */
	LB_G_SECOND_CHANCE_IN, /* second-chance hops received (delivered here) */
	LB_G_SOCKET_OWNED,     /* a local socket owned the packet */
	LB_G_SYNCOOKIE_OWNED,  /* an ACK carried a valid SYN cookie of a local listener */
	LB_G_UNSUPPORTED,      /* VLAN-tagged VIP traffic: passed up unbalanced */
	LB_G_NCOUNTERS,
};

struct lb_global_counters {
	__u64 c[LB_G_NCOUNTERS];
};

/* Rule id of decisions of the LB stage in captures (struct pkt's rule_id). */
#define LB_RULE_ID 0xfffffff8u

/*
 * The flow hash, shared by the data path, edged and the tests (traffic/fixtures/gen_lb.py
 * has a third copy): every edge must send a flow to the same bucket, so this is part of
 * the fleet's protocol, like the table. MurmurHash3 (x86, 32 bit) over 32-bit words taken in
 * network byte order: source address, destination address (1 word for IPv4, 4 for IPv6),
 * sport << 16 | dport (both 0 for fragments), protocol. For ICMP errors the words are those
 * of the flow the error quotes, in its forward direction (client to VIP).
 */
#ifdef __VMLINUX_H__
#define LB_INLINE static __always_inline
#else
#define LB_INLINE static inline
#endif

#define LB_HASH_SEED 0x1b873593u

LB_INLINE __u32 lb_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

LB_INLINE __u32 lb_hash_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = lb_rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = lb_rotl32(h, 13);
	return h * 5 + 0xe6546b64u;
}

LB_INLINE __u32 lb_hash_final(__u32 h, __u32 nwords)
{
	h ^= nwords * 4;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* log2(LB_VIP_SLOTS) */
#define LB_VIP_SLOT_BITS 12

/* The first slot of an exact VIP key in the slot array: the key's words folded, then a
 * Fibonacci multiply whose top bits pick the slot. Local to one machine (edged and its data
 * path), not fleet protocol, so it can be this cheap: a few VIPs, linear probing behind it. */
LB_INLINE __u32 lb_vip_slot_of(const struct lb_vip_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[4] ^ w[5];

	return (h * 0x9e3779b1u) >> (32 - LB_VIP_SLOT_BITS);
}

/* The bucket (1..M) of a hash: multiply-shift instead of a modulo, one multiplication. */
LB_INLINE __u32 lb_bucket_index(__u32 hash, __u32 m)
{
	return 1 + (__u32)(((__u64)hash * m) >> 32);
}

#endif
