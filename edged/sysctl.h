/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /proc/sys files of the calling thread's network namespace (net.* sysctls are per
 * namespace), for the functions that set or check them (egress, transit, lb, egress share).
 */
#ifndef EDGED_SYSCTL_H
#define EDGED_SYSCTL_H

#include <stdbool.h>
#include <stddef.h>

/* The value in the file PATH into BUF (LEN bytes, at least 2), without its newline.
 * Returns 0 or -errno. */
int sysctl_read(const char *path, char *buf, size_t len);
/* Writes VALUE to the file PATH. Returns 0 or -errno. */
int sysctl_write(const char *path, const char *value);
/* Whether net.ipv4.conf.IFNAME.forwarding is 0 (false when it cannot be read):
 * bpf_fib_lookup refuses to route packets that arrived on such an interface. */
bool sysctl_ipv4_forwarding_off(const char *ifname);

#endif
