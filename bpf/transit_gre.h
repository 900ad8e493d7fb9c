/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Anycast GRE transit (issue 8): the data shared by the BPF side (bpf/transit.bpf.h, the XDP
 * decap stage; bpf/transit_encap.bpf.c, the TC encap program) and edged/transit_dp.c, which
 * fills the maps. Change them together.
 *
 *   decap (XDP stage on the uplinks): GRE whose outer destination is one of our anycast
 *     endpoints is validated (version 0, no routing, checksum when present, key of a
 *     configured tunnel, inner IPv4/IPv6 and well formed, inner source in the customer's
 *     prefixes), stripped, and redirected into the customer's veth (edged's side), so that it
 *     enters the customer's namespace, passes its firewall and is routed to the internet.
 *   encap (TC ingress on edged's side of each customer veth): packets the customer's
 *     namespace sends back toward its own prefixes are wrapped in GRE (outer IPv4: source the
 *     tunnel's endpoint, destination the customer router of a healthy tunnel, DF, TTL 64) and
 *     sent to the uplink the FIB picks. Too big: ICMP back to the sender. TCP SYNs have their
 *     MSS clamped in both directions.
 */
#ifndef EDGED_BPF_TRANSIT_GRE_H
#define EDGED_BPF_TRANSIT_GRE_H

#include "edge.h"

#ifndef __VMLINUX_H__ /* userspace */
#include <linux/types.h>
#endif

/* Customer ids are edged/transit_config.h's (1..TRANSIT_MAX_CUSTOMERS, 0 = none); tunnel ids
 * are transit_dp.c's, stable by tunnel name across reloads and restarts. */
#define TRANSIT_DP_MAX_CUSTOMERS 4096
#define TRANSIT_DP_MAX_TUNNELS   16384
#define TRANSIT_DP_MAX_ENDPOINTS 64
/* Tunnels one customer's encapsulation chooses among (== TRANSIT_MAX_TUNNELS per customer). */
#define TRANSIT_DP_CUSTOMER_TUNNELS 16
/* Prefixes of all customers, per family: 4000 customers x 64 is the config's ceiling. The
 * tries are not preallocated, so the ceiling costs nothing until used. */
#define TRANSIT_DP_MAX_PREFIXES 262144

/* The outer header's TTL: the path to a customer router crosses the internet. */
#define TRANSIT_OUTER_TTL 64
/* The inner MTU when a tunnel gives none: Ethernet's 1500 minus outer IPv4 and GRE. */
#define TRANSIT_DP_DEFAULT_MTU 1476
/* Bytes of the offending packet quoted in an ICMP too-big: its IP header and the first
 * bytes of its transport header are what the sender needs to find the socket; 256 keeps
 * the checksum to a few calls and the ICMP well under every minimum MTU. */
#define TRANSIT_ICMP_QUOTE 256
/* GRE checksums are verified in chunks of this many bytes (bpf_csum_diff's limit is 512). */
#define TRANSIT_CSUM_CHUNK 256
/* The largest frame whose GRE checksum is verified: 9 KB jumbo frames. */
#define TRANSIT_CSUM_MAX_LEN 9216

/* GRE (RFC 2784, 2890) flag bits in the first 16 bits, host order. */
#define GRE_F_CSUM    0x8000
#define GRE_F_ROUTING 0x4000 /* RFC 1701 */
#define GRE_F_KEY     0x2000
#define GRE_F_SEQ     0x1000
#define GRE_F_SSR     0x0800 /* RFC 1701 strict source route */
#define GRE_F_RECUR   0x0700 /* RFC 1701 recursion control */
#define GRE_VERSION   0x0007
/* What a receiver must refuse (RFC 2784 2.3.1: bits 1-5 unless it implements RFC 1701). */
#define GRE_F_REFUSED (GRE_F_ROUTING | GRE_F_SSR | 0x0400)

/* Address key: endpoints (transit_endpoints). */
struct transit_addr_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
};

enum transit_key_mode {
	TRANSIT_KEY_NONE = 0, /* GRE without the K bit */
	TRANSIT_KEY_SET,      /* GRE with key `key` */
	TRANSIT_KEY_ANY,      /* marker: some tunnel has these addresses (bad-key counter) */
};

/* Key of transit_tunnel_ids: a received GRE packet names its tunnel by the outer addresses
 * and the key. */
struct transit_tunnel_key {
	__u8 family;   /* 4 or 6: of the outer header */
	__u8 key_mode; /* enum transit_key_mode */
	__u16 pad;
	__be32 key;      /* 0 unless TRANSIT_KEY_SET */
	__u8 local[16];  /* our anycast endpoint */
	__u8 remote[16]; /* the customer router */
};

#define TRANSIT_TUNNEL_F_KEY 1u

/* Value of transit_tunnels, by tunnel id. */
struct transit_tunnel {
	__u8 local[16];  /* outer source: the anycast endpoint */
	__u8 remote[16]; /* outer destination: the customer router */
	__be32 key;
	__u32 customer; /* id; 0 = the tunnel id is free */
	__u16 mtu;      /* inner MTU: bigger packets get ICMP too-big, MSS is clamped to it */
	__u8 family;    /* 4 or 6: of the outer header */
	__u8 flags;     /* TRANSIT_TUNNEL_F_* */
};

/* Value of transit_customers, by customer id. */
struct transit_customer {
	__u32 host_ifindex; /* edged's side of the customer's veth: decap redirects there */
	__u32 n_tunnels;
	__u32 tunnels[TRANSIT_DP_CUSTOMER_TUNNELS]; /* ids, [0, n_tunnels) */
	__u8 host_mac[6];                           /* source of redirected frames */
	__u8 ns_mac[6];                             /* their destination: the namespace's side */
};

/* Prefix keys of the customers (LPM over customer id, then address): an address belongs to
 * customer C when the lookup of (C, address) hits. Values are unused (__u8 0). */
struct transit_prefix_v4 {
	__u32 prefixlen; /* 32 (customer) + address bits */
	__u32 customer;  /* network order, so the trie's bit order matches */
	__u8 addr[4];
};

struct transit_prefix_v6 {
	__u32 prefixlen;
	__u32 customer;
	__u8 addr[16];
};

#define TRANSIT_PREFIX_HDR_BITS 32

/* Sources of the ICMP too-big messages edged sends (transit_settings[0]): its endpoints'
 * addresses. Without one of the family, the packet's own destination stands in. */
struct transit_settings {
	__u8 icmp_src_v4[4];
	__u8 icmp_src_v6[16];
	__u8 has_v4;
	__u8 has_v6;
	__u16 pad;
};

/* Per tunnel and per customer, per CPU. `in` is from the customer site (decapsulated),
 * `out` toward it (encapsulated); bytes are the inner packets'. */
struct transit_counters {
	__u64 in_packets;
	__u64 in_bytes;
	__u64 out_packets;
	__u64 out_bytes;
	__u64 in_dropped;  /* well-formed GRE of this tunnel dropped: spoofed inner source */
	__u64 out_dropped; /* could not be sent: no route to the customer router */
	__u64 too_big;     /* ICMP too-big sent back instead of encapsulating */
	__u64 mss_clamped; /* TCP SYNs whose MSS was lowered to the tunnel's */
};

/* Everything else, once per data path (transit_stats[0], per CPU). */
enum transit_global_counter {
	TRANSIT_G_DECAP = 0,          /* GRE decapsulated and redirected */
	TRANSIT_G_DECAP_FRAGMENT,     /* outer fragments: cannot be unwrapped statelessly */
	TRANSIT_G_DECAP_TRUNCATED,    /* GRE header longer than the packet */
	TRANSIT_G_DECAP_VERSION,      /* GRE version != 0 (1 is PPTP) */
	TRANSIT_G_DECAP_FLAGS,        /* routing, strict source route, recursion bits */
	TRANSIT_G_DECAP_CSUM,         /* checksum present and wrong */
	TRANSIT_G_DECAP_PROTO,        /* payload neither IPv4 nor IPv6 (or not what it says) */
	TRANSIT_G_DECAP_NO_TUNNEL,    /* no tunnel from this router to this endpoint */
	TRANSIT_G_DECAP_BAD_KEY,      /* a tunnel exists, but with another key (or none) */
	TRANSIT_G_DECAP_INNER,        /* the inner packet is malformed or overruns the GRE one */
	TRANSIT_G_DECAP_SPOOFED,      /* inner source outside the customer's prefixes */
	TRANSIT_G_DECAP_NO_CUSTOMER,  /* tunnel's customer has no veth (being set up) */
	TRANSIT_G_ENCAP,              /* encapsulated and sent */
	TRANSIT_G_ENCAP_PASS,         /* from a customer namespace, not to its prefixes: passed */
	TRANSIT_G_ENCAP_NO_TUNNEL,    /* customer without tunnels: dropped */
	TRANSIT_G_ENCAP_ALL_DOWN,     /* no healthy tunnel: sent over all of them anyway */
	TRANSIT_G_ENCAP_TOO_BIG,      /* ICMP too-big sent back */
	TRANSIT_G_ENCAP_TOO_BIG_FAIL, /* too big, and the ICMP could not be built: dropped */
	TRANSIT_G_ENCAP_NO_ROUTE,     /* the FIB has no route to the customer router: dropped */
	TRANSIT_G_ENCAP_ERROR,        /* malformed packet or a helper failed: dropped */
	TRANSIT_G_MSS_CLAMPED,        /* SYNs clamped, both directions */
	TRANSIT_G_COUNT,
};

struct transit_global_counters {
	__u64 c[TRANSIT_G_COUNT];
};

/* Tunnel names by id (transit_tunnel_names), so that ids and counters survive restarts. */
#define TRANSIT_DP_NAME_MAX 32
struct transit_name {
	char name[TRANSIT_DP_NAME_MAX]; /* "" = free */
};

/* struct pkt's rule_id when the transit stage decides: the tunnel id, or this. */
#define TRANSIT_RULE_ID 0xfffffff4u

/* Names of the pinned TC links, under /sys/fs/bpf/edged/<instance>/: the veth's ifname
 * follows. */
#define TRANSIT_PIN_LINK_PREFIX "link_tc_transit_"

#endif
