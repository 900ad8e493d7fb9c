/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VPN egress (the WARP design, seeds/000): WireGuard on a TUN device, conntrack marks,
 * SNAT into this edge's port range of each egress address, and a fwmark rule with a routing
 * table that sends marked replies back into the tunnel.
 *
 * What edged owns in its network namespace while egress is on:
 *   - the tunnel device: wireguard-go's TUN (a supervised child) or a kernel `wireguard`
 *     link, configured over the UAPI socket or generic netlink; its addresses; it is up
 *   - nftables table inet edged_egress (egress_nft.h)
 *   - routing table `egress.table`: default routes (IPv4, IPv6) to the device, protocol
 *     NLR_PROTO_EGRESS; rules `fwmark MARK/MARK lookup TABLE` for both families
 *   - sysctls: forwarding on the tunnel device and the uplinks only (IPv4 conf.<if>.forwarding;
 *     IPv6 conf.<if>.force_forwarding), rp_filter loose on the tunnel device; the values
 *     before are kept in /run/edged/egress-<instance>.sysctls (a restarted edged finds them
 *     there) and restored on teardown
 *
 * Two-phase like the rest: egress_prepare() reads the key, picks the backend, makes sure the
 * device exists (starting wireguard-go is additive: nothing routes to it yet) and has the
 * kernel check the new table; egress_commit() configures the device and swaps the table,
 * routes and rules; egress_abort() stops a device the prepare created.
 */
#ifndef EDGED_EGRESS_H
#define EDGED_EGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "egress_config.h"
#include "strbuf.h"
#include "wg_device.h"
#include "wg_process.h"

struct edged_config;

#define EGRESS_MAX_SYSCTLS 32

struct egress_sysctl {
	char path[128];
	char before[16];
};

/* A peer added with `edgectl egress peer add`: its words, kept in
 * /run/edged/egress-<instance>.peers so that it outlives reloads and restarts of edged (as
 * runtime DoS entries do), until `peer del` or teardown. */
#define EGRESS_RT_WORDS_MAX 640
struct egress_runtime_peer {
	char name[EGRESS_NAME_MAX];
	char words[EGRESS_RT_WORDS_MAX];
};

/* Conntrack-derived statistics (connections per peer and per address, ports in use), from a
 * full dump of the marked entries: kept for EGRESS_CT_CACHE_MS so that scrapes and edgectl
 * calls dump the table at most that often, however many come. */
#define EGRESS_CT_CACHE_MS 1000
struct egress_ct_cache {
	uint64_t at_ms; /* CLOCK_MONOTONIC of the dump; 0: none (the peers changed since) */
	int n_peers;
	uint64_t *peer_conns;
	uint64_t snat_conns[EGRESS_MAX_SNAT], snat_ports[EGRESS_MAX_SNAT];
	unsigned long dumps; /* how many dumps were made, for tests */
};

struct egress_state {
	char instance[32];
	bool active;                      /* a config with egress on is committed */
	struct egress_config cur;         /* its section (peers array owned) */
	struct egress_peer_config *peers; /* the live peers: the file's, plus edgectl's edits */
	int n_peers;
	struct egress_runtime_peer *rt; /* the runtime peers among them */
	int n_rt;
	bool rt_loaded; /* rt holds the file's peers (read once per edged) */
	struct egress_ct_cache ct;
	enum egress_backend backend; /* resolved: wireguard-go or kernel */
	uint8_t private_key[WG_KEY_LEN];
	struct wg_process proc;
	bool kernel_link; /* the kernel device exists (created by edged) */
	struct egress_sysctl saved[EGRESS_MAX_SYSCTLS];
	int n_saved;
	char uplinks[64][16]; /* forwarding is on for these */
	int n_uplinks;
	/* Prepared for the commit */
	bool prepared, prepared_off, started_device;
	char next_ifname[16];
	uint8_t next_key[WG_KEY_LEN];
	enum egress_backend next_backend;
	/* Statistics a restart of the device made stale, for messages */
	unsigned long device_setups;
};

int egress_prepare(struct egress_state *st, const struct edged_config *cfg);
void egress_commit(struct egress_state *st, const struct edged_config *cfg);
void egress_abort(struct egress_state *st);

/* Once a second: restarts and reconfigures a wireguard-go that exited. */
void egress_tick(struct egress_state *st);

/* Removes everything egress installed (edged --teardown). */
void egress_teardown(struct egress_state *st);
/* The same without a running edged (edged --teardown): the table this instance owns, the
 * rules, the device (an orphaned wireguard-go exits with it), and the sysctls back to the
 * values kept in /run/edged/egress-<instance>.sysctls. */
void egress_teardown_offline(const struct edged_config *cfg);
/* Frees what ST holds; the tunnel keeps running (wireguard-go is left to the next edged). */
void egress_close(struct egress_state *st);

/* Runtime peers (`edgectl egress peer add|del`); 0 or -1 with the reason in ERR. ARGV: NAME
 * PUBLIC_KEY ADDR[,ADDR...] [OPTION VALUE]... (egress_peer_from_args). An added peer outlives
 * reloads and restarts; a config peer of the same name, key or address replaces it. Deleting
 * a peer of the config file lasts until the next reload. */
int egress_peer_add_args(struct egress_state *st, int argc, char *const argv[], char *err,
                         size_t errlen);
int egress_peer_del(struct egress_state *st, const char *name, int *ct_deleted, char *err,
                    size_t errlen);

/* Live statistics. */
struct egress_peer_stats {
	const struct egress_peer_config *peer;
	bool has_wg;                                     /* the device knows the peer */
	int64_t last_handshake_s;                        /* 0: never */
	uint64_t rx_bytes, tx_bytes;                     /* WireGuard's (encrypted side) */
	uint64_t out_pkts, out_bytes, in_pkts, in_bytes; /* nftables: from / to the client */
	uint64_t connections;                            /* conntrack entries */
	char endpoint[64];
};

struct egress_snat_stats {
	const struct egress_snat_config *snat;
	uint64_t out_pkts, out_bytes, in_pkts, in_bytes;
	uint64_t connections;
	uint64_t ports_in_use; /* distinct SNAT ports of this edge's slice in use */
};

struct egress_stats {
	struct egress_peer_stats *peers;
	int n_peers;
	struct egress_snat_stats snat[EGRESS_MAX_SNAT];
	int n_snat;
	bool device_ok;
	char error[256];
};

/* The statistics now; the conntrack figures may be up to EGRESS_CT_CACHE_MS old. */
int egress_stats_get(struct egress_state *st, struct egress_stats *out);
void egress_stats_free(struct egress_stats *s);

#endif
