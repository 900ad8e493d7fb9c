/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SYN cookies' part of the DoS maps and counters: the `dos.syn_cookies` destinations as
 * fields of the dos_dest_v4/v6 policies (merged with the ceilings), and the outcome
 * counters of the XDP stage (bpf/syncookie.bpf.h) for edgectl and metrics. The nftables
 * side is edged/synproxy.c.
 */
#ifndef EDGED_SYNCOOKIE_MAPS_H
#define EDGED_SYNCOOKIE_MAPS_H

#include <stdbool.h>

#include "datapath.h"
#include "dos_config.h"
#include "strbuf.h"

/*
 * Adds DC's syn_cookies destinations to the policy tries being built (FDS[0] IPv4, FDS[1]
 * IPv6), where build_dests() has put the ceilings. An address gets the ceiling of the
 * longest ceiling prefix and the SYN cookies of the syn_cookies prefix that contain it:
 * each syn_cookies prefix gets an entry carrying the ceiling that covers it, and each
 * ceiling inside a syn_cookies prefix gets that prefix's SYN-cookie fields. Returns 0 or -1.
 */
int syncookie_dests_fill(const struct dos_config *dc, const int fds[2]);

/* The policy fields of one syn_cookies entry. */
void syncookie_policy(const struct dos_syncookie_config *c, struct dos_dest_policy *pol);

/* The outcome counters, summed over CPUs, as `,"syn_cookies":{"syn_answered":N,...}` (JSON,
 * to close the object of `edgectl -j dos rules`) or as lines of text. */
void syncookie_stats_render(const struct datapath *dp, bool json, struct strbuf *out);
/* edged_dos_syncookie_packets_total{outcome="..."} */
void syncookie_metrics_render(const struct datapath *dp, struct strbuf *out);

#endif
