/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Links and addresses through rtnetlink (libmnl): what `ip link add type veth`, `ip link set
 * up`, `ip link del` and `ip addr add` do, for the functions that own devices (transit's
 * veth pair per customer namespace, egress's WireGuard device). Same socket and conventions as
 * netlink_route.h: the calls act in the network namespace the struct nlr was opened in.
 */
#ifndef EDGED_NETLINK_LINK_H
#define EDGED_NETLINK_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

#include "addr.h"
#include "netlink_route.h"

struct nll_link {
	char name[IFNAMSIZ];
	int ifindex;
	uint32_t group; /* IFLA_GROUP: lets a function find and match (nft iifgroup) its devices */
	uint8_t mac[6];
	bool up;
};

/* A veth pair: NAME here, in group GROUP, and PEER moved into the namespace PEER_NETNS_FD
 * (an open /run/netns/... or /proc/PID/ns/net). Both ends start down. Returns 0 or -errno
 * (-EEXIST when NAME exists). */
int nll_veth_add(struct nlr *n, const char *name, uint32_t group, const char *peer,
                 int peer_netns_fd);
/* The link NAME into *OUT; returns 0, -ENODEV when there is none, or -errno. */
int nll_link_get(struct nlr *n, const char *name, struct nll_link *out);
/* Sets IFINDEX up (IFF_UP). */
int nll_link_up(struct nlr *n, int ifindex);
/* Creates a link IFNAME of KIND ("wireguard"); -EEXIST if it exists, -EOPNOTSUPP when the
 * kernel has no such kind. */
int nll_link_add(struct nlr *n, const char *ifname, const char *kind);
/* Deletes IFINDEX (for a veth, both ends go). */
int nll_link_del(struct nlr *n, int ifindex);
/* Calls FN for every link; FN returns 0 to go on. Returns 0, FN's value or -errno. */
int nll_link_dump(struct nlr *n, int (*fn)(const struct nll_link *l, void *arg), void *arg);
/* Adds the address A (A->len is the prefix length of the connected route) to IFINDEX.
 * NODAD skips IPv6 duplicate address detection (a veth or a point-to-point tunnel has
 * exactly one neighbour): the address is usable at once. -EEXIST when present. */
int nll_addr_add(struct nlr *n, int ifindex, const struct prefix *a, bool nodad);

#endif
