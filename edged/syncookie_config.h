/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `syn_cookies:` key of the dos section: which destinations get SYN cookies (answered
 * in XDP, bpf/syncookie.bpf.h) in front of nftables synproxy (edged/synproxy.c).
 *
 *   dos:
 *     syn_cookies:
 *       - {dst: 203.0.113.10/32, ports: "80,443"}              # always, these ports
 *       - {dst: 2001:db8::/64, mode: auto, auto_pps: 20k, mss: 1400}   # every TCP port
 */
#ifndef EDGED_SYNCOOKIE_CONFIG_H
#define EDGED_SYNCOOKIE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "dos.h"

/* The MSS a SYN-ACK may offer: IPv4's minimum (576 - 40) up to a 9000-byte jumbo frame's. */
#define SYNCOOKIE_MSS_MIN 536
#define SYNCOOKIE_MSS_MAX 8960

struct dos_syncookie_config {
	struct prefix dst;
	uint16_t port_lo[DOS_SYN_PORT_RANGES]; /* sorted, disjoint, not touching */
	uint16_t port_hi[DOS_SYN_PORT_RANGES];
	int n_ports;       /* 0: every TCP port */
	uint8_t mode;      /* DOS_SYN_COOKIES_ALWAYS or DOS_SYN_COOKIES_AUTO */
	uint64_t auto_pps; /* AUTO: SYN/s per destination address left to nft synproxy */
	uint16_t mss;      /* 0: SYNCOOKIE_MSS4 or SYNCOOKIE_MSS6 by family */
};

struct parser;
struct yaml_node_s;
/* The key handler of `syn_cookies:` (dos_config.c's table); OBJ is the struct dos_config. */
void dos_syncookies_parse(struct parser *p, struct yaml_node_s *v, const char *path, void *obj);

/* Whether OUTER contains INNER: same family, OUTER no longer, and INNER's first OUTER->len
 * bits equal to OUTER's. */
bool prefix_contains(const struct prefix *outer, const struct prefix *inner);

/* The MSS the SYN-ACKs for C's destination offer. */
uint16_t syncookie_mss(const struct dos_syncookie_config *c);

#endif
