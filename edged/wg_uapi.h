/* SPDX-License-Identifier: GPL-2.0 */
/*
 * WireGuard's cross-platform userspace API (https://www.wireguard.com/xplatform/): the text
 * protocol `wg` speaks to wireguard-go over /var/run/wireguard/<ifname>.sock. A request is
 * "get=1\n\n" or "set=1\n" + key=value lines + "\n"; the answer ends with "errno=N\n\n".
 * Keys travel in hex. Building and parsing are pure (unit-tested); wg_uapi_transact() is the
 * socket round trip.
 */
#ifndef EDGED_WG_UAPI_H
#define EDGED_WG_UAPI_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "wg_device.h"

/* Where wireguard-go listens for interface IFNAME: one path per host, shared by all network
 * namespaces (platform.md), hence unique interface names. */
#define WG_UAPI_DIR "/var/run/wireguard"

/* The socket path of IFNAME into BUF. Returns BUF. */
char *wg_uapi_path(const char *ifname, char *buf, size_t size);

/* "set=1" for the whole device D: its key, port, and exactly its peers (replace_peers). */
void wg_uapi_build_set(const struct wg_device *d, struct strbuf *out);
/* "set=1" bringing a running device to D without disturbing the peers it keeps: their
 * sessions survive (replace_peers would drop them, and clients would wait up to 15 s for a
 * new handshake). Peers of D are added or updated, the N_GONE keys of GONE are removed. */
void wg_uapi_build_sync(const struct wg_device *d, const uint8_t (*gone)[WG_KEY_LEN], int n_gone,
                        struct strbuf *out);
/* "set=1" adding or updating one peer (its allowed IPs replaced), others untouched. */
void wg_uapi_build_peer(const struct wg_peer *p, struct strbuf *out);
/* "set=1" removing the peer with KEY. */
void wg_uapi_build_remove(const uint8_t key[WG_KEY_LEN], struct strbuf *out);

/* Parses the answer to "get=1" into D (peers with their counters). Returns 0, the errno the
 * device reported (> 0), or -1 for a malformed answer; ERR says which line. */
int wg_uapi_parse_get(const char *text, struct wg_device *d, char *err, size_t errlen);
/* The errno=N of the answer to a set: 0 on success, > 0 the device's error, -1 malformed. */
int wg_uapi_parse_errno(const char *text);

/* Sends REQ to the UAPI socket of IFNAME and reads the whole answer into RESP. Returns 0
 * or -errno (-ENOENT / -ECONNREFUSED: nobody serves the interface). */
int wg_uapi_transact(const char *ifname, const char *req, struct strbuf *resp);

/* set D on IFNAME; 0 or -errno (ERR: why). */
int wg_uapi_set(const char *ifname, const char *req, char *err, size_t errlen);
int wg_uapi_get(const char *ifname, struct wg_device *d, char *err, size_t errlen);

#endif
