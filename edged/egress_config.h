/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `egress:` section: VPN egress with NAT (the WARP design). WireGuard terminates client
 * tunnels on a TUN device; their packets leave through the edge's egress addresses with SNAT,
 * marked in conntrack so that replies find their way back into the tunnel.
 *
 * IP sharing: an egress address may be shared by several fleet members (`share:`), each owning
 * a disjoint slice of the address's source-port range. edged/port_range.c computes the slices
 * (every member computes the same from the same list); this edge SNATs into its own slice, and
 * the XDP stage forwards replies whose destination port is in another member's slice to that
 * member. What the share helper consumes:
 *
 *   egress_config.self                    this edge's fleet address, a member of every share list
 *   egress_config.snat[i].address         the egress address (IPv4 /32, or IPv6 /128)
 *   egress_config.snat[i].port_lo/port_hi the range the members split (default 1024-65535)
 *   egress_config.snat[i].share[]         the members, in the order that fixes their slices
 *   egress_config.snat[i].n_share         0: the address is this edge's alone (whole range)
 *   egress_config.snat[i].self_index      this edge's position in share[] (-1 when not shared)
 *   egress_config.snat[i].own_lo/own_hi   this edge's slice (the whole range when not shared)
 *
 * port_range_slice(&snat[i], member, &slice) gives any member's slice.
 */
#ifndef EDGED_EGRESS_CONFIG_H
#define EDGED_EGRESS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "addr.h"

#define EGRESS_NAME_MAX        32
#define EGRESS_KEY_LEN         32 /* Curve25519 keys */
#define EGRESS_KEY_PATH_MAX    256
#define EGRESS_MAX_ADDRESSES   8 /* tunnel-side networks of the edge */
#define EGRESS_MAX_PEER_ADDRS  8 /* a client's tunnel addresses (AllowedIPs) */
#define EGRESS_MAX_PEERS       4096
#define EGRESS_MAX_SNAT        16
#define EGRESS_MAX_SHARE       64 /* edges sharing one address: 1024 ports each at least */
#define EGRESS_DEFAULT_PORT    51820
#define EGRESS_DEFAULT_PORT_LO 1024 /* below: well-known ports the edge may serve itself */
#define EGRESS_DEFAULT_PORT_HI 65535
/* The conntrack/packet mark of tunnel connections: one bit, so that it coexists with the
 * marks of dispatch (0x00e00000) and transit; and the routing table that sends marked
 * replies to the tunnel device (wg-quick's number, a familiar one for WireGuard). */
#define EGRESS_DEFAULT_MARK  0x01000000
#define EGRESS_DEFAULT_TABLE 51820
/* The fwmark rule sits before the main table's rule (32766) so that replies do not take
 * the main table's default route; below dispatch's TPROXY rule. */
#define EGRESS_RULE_PRIORITY 10020

enum egress_backend {
	EGRESS_BACKEND_AUTO = 0,     /* kernel WireGuard if the kernel has it, else wireguard-go */
	EGRESS_BACKEND_WIREGUARD_GO, /* the userspace implementation, started and supervised */
	EGRESS_BACKEND_KERNEL,       /* the kernel's, configured over generic netlink */
};

struct egress_peer_config {
	char name[EGRESS_NAME_MAX];
	uint8_t public_key[EGRESS_KEY_LEN];
	struct prefix addresses[EGRESS_MAX_PEER_ADDRS]; /* the client's tunnel addresses */
	int n_addresses;
	uint32_t keepalive_s;     /* persistent keepalive; 0: off */
	uint32_t max_connections; /* ct count limit on new connections; 0: no limit */
	int snat[2];              /* index into snat[] for IPv4 ([0]) and IPv6 ([1]); -1: none */
};

struct egress_snat_config {
	struct prefix address;     /* a host: /32 or /128 */
	uint16_t port_lo, port_hi; /* the range the sharing members split */
	struct prefix share[EGRESS_MAX_SHARE];
	int n_share;             /* 0: not shared */
	int self_index;          /* position of egress_config.self in share[]; -1: not shared */
	uint16_t own_lo, own_hi; /* this edge's slice */
};

struct egress_allow_config {
	bool internet;      /* destinations beyond the edge (default true) */
	bool edge_services; /* the edge's own addresses: its services, metrics, control (false) */
	bool clients;       /* other tunnel clients (false) */
};

struct egress_config {
	char interface[IFNAMSIZ]; /* the TUN device; unique per instance and host */
	enum egress_backend backend;
	uint16_t listen_port;
	char private_key_file[EGRESS_KEY_PATH_MAX];  /* read when applied */
	struct prefix address[EGRESS_MAX_ADDRESSES]; /* the edge's tunnel-side address/prefix */
	int n_address;
	struct egress_peer_config *peers;
	int n_peers;
	struct egress_snat_config snat[EGRESS_MAX_SNAT];
	int n_snat;
	struct prefix self; /* family 0: not given (then no snat entry may be shared) */
	struct egress_allow_config allow;
	uint32_t mark;  /* ct mark / fwmark bit(s) of tunnel connections */
	uint32_t table; /* routing table of the marked replies */
};

struct parser;
struct yaml_node_s;
/* Parses the `egress:` mapping V into p->cfg->egress (config.c calls it). */
void egress_config_parse(struct parser *p, struct yaml_node_s *v, const char *path);

/* Releases what the parser allocated; the struct can be parsed into again. */
void egress_config_release(struct egress_config *ec);

/* The peer named NAME, or -1. */
int egress_peer_index(const struct egress_config *ec, const char *name);

/* Checks one peer against the section (addresses inside the tunnel networks, no address or
 * key or name of another peer) and picks its SNAT addresses. For `edgectl egress peer add`.
 * Returns 0, or -1 with the reason in ERR. SKIP: a peer index to ignore (-1: none). */
int egress_peer_check(const struct egress_config *ec, struct egress_peer_config *peer, int skip,
                      char *err, size_t errlen);

/* The same, with the peer's SNAT address CHOICE (family 0: the first of each family). */
int egress_peer_check_snat(const struct egress_config *ec, struct egress_peer_config *peer,
                           int skip, const struct prefix *choice, char *err, size_t errlen);

/* A peer from `edgectl egress peer add`'s words: NAME PUBLIC_KEY ADDR[,ADDR...] then
 * [keepalive SECONDS] [max_connections N] [snat ADDRESS]. SNAT: the chosen address (family 0:
 * none chosen). Returns 0, or -1 with the reason in ERR. Checks against the section are
 * egress_peer_check_snat's. */
int egress_peer_from_args(int argc, char *const argv[], struct egress_peer_config *pe,
                          struct prefix *snat, char *err, size_t errlen);

const char *egress_backend_name(enum egress_backend b);

#endif
