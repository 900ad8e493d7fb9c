/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A WireGuard device as both of its configuration interfaces describe it: the userspace
 * UAPI (wg_uapi.c, wireguard-go's unix socket) and the kernel's generic netlink family
 * (wg_genl.c). egress.c builds one from the config and hands it to the backend; `get`
 * fills one with the live state (handshakes, byte counters) for edgectl and metrics.
 */
#ifndef EDGED_WG_DEVICE_H
#define EDGED_WG_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "wg_key.h"

#define WG_MAX_ALLOWED 8

struct wg_peer {
	uint8_t public_key[WG_KEY_LEN];
	struct prefix allowed[WG_MAX_ALLOWED]; /* AllowedIPs */
	int n_allowed;
	uint16_t keepalive_s; /* persistent keepalive; 0: off */
	/* Live state (get only) */
	bool has_endpoint;
	struct sockaddr_storage endpoint;
	int64_t last_handshake_s; /* seconds since the epoch; 0: never */
	uint64_t rx_bytes, tx_bytes;
};

struct wg_device {
	bool has_private_key;
	uint8_t private_key[WG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark; /* 0: none */
	struct wg_peer *peers;
	int n_peers;
};

/* The peer with KEY, or NULL. */
struct wg_peer *wg_device_find(const struct wg_device *d, const uint8_t key[WG_KEY_LEN]);
/* Appends a zeroed peer; NULL when out of memory. */
struct wg_peer *wg_device_add_peer(struct wg_device *d);
void wg_device_free(struct wg_device *d);

#endif
