/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The data path of anycast GRE transit (issue 8): fills the maps of bpf/transit_gre.h that the
 * XDP decap stage and the TC encap program read, and attaches the TC program to edged's side
 * of every customer veth (tcx, pinned as link_tc_transit_<ifname>). The namespaces, veths,
 * addresses, routes, marks and firewalls are transit_ns.c's; this module is told what exists.
 *
 * Packet paths (bpf/transit_gre.h has the details):
 *   site -> internet: GRE to an endpoint -> XDP on the uplink validates and strips it and
 *     redirects the inner packet into the customer's veth (XDP_REDIRECT, host side), which
 *     delivers it to the namespace side: the customer's firewall, then the namespace's
 *     default route back to edged's namespace and the main table. No mark or rule is needed
 *     on this path. XDP frames redirected into a veth are only delivered when the PEER has
 *     an XDP program or GRO: transit_dp turns GRO on for the namespace side (ns_ifindex),
 *     which also aggregates TCP for the namespace's forwarding.
 *   internet -> site: marked and routed into the namespace (transit_ns.c), firewall, routed
 *     back out the veth -> TC ingress on the host side: destination in the customer's
 *     prefixes -> GRE to a healthy tunnel's router, FIB lookup, bpf_redirect_neigh to the
 *     uplink. Anything else the namespace sends (decapsulated traffic to the internet) is
 *     TC_ACT_OK: the stack routes it.
 *
 * Lifecycle, the same two phases as the other functions in edged/daemon.c apply():
 *   transit_prepare (transit_ns.c: creates new namespaces and veths)
 *   transit_dp_prepare   validates the customers against the data path's limits, gives
 *                        tunnels their ids, loads the TC program, attaches it to the veths
 *                        of new customers (harmless: their maps are still empty, so the
 *                        program passes everything) and turns on GRO on their namespace side
 *   datapath_commit      (the XDP program, loaded with enable_transit)
 *   transit_dp_commit    writes the maps: endpoints, customers, tunnels, prefixes; removes
 *                        what the config dropped; swaps a new TC program under kept links
 *   transit_commit       (transit_ns.c: removes namespaces of removed customers)
 *   transit_dp_abort     undoes prepare (detaches what it attached); call before
 *                        transit_abort removes the new namespaces.
 * A runtime add/remove of one customer is a prepare/commit with the whole new config.
 */
#ifndef EDGED_TRANSIT_DP_H
#define EDGED_TRANSIT_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

#include "datapath.h"
#include "transit_gre.h"

struct transit_config;      /* edged/transit_config.h */
struct transit_customer_rt; /* edged/transit_config.h: what transit_ns.c made */
struct transit_encap_bpf;
struct transit_dp_spec_copy; /* transit_dp.c */

/*
 * The data path's view of the config: what transit_dp_prepare() reads from a struct
 * transit_config plus the runtime facts. Tests build it directly (transit_dp_prepare_spec).
 */
struct transit_dp_tunnel {
	char name[TRANSIT_DP_NAME_MAX]; /* unique within the section */
	int family;                     /* AF_INET or AF_INET6: the outer header's */
	uint8_t local[16];              /* our anycast endpoint, network order */
	uint8_t remote[16];             /* the customer router */
	bool has_key;
	uint32_t key; /* host order */
	uint16_t mtu; /* inner MTU; 0: TRANSIT_DP_DEFAULT_MTU (minus 4 with a key, 20 over IPv6) */
};

struct transit_dp_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t len;
	uint8_t addr[16];
};

struct transit_dp_customer {
	char name[TRANSIT_DP_NAME_MAX];
	uint32_t id;      /* 1..TRANSIT_DP_MAX_CUSTOMERS-1 (transit_customer_rt.id) */
	int host_ifindex; /* edged's side of the veth, in edged's namespace */
	uint8_t host_mac[6];
	uint8_t ns_mac[6];
	char netns[64]; /* the namespace's name (/run/netns/<netns>), for GRO on ns_ifindex; ""
	                   when the test set it up itself */
	int ns_ifindex; /* the namespace side of the veth, inside the namespace */
	const struct transit_dp_prefix *prefixes;
	int n_prefixes;
	const struct transit_dp_tunnel *tunnels;
	int n_tunnels;
};

