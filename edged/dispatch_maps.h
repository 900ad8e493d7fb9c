/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The dispatch function's kernel state, as edged owns it:
 *   - the sk_lookup program (bpf/dispatch.bpf.c), attached to edged's network namespace by a
 *     bpf_link pinned under /sys/fs/bpf/edged/<instance>/ (a restart adopts it), with its
 *     maps: the bindings trie, the service sockets (SOCKMAP), counters and slot records;
 *   - the AnyIP local routes of dispatch.local_prefixes (dispatch_routes.c);
 *   - for TPROXY bindings: the `inet edged_dispatch` nftables table, a fwmark rule and a
 *     routing table with a catch-all local route (nft_tproxy.c, netlink_route.c);
 *   - the service sockets services register (dispatch_register.c).
 *
 * A change is two-phase, as everywhere in edged: dispatch_prepare() builds the new trie
 * aside, adds the new routes, and has nftables validate the new table; dispatch_commit()
 * swaps the trie in (one map update), writes the nftables table (one batch), attaches or
 * updates the link and removes what the new config no longer has. dispatch_abort() undoes
 * a prepare.
 *
 * Slots: every service has a slot (its sockets are dispatch_sockets[slot * 4 + family * 2 +
 * udp]) and every binding a counter slot; both are recorded in pinned maps by name and by
 * (prefix, protocol, ports), so sockets and counters stay put across reloads and restarts.
 */
#ifndef EDGED_DISPATCH_MAPS_H
#define EDGED_DISPATCH_MAPS_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "datapath.h"
#include "dispatch.h"
#include "dispatch_compile.h"
#include "netlink_route.h"
#include "strbuf.h"

struct dispatch_bpf;

/* One generation of the function: what its config compiled to and where things live. */
struct dispatch_gen {
	bool enabled;
	struct dispatch_table table;
	int *binding_slot; /* by config binding */
	int *service_slot; /* by config service */
	struct dispatch_binding_key keys[DISPATCH_MAX_BINDINGS];
	char names[DISPATCH_MAX_SERVICES][DISPATCH_SERVICE_NAME_MAX];
	bool tproxy; /* some binding uses TPROXY */
	uint32_t tproxy_mark, tproxy_table;
};

struct dispatch_state {
	struct dispatch_bpf *skel; /* the program and its maps (pinned, shared with the link) */
	int link_fd;               /* the sk_lookup link in edged's netns; -1: not attached */
	__u32 link_id;
	bool slots_read; /* the slot records were read from the pinned maps */
	bool applied;    /* a commit ran: before it, leftovers of an earlier run may exist */
	struct nlr nl;   /* rtnetlink, open while the function is on */

	struct dispatch_gen live;
	/* Built by dispatch_prepare, taken by dispatch_commit. */
	struct dispatch_gen next;
	int next_trie; /* -1 when none */
	bool prepared;
	/* Routes and rules prepare added; abort removes exactly these. */
	struct nlr_route *added_routes;
	int n_added_routes;
	struct nlr_rule *added_rules;
	int n_added_rules;
};

void dispatch_state_init(struct dispatch_state *st);
/* Prepares CFG's dispatch section (the function off when it is disabled). DP gives the pin
 * directory; call after datapath_prepare(). Returns 0 or -errno (logged). */
int dispatch_prepare(struct dispatch_state *st, const struct datapath *dp,
                     const struct edged_config *cfg);
/* Nothing in a commit can fail for want of resources the prepare did not take; kernel
 * refusals are logged. */
void dispatch_commit(struct dispatch_state *st, const struct datapath *dp,
                     const struct edged_config *cfg);
void dispatch_abort(struct dispatch_state *st);
/* Closes edged's handles. With TEARDOWN also detaches the program and removes the routes,
 * rules and nftables table (edged --teardown); otherwise all of it keeps working. */
void dispatch_state_close(struct dispatch_state *st, bool teardown);
/* `edged --teardown` without a running edged: the link goes with the pins; this removes the
 * routes, rules and nftables table of the current network namespace. */
void dispatch_teardown_offline(void);

/* Registers FD (a listening TCP or a bound UDP socket; the caller keeps and closes its own
 * copy) as SERVICE's socket for its family and protocol. PID is who registered, for display
 * (0: unknown). On error explains in OUT (input and fix). Returns 0 or -1. */
int dispatch_register(struct dispatch_state *st, const struct edged_config *cfg,
                      const char *service, int fd, pid_t pid, struct strbuf *out);
/* Same, taking descriptor TARGET_FD of process PID with pidfd_getfd(2). */
int dispatch_register_pidfd(struct dispatch_state *st, const struct edged_config *cfg,
                            const char *service, pid_t pid, int target_fd, struct strbuf *out);

/* Sums dispatch_stats[slot] over the CPUs. Returns 0 or -errno. */
int dispatch_read_counters(const struct dispatch_state *st, __u32 slot,
                           struct dispatch_counters *out);
/* Whether dest has a live socket, and what was registered there. */
bool dispatch_dest_alive(const struct dispatch_state *st, __u32 dest,
                         struct dispatch_dest_info *info);

/* Rebuilds the TPROXY table from the live generation (after a registration moved a socket).
 * Returns 0 or -errno (logged). */
int dispatch_tproxy_refresh(struct dispatch_state *st, const struct edged_config *cfg);

/* The trie of TABLE as a new map that fits dispatch_tables (tests use it too). Returns the
 * fd or -errno. */
int dispatch_trie_create(const struct dispatch_table *table);

/* dispatch_routes.c: the AnyIP routes and the TPROXY rule and table. */
int dispatch_routes_prepare(struct dispatch_state *st, const struct dispatch_config *dc,
                            const struct dispatch_gen *gen);
void dispatch_routes_commit(struct dispatch_state *st, const struct dispatch_config *dc,
                            const struct dispatch_gen *gen);
void dispatch_routes_abort(struct dispatch_state *st);
/* Removes every route and rule dispatch owns in this namespace. */
void dispatch_routes_remove_all(struct nlr *nl);

#endif
