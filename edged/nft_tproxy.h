/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dispatch's nftables table, `inet edged_dispatch`, written in one atomic batch with edged's
 * libnftnl helpers (nft.h): a prerouting chain (priority mangle, where TPROXY must run) whose
 * rules send the packets of TPROXY bindings to their service's transparent socket and mark
 * them for the TPROXY routing table. Only the TPROXY-specific expressions live here (inline
 * prefix and port-range matches, tproxy, mark set); they can move to nft.h when another
 * table needs them.
 *
 * Rules are evaluated in order and the order is the precedence (longest prefix first), so a
 * packet that a more specific sk_lookup binding owns is accepted early (nftables leaves it,
 * the sk_lookup program takes it), and a TPROXY binding whose socket nftables cannot find
 * is accepted too: the sk_lookup program then refuses it and counts a miss, where falling
 * through would hand it to a shorter prefix's binding.
 */
#ifndef EDGED_NFT_TPROXY_H
#define EDGED_NFT_TPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define NFT_TPROXY_TABLE "edged_dispatch"
#define NFT_TPROXY_CHAIN "prerouting"

struct nft_tproxy_rule {
	struct prefix dst; /* destination prefix */
	uint8_t protocol;  /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t lo, hi;   /* destination ports, inclusive; 0-65535 matches any */
	bool tproxy;       /* false: accept only (the packet is not for TPROXY) */
	/* With tproxy: the service socket's address (same family as dst) and port, and the
	 * mark the TPROXY routing rule matches. */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} to_addr;
	uint16_t to_port;
	uint32_t mark;
	uint32_t binding; /* the binding's counter slot: named in the rule's comment */
};

/* Replaces the whole table with RULES (N == 0: removes the table). With CHECK_ONLY the
 * kernel validates the batch and discards it (nft -c). Returns 0, or -errno with the
 * kernel's reason and the failing rule in ERR. */
int nft_tproxy_apply(const struct nft_tproxy_rule *rules, int n, bool check_only, char *err,
                     size_t errlen);

/* Calls FN with the packet counts of the table's rules, by binding slot: the TPROXY rule's
 * and the fallback's (no transparent socket found). Returns 0 or -errno (-ENOENT: no
 * table). */
int nft_tproxy_counters(void (*fn)(uint32_t binding, bool fallback, uint64_t packets, void *arg),
                        void *arg);

#endif
