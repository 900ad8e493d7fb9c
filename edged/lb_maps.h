/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The load balancer's userspace: turns the `lb:` config, the servers' health and the
 * operator's drains and weights into the maps of bpf/lb.h, and swaps them in atomically.
 *
 * A config change is two-phase, as for DoS: lb_prepare() builds every new inner map aside,
 * the data path is applied, then lb_commit() swaps them in (or lb_abort() drops them). Health
 * changes, drains and weights rebuild the tables of the services concerned at once
 * (lb_rebuild), one atomic swap per table.
 *
 * Tables keep history for second chance: a bucket whose server changes remembers the one
 * before (`second`) while that server is alive (configured and not failed, draining counts as
 * alive); a bucket that keeps its server keeps its second. See lb_maps.c.
 */
#ifndef EDGED_LB_MAPS_H
#define EDGED_LB_MAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "datapath.h"
#include "lb_config.h"
#include "lb_health.h"
#include "strbuf.h"

/* Operator state of a server (pinned map lb_runtime, by address): survives reloads and
 * restarts, so a drain lasts until undrained. */
struct lb_runtime {
	uint32_t flags;  /* LB_RT_* */
	uint32_t weight; /* 0: the config's */
};

#define LB_RT_DRAINED 1u

struct lb_state {
	/* What is live: server id -> entry (mirror of lb_servers), service id -> name. */
	struct lb_server servers[LB_MAX_SERVERS];
	char names[LB_MAX_SERVICES][LB_NAME_MAX];
	int names_fd;   /* pinned lb_service_names: ids survive restarts */
	int runtime_fd; /* pinned lb_runtime */
	bool loaded;    /* the mirrors were read from the pinned maps */
	/* Ids of the applied config's servers and services, by config index. */
	int *srv_ids, *svc_ids;
	int n_srv_ids, n_svc_ids;
	/* Per service id: the live table's digest (of its first servers' addresses). */
	uint64_t digest[LB_MAX_SERVICES];
	uint32_t active[LB_MAX_SERVICES]; /* servers in the live table */

	/* Built by lb_prepare, swapped in by lb_commit. */
	bool prepared;
	bool enabled;
	struct lb_server next_servers[LB_MAX_SERVERS];
	char (*next_names)[LB_NAME_MAX];
	int *next_srv_ids, *next_svc_ids;
	int n_next_srv, n_next_svc;
	int *next_tables; /* by config service index */
	uint64_t *next_digest;
	uint32_t *next_active;
	int next_vips, next_prefixes[2], next_fleet;
	struct lb_settings next_settings;

	struct lb_health health;
};

void lb_state_init(struct lb_state *st);
/* Builds the maps for LC (everything empty when LC is NULL: the function is off). */
int lb_prepare(struct lb_state *st, struct datapath *dp, const struct lb_config *lc);
void lb_commit(struct lb_state *st, struct datapath *dp);
void lb_abort(struct lb_state *st);
void lb_state_close(struct lb_state *st);

/* Rebuilds and swaps in the tables of service SVC (config index; -1: every service) that
 * have server SRV (config index; -1: any). Returns how many tables failed (logged). */
int lb_rebuild(struct lb_state *st, struct datapath *dp, const struct lb_config *lc, int svc,
               int srv);

/* Operator state: drain / undrain, weight (0 = back to the config's). */
int lb_runtime_get(const struct lb_state *st, const struct prefix *addr, struct lb_runtime *rt);
int lb_runtime_set(struct lb_state *st, const struct prefix *addr, const struct lb_runtime *rt);

/* Why server SRV of service SVC (config indexes) is out of the service's table, or NULL when
 * it is in: "draining", "down". */
const char *lb_member_out(const struct lb_state *st, const struct lb_config *lc, int svc, int srv);

/* Counters summed over CPUs; 0 or -1. */
int lb_service_counters(const struct datapath *dp, int sid, struct lb_service_counters *out);
int lb_server_counters(const struct datapath *dp, int id, struct lb_server_counters *out);
int lb_global_counters(const struct datapath *dp, struct lb_global_counters *out);

/* The exact-VIP slot array (bpf/lb.h): insert K -> V into SLOTS (LB_VIP_SLOTS of them),
 * replacing an entry of the same key when REPLACE; -ENOSPC after LB_VIP_PROBES slots. Then a
 * map of the lb_vips inner type holding SLOTS, or -1. Tests build their VIPs with these too. */
int lb_vip_slot_insert(struct lb_vip_slot *slots, const struct lb_vip_key *k,
                       const struct lb_vip *v, bool replace);
int lb_vip_map_create(const struct lb_vip_slot *slots);

/* The service / server id of config index I, or -1. */
int lb_service_id(const struct lb_state *st, int i);
int lb_server_id(const struct lb_state *st, int i);

#endif
