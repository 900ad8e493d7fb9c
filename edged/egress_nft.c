// SPDX-License-Identifier: GPL-2.0
/*
 * Builds egress's nftables table (see egress_nft.h) with nft.c's builders.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "egress_nft.h"
#include "nft.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#define COMMENT_FMT "edged instance %s"
/* nft's `priority srcnat`: after the routing decision, where SNAT belongs. */
#define NFT_PRIO_SRCNAT 100
#define NAME_MAX_LEN    64

/* Counter values read before the replace, to start the new counters from. */
struct saved_counter {
	char name[NAME_MAX_LEN];
	uint64_t pkts, bytes;
};

struct saved {
	struct saved_counter *c;
	int n;
};

void egress_nft_peer_counter(const char *peer, bool in, char *buf, size_t size)
{
	snprintf(buf, size, "peer_%s_%s", peer, in ? "in" : "out");
}

void egress_nft_snat_counter(int k, bool in, char *buf, size_t size)
{
	snprintf(buf, size, "snat%d_%s", k, in ? "in" : "out");
}

static void save_one(const char *name, uint64_t pkts, uint64_t bytes, void *arg)
{
	struct saved *s = arg;
	struct saved_counter *g = realloc(s->c, (s->n + 1) * sizeof(*g));

	if (!g)
		return;
	s->c = g;
	snprintf(g[s->n].name, sizeof(g[s->n].name), "%s", name);
	g[s->n].pkts = pkts;
	g[s->n++].bytes = bytes;
}

static int counter(struct nft_batch *b, const struct saved *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->c[i].name, name) == 0)
			return nft_counter_add(b, NFPROTO_INET, EGRESS_TABLE, name, s->c[i].pkts,
			                       s->c[i].bytes);
	return nft_counter_add(b, NFPROTO_INET, EGRESS_TABLE, name, 0, 0);
}

