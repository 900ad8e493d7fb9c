// SPDX-License-Identifier: GPL-2.0
/*
 * The routing state of dispatch, reconciled against what the kernel holds:
 *
 *   local PREFIX dev lo table local proto 237        one per dispatch.local_prefixes (AnyIP)
 *   local 0.0.0.0/0 dev lo table T proto 237         } only while some binding uses TPROXY:
 *   local ::/0 dev lo table T proto 237              } marked packets are delivered locally
 *   fwmark MARK/MARK lookup T proto 237 (v4 and v6)  } even to prefixes that are not local
 *
 * The protocol number is the ownership (netlink_route.h): prepare adds what is missing (a
 * route someone else installed counts as present and stays theirs), commit removes what is
 * edged's and no longer wanted, abort removes exactly what prepare added.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>

#include "dispatch_maps.h"
#include "log.h"

/* Before the main table (32766), after the local table (0); far from the numbers tools
 * pick by default (they count down from 32765). */
#define DISPATCH_RULE_PRIORITY 1000

static int lo_ifindex(void)
{
	int i = if_nametoindex("lo");

	return i ? i : 1;
}

static struct nlr_route local_route(const struct prefix *p, uint32_t table)
{
	return (struct nlr_route){.dst = *p,
	                          .type = RTN_LOCAL,
	                          .protocol = NLR_PROTO_DISPATCH,
	                          .table = table,
	                          .oif = lo_ifindex()};
}

static struct nlr_rule tproxy_rule(int family, const struct dispatch_gen *g)
{
	return (struct nlr_rule){.family = family,
	                         .fwmark = g->tproxy_mark,
	                         .fwmask = g->tproxy_mark,
	                         .table = g->tproxy_table,
	                         .priority = DISPATCH_RULE_PRIORITY,
	                         .protocol = NLR_PROTO_DISPATCH};
}

static bool same_route(const struct nlr_route *a, const struct nlr_route *b)
{
	return a->dst.family == b->dst.family && a->dst.len == b->dst.len && a->table == b->table &&
	       a->type == b->type &&
	       !memcmp(&a->dst.addr, &b->dst.addr, a->dst.family == AF_INET ? 4 : 16);
}

static bool same_rule(const struct nlr_rule *a, const struct nlr_rule *b)
{
	return a->family == b->family && a->fwmark == b->fwmark && a->fwmask == b->fwmask &&
	       a->table == b->table && a->priority == b->priority;
}

/* What dispatch wants of GEN: routes into *OUT (malloc'd), returns how many or -ENOMEM. */
static int wanted_routes(const struct dispatch_config *dc, const struct dispatch_gen *g,
                         struct nlr_route **out)
{
	static const struct prefix any4 = {.family = AF_INET}, any6 = {.family = AF_INET6};
	int n = 0, max = (g->enabled ? dc->n_local : 0) + 2;
	struct nlr_route *r = calloc(max, sizeof(*r));

	if (!r)
		return -ENOMEM;
	for (int i = 0; g->enabled && i < dc->n_local; i++)
		r[n++] = local_route(&dc->local_prefixes[i], NLR_TABLE_LOCAL);
	if (g->enabled && g->tproxy) {
		r[n++] = local_route(&any4, g->tproxy_table);
		r[n++] = local_route(&any6, g->tproxy_table);
	}
	*out = r;
	return n;
}

/* ---- what the kernel has of ours ---- */

struct owned {
	struct nlr_route *routes;
	int n_routes;
	struct nlr_rule *rules;
	int n_rules;
};

