/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The DoS function's userspace: turns the `dos:` config into the maps of bpf/dos.h, swaps
 * them in atomically, manages runtime list entries (edgectl dos block add --ttl), expires
 * them, and reports per-rule and per-list counters.
 *
 * A change is two-phase so that a failure changes nothing: dos_prepare() builds every new
 * inner map aside, the data path is applied, then dos_commit() swaps them in (or dos_abort()
 * throws them away).
 */
#ifndef EDGED_DOS_MAPS_H
#define EDGED_DOS_MAPS_H

#include <stdbool.h>

#include "datapath.h"
#include "dos_config.h"
#include "strbuf.h"

enum dos_family {
	DOS_V4 = 0,
	DOS_V6,
	DOS_NFAMILIES,
};

struct dos_state {
	/* Rule names by id, kept in a pinned map of edged's own so ids (and the counters
	 * behind them) stay with their rule across reloads and restarts. */
	char names[DOS_MAX_RULES][DOS_NAME_MAX];
	int names_fd;
	/* Built by dos_prepare, swapped in by dos_commit; -1 when not prepared (next_exact also
	 * when the list has no exact address). */
	int next_lists[DOS_NFAMILIES][DOS_NLISTS];
	int next_exact[DOS_NFAMILIES][DOS_NLISTS];
	int next_rules;
	int next_dest[DOS_NFAMILIES];
	__u32 next_active; /* DOS_HAS_* bits of the prepared set */
	/* The generation the last commit left behind, and when the sweeper may release its
	 * maps (CLOCK_BOOTTIME ns); 0: nothing to release. */
	__u32 stale_gen;
	__u64 stale_due_ns;
	char (*next_names)[DOS_NAME_MAX]; /* rule names of the prepared set, by id */
	bool prepared;
	/* Entries per live list, for metrics (counting a 1M-entry trie per scrape would be
	 * slow); recounted at start. */
	long entries[DOS_NFAMILIES][DOS_NLISTS];
	/* Earliest expiry of a TTL entry (CLOCK_BOOTTIME ns), 0 when none expires: the sweeper
	 * does nothing before it. */
	__u64 next_expiry_ns;
	long next_entries[DOS_NFAMILIES][DOS_NLISTS];
};

void dos_state_init(struct dos_state *st);
/* Builds the maps for DC (an empty set when DC is NULL: the function is off). */
int dos_prepare(struct dos_state *st, struct datapath *dp, const struct dos_config *dc);
void dos_commit(struct dos_state *st, struct datapath *dp);
void dos_abort(struct dos_state *st);
void dos_state_close(struct dos_state *st);

/* Runtime list changes (edgectl dos allow|block add|del|list|flush). TTL 0 = forever. */
int dos_list_add(struct dos_state *st, struct datapath *dp, enum dos_list list,
                 const struct prefix *pfx, unsigned int ttl_s, struct strbuf *err);
int dos_list_del(struct dos_state *st, struct datapath *dp, enum dos_list list,
                 const struct prefix *pfx, struct strbuf *err);
/* Removes the runtime entries of LIST (the config's stay: edit the config for those). */
int dos_list_flush(struct dos_state *st, struct datapath *dp, enum dos_list list);
void dos_list_render(struct dos_state *st, struct datapath *dp, enum dos_list list, bool json,
                     struct strbuf *out);

/* Deletes expired entries; edged calls it every second. Returns how many went. */
int dos_sweep(struct dos_state *st, struct datapath *dp);

/* `edgectl dos rules`, `edgectl dos lists` and the Prometheus lines. */
void dos_rules_render(struct dos_state *st, struct datapath *dp, const struct dos_config *dc,
                      bool json, struct strbuf *out);
void dos_metrics_render(struct dos_state *st, struct datapath *dp, const struct dos_config *dc,
                        struct strbuf *out);

/* The id of rule NAME, or -1. For `edgectl capture --rule NAME`. */
int dos_rule_id(const struct dos_state *st, const char *name);

const char *dos_list_name(enum dos_list list);

#endif
