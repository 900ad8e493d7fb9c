/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `transit:` section (anycast GRE transit, issue 8): the anycast GRE endpoints every edge
 * carries, and the customers whose prefixes edged attracts and delivers to their sites
 * through GRE.
 *
 *   transit:
 *     endpoints: [192.0.2.100, "2001:db8:e::100"]  # anycast GRE endpoints, the same everywhere
 *     customers:
 *       - name: acme                     # namespace "edged-<instance>-acme"
 *         prefixes: [203.0.113.0/26, "2001:db8:ac::/48"]
 *         tunnels:
 *           - {name: acme-nyc, remote: 198.51.100.50, endpoint: 192.0.2.100, key: 42,
 *              mtu: 1476, health: {interval: 1s, timeout: 3s}}
 *           - {name: acme-fra, remote: "2001:db8:5::50"}  # GRE over IPv6: the IPv6 endpoint
 *         firewall:
 *           default: allow               # inbound packets no rule matched
 *           default_out: allow           # outbound (site -> internet) packets no rule matched
 *           rules:
 *             - {action: deny, proto: tcp, dst_port: 23}
 *             - {action: allow, src: 0.0.0.0/0, proto: udp, dst_port: "53-54"}
 *             - {action: deny, direction: out, dst: 198.51.100.0/24}
 *
 * Data path of one customer (the shape transit_ns.c builds and the gre branch's BPF uses):
 *
 *   inbound:  uplink -> XDP -> edged's namespace: nft marks daddr in the customer's prefixes
 *             with transit_mark(id) -> ip rule fwmark -> table transit_table(id): default via
 *             the veth -> customer namespace: firewall (forward hook) -> routed back out the
 *             same veth toward edged's namespace -> TC encap (GRE, outer src = endpoint,
 *             dst = a healthy tunnel's remote) -> edged's namespace routes the outer packet to
 *             the uplink.
 *   return:   GRE from the site to an endpoint -> XDP decap (tunnel found by outer source and
 *             key) -> the inner packet, marked transit_mark(id), is routed by table
 *             transit_table(id) into the customer namespace -> firewall (direction out) ->
 *             default route back to edged's namespace -> main table -> uplink.
 *
 * Firewall rules are evaluated in order, first match wins, after `ct state
 * established,related accept` (replies to flows a rule allowed stay allowed). A rule applies
 * to one direction: `in` (destination in the customer's prefixes, the default) or `out`
 * (source in the customer's prefixes). Packets of neither direction (a site sending from an
 * address that is not its own) are dropped.
 */
#ifndef EDGED_TRANSIT_CONFIG_H
#define EDGED_TRANSIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <netinet/in.h>

#include "addr.h"

/* Customer and tunnel names: letters, digits, '-', '_'. A customer's namespace is
 * "edged-<instance>-<name>", so 23 characters keep it short enough to type. */
#define TRANSIT_NAME_MAX      24
#define TRANSIT_MAX_ENDPOINTS 16
/* Customer ids are 1..TRANSIT_MAX_CUSTOMERS; the bench provisions 500. */
#define TRANSIT_MAX_CUSTOMERS 4000
#define TRANSIT_MAX_PREFIXES  64  /* per customer */
#define TRANSIT_MAX_TUNNELS   16  /* per customer */
#define TRANSIT_MAX_RULES     512 /* per customer */

/* Tunnel health: a probe every second; a tunnel is down after 3 s without an answer. */
#define TRANSIT_HEALTH_INTERVAL_MS 1000
#define TRANSIT_HEALTH_TIMEOUT_MS  3000
#define TRANSIT_HEALTH_MAX_MS      600000
/* The path MTU toward customer sites is assumed to be Ethernet's 1500: inner MTU = 1500 -
 * 20 (outer IPv4; 40 for IPv6) - 4 (GRE) - 4 (key, when the tunnel has one). */
#define TRANSIT_LINK_MTU 1500
#define TRANSIT_MIN_MTU  1280 /* IPv6's minimum: lower would break IPv6 customers */

/*
 * Kernel state per customer id (1..TRANSIT_MAX_CUSTOMERS), the same function on every edge:
 *  - fwmark transit_mark(id), matched with TRANSIT_MARK_MASK: the high nibble 0x1 says
 *    "transit", the low 16 bits are the id (dispatch's TPROXY bit 0x00e00000 stays clear);
 *  - routing table transit_table(id), looked up by an `ip rule` of priority
 *    TRANSIT_RULE_PRIORITY (before main's 32766);
 *  - link addresses 169.254.0.0/16 split into /30s: edged's side .1, the namespace's .2;
 *    IPv6: fe80::1 (edged's side) and fe80::2 (namespace) on every veth.
 */
#define TRANSIT_MARK_BASE     0x10000000u
#define TRANSIT_MARK_MASK     0xf000ffffu
#define TRANSIT_TABLE_BASE    20000u
#define TRANSIT_RULE_PRIORITY 20000u

static inline uint32_t transit_mark(uint32_t id)
{
	return TRANSIT_MARK_BASE | id;
}

static inline uint32_t transit_table(uint32_t id)
{
	return TRANSIT_TABLE_BASE + id;
}

enum transit_action {
	TRANSIT_ALLOW = 0,
	TRANSIT_DENY,
};

enum transit_direction {
	TRANSIT_IN = 0, /* toward the customer's prefixes (internet -> site) */
	TRANSIT_OUT,    /* from the customer's prefixes (site -> internet) */
};

/* One firewall rule; every field left out matches anything. */
struct transit_rule {
	uint8_t action;    /* enum transit_action */
	uint8_t direction; /* enum transit_direction */
	uint8_t proto;     /* 0 = any; IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	int family;        /* 0 = both; AF_INET or AF_INET6 when src or dst is given */
	struct prefix src; /* family 0 = any source */
	struct prefix dst; /* family 0 = any destination */
	uint16_t sport_lo, sport_hi; /* 0, 0 = any; only with proto tcp or udp */
	uint16_t dport_lo, dport_hi;
	int line; /* where the rule is written (1-based), for edgectl and messages */
};

/* A GRE outer address (tunnel remote, endpoint): IPv4 or IPv6, the same family at both ends
 * of a tunnel. */
struct transit_ip {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

bool transit_ip_equal(const struct transit_ip *a, const struct transit_ip *b);
/* The address as text into BUF (INET6_ADDRSTRLEN is always enough). Returns BUF. */
char *transit_ip_format(const struct transit_ip *a, char *buf, size_t len);

struct transit_health_config {
	bool enabled; /* false (`health: off`): the tunnel is always considered up */
	uint32_t interval_ms;
	uint32_t timeout_ms; /* down after this long without an answer to a probe */
};

struct transit_tunnel_config {
	char name[TRANSIT_NAME_MAX]; /* unique within the whole section (metrics label) */
	struct transit_ip remote;    /* the customer router: GRE's outer destination */
	struct transit_ip endpoint;  /* our anycast end, one of transit.endpoints, of the remote's
	                                family: outer source */
	bool has_key;
	uint32_t key; /* GRE key (host order), when has_key */
	uint16_t mtu; /* inner MTU: TCP MSS is clamped to it, bigger packets get ICMP too-big */
	struct transit_health_config health;
};

struct transit_customer_config {
	char name[TRANSIT_NAME_MAX];
	struct prefix *prefixes; /* IPv4 and IPv6, host bits clear, no overlaps between customers */
	int n_prefixes;
	struct transit_tunnel_config *tunnels; /* at least one */
	int n_tunnels;
	uint8_t default_in;  /* enum transit_action for inbound packets no rule matched */
	uint8_t default_out; /* the same for outbound */
	struct transit_rule *rules;
	int n_rules;
};

struct transit_config {
	struct transit_ip *endpoints; /* anycast GRE endpoints, IPv4 and IPv6 */
	int n_endpoints;
	struct transit_customer_config *customers;
	int n_customers;
};

/*
 * What edged creates for a customer at runtime (transit_ns.c), for the data path loader
 * (transit_dp.c) that programs the maps and attaches TC: handed over after the namespace
 * and veth exist and before the customer's traffic is marked toward them.
 */
struct transit_customer_rt {
	uint32_t id;                /* 1..TRANSIT_MAX_CUSTOMERS, stable while the customer exists */
	uint32_t mark;              /* transit_mark(id) */
	uint32_t table;             /* transit_table(id) */
	char netns[64];             /* the namespace's name, /run/netns/<netns> */
	char host_ifname[IFNAMSIZ]; /* edged's side of the veth: "tr<id>" */
	int host_ifindex;           /* in edged's namespace */
	int ns_ifindex;             /* the namespace's side ("edge0"), inside the namespace */
	uint8_t host_mac[6];
	uint8_t ns_mac[6];
	struct in_addr host_v4; /* 169.254.x.y on edged's side */
	struct in_addr ns_v4;   /* the namespace's side */
};

struct parser;
struct yaml_node_s;
/* Parses the `transit:` mapping V into p->cfg->transit (config.c calls it). */
void transit_config_parse(struct parser *p, struct yaml_node_s *v, const char *path);

/* Releases what the parser allocated; the struct can be parsed into again. */
void transit_config_release(struct transit_config *tc);

/* Deep copy of customer SRC into DST (for runtime add and for keeping the applied state);
 * returns 0 or -ENOMEM. Release with transit_customer_release(). */
int transit_customer_copy(struct transit_customer_config *dst,
                          const struct transit_customer_config *src);
void transit_customer_release(struct transit_customer_config *c);
/* Whether A and B configure the same thing (reload leaves equal customers untouched). */
bool transit_customer_equal(const struct transit_customer_config *a,
                            const struct transit_customer_config *b);

/* The whole-section checks of the parser (unique names, no overlapping prefixes, tunnels
 * GRE can tell apart, listed endpoints) on a built config: a runtime add meets the file's
 * customers here. Returns 0, or -1 with the reason in ERR. */
int transit_config_check(const struct transit_config *tc, char *err, size_t len);

/* The index of the customer named NAME, or -1. */
int transit_config_find(const struct transit_config *tc, const char *name);

/* The default inner MTU of a tunnel of FAMILY (the outer header's): TRANSIT_LINK_MTU minus
 * the outer headers. */
uint16_t transit_default_mtu(int family, bool has_key);

/* The namespace of CUSTOMER for INSTANCE into BUF ("edged-<instance>-<customer>"). */
void transit_netns_name(const char *instance, const char *customer, char *buf, size_t len);

/* A rule in the config's own words ("deny in tcp dst_port 23"), for edgectl. */
void transit_rule_format(const struct transit_rule *r, char *buf, size_t len);

const char *transit_action_name(int action);
const char *transit_direction_name(int direction);

#endif