static int collect_route(const struct nlr_route *r, void *arg)
{
	struct owned *o = arg;
	struct nlr_route *grown;

	if (r->protocol != NLR_PROTO_DISPATCH)
		return 0;
	grown = realloc(o->routes, (o->n_routes + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	grown[o->n_routes++] = *r;
	o->routes = grown;
	return 0;
}

static int collect_rule(const struct nlr_rule *r, void *arg)
{
	struct owned *o = arg;
	struct nlr_rule *grown;

	if (r->protocol != NLR_PROTO_DISPATCH)
		return 0;
	grown = realloc(o->rules, (o->n_rules + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	grown[o->n_rules++] = *r;
	o->rules = grown;
	return 0;
}

static int read_owned(struct nlr *nl, struct owned *o)
{
	int err;

	memset(o, 0, sizeof(*o));
	err = nlr_route_dump(nl, AF_INET, collect_route, o);
	err = err ?: nlr_route_dump(nl, AF_INET6, collect_route, o);
	err = err ?: nlr_rule_dump(nl, AF_INET, collect_rule, o);
	err = err ?: nlr_rule_dump(nl, AF_INET6, collect_rule, o);
	if (err)
		pr_err("dispatch: cannot list the kernel's routes and rules: %s", strerror(-err));
	return err;
}

static void owned_free(struct owned *o)
{
	free(o->routes);
	free(o->rules);
}

/* ---- prepare ---- */

static int remember_route(struct dispatch_state *st, const struct nlr_route *r)
{
	struct nlr_route *grown =
	        realloc(st->added_routes, (st->n_added_routes + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	grown[st->n_added_routes++] = *r;
	st->added_routes = grown;
	return 0;
}

static int add_route(struct dispatch_state *st, const struct nlr_route *r, const struct owned *o)
{
	char shown[PREFIX_STRLEN];
	int err;

	for (int i = 0; i < o->n_routes; i++)
		if (same_route(&o->routes[i], r))
			return 0; /* ours since an earlier apply */
	err = nlr_route_add(&st->nl, r, false);
	prefix_format(&r->dst, shown, sizeof(shown));
	if (err == -EEXIST) {
		pr_info("dispatch: route local %s (table %u) exists already, installed by someone "
		        "else: using it, and leaving it in place when dispatch lets it go",
		        shown, r->table);
		return 0;
	}
	if (err) {
		pr_err("dispatch: cannot add the route local %s dev lo table %u: %s", shown,
		       r->table, strerror(-err));
		return err;
	}
	pr_info("dispatch: added route local %s dev lo table %u", shown, r->table);
	return remember_route(st, r);
}

static int add_rule(struct dispatch_state *st, const struct nlr_rule *r, const struct owned *o)
{
	struct nlr_rule *grown;
	int err;

	for (int i = 0; i < o->n_rules; i++)
		if (same_rule(&o->rules[i], r))
			return 0;
	err = nlr_rule_add(&st->nl, r);
	if (err == -EEXIST)
		return 0;
	if (err) {
		pr_err("dispatch: cannot add the rule fwmark 0x%x/0x%x lookup %u (IPv%d): %s",
		       r->fwmark, r->fwmask, r->table, r->family == AF_INET ? 4 : 6,
		       strerror(-err));
		return err;
	}
	grown = realloc(st->added_rules, (st->n_added_rules + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	grown[st->n_added_rules++] = *r;
	st->added_rules = grown;
	return 0;
}

int dispatch_routes_prepare(struct dispatch_state *st, const struct dispatch_config *dc,
                            const struct dispatch_gen *g)
{
	struct nlr_route *want = NULL;
	struct owned o;
	int n, err;

	err = read_owned(&st->nl, &o);
	if (err)
		return err;
	n = wanted_routes(dc, g, &want);
	err = n < 0 ? n : 0;
	for (int i = 0; i < n && !err; i++)
		err = add_route(st, &want[i], &o);
	if (!err && g->tproxy) {
		struct nlr_rule r4 = tproxy_rule(AF_INET, g), r6 = tproxy_rule(AF_INET6, g);

		err = add_rule(st, &r4, &o);
		err = err ?: add_rule(st, &r6, &o);
	}
	free(want);
	owned_free(&o);
	return err;
}

/* ---- commit, abort ---- */

static void del_route(struct nlr *nl, const struct nlr_route *r)
{
	char shown[PREFIX_STRLEN];
	int err = nlr_route_del(nl, r);

	prefix_format(&r->dst, shown, sizeof(shown));
	if (err && err != -ESRCH)
		pr_warn("dispatch: cannot remove the route local %s table %u: %s", shown, r->table,
		        strerror(-err));
	else if (!err)
		pr_info("dispatch: removed route local %s dev lo table %u", shown, r->table);
}

static void del_rule(struct nlr *nl, const struct nlr_rule *r)
{
	int err = nlr_rule_del(nl, r);

	if (err && err != -ESRCH)
		pr_warn("dispatch: cannot remove the rule fwmark 0x%x lookup %u: %s", r->fwmark,
		        r->table, strerror(-err));
}

void dispatch_routes_commit(struct dispatch_state *st, const struct dispatch_config *dc,
                            const struct dispatch_gen *g)
{
	struct nlr_rule r4 = tproxy_rule(AF_INET, g), r6 = tproxy_rule(AF_INET6, g);
	struct nlr_route *want = NULL;
	int n = wanted_routes(dc, g, &want);
	struct owned o;

	if (n < 0 || read_owned(&st->nl, &o)) {
		free(want);
		return;
	}
	for (int i = 0; i < o.n_routes; i++) {
		bool keep = false;

		for (int j = 0; j < n && !keep; j++)
			keep = same_route(&o.routes[i], &want[j]);
		if (!keep)
			del_route(&st->nl, &o.routes[i]);
	}
	for (int i = 0; i < o.n_rules; i++) {
		bool keep = g->enabled && g->tproxy &&
		            (same_rule(&o.rules[i], &r4) || same_rule(&o.rules[i], &r6));

		if (!keep)
			del_rule(&st->nl, &o.rules[i]);
	}
	free(want);
	owned_free(&o);
}

void dispatch_routes_abort(struct dispatch_state *st)
{
	for (int i = 0; i < st->n_added_routes; i++)
		del_route(&st->nl, &st->added_routes[i]);
	for (int i = 0; i < st->n_added_rules; i++)
		del_rule(&st->nl, &st->added_rules[i]);
	free(st->added_routes);
	free(st->added_rules);
	st->added_routes = NULL;
	st->added_rules = NULL;
	st->n_added_routes = st->n_added_rules = 0;
}

void dispatch_routes_remove_all(struct nlr *nl)
{
	struct owned o;

	if (!nl->nl || read_owned(nl, &o))
		return;
	for (int i = 0; i < o.n_routes; i++)
		del_route(nl, &o.routes[i]);
	for (int i = 0; i < o.n_rules; i++)
		del_rule(nl, &o.rules[i]);
	owned_free(&o);
}
