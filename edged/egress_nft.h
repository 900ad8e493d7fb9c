/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egress's nftables table, `inet edged_egress`, replaced whole in one transaction whenever
 * the tunnel's config or its peers change (the WARP design, seeds/000):
 *
 *   table inet edged_egress {                          # comment: the owning instance
 *     counter peer_<name>_out / _in                     packets and bytes per peer
 *     counter snat<k>_out / _in                         per egress address
 *     set p<i>_4, p<i>_6                                each peer's tunnel addresses
 *     set snat<k>_src                                   the peers leaving from snat[k]
 *     chain prerouting { filter, priority mangle
 *       iif WG ct mark set ct mark | MARK accept         a tunnel connection
 *       ct direction reply ct mark & MARK == MARK meta mark set meta mark | MARK }
 *                                                       its replies -> fwmark rule -> WG
 *     chain forward { filter
 *       iif WG jump from_tunnel
 *       oif WG jump to_tunnel }
 *     chain from_tunnel {
 *       oif WG accept|drop                              allow.clients
 *       ct state new jump limits                        when some peer has max_connections
 *       ip saddr @p<i>_4 counter name peer_<name>_out counter name snat<k>_out
 *                                                       k: the peer's egress address
 *       accept|drop }                                   allow.internet
 *     chain limits { ip saddr @p<i>_4 ct count over N drop }   max_connections
 *     chain to_tunnel {
 *       ct direction original drop                      nobody opens into the tunnel
 *       ip daddr @p<i>_4 counter name peer_<name>_in counter name snat<k>_in }
 *     chain input { filter
 *       iif WG jump tunnel_in }
 *     chain tunnel_in {
 *       ct state established,related accept             replies to the edge's own
 *       drop }                                          unless allow.edge_services
 *     chain postrouting { nat, priority srcnat
 *       ct mark & MARK == MARK oif != WG ip saddr @snat<k>_src snat ip to A:LO-HI }
 *   }
 *
 * Every packet of the edge walks the base chains, so each of their rules fails on its first
 * expression for traffic that is not the tunnel's, and the tunnel's own packets jump to
 * chains of their direction: `make bench` (egress_wg_*) measures this table against plain
 * routing. WG is matched by interface index (iif/oif, a 4-byte compare instead of a 16-byte
 * name): the table is rebuilt whenever edged makes the device again.
 *
 * Marks are restored for replies only: restoring them on the client's own packets would
 * send those back into the tunnel by the fwmark rule (platform.md). Named counters carry
 * their values over a replace, so a peer change does not reset the others' statistics.
 */
#ifndef EDGED_EGRESS_NFT_H
#define EDGED_EGRESS_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "egress_config.h"

#define EGRESS_TABLE "edged_egress"

struct egress_nft_input {
	const char *instance;
	const struct egress_config *ec;         /* interface, mark, snat, allow */
	const struct egress_peer_config *peers; /* the live peers (config + runtime) */
	int n_peers;
	unsigned int ifindex; /* the device's, or 0 (not made yet): rules match its name */
};

/* Replaces the table with what IN describes (CHECK_ONLY: the kernel checks it, nothing
 * changes). Returns 0, or -errno with ERR naming what the kernel refused. */
int egress_nft_apply(const struct egress_nft_input *in, bool check_only, char *err, size_t errlen);
/* Removes the table if it exists. */
int egress_nft_remove(char *err, size_t errlen);
/* The instance that owns the table in this namespace into OWNER ("" when none). */
int egress_nft_owner(char *owner, size_t len);

/* Counter names, for stats and metrics. */
void egress_nft_peer_counter(const char *peer, bool in, char *buf, size_t size);
void egress_nft_snat_counter(int k, bool in, char *buf, size_t size);

#endif
