/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel WireGuard over generic netlink (libmnl): the "wireguard" family's
 * WG_CMD_SET_DEVICE and WG_CMD_GET_DEVICE, what `wg` uses on Linux. Message building and
 * parsing are separate from the socket (unit-tested without a kernel that has WireGuard).
 */
#ifndef EDGED_WG_GENL_H
#define EDGED_WG_GENL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg_device.h"

struct nlmsghdr;

/* Whether the kernel has WireGuard (the genl family resolves, or the module is loaded). */
bool wg_genl_available(void);

/* Room for one peer in a message at most (key, flags, keepalive, WG_MAX_ALLOWED allowed
 * IPs, nesting), and peers per message: a set of more peers is split into several messages,
 * as the kernel's protocol allows (only the first carries the device and REPLACE_PEERS). */
#define WG_GENL_PEER_MAX_BYTES 512
#define WG_GENL_PEERS_PER_MSG  32
#define WG_GENL_MSG_SIZE       (WG_GENL_PEERS_PER_MSG * WG_GENL_PEER_MAX_BYTES + 512)

/* Builds WG_CMD_SET_DEVICE for IFNAME into BUF (WG_GENL_MSG_SIZE bytes) for family
 * FAMILY_ID and SEQ with the peers [FIRST, FIRST + N) of D (N <= WG_GENL_PEERS_PER_MSG).
 * DEVICE: the device's key and port too (the first message), with REPLACE_PEERS: peers not
 * listed go. REMOVE[i] (may be NULL) removes peer i instead of setting it. */
struct nlmsghdr *wg_genl_build_set(char *buf, uint16_t family_id, uint32_t seq, const char *ifname,
                                   const struct wg_device *d, int first, int n, bool device,
                                   bool replace_peers, const bool *remove);
/* Builds WG_CMD_GET_DEVICE (a dump) for IFNAME. */
struct nlmsghdr *wg_genl_build_get(char *buf, uint16_t family_id, uint32_t seq, const char *ifname);
/* Parses one message of the answer to a get into D (peers are appended: a device with many
 * peers answers in several messages). Returns 0 or -1 for a malformed message. */
int wg_genl_parse_device(const struct nlmsghdr *nlh, struct wg_device *d);

/* The socket side: 0 or -errno with ERR naming the cause. */
int wg_genl_set(const char *ifname, const struct wg_device *d, bool replace_peers,
                const bool *remove, char *err, size_t errlen);
int wg_genl_get(const char *ifname, struct wg_device *d, char *err, size_t errlen);

#endif
