/* SPDX-License-Identifier: GPL-2.0 */
/* What the kernel says about a network interface's hardware: its driver. */
#ifndef EDGED_NIC_H
#define EDGED_NIC_H

#include <stddef.h>

#define NIC_DRIVER_MAX 32

/* Writes IFNAME's driver name ("virtio_net", "e1000", "veth", ...) to OUT, as `ethtool -i`
 * prints it. Returns 0, or -errno (OUT is then "unknown"): interfaces without ethtool
 * support, such as lo, have no driver to report. */
int nic_driver(const char *ifname, char *out, size_t n);

#endif
