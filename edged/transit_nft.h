/* SPDX-License-Identifier: GPL-2.0 */
/*
 * transit's nftables, built with nft.h's batch:
 *
 * In each customer namespace, table `inet edged_transit` (the customer's firewall):
 *   set p4, p6            the customer's prefixes
 *   chain forward         hook forward: ct state established,related accept;
 *                         daddr in p4/p6 -> jump in; saddr in p4/p6 -> jump out;
 *                         anything else (a site sending from addresses not its own) drop
 *   chain in, out         the rules of that direction in order, each with a counter and a
 *                         comment "rule N" (N = index in firewall.rules), then the direction's
 *                         default with a counter ("default")
 *
 * In edged's namespace, table `inet edged_transit` (steering and isolation):
 *   map m4, m6            customer prefix -> transit_mark(id)
 *   chain prerouting      hook prerouting, mangle: packets without a transit mark get
 *                         `meta mark set ip daddr map @m4` (a decapsulated packet keeps the
 *                         mark of the tunnel it came from, so it enters its own customer's
 *                         namespace whatever its destination)
 *   chain forward         iifgroup TRANSIT_IFGROUP oifgroup TRANSIT_IFGROUP drop: nothing
 *                         goes from one customer's veth to another's
 */
#ifndef EDGED_TRANSIT_NFT_H
#define EDGED_TRANSIT_NFT_H

#include <stdint.h>

#include "nft.h"
#include "transit_config.h"

#define TRANSIT_NFT_TABLE "edged_transit"
/* The interface group of edged's ends of customer veths ("tr" in ASCII). */
#define TRANSIT_IFGROUP 0x7472

/* The customer firewall table (replacing what was there) into B. */
int transit_nft_firewall(struct nft_batch *b, const struct transit_customer_config *c);

/* One rule of the firewall, for chain CHAIN (exposed for the unit tests). */
struct nftnl_rule *transit_nft_rule(const struct transit_rule *r, int index, const char *chain);

/* Prefix -> mark for the steering table. */
struct transit_mark_entry {
	struct prefix prefix;
	uint32_t mark;
};

/* The steering and isolation table of edged's namespace (replacing what was there). */
int transit_nft_steering(struct nft_batch *b, const struct transit_mark_entry *m, int n);

/* Counter of one firewall rule: CHAIN "in"/"out"/"forward", RULE -1 for the direction's
 * default (and forward's "not-customer" drop), else the index in firewall.rules. */
struct transit_fw_counter {
	char chain[16];
	int rule;
	uint64_t packets, bytes;
};

/* The counters of table edged_transit in the calling thread's namespace: calls FN for each
 * rule that has one. Returns 0 or -errno. */
int transit_nft_counters(void (*fn)(const struct transit_fw_counter *c, void *arg), void *arg);

#endif
