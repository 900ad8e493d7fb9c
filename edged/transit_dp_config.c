// SPDX-License-Identifier: GPL-2.0
/*
 * transit_dp_prepare(): the `transit:` config (transit_config.h) and what transit_ns.c made
 * for each customer, turned into the data path's view of them (struct transit_dp_spec).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "transit_config.h"
#include "transit_dp.h"

static void endpoint_of(struct transit_dp_prefix *p, const struct transit_ip *a)
{
	memset(p, 0, sizeof(*p));
	p->family = a->family;
	p->len = a->family == AF_INET ? 32 : 128;
	memcpy(p->addr, &a->addr, a->family == AF_INET ? 4 : 16);
}

static void tunnel_of(struct transit_dp_tunnel *t, const struct transit_tunnel_config *c)
{
	size_t alen = c->remote.family == AF_INET ? 4 : 16;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", c->name);
	t->family = c->remote.family; /* the config checked the endpoint is of the same */
	memcpy(t->local, &c->endpoint.addr, alen);
	memcpy(t->remote, &c->remote.addr, alen);
	t->has_key = c->has_key;
	t->key = c->key;
	t->mtu = c->mtu;
}

static void prefix_of(struct transit_dp_prefix *d, const struct prefix *s)
{
	memset(d, 0, sizeof(*d));
	d->family = s->family;
	d->len = s->len;
	memcpy(d->addr, &s->addr, s->family == AF_INET ? 4 : 16);
}

/* The spec's arrays, freed together. */
struct spec_mem {
	struct transit_dp_prefix *endpoints;
	struct transit_dp_customer *customers;
	struct transit_dp_prefix *prefixes;
	struct transit_dp_tunnel *tunnels;
};

static void spec_mem_free(struct spec_mem *m)
{
	free(m->endpoints);
	free(m->customers);
	free(m->prefixes);
	free(m->tunnels);
}

static int spec_build(const struct transit_config *tc, const struct transit_customer_rt *rt,
                      struct transit_dp_spec *spec, struct spec_mem *m)
{
	int n_pfx = 0, n_tun = 0, ip = 0, it = 0;

	for (int i = 0; i < tc->n_customers; i++) {
		n_pfx += tc->customers[i].n_prefixes;
		n_tun += tc->customers[i].n_tunnels;
	}
	m->endpoints = calloc(tc->n_endpoints + 1, sizeof(*m->endpoints));
	m->customers = calloc(tc->n_customers + 1, sizeof(*m->customers));
	m->prefixes = calloc(n_pfx + 1, sizeof(*m->prefixes));
	m->tunnels = calloc(n_tun + 1, sizeof(*m->tunnels));
	if (!m->endpoints || !m->customers || !m->prefixes || !m->tunnels)
		return -ENOMEM;
	for (int i = 0; i < tc->n_endpoints; i++)
		endpoint_of(&m->endpoints[i], &tc->endpoints[i]);
	for (int i = 0; i < tc->n_customers; i++) {
		const struct transit_customer_config *cc = &tc->customers[i];
		struct transit_dp_customer *d = &m->customers[i];

		snprintf(d->name, sizeof(d->name), "%s", cc->name);
		d->id = rt[i].id;
		d->host_ifindex = rt[i].host_ifindex;
		d->ns_ifindex = rt[i].ns_ifindex;
		memcpy(d->host_mac, rt[i].host_mac, 6);
		memcpy(d->ns_mac, rt[i].ns_mac, 6);
		snprintf(d->netns, sizeof(d->netns), "%s", rt[i].netns);
		d->prefixes = &m->prefixes[ip];
		d->n_prefixes = cc->n_prefixes;
		for (int j = 0; j < cc->n_prefixes; j++)
			prefix_of(&m->prefixes[ip++], &cc->prefixes[j]);
		d->tunnels = &m->tunnels[it];
		d->n_tunnels = cc->n_tunnels;
		for (int j = 0; j < cc->n_tunnels; j++)
			tunnel_of(&m->tunnels[it++], &cc->tunnels[j]);
	}
	spec->endpoints = m->endpoints;
	spec->n_endpoints = tc->n_endpoints;
	spec->customers = m->customers;
	spec->n_customers = tc->n_customers;
	return 0;
}

int transit_dp_prepare(struct transit_dp_state *st, struct datapath *dp,
                       const struct transit_config *tc, const struct transit_customer_rt *rt)
{
	struct transit_dp_spec spec = {};
	struct spec_mem m = {};
	int err;

	if (!tc)
		return transit_dp_prepare_spec(st, dp, NULL);
	if (tc->n_customers && !rt) {
		pr_err("transit: the data path got customers without their namespaces' facts");
		return -EINVAL;
	}
	err = spec_build(tc, rt, &spec, &m);
	if (err)
		pr_err("transit: out of memory preparing the data path");
	else
		err = transit_dp_prepare_spec(st, dp, &spec); /* copies what it keeps */
	spec_mem_free(&m);
	return err;
}