struct transit_dp_spec {
	const struct transit_dp_prefix *endpoints; /* anycast endpoints (len ignored) */
	int n_endpoints;
	const struct transit_dp_customer *customers;
	int n_customers;
	/* Fill the maps but attach no TC program and touch no namespace: for BPF tests on
	 * kernels that can attach neither tcx nor cls_bpf (the 6.1 guest's initramfs), where
	 * decapsulation is still tested. Never set by edged. */
	bool decap_only;
};

/* What transit_dp keeps about one applied tunnel or customer. */
struct transit_dp_tunnel_state {
	char name[TRANSIT_DP_NAME_MAX];
	uint32_t id;
	uint32_t customer;
	bool up; /* health: encapsulation uses only tunnels that are up, while one is */
};

struct transit_dp_link {
	char ifname[IFNAMSIZ];
	int ifindex;
	int fd;      /* the tcx link; -1 with clsact */
	bool clsact; /* attached as a cls_bpf filter (kernels without tcx) */
};

struct transit_dp_state {
	bool enabled;
	char pin_dir[64];
	struct transit_encap_bpf *skel;      /* the TC program the links run */
	struct transit_encap_bpf *next_skel; /* loaded by prepare */
	/* Applied state. */
	struct transit_dp_tunnel_state *tunnels;
	int n_tunnels;
	struct transit_dp_link *links;
	int n_links;
	uint32_t *customers; /* applied customer ids */
	int n_customers;
	/* Built by prepare, made live by commit. */
	bool prepared;
	struct transit_dp_spec_copy *next; /* opaque: the spec and its tunnel ids */
};

void transit_dp_init(struct transit_dp_state *st);

/*
 * Prepares the data path for TC (NULL: transit off, everything is removed at commit) with
 * RT[i] the runtime facts of TC->customers[i] (transit_config.h). Errors are logged, naming
 * the customer or tunnel and the limit; returns 0 or -errno and changes nothing that runs.
 */
int transit_dp_prepare(struct transit_dp_state *st, struct datapath *dp,
                       const struct transit_config *tc, const struct transit_customer_rt *rt);
/* The same from a transit_dp_spec (tests, and what transit_dp_prepare builds). */
int transit_dp_prepare_spec(struct transit_dp_state *st, struct datapath *dp,
                            const struct transit_dp_spec *spec);
/* Makes the prepared state live. Failures of single map writes are logged (the kernel
 * refused memory); the rest is applied. */
void transit_dp_commit(struct transit_dp_state *st, struct datapath *dp);
void transit_dp_abort(struct transit_dp_state *st);
/* Closes edged's handles (links stay pinned and keep running). */
void transit_dp_close(struct transit_dp_state *st);

/*
 * Tunnel health, by tunnel name (transit_ns.c's health checks call it). A tunnel is up when
 * the config applies it; encapsulation spreads flows over the customer's tunnels that are
 * up, and over all of them when none is (counted as TRANSIT_G_ENCAP_ALL_DOWN: a health check
 * that fails while the tunnel works must not black-hole the customer). Returns 0, or -ENOENT
 * for an unknown tunnel.
 */
int transit_dp_set_tunnel_health(struct transit_dp_state *st, struct datapath *dp,
                                 const char *tunnel, bool up);
int transit_dp_tunnel_health(const struct transit_dp_state *st, const char *tunnel, bool *up);

/* Counters summed over CPUs: per tunnel (by name), per customer (by id), global. 0 or
 * -errno (-ENOENT: unknown tunnel). */
int transit_dp_tunnel_counters(const struct transit_dp_state *st, const struct datapath *dp,
                               const char *tunnel, struct transit_counters *out);
int transit_dp_customer_counters(const struct datapath *dp, uint32_t customer,
                                 struct transit_counters *out);
int transit_dp_global_counters(const struct datapath *dp, struct transit_global_counters *out);
/* "decap", "decap_bad_key", ...: the metric label of a global counter. */
const char *transit_dp_counter_name(int counter);

struct strbuf;
/* Prometheus text of the data path's outcomes (edged_transit_datapath_packets_total by
 * outcome) and per-tunnel drops, too-big and MSS clamps, appended to SB. */
void transit_dp_metrics_render(const struct transit_dp_state *st, const struct datapath *dp,
                               struct strbuf *sb);

#endif