static uint8_t nfproto_of(int family)
{
	return family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

static struct nftnl_rule *rule(const char *chain)
{
	return nft_rule_new(NFPROTO_INET, EGRESS_TABLE, chain);
}

/* ---- sets ---- */

static void peer_set_name(int i, int family, char *buf, size_t size)
{
	snprintf(buf, size, "p%d_%d", i, family == AF_INET ? 4 : 6);
}

/* The peer's addresses of FAMILY as a set; *ID 0 and no set when it has none. */
static int peer_set(struct nft_batch *b, const struct egress_peer_config *pe, int i, int family,
                    uint32_t *id)
{
	struct nft_range r[EGRESS_MAX_PEER_ADDRS];
	char name[32];
	int n = 0;

	*id = 0;
	for (int k = 0; k < pe->n_addresses; k++)
		if (pe->addresses[k].family == family)
			nft_range_prefix(&r[n++], &pe->addresses[k]);
	if (!n)
		return 0;
	peer_set_name(i, family, name, sizeof(name));
	return nft_set_add(b, NFPROTO_INET, EGRESS_TABLE, name,
	                   family == AF_INET ? NFT_KEY_IPV4 : NFT_KEY_IPV6, r, n, id);
}

/* The addresses of the peers that leave from snat[K]; *N 0 when none. */
static int snat_set(struct nft_batch *b, const struct egress_nft_input *in, int k, uint32_t *id,
                    int *n)
{
	const struct egress_snat_config *s = &in->ec->snat[k];
	int fam = s->address.family, slot = fam == AF_INET ? 0 : 1, cap = 0, err;
	struct nft_range *r;
	char name[32];

	*n = 0;
	for (int i = 0; i < in->n_peers; i++)
		cap += in->peers[i].n_addresses;
	r = calloc(cap ? cap : 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (int i = 0; i < in->n_peers; i++) {
		const struct egress_peer_config *pe = &in->peers[i];

		if (pe->snat[slot] != k)
			continue;
		for (int a = 0; a < pe->n_addresses; a++)
			if (pe->addresses[a].family == fam)
				nft_range_prefix(&r[(*n)++], &pe->addresses[a]);
	}
	snprintf(name, sizeof(name), "snat%d_src", k);
	err = *n ? nft_set_add(b, NFPROTO_INET, EGRESS_TABLE, name,
	                       fam == AF_INET ? NFT_KEY_IPV4 : NFT_KEY_IPV6, r, *n, id)
	         : 0;
	free(r);
	return err;
}

/* ---- chains ---- */

/* iif WG / oif WG (IN picks), == or != (EQ). By index when the device exists (its rules are
 * rebuilt whenever it is made again), else by name (a check before the device exists). */
static int match_wg(struct nftnl_rule *r, const struct egress_nft_input *in, bool iif, bool eq)
{
	if (in->ifindex)
		return nft_match_ifindex(r, iif, in->ifindex, eq);
	return iif ? nft_match_iifname(r, in->ec->interface, eq)
	           : nft_match_oifname(r, in->ec->interface, eq);
}

/* Every packet walks this chain: each rule fails on its first expression for the traffic
 * that is not the tunnel's (the WireGuard transport itself, the edge's other services). */
static int prerouting(struct nft_batch *b, const struct egress_nft_input *in)
{
	const struct egress_config *ec = in->ec;
	struct nftnl_rule *r = rule("prerouting");
	int err;

	err = match_wg(r, in, true, true);
	err = err ?: nft_stmt_ct_mark_or(r, ec->mark);
	err = err ?: nft_stmt_verdict(r, NF_ACCEPT);
	err = err ?: nft_rule_add(b, r, "the rule marking tunnel connections");
	if (err)
		return err;
	r = rule("prerouting");
	err = nft_match_ct_direction(r, NFT_CT_DIR_REPLY);
	err = err ?: nft_match_ct_mark_bits(r, ec->mark);
	err = err ?: nft_stmt_meta_mark_or(r, ec->mark);
	return err ?: nft_rule_add(b, r, "the rule restoring the mark of replies");
}

static int verdict_rule(struct nft_batch *b, const char *chain, bool accept, const char *what)
{
	struct nftnl_rule *r = rule(chain);
	int err = nft_stmt_counter(r);

	err = err ?: nft_stmt_verdict(r, accept ? NF_ACCEPT : NF_DROP);
	return err ?: nft_rule_add(b, r, what);
}

/* A peer's counters: ip saddr|daddr (OUT: saddr) @p<i>_<family> counter name peer_..., and
 * the counter of the egress address its connections of FAMILY leave from, in the same rule
 * (one lookup for both, and no chain after NAT just to count). */
static int peer_counter(struct nft_batch *b, const struct egress_nft_input *in, int i, int family,
                        uint32_t id, bool out)
{
	const struct egress_peer_config *pe = &in->peers[i];
	struct nftnl_rule *r = rule(out ? "from_tunnel" : "to_tunnel");
	int k = pe->snat[family == AF_INET ? 0 : 1];
	uint8_t nfp = nfproto_of(family);
	char set[32], name[NAME_MAX_LEN];
	int err;

	peer_set_name(i, family, set, sizeof(set));
	egress_nft_peer_counter(pe->name, !out, name, sizeof(name));
	err = nft_match_nfproto(r, nfp);
	err = err
	              ?: out ? nft_match_saddr_set(r, nfp, set, id)
	                     : nft_match_daddr_set(r, nfp, set, id);
	err = err ?: nft_stmt_counter_named(r, name);
	/* Without allow.internet nothing leaves by the egress address. */
	if (!err && k >= 0 && k < in->ec->n_snat && in->ec->allow.internet) {
		egress_nft_snat_counter(k, !out, name, sizeof(name));
		err = nft_stmt_counter_named(r, name);
	}
	return err ?: nft_rule_add(b, r, "a peer's counter");
}

/* The connection limit of peer I, in the chain that only new connections enter. */
static int peer_limit(struct nft_batch *b, const struct egress_nft_input *in, int i, int family,
                      uint32_t id)
{
	struct nftnl_rule *r = rule("limits");
	uint8_t nfp = nfproto_of(family);
	char set[32];
	int err;

	peer_set_name(i, family, set, sizeof(set));
	err = nft_match_nfproto(r, nfp);
	err = err ?: nft_match_saddr_set(r, nfp, set, id);
	err = err ?: nft_stmt_ct_count_over(r, in->peers[i].max_connections);
	err = err ?: nft_stmt_counter(r);
	err = err ?: nft_stmt_verdict(r, NF_DROP);
	return err ?: nft_rule_add(b, r, "a peer's connection limit");
}

static int peer_rules(struct nft_batch *b, const struct egress_nft_input *in)
{
	int err = 0;

	for (int i = 0; !err && i < in->n_peers; i++) {
		static const int families[] = {AF_INET, AF_INET6};

		for (size_t f = 0; !err && f < 2; f++) {
			uint32_t id;

			err = peer_set(b, &in->peers[i], i, families[f], &id);
			if (err || !id)
				continue;
			err = peer_counter(b, in, i, families[f], id, true);
			err = err ?: peer_counter(b, in, i, families[f], id, false);
			if (!err && in->peers[i].max_connections)
				err = peer_limit(b, in, i, families[f], id);
		}
	}
	return err;
}

static int jump_rule(struct nft_batch *b, const char *chain, const struct egress_nft_input *in,
                     bool iif, const char *to)
{
	struct nftnl_rule *r = rule(chain);
	int err = match_wg(r, in, iif, true);

	err = err ?: nft_stmt_jump(r, to);
	return err ?: nft_rule_add(b, r, "a rule choosing the tunnel's chain");
}

/* forward sends the tunnel's packets to from_tunnel (which always ends in a verdict) and the
 * packets towards the tunnel to to_tunnel: everything else passes one rule per direction. */
static int forward(struct nft_batch *b, const struct egress_nft_input *in)
{
	const struct egress_config *ec = in->ec;
	struct nftnl_rule *r = rule("from_tunnel");
	bool limits = false;
	int err = match_wg(r, in, false, true);

	err = err ?: nft_stmt_counter(r);
	err = err ?: nft_stmt_verdict(r, ec->allow.clients ? NF_ACCEPT : NF_DROP);
	err = err ?: nft_rule_add(b, r, "the client-to-client rule");
	/* Nobody outside opens a connection into the tunnel: only replies go in. */
	r = err ? NULL : rule("to_tunnel");
	err = err ?: nft_match_ct_direction(r, NFT_CT_DIR_ORIGINAL);
	err = err ?: nft_stmt_counter(r);
	err = err ?: nft_stmt_verdict(r, NF_DROP);
	err = err ?: nft_rule_add(b, r, "the rule keeping the tunnel closed to the outside");
	for (int i = 0; i < in->n_peers; i++)
		limits |= in->peers[i].max_connections != 0;
	/* Before the counters: what the limit drops did not go through. */
	if (!err && limits) {
		r = rule("from_tunnel");
		err = nft_match_ct_state(r, NFT_CT_STATE_NEW);
		err = err ?: nft_stmt_jump(r, "limits");
		err = err ?: nft_rule_add(b, r, "the rule sending new connections to the limits");
	}
	err = err ?: peer_rules(b, in);
	err = err
	              ?: verdict_rule(b, "from_tunnel", ec->allow.internet,
	                              "the tunnel-to-internet rule");
	err = err ?: jump_rule(b, "forward", in, true, "from_tunnel");
	return err ?: jump_rule(b, "forward", in, false, "to_tunnel");
}

static int input(struct nft_batch *b, const struct egress_nft_input *in)
{
	struct nftnl_rule *r = rule("tunnel_in");
	int err;

	/* Replies to connections the edge opened towards a client (a probe, a ping). */
	err = nft_match_ct_state(r, NFT_CT_STATE_ESTABLISHED | NFT_CT_STATE_RELATED);
	err = err ?: nft_stmt_verdict(r, NF_ACCEPT);
	err = err ?: nft_rule_add(b, r, "the rule for replies from the tunnel");
	err = err
	              ?: verdict_rule(b, "tunnel_in", in->ec->allow.edge_services,
	                              "the tunnel-to-edge rule");
	return err ?: jump_rule(b, "input", in, true, "tunnel_in");
}

static int postrouting(struct nft_batch *b, const struct egress_nft_input *in)
{
	const struct egress_config *ec = in->ec;
	char name[NAME_MAX_LEN];
	int err = 0;

	for (int k = 0; !err && k < ec->n_snat; k++) {
		const struct egress_snat_config *s = &ec->snat[k];
		uint8_t nfp = nfproto_of(s->address.family);
		struct nftnl_rule *r;
		uint32_t id;
		int n;

		err = snat_set(b, in, k, &id, &n);
		if (!err && n) {
			snprintf(name, sizeof(name), "snat%d_src", k);
			r = rule("postrouting");
			err = nft_match_ct_mark_bits(r, ec->mark);
			err = err ?: match_wg(r, in, false, false);
			err = err ?: nft_match_nfproto(r, nfp);
			err = err ?: nft_match_saddr_set(r, nfp, name, id);
			err = err ?: nft_stmt_snat(r, &s->address, s->own_lo, s->own_hi);
			err = err ?: nft_rule_add(b, r, "the SNAT rule");
		}
	}
	return err;
}

static int counters(struct nft_batch *b, const struct egress_nft_input *in, const struct saved *s)
{
	char name[NAME_MAX_LEN];
	int err = 0;

	for (int i = 0; !err && i < in->n_peers; i++) {
		egress_nft_peer_counter(in->peers[i].name, false, name, sizeof(name));
		err = counter(b, s, name);
		egress_nft_peer_counter(in->peers[i].name, true, name, sizeof(name));
		err = err ?: counter(b, s, name);
	}
	for (int k = 0; !err && k < in->ec->n_snat; k++) {
		egress_nft_snat_counter(k, false, name, sizeof(name));
		err = counter(b, s, name);
		egress_nft_snat_counter(k, true, name, sizeof(name));
		err = err ?: counter(b, s, name);
	}
	return err;
}

static int chains(struct nft_batch *b)
{
	/* Made before the rules that jump to them. */
	static const char *const regular[] = {"from_tunnel", "to_tunnel", "limits", "tunnel_in"};
	int err = nft_chain_add(b, NFPROTO_INET, EGRESS_TABLE, "prerouting", NF_INET_PRE_ROUTING,
	                        NFT_PRIO_MANGLE);

	err = err
	              ?: nft_chain_add(b, NFPROTO_INET, EGRESS_TABLE, "forward", NF_INET_FORWARD,
	                               NFT_PRIO_FILTER);
	err = err
	              ?: nft_chain_add(b, NFPROTO_INET, EGRESS_TABLE, "input", NF_INET_LOCAL_IN,
	                               NFT_PRIO_FILTER);
	err = err
	              ?: nft_chain_add_type(b, NFPROTO_INET, EGRESS_TABLE, "postrouting", "nat",
	                                    NF_INET_POST_ROUTING, NFT_PRIO_SRCNAT);
	for (size_t i = 0; !err && i < sizeof(regular) / sizeof(regular[0]); i++)
		err = nft_chain_add_regular(b, NFPROTO_INET, EGRESS_TABLE, regular[i]);
	return err;
}

int egress_nft_apply(const struct egress_nft_input *in, bool check_only, char *errbuf,
                     size_t errlen)
{
	struct nft_batch *b = nft_batch_new();
	struct saved s = {};
	char comment[NFT_COMMENT_MAX];
	int err;

	if (!b) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	nft_counters_get(NFPROTO_INET, EGRESS_TABLE, save_one, &s);
	snprintf(comment, sizeof(comment), COMMENT_FMT, in->instance);
	err = nft_table_replace(b, NFPROTO_INET, EGRESS_TABLE, comment);
	err = err ?: counters(b, in, &s);
	err = err ?: chains(b);
	err = err ?: prerouting(b, in);
	err = err ?: forward(b, in);
	err = err ?: input(b, in);
	err = err ?: postrouting(b, in);
	/* A build failure is reported by the commit, with what failed. */
	err = nft_batch_commit(b, check_only, errbuf, errlen);
	nft_batch_free(b);
	free(s.c);
	return err;
}

int egress_nft_remove(char *errbuf, size_t errlen)
{
	struct nft_batch *b = nft_batch_new();
	int err;

	if (!b)
		return -ENOMEM;
	nft_table_del_if_exists(b, NFPROTO_INET, EGRESS_TABLE);
	err = nft_batch_commit(b, false, errbuf, errlen);
	nft_batch_free(b);
	return err;
}

int egress_nft_owner(char *owner, size_t len)
{
	char text[NFT_COMMENT_MAX];
	int err = nft_table_comment(NFPROTO_INET, EGRESS_TABLE, text, sizeof(text));

	if (len)
		owner[0] = '\0';
	if (err)
		return err == -ENOENT ? 0 : err;
	if (sscanf(text, "edged instance %63s", text) == 1)
		snprintf(owner, len, "%s", text);
	return 0;
}
