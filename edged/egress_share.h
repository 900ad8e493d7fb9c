/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IP sharing ('soft-unicast') in the data path: turns the shared entries of `egress.snat`
 * (those with a `share:` list) into bpf/eshare.h's maps, so that the XDP stage steers
 * each reply to the member owning its port and unwraps what members steer to us.
 *
 * Two-phase like the other functions: egress_share_prepare() builds the new address table
 * aside (a map of the eshare_addrs inner type), the data path is applied, then
 * egress_share_commit() writes the settings and swaps the table in with one update of the
 * outer map (atomic for the data path); egress_share_abort() drops it.
 *
 * Counter slots (eshare_stats) stay with their address across reloads and restarts: they
 * are read back from the live table, and a slot given to another address is zeroed.
 */
#ifndef EDGED_EGRESS_SHARE_H
#define EDGED_EGRESS_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "datapath.h"
#include "eshare.h" /* bpf/: the maps' layout */
#include "strbuf.h"

struct egress_share_state {
	/* The live table, by counter slot: address (network order), 0 = free. */
	uint32_t addrs[ESHARE_MAX_ADDRS];
	bool loaded; /* addrs was read from the pinned table */

	bool prepared;
	int next_table; /* inner map fd, or -1 */
	uint32_t next_addrs[ESHARE_MAX_ADDRS];
	struct eshare_slot next_slots[ESHARE_SLOTS];
	struct eshare_settings next_settings;
};

/* Whether CFG shares any egress address: the data path then needs the stage. */
bool egress_share_wanted(const struct edged_config *cfg);

/*
 * The table entry of shared SNAT entry I of CFG's egress section, with counter slot INDEX:
 * members, this edge's position, the range and the equal slices of edged/port_range.c.
 * Returns 0, or -1 with the reason (naming the entry) in ERR. For edged and the tests.
 */
int egress_share_entry(const struct edged_config *cfg, int i, uint32_t index,
                       struct eshare_addr *out, char *err, size_t errlen);
/* The settings: egress.self, and the tunnels of the `lb:` section when it is on (the fleet
 * decapsulates one format), else GUE on LB_DEFAULT_GUE_PORT. */
void egress_share_settings(const struct edged_config *cfg, struct eshare_settings *out);

/* The table's open-addressed slot array (bpf/eshare.h): insert ADDR -> A into SLOTS
 * (ESHARE_SLOTS of them); -ENOSPC after ESHARE_PROBES slots. Then a map of the eshare_addrs
 * inner type holding SLOTS, or -1. Tests and benchmarks build their tables with these too. */
int egress_share_slot_insert(struct eshare_slot *slots, uint32_t addr, const struct eshare_addr *a);
int egress_share_table_create(const struct eshare_slot *slots);

void egress_share_init(struct egress_share_state *st);
int egress_share_prepare(struct egress_share_state *st, struct datapath *dp,
                         const struct edged_config *cfg);
void egress_share_commit(struct egress_share_state *st, struct datapath *dp);
void egress_share_abort(struct egress_share_state *st);

/* Counters of slot INDEX summed over CPUs, and the global ones; 0 or -1. */
int egress_share_counters(const struct datapath *dp, uint32_t index, struct eshare_counters *out);
int egress_share_global(const struct datapath *dp, struct eshare_global_counters *out);

/* Prometheus lines for every shared address. */
void egress_share_metrics_render(const struct egress_share_state *st, const struct datapath *dp,
                                 struct strbuf *sb);

#endif
