/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nftables synproxy behind the XDP SYN cookies (bpf/syncookie.bpf.h): edged's own table
 * `inet edged_synproxy`, and the sysctls synproxy needs, for the destinations of
 * `dos.syn_cookies`. The XDP stage answers SYNs and drops ACKs with bad cookies; synproxy
 * answers the SYNs XDP leaves to the stack (auto mode under its rate, fragments, a full
 * frame) and completes every handshake with the real listener once the client's ACK
 * proves its cookie, so the listener only ever sees completed connections.
 *
 *   table inet edged_synproxy {             # comment: the instance and the saved sysctls
 *     set dst4_0 { type ipv4_addr; flags interval; ... }     one set of destinations (and
 *     set ports4_0 { type inet_service; flags interval; ... }  of ports) per family, MSS
 *     chain prerouting { priority raw              and port list
 *       ip daddr @dst4_0 tcp dport @ports4_0 tcp flags syn / fin,syn,rst,ack notrack }
 *     chain input { priority filter
 *       ip daddr @dst4_0 tcp dport @ports4_0 ct state invalid,untracked
 *           synproxy mss 1460 wscale 7 timestamp sack-perm
 *       ip daddr @dst4_0 tcp dport @ports4_0 ct state invalid drop }
 *   }
 *   net.ipv4.tcp_syncookies=2, net.ipv4.tcp_timestamps=1, net.netfilter.nf_conntrack_tcp_loose=0
 *
 * All in edged's network namespace, replaced in one nftables transaction on every apply,
 * removed (and the sysctls restored to what they were) when the config drops syn_cookies
 * and on teardown. The values the sysctls had before are kept in the table's comment, so a
 * restarted edged, or `edged --teardown` without a running edged, restores them too. One
 * edged instance per network namespace may use syn_cookies: the comment names the owner.
 */
#ifndef EDGED_SYNPROXY_H
#define EDGED_SYNPROXY_H

#include <stdbool.h>

#include "dos_config.h"

#define SYNPROXY_TABLE "edged_synproxy"
/* "0"..."2" and room; the sysctls edged sets are small integers. */
#define SYNPROXY_SYSCTL_MAX 16
#define SYNPROXY_NSYSCTLS   3

struct synproxy_state {
	char instance[32];
	bool adopted; /* the first prepare looked for a table left by a previous edged */
	bool active;  /* our table is in place */
	char saved[SYNPROXY_NSYSCTLS][SYNPROXY_SYSCTL_MAX]; /* the sysctls before edged */
	/* Destinations now applied, and prepared for the next commit. */
	struct dos_syncookie_config *cur, *next, *prev;
	int n_cur, n_next, n_prev;
	bool prepared;
	bool committed; /* this apply's commit went through: an abort puts prev back */
};

/*
 * Two-phase like the maps: prepare checks the new table with the kernel (nft -c) without
 * changing anything; commit applies it and sets the sysctls; abort after a commit puts the
 * previous table back. DC NULL, or without syn_cookies, means no table. INSTANCE names the
 * owner in the table's comment. A zeroed state is ready. Each returns 0 or -1 after
 * logging why.
 *
 * Prepare before the edge program loads: the kernel's check of the table loads nf_conntrack
 * where it is a module, and the program finds the conntrack kfuncs only if it is loaded.
 */
int synproxy_prepare(struct synproxy_state *st, const char *instance, const struct dos_config *dc);
int synproxy_commit(struct synproxy_state *st);
void synproxy_abort(struct synproxy_state *st);

/* Removes the table and restores the sysctls if INSTANCE owns the table in this namespace.
 * ST may be NULL (edged --teardown without a running edged). Returns 0 or -1. */
int synproxy_teardown(struct synproxy_state *st, const char *instance);

/* Frees what ST holds; the table stays, with the data path it protects. */
void synproxy_close(struct synproxy_state *st);

#endif
