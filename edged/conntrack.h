/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Conntrack entries through ctnetlink (libmnl): what `conntrack -L -m MARK` and `conntrack
 * -D` do, for egress's statistics (active connections per peer and per egress address, the
 * share of the port range in use) and for removing a deleted peer's connections, so that its
 * NAT mappings and ports do not outlive it.
 */
#ifndef EDGED_CONNTRACK_H
#define EDGED_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* One entry, as egress looks at it. */
struct ct_entry {
	int family;
	uint8_t proto;
	struct prefix orig_src;  /* the client (a host prefix) */
	struct prefix reply_dst; /* where replies go: the egress address after SNAT */
	uint16_t reply_dport;    /* the SNAT port (host order); 0 without ports */
	uint32_t mark;
};

/* Calls FN for every entry of FAMILY (AF_INET, AF_INET6) whose mark & MASK == MARK & MASK
 * (the kernel filters). Returns 0 or -errno. */
int ct_dump(int family, uint32_t mark, uint32_t mask,
            void (*fn)(const struct ct_entry *e, void *arg), void *arg);

/* Deletes every entry of FAMILY with the mark bits whose original source lies in one of
 * SRC[N]. Returns the number deleted, or -errno. */
int ct_delete_sources(int family, uint32_t mark, uint32_t mask, const struct prefix *src, int n);

#endif
