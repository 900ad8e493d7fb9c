/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IP sharing's port allocator: the source-port range of a shared egress address, split among
 * the fleet members that share it. The split is a pure function of (range, number of members,
 * position in the list), so every member computes the same slices from the same config with
 * no coordination: contiguous, equal slices in list order, the last member taking the
 * remainder. This edge SNATs into its own slice; the XDP stage sends a reply whose destination
 * port lies in another member's slice to that member (port_range_owner()).
 */
#ifndef EDGED_PORT_RANGE_H
#define EDGED_PORT_RANGE_H

#include <stdint.h>

#include "addr.h"

struct egress_snat_config;

struct port_slice {
	uint16_t lo, hi; /* inclusive */
};

enum port_range_error {
	PORT_RANGE_ERR_RANGE = -1,   /* lo > hi, or lo is 0 */
	PORT_RANGE_ERR_MEMBERS = -2, /* no members, or more than ports */
	PORT_RANGE_ERR_INDEX = -3,   /* the member's index is not in the list */
	PORT_RANGE_ERR_PORT = -4,    /* the port is outside the range */
};

/* Member INDEX's slice of [LO, HI] split among N members. Returns 0 or an enum
 * port_range_error (each slice has at least one port, or the split is refused). */
int port_range_split(uint16_t lo, uint16_t hi, int n, int index, struct port_slice *out);

/* The member whose slice holds PORT, or an enum port_range_error. */
int port_range_owner(uint16_t lo, uint16_t hi, int n, uint16_t port);

/* The position of SELF in MEMBERS[N] (same family and address), or -1. */
int port_range_member_index(const struct prefix *members, int n, const struct prefix *self);

/* Member MEMBER's slice of a configured egress address: the whole range when it is not
 * shared (then only member 0 exists). Returns 0 or an enum port_range_error. */
int port_range_slice(const struct egress_snat_config *s, int member, struct port_slice *out);

/* Words for an enum port_range_error, for messages that then name the fix. */
const char *port_range_strerror(int err);

#endif
