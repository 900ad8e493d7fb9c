/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Routes and policy-routing rules through rtnetlink (libmnl): what `ip route add|del|show`
 * and `ip rule add|del|show` do, for the functions that own kernel routing state (dispatch's
 * AnyIP local routes and TPROXY table; egress and transit's fwmark tables later).
 *
 * Ownership: every route and rule edged installs carries a protocol number of the function
 * that owns it (rtm_protocol, FRA_PROTOCOL; `ip route show proto 237`). A function lists the
 * kernel's routes with its own number to learn what it installed before a restart, and
 * deletes with its number, so it never removes a route someone else installed, even one
 * with the same destination. Adding a route that exists already (the lab, or an operator,
 * installed it) returns -EEXIST: the caller treats it as present and not its own.
 *
 * One struct nlr per thread; calls are synchronous (request, then the kernel's ack).
 */
#ifndef EDGED_NETLINK_ROUTE_H
#define EDGED_NETLINK_ROUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "addr.h"

/* Protocol numbers of edged's functions (rtnetlink allows 0-255; iproute2 names 0-18, 42,
 * 99 and 186-192). Add one per function: the number is the ownership. */
#define NLR_PROTO_DISPATCH 237
#define NLR_PROTO_EGRESS   238

/* Kernel routing tables by number (linux/rtnetlink.h RT_TABLE_*). */
#define NLR_TABLE_MAIN  254
#define NLR_TABLE_LOCAL 255

struct mnl_socket;

struct nlr {
	struct mnl_socket *nl;
	unsigned int portid;
	unsigned int seq;
};

struct nlr_route {
	struct prefix dst;
	uint8_t type;      /* RTN_LOCAL, RTN_UNICAST, RTN_BLACKHOLE, ... */
	uint8_t protocol;  /* the owner, NLR_PROTO_* */
	uint32_t table;    /* NLR_TABLE_LOCAL for AnyIP, or a table of the function's own */
	int oif;           /* output device; 0: none */
	uint32_t priority; /* metric; 0: the kernel's default */
	bool has_gateway;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} gateway; /* same family as dst */
};

struct nlr_rule {
	int family; /* AF_INET or AF_INET6 */
	uint32_t fwmark;
	uint32_t fwmask; /* 0: exact match of fwmark */
	uint32_t table;
	uint32_t priority; /* the rule's preference; 0: the kernel picks one */
	uint8_t protocol;  /* the owner, NLR_PROTO_* */
};

/* Opens a rtnetlink socket in the caller's network namespace. Returns 0 or -errno. */
int nlr_open(struct nlr *n);
void nlr_close(struct nlr *n);

/* Adds R (create, exclusive); returns 0, -EEXIST when a route with this destination,
 * table and metric exists (whoever owns it), or -errno. With REPLACE, an existing route is
 * replaced instead: only for routes the caller owns. */
int nlr_route_add(struct nlr *n, const struct nlr_route *r, bool replace);
/* Deletes R, matching its protocol: a route of another owner is never removed (-ESRCH).
 * Returns 0, -ESRCH when there is no such route of R's owner, or -errno. */
int nlr_route_del(struct nlr *n, const struct nlr_route *r);
/* Calls FN for every route of FAMILY (all tables); FN returns 0 to go on (non-zero: no more
 * calls). Returns 0, FN's non-zero value, or -errno. */
int nlr_route_dump(struct nlr *n, int family, int (*fn)(const struct nlr_route *r, void *arg),
                   void *arg);

/* As for routes: add is exclusive (-EEXIST for an identical rule), del matches the owner. */
int nlr_rule_add(struct nlr *n, const struct nlr_rule *r);
int nlr_rule_del(struct nlr *n, const struct nlr_rule *r);
int nlr_rule_dump(struct nlr *n, int family, int (*fn)(const struct nlr_rule *r, void *arg),
                  void *arg);

/* Links and addresses: netlink_link.h. */

/* For the other rtnetlink modules (netlink_link.c): a request header of TYPE in BUF
 * (MNL_SOCKET_BUFFER_SIZE bytes) with the next sequence number; and sending it, reading
 * replies until the ack or the end of a dump, each data message handed to CB (may be NULL).
 * nlr_talk returns 0, CB's error, or -errno from the kernel's ack. */
struct nlmsghdr;
struct nlmsghdr *nlr_start(struct nlr *n, char *buf, uint16_t type, uint16_t flags);
int nlr_talk(struct nlr *n, struct nlmsghdr *nlh, int (*cb)(const struct nlmsghdr *, void *),
             void *arg);

#endif
