/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel plumbing of one transit customer (see transit_config.h for the picture):
 *
 *   namespace "edged-<instance>-<customer>", with forwarding on and redirects off
 *   veth "tr<id>" (edged's namespace, interface group TRANSIT_IFGROUP) <-> "edge<id>" (the
 *     customer's namespace), addresses 169.254.x.y/30 and fe80::1 / fe80::2
 *   in the namespace: default routes back to edged's side (IPv4 and IPv6)
 *   in edged's namespace: table transit_table(id) with default routes into the namespace,
 *     and `ip rule fwmark transit_mark(id)/TRANSIT_MARK_MASK lookup transit_table(id)`
 *
 * Everything is created idempotently, so that a restarted edged adopts what it finds (the
 * id is read back from the name of the namespace's veth), and removed by transit_ns_remove.
 * Routes and rules carry NLR_PROTO_TRANSIT. Runs in the calling thread, which enters the
 * customer's namespace (setns) for the work inside it and always comes back.
 */
#ifndef EDGED_TRANSIT_NS_H
#define EDGED_TRANSIT_NS_H

#include <stdbool.h>

#include "netlink_route.h"
#include "transit_config.h"

#define NLR_PROTO_TRANSIT 235

/* Fills the names and addresses of RT from its id, INSTANCE and CUSTOMER. */
void transit_ns_names(struct transit_customer_rt *rt, const char *instance, const char *customer);

/* The id of an existing namespace NETNS made by edged (from its veth's name), or -errno. */
int transit_ns_find_id(const char *netns, uint32_t *id);

/* Creates (or completes) the customer's plumbing for RT (names filled); fills the ifindexes
 * and MACs. NL is a rtnetlink socket of edged's namespace. Returns 0 or -errno, with the
 * step that failed in ERR. */
int transit_ns_setup(struct nlr *nl, struct transit_customer_rt *rt, char *err, size_t errlen);

/* Removes all of it; what is already gone is not an error. */
void transit_ns_remove(struct nlr *nl, const struct transit_customer_rt *rt);

/* Applies (CHECK_ONLY: only checks) the customer's firewall inside its namespace. */
int transit_ns_firewall(const struct transit_customer_rt *rt,
                        const struct transit_customer_config *c, bool check_only, char *err,
                        size_t errlen);

#endif
