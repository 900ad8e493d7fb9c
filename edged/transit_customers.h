/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Anycast GRE transit, the control plane (issue 8): the customers' namespaces, veths,
 * routes, rules and firewalls (transit_ns.c, transit_nft.c), created, diffed and removed
 * in the two phases of edged/daemon.c apply(), tunnel health checks (transit_health.c) and
 * customers added or removed at runtime (`edgectl transit add|remove`).
 *
 *   transit_prepare   builds the effective customer list (the file's, plus runtime adds,
 *                     minus runtime removes), gives new customers ids, creates their
 *                     namespaces and veths (needed for transit_dp_prepare's ifindexes),
 *                     and has the kernel check (without applying) every changed customer's
 *                     firewall and the new steering table. A failure removes what this
 *                     prepare created: running customers are untouched.
 *   transit_commit    applies the changed firewalls and the steering table, removes the
 *                     customers that are gone, keeps health state by tunnel name.
 *   transit_abort     removes the namespaces prepare created.
 * Customers whose config did not change are not touched (their namespace, firewall and
 * routes stay as they are); the steering table of edged's namespace is replaced whole, in
 * one transaction, so their packets see the old table or the new one, never a gap.
 */
#ifndef EDGED_TRANSIT_CUSTOMERS_H
#define EDGED_TRANSIT_CUSTOMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "netlink_route.h"
#include "strbuf.h"
#include "transit_config.h"

struct transit_customer_state {
	struct transit_customer_config cfg; /* deep copy of what is applied */
	struct transit_customer_rt rt;
	bool fresh;   /* created by the prepare under way (abort removes it) */
	bool changed; /* its firewall is (re)applied at commit */
};

/* One tunnel's health checks: GRE keepalives (transit_health.c). */
struct transit_tunnel_health {
	char name[TRANSIT_NAME_MAX];
	char customer[TRANSIT_NAME_MAX];
	struct transit_ip remote, endpoint; /* one family: the keepalive's outer header */
	bool has_key;
	uint32_t key;
	struct transit_health_config cfg;
	bool up;
	double next_due;   /* CLOCK_MONOTONIC seconds */
	double last_reply; /* or when checks started */
	double changed_at;
	uint64_t probes, replies, send_errors;
	uint16_t seq;
};

struct transit_state {
	char instance[32];
	bool nl_open;
	struct nlr nl; /* rtnetlink of edged's namespace */
	bool scanned;  /* existing namespaces looked at (adoption after a restart) */
	/* Applied. */
	bool enabled;
	struct transit_customer_state *cust;
	int n;
	struct transit_ip *endpoints;
	int n_endpoints;
	/* Prepared: the effective config and its per-customer state, parallel. */
	bool prepared;
	bool next_enabled;
	struct transit_config next_cfg;
	struct transit_customer_state *next;
	struct transit_customer_rt *next_rt; /* parallel to next_cfg.customers */
	/* Namespaces of this instance found at start that no customer claims. */
	struct transit_customer_rt *stale;
	int n_stale;
	/* Runtime changes over the file, until the next restart. */
	struct transit_customer_config *added;
	int n_added;
	char (*removed)[TRANSIT_NAME_MAX];
	int n_removed;
	/* Health. */
	struct transit_tunnel_health *health;
	int n_health;
	int probe_fd; /* raw IPv4 (IP_HDRINCL): keepalives out */
	int icmp_fd;  /* raw ICMP: keepalives back */
	int route_fd; /* UDP, connected to each router in turn: this edge's address toward it */
	/* The same for tunnels over IPv6, opened when one has checks: raw IPv6 (IPPROTO_RAW has
	 * the header included), raw ICMPv6 filtered to echo replies, UDP. */
	int probe6_fd;
	int icmp6_fd;
	int route6_fd;
	int timer_fd;
	int efd; /* the event loop's epoll, -1 until it runs */
	/* Told when a tunnel goes up or down (the data path's tunnel choice); may be NULL. */
	void (*health_changed)(void *ctx, const char *tunnel, bool up);
	void *health_ctx;
};

void transit_init(struct transit_state *st);

/* See above. TC NULL: transit off (everything is removed at commit). ERRS gets the reason of
 * a failure, naming the customer. */
int transit_prepare(struct transit_state *st, const char *instance, const struct transit_config *tc,
                    struct strbuf *errs);
void transit_commit(struct transit_state *st);
void transit_abort(struct transit_state *st);
/* Removes the steering table of edged's namespace. */
void transit_teardown_steering(struct transit_state *st);
/* Removes every customer and the steering table (edgectl teardown). */
void transit_teardown(struct transit_state *st);
/* Removes what a stopped edged of INSTANCE left (edged --teardown without a running edged):
 * its customer namespaces, the steering table and TC's endpoints' local routes. */
int transit_teardown_offline(const char *instance, const struct transit_config *tc);
/* Closes handles; the namespaces stay (edged stopping without a teardown). */
void transit_close(struct transit_state *st);

/* The effective config of the prepare under way, for transit_dp_prepare(). */
const struct transit_config *transit_next_config(const struct transit_state *st);

/* The runtime changes, saved before one is made so that a failed apply can restore them. */
struct transit_overlay {
	struct transit_customer_config *added;
	int n_added;
	char (*removed)[TRANSIT_NAME_MAX];
	int n_removed;
};

int transit_overlay_save(const struct transit_state *st, struct transit_overlay *o);
/* Puts O back (and takes its memory). */
void transit_overlay_restore(struct transit_state *st, struct transit_overlay *o);
void transit_overlay_free(struct transit_overlay *o);
/* Runtime add (replaces a runtime-added customer of the same name; takes C's memory) and
 * remove. They only record the change; the caller then applies the config. */
int transit_runtime_add(struct transit_state *st, struct transit_customer_config *c);
int transit_runtime_remove(struct transit_state *st, const char *name);

/* Index of the applied customer NAME, or -1. */
int transit_find(const struct transit_state *st, const char *name);
const struct transit_tunnel_health *transit_health_find(const struct transit_state *st,
                                                        const char *tunnel);

#endif
