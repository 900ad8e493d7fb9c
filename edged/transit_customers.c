// SPDX-License-Identifier: GPL-2.0
/*
 * Anycast GRE transit's control plane: the customer diff and its two phases (see transit.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "netns.h"
#include "transit_customers.h"
#include "transit_health.h"
#include "transit_nft.h"
#include "transit_ns.h"

void transit_init(struct transit_state *st)
{
	memset(st, 0, sizeof(*st));
	st->probe_fd = st->icmp_fd = st->route_fd = st->timer_fd = st->efd = -1;
	st->probe6_fd = st->icmp6_fd = st->route6_fd = -1;
}

int transit_find(const struct transit_state *st, const char *name)
{
	for (int i = 0; i < st->n; i++)
		if (strcmp(st->cust[i].cfg.name, name) == 0)
			return i;
	return -1;
}

const struct transit_config *transit_next_config(const struct transit_state *st)
{
	return st->next_enabled ? &st->next_cfg : NULL;
}

/* ---- the effective config: the file's customers, then the runtime overlay ---- */

static bool removed_at_runtime(const struct transit_state *st, const char *name)
{
	for (int i = 0; i < st->n_removed; i++)
		if (strcmp(st->removed[i], name) == 0)
			return true;
	return false;
}

static int push_customer(struct transit_config *out, const struct transit_customer_config *c)
{
	struct transit_customer_config *g =
	        realloc(out->customers, (out->n_customers + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	out->customers = g;
	if (transit_customer_copy(&g[out->n_customers], c))
		return -ENOMEM;
	out->n_customers++;
	return 0;
}

static int effective(const struct transit_state *st, const struct transit_config *tc,
                     struct transit_config *out)
{
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (tc->n_endpoints) {
		out->endpoints = malloc(tc->n_endpoints * sizeof(*out->endpoints));
		if (!out->endpoints)
			return -ENOMEM;
		memcpy(out->endpoints, tc->endpoints, tc->n_endpoints * sizeof(*out->endpoints));
		out->n_endpoints = tc->n_endpoints;
	}
	for (int i = 0; i < tc->n_customers && !err; i++) {
		const char *name = tc->customers[i].name;
		bool overridden = false;

		for (int j = 0; j < st->n_added; j++)
			overridden |= strcmp(st->added[j].name, name) == 0;
		if (!overridden && !removed_at_runtime(st, name))
			err = push_customer(out, &tc->customers[i]);
	}
	for (int j = 0; j < st->n_added && !err; j++)
		err = push_customer(out, &st->added[j]);
	return err;
}

/* ---- ids ---- */

static bool id_taken(const struct transit_state *st, uint32_t id, int n_next)
{
	for (int i = 0; i < st->n; i++)
		if (st->cust[i].rt.id == id)
			return true;
	for (int i = 0; i < n_next; i++)
		if (st->next[i].rt.id == id)
			return true;
	for (int i = 0; i < st->n_stale; i++)
		if (st->stale[i].id == id)
			return true;
	return false;
}

static uint32_t free_id(const struct transit_state *st, int n_next)
{
	for (uint32_t id = 1; id <= TRANSIT_MAX_CUSTOMERS; id++)
		if (!id_taken(st, id, n_next))
			return id;
	return 0;
}

/* ---- adoption: namespaces an earlier edged of this instance left ---- */

struct scan_ctx {
	struct transit_state *st;
	char prefix[64];
};

static void scan_one(const char *name, void *arg)
{
	struct scan_ctx *sc = arg;
	struct transit_state *st = sc->st;
	struct transit_customer_rt *g, rt = {};

	if (transit_ns_find_id(name, &rt.id) || rt.id == 0 || rt.id > TRANSIT_MAX_CUSTOMERS)
		return;
	g = realloc(st->stale, (st->n_stale + 1) * sizeof(*g));
	if (!g)
		return;
	st->stale = g;
	transit_ns_names(&rt, st->instance, name + strlen(sc->prefix));
	st->stale[st->n_stale++] = rt;
}

static void scan_existing(struct transit_state *st)
{
	struct scan_ctx sc = {.st = st};

	transit_netns_name(st->instance, "", sc.prefix, sizeof(sc.prefix));
	netns_list(sc.prefix, scan_one, &sc);
	st->scanned = true;
	if (st->n_stale)
		pr_info("transit: found %d namespace(s) of instance '%s' from an earlier run",
		        st->n_stale, st->instance);
}

/* Takes a namespace found at start for customer NAME: its id is kept. */
static bool adopt(struct transit_state *st, const char *name, struct transit_customer_rt *rt)
{
	char ns[64];

	transit_netns_name(st->instance, name, ns, sizeof(ns));
	for (int i = 0; i < st->n_stale; i++) {
		if (strcmp(st->stale[i].netns, ns) == 0) {
			*rt = st->stale[i];
			st->stale[i] = st->stale[--st->n_stale];
			return true;
		}
	}
	return false;
}

/* ---- prepare ---- */

static void free_next(struct transit_state *st)
{
	for (int i = 0; i < st->next_cfg.n_customers && st->next; i++)
		transit_customer_release(&st->next[i].cfg);
	free(st->next);
	free(st->next_rt);
	transit_config_release(&st->next_cfg);
	st->next = NULL;
	st->next_rt = NULL;
	st->prepared = false;
}

/* The state of customer C in the next config: kept, adopted or new. */
static int plan_customer(struct transit_state *st, int i, struct strbuf *errs)
{
	const struct transit_customer_config *c = &st->next_cfg.customers[i];
	struct transit_customer_state *ns = &st->next[i];
	int old = transit_find(st, c->name);
	char err[256];
	int ret;

	if (transit_customer_copy(&ns->cfg, c))
		return -ENOMEM;
	if (old >= 0) {
		ns->rt = st->cust[old].rt;
		ns->changed = !transit_customer_equal(&st->cust[old].cfg, c);
		return 0;
	}
	ns->changed = true;
	if (!adopt(st, c->name, &ns->rt)) {
		ns->rt.id = free_id(st, i);
		if (!ns->rt.id) {
			sb_printf(errs, "transit: no free customer id for '%s' (at most %d)\n",
			          c->name, TRANSIT_MAX_CUSTOMERS);
			return -ENOSPC;
		}
		ns->fresh = true;
	}
	transit_ns_names(&ns->rt, st->instance, c->name);
	ret = transit_ns_setup(&st->nl, &ns->rt, err, sizeof(err));
	if (ret)
		sb_printf(errs, "transit: customer '%s': %s\n", c->name, err);
	return ret;
}

static int check_firewalls(struct transit_state *st, struct strbuf *errs)
{
	char err[512];

	for (int i = 0; i < st->next_cfg.n_customers; i++) {
		if (!st->next[i].changed)
			continue;
		if (transit_ns_firewall(&st->next[i].rt, &st->next[i].cfg, true, err,
		                        sizeof(err))) {
			sb_printf(errs,
			          "transit: customer '%s': the kernel refused its firewall: %s\n",
			          st->next[i].cfg.name, err);
			return -EINVAL;
		}
	}
	return 0;
}

static struct transit_mark_entry *mark_entries(const struct transit_state *st, int *n)
{
	struct transit_mark_entry *m;
	int k = 0;

	for (int i = 0; i < st->next_cfg.n_customers; i++)
		k += st->next[i].cfg.n_prefixes;
	m = calloc(k + 1, sizeof(*m));
	if (!m)
		return NULL;
	k = 0;
	for (int i = 0; i < st->next_cfg.n_customers; i++) {
		for (int j = 0; j < st->next[i].cfg.n_prefixes; j++) {
			m[k].prefix = st->next[i].cfg.prefixes[j];
			m[k++].mark = st->next[i].rt.mark;
		}
	}
	*n = k;
	return m;
}

/* Builds the steering table of the prepared state and checks or applies it. */
static int steering(struct transit_state *st, bool check_only, char *err, size_t errlen)
{
	struct nft_batch *b = nft_batch_new();
	int n = 0, ret;
	struct transit_mark_entry *m = mark_entries(st, &n);

	if (!b || !m) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
	} else {
		ret = transit_nft_steering(b, m, n);
		ret = ret ?: nft_batch_commit(b, check_only, err, errlen);
	}
	free(m);
	nft_batch_free(b);
	return ret;
}

static int prepare_customers(struct transit_state *st, struct strbuf *errs)
{
	int n = st->next_cfg.n_customers, err = 0;
	char why[512];

	st->next = calloc(n + 1, sizeof(*st->next));
	st->next_rt = calloc(n + 1, sizeof(*st->next_rt));
	if (!st->next || !st->next_rt)
		return -ENOMEM;
	for (int i = 0; i < n && !err; i++) {
		err = plan_customer(st, i, errs);
		st->next_rt[i] = st->next[i].rt;
	}
	err = err ?: check_firewalls(st, errs);
	if (!err && st->next_enabled && steering(st, true, why, sizeof(why))) {
		sb_printf(errs, "transit: the kernel refused the steering table: %s\n", why);
		err = -EINVAL;
	}
	return err;
}

int transit_prepare(struct transit_state *st, const char *instance, const struct transit_config *tc,
                    struct strbuf *errs)
{
	static const struct transit_config off = {0};
	char why[256];
	int err;

	free_next(st);
	snprintf(st->instance, sizeof(st->instance), "%s", instance);
	if (!st->nl_open) {
		err = nlr_open(&st->nl);
		if (err) {
			sb_printf(errs, "transit: rtnetlink: %s\n", strerror(-err));
			return err;
		}
		st->nl_open = true;
	}
	if (!st->scanned)
		scan_existing(st);
	st->next_enabled = tc != NULL;
	err = effective(st, tc ? tc : &off, &st->next_cfg);
	if (!err && transit_config_check(&st->next_cfg, why, sizeof(why))) {
		sb_printf(errs, "transit: %s\n", why);
		err = -EINVAL;
	}
	err = err ?: prepare_customers(st, errs);
	if (err) {
		if (err == -ENOMEM)
			sb_printf(errs, "transit: out of memory\n");
		transit_abort(st);
		return err;
	}
	st->prepared = true;
	return 0;
}

/* ---- commit ---- */

static bool in_next(const struct transit_state *st, const char *name)
{
	for (int i = 0; i < st->next_cfg.n_customers; i++)
		if (strcmp(st->next[i].cfg.name, name) == 0)
			return true;
	return false;
}

/* `local ENDPOINT dev lo` (IPv4 or IPv6): keepalives sent when there is no route to the
 * router come back to the endpoint as plain ICMP or ICMPv6. */
static void endpoint_route(struct transit_state *st, const struct transit_ip *a, bool add)
{
	struct nlr_route r = {
	        .dst = {.family = a->family, .len = a->family == AF_INET ? 32 : 128},
	        .type = RTN_LOCAL,
	        .protocol = NLR_PROTO_TRANSIT,
	        .table = NLR_TABLE_LOCAL,
	        .oif = 1, /* lo */
	};
	int err;
	char s[INET6_ADDRSTRLEN];

	memcpy(&r.dst.addr, &a->addr, a->family == AF_INET ? 4 : 16);
	err = add ? nlr_route_add(&st->nl, &r, false) : nlr_route_del(&st->nl, &r);
	if (err && err != -EEXIST && err != -ESRCH)
		pr_warn("transit: %s local route for endpoint %s: %s", add ? "adding" : "removing",
		        transit_ip_format(a, s, sizeof(s)), strerror(-err));
}

static bool has_endpoint(const struct transit_ip *e, int n, const struct transit_ip *a)
{
	for (int i = 0; i < n; i++)
		if (transit_ip_equal(&e[i], a))
			return true;
	return false;
}

static void commit_endpoints(struct transit_state *st)
{
	const struct transit_config *nc = &st->next_cfg;
	struct transit_ip *copy = NULL;

	for (int i = 0; i < st->n_endpoints; i++)
		if (!has_endpoint(nc->endpoints, nc->n_endpoints, &st->endpoints[i]))
			endpoint_route(st, &st->endpoints[i], false);
	for (int i = 0; i < nc->n_endpoints; i++)
		if (!has_endpoint(st->endpoints, st->n_endpoints, &nc->endpoints[i]))
			endpoint_route(st, &nc->endpoints[i], true);
	if (nc->n_endpoints && (copy = malloc(nc->n_endpoints * sizeof(*copy))))
		memcpy(copy, nc->endpoints, nc->n_endpoints * sizeof(*copy));
	free(st->endpoints);
	st->endpoints = copy;
	st->n_endpoints = copy ? nc->n_endpoints : 0;
}

static void remove_gone(struct transit_state *st)
{
	for (int i = 0; i < st->n; i++) {
		if (in_next(st, st->cust[i].cfg.name))
			continue;
		transit_ns_remove(&st->nl, &st->cust[i].rt);
		pr_info("transit: customer '%s' removed (namespace %s)", st->cust[i].cfg.name,
		        st->cust[i].rt.netns);
	}
	for (int i = 0; i < st->n_stale; i++) {
		transit_ns_remove(&st->nl, &st->stale[i]);
		pr_info("transit: removed namespace %s (no customer of that name)",
		        st->stale[i].netns);
	}
	st->n_stale = 0;
}

static void release_applied(struct transit_state *st)
{
	for (int i = 0; i < st->n; i++)
		transit_customer_release(&st->cust[i].cfg);
	free(st->cust);
	st->cust = NULL;
	st->n = 0;
}

void transit_commit(struct transit_state *st)
{
	char err[512];

	if (!st->prepared)
		return;
	for (int i = 0; i < st->next_cfg.n_customers; i++) {
		struct transit_customer_state *c = &st->next[i];

		if (!c->changed)
			continue;
		if (transit_ns_firewall(&c->rt, &c->cfg, false, err, sizeof(err)))
			pr_err("transit: customer '%s': applying its firewall: %s", c->cfg.name,
			       err);
		else
			pr_info("transit: customer '%s' %s (namespace %s, %d rule(s))", c->cfg.name,
			        c->fresh ? "added" : "updated", c->rt.netns, c->cfg.n_rules);
		c->fresh = false;
	}
	if (st->next_enabled && steering(st, false, err, sizeof(err)))
		pr_err("transit: applying the steering table: %s", err);
	commit_endpoints(st);
	remove_gone(st);
	if (!st->next_enabled)
		transit_teardown_steering(st);
	release_applied(st);
	st->cust = st->next; /* the configs move with the array */
	st->n = st->next_cfg.n_customers;
	st->next = NULL;
	st->enabled = st->next_enabled;
	free_next(st);
	transit_health_sync(st);
}

void transit_abort(struct transit_state *st)
{
	for (int i = 0; st->next && i < st->next_cfg.n_customers; i++)
		if (st->next[i].fresh)
			transit_ns_remove(&st->nl, &st->next[i].rt);
	free_next(st);
}

void transit_teardown_steering(struct transit_state *st)
{
	struct nft_batch *b = nft_batch_new();
	char err[256];

	(void)st;
	if (b && (nft_table_del_if_exists(b, NFPROTO_INET, TRANSIT_NFT_TABLE) ||
	          nft_batch_commit(b, false, err, sizeof(err))))
		pr_warn("transit: removing the steering table: %s", err);
	nft_batch_free(b);
}

void transit_teardown(struct transit_state *st)
{
	if (!st->nl_open)
		return;
	for (int i = 0; i < st->n; i++)
		transit_ns_remove(&st->nl, &st->cust[i].rt);
	for (int i = 0; i < st->n_endpoints; i++)
		endpoint_route(st, &st->endpoints[i], false);
	if (st->enabled || st->n)
		transit_teardown_steering(st);
	release_applied(st);
}

void transit_close(struct transit_state *st)
{
	transit_health_close(st);
	free_next(st);
	release_applied(st);
	free(st->endpoints);
	free(st->stale);
	for (int i = 0; i < st->n_added; i++)
		transit_customer_release(&st->added[i]);
	free(st->added);
	free(st->removed);
	free(st->health);
	if (st->nl_open)
		nlr_close(&st->nl);
	transit_init(st);
}

/* ---- runtime overlay ---- */

int transit_overlay_save(const struct transit_state *st, struct transit_overlay *o)
{
	memset(o, 0, sizeof(*o));
	if (st->n_added) {
		o->added = calloc(st->n_added, sizeof(*o->added));
		if (!o->added)
			return -ENOMEM;
		for (int i = 0; i < st->n_added; i++) {
			if (transit_customer_copy(&o->added[i], &st->added[i])) {
				transit_overlay_free(o);
				return -ENOMEM;
			}
			o->n_added++;
		}
	}
	if (st->n_removed) {
		o->removed = malloc(st->n_removed * sizeof(*o->removed));
		if (!o->removed) {
			transit_overlay_free(o);
			return -ENOMEM;
		}
		memcpy(o->removed, st->removed, st->n_removed * sizeof(*o->removed));
		o->n_removed = st->n_removed;
	}
	return 0;
}

void transit_overlay_free(struct transit_overlay *o)
{
	for (int i = 0; i < o->n_added; i++)
		transit_customer_release(&o->added[i]);
	free(o->added);
	free(o->removed);
	memset(o, 0, sizeof(*o));
}

void transit_overlay_restore(struct transit_state *st, struct transit_overlay *o)
{
	struct transit_overlay cur = {st->added, st->n_added, st->removed, st->n_removed};

	transit_overlay_free(&cur);
	st->added = o->added;
	st->n_added = o->n_added;
	st->removed = o->removed;
	st->n_removed = o->n_removed;
	memset(o, 0, sizeof(*o));
}

static void unremove(struct transit_state *st, const char *name)
{
	for (int i = 0; i < st->n_removed; i++)
		if (strcmp(st->removed[i], name) == 0)
			memmove(&st->removed[i], &st->removed[i + 1],
			        (--st->n_removed - i) * sizeof(st->removed[0]));
}

int transit_runtime_add(struct transit_state *st, struct transit_customer_config *c)
{
	struct transit_customer_config *g;

	unremove(st, c->name);
	for (int i = 0; i < st->n_added; i++) {
		if (strcmp(st->added[i].name, c->name) == 0) {
			transit_customer_release(&st->added[i]);
			st->added[i] = *c;
			return 0;
		}
	}
	g = realloc(st->added, (st->n_added + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	st->added = g;
	st->added[st->n_added++] = *c;
	return 0;
}

int transit_runtime_remove(struct transit_state *st, const char *name)
{
	char(*g)[TRANSIT_NAME_MAX];

	for (int i = 0; i < st->n_added; i++) {
		if (strcmp(st->added[i].name, name) == 0) {
			transit_customer_release(&st->added[i]);
			st->added[i] = st->added[--st->n_added];
		}
	}
	g = realloc(st->removed, (st->n_removed + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	st->removed = g;
	snprintf(st->removed[st->n_removed++], TRANSIT_NAME_MAX, "%s", name);
	return 0;
}

int transit_teardown_offline(const char *instance, const struct transit_config *tc)
{
	struct transit_state st;
	int err;

	transit_init(&st);
	snprintf(st.instance, sizeof(st.instance), "%s", instance);
	err = nlr_open(&st.nl);
	if (err)
		return err;
	st.nl_open = true;
	scan_existing(&st);
	for (int i = 0; i < st.n_stale; i++)
		transit_ns_remove(&st.nl, &st.stale[i]);
	for (int i = 0; tc && i < tc->n_endpoints; i++)
		endpoint_route(&st, &tc->endpoints[i], false);
	/* Without a transit section, the table is ours only if customers of ours were left. */
	if (tc || st.n_stale)
		transit_teardown_steering(&st);
	transit_close(&st);
	return 0;
}
