// SPDX-License-Identifier: GPL-2.0
/*
 * transit's nftables tables (see transit_nft.h): the rule translation from the config's
 * readable rules to nftables expressions, the steering table, and counters read back.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>

#include "transit_nft.h"

static const char *const dir_chain[] = {[TRANSIT_IN] = "in", [TRANSIT_OUT] = "out"};

static int verdict_of(int action)
{
	return action == TRANSIT_ALLOW ? NF_ACCEPT : NF_DROP;
}

static uint8_t nfproto_of(int family)
{
	return family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

/* The matches of R, in the order nft itself would write them. */
static int rule_matches(struct nftnl_rule *nr, const struct transit_rule *r)
{
	int err = 0;

	if (r->family)
		err = nft_match_nfproto(nr, nfproto_of(r->family));
	if (!err && r->proto)
		err = nft_match_l4proto(nr, r->proto);
	if (!err && r->src.family)
		err = nft_match_prefix(nr, nfproto_of(r->family), true, &r->src);
	if (!err && r->dst.family)
		err = nft_match_prefix(nr, nfproto_of(r->family), false, &r->dst);
	if (!err && r->sport_lo)
		err = nft_match_port_range(nr, true, r->sport_lo, r->sport_hi);
	if (!err && r->dport_lo)
		err = nft_match_port_range(nr, false, r->dport_lo, r->dport_hi);
	return err;
}

struct nftnl_rule *transit_nft_rule(const struct transit_rule *r, int index, const char *chain)
{
	struct nftnl_rule *nr = nft_rule_new(NFPROTO_INET, TRANSIT_NFT_TABLE, chain);
	char comment[32];
	int err;

	snprintf(comment, sizeof(comment), "rule %d", index);
	err = nr ? rule_matches(nr, r) : -ENOMEM;
	err = err ?: nft_stmt_counter(nr);
	err = err ?: nft_stmt_verdict(nr, verdict_of(r->action));
	err = err ?: nft_rule_comment(nr, comment);
	if (err) {
		nft_rule_free(nr);
		return NULL;
	}
	return nr;
}

/* counter, VERDICT, comment COMMENT: the last rule of a chain. */
static int add_final(struct nft_batch *b, const char *chain, int verdict, const char *comment)
{
	struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, TRANSIT_NFT_TABLE, chain);
	int err = r ? nft_stmt_counter(r) : -ENOMEM;

	err = err ?: nft_stmt_verdict(r, verdict);
	err = err ?: nft_rule_comment(r, comment);
	if (err) {
		nft_rule_free(r);
		r = NULL;
	}
	return nft_rule_add(b, r, comment);
}

static int add_prefix_sets(struct nft_batch *b, const struct transit_customer_config *c,
                           uint32_t ids[2])
{
	struct nft_range *r = calloc(c->n_prefixes + 1, sizeof(*r));
	int n4 = 0, n6 = 0, err;

	if (!r)
		return -ENOMEM;
	/* v4 ranges from the front, v6 from the back of one array */
	for (int i = 0; i < c->n_prefixes; i++)
		if (c->prefixes[i].family == AF_INET)
			nft_range_prefix(&r[n4++], &c->prefixes[i]);
	for (int i = 0; i < c->n_prefixes; i++)
		if (c->prefixes[i].family == AF_INET6)
			nft_range_prefix(&r[n4 + n6++], &c->prefixes[i]);
	err = nft_set_add(b, NFPROTO_INET, TRANSIT_NFT_TABLE, "p4", NFT_KEY_IPV4, r, n4, &ids[0]);
	err = err
	              ?: nft_set_add(b, NFPROTO_INET, TRANSIT_NFT_TABLE, "p6", NFT_KEY_IPV6, r + n4,
	                             n6, &ids[1]);
	free(r);
	return err;
}

/* forward: daddr|saddr (SOURCE) in the customer's set of NFPROTO -> jump CHAIN. */
static int add_dispatch(struct nft_batch *b, uint8_t nfproto, bool source, uint32_t set_id,
                        const char *chain)
{
	struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, TRANSIT_NFT_TABLE, "forward");
	const char *set = nfproto == NFPROTO_IPV4 ? "p4" : "p6";
	int err = r ? nft_match_nfproto(r, nfproto) : -ENOMEM;

	if (source)
		err = err ?: nft_match_saddr_set(r, nfproto, set, set_id);
	else
		err = err ?: nft_match_daddr_set(r, nfproto, set, set_id);
	err = err ?: nft_stmt_jump(r, chain);
	if (err) {
		nft_rule_free(r);
		r = NULL;
	}
	return nft_rule_add(b, r, "the direction rule");
}

static int add_forward(struct nft_batch *b, const uint32_t ids[2])
{
	struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, TRANSIT_NFT_TABLE, "forward");
	int err = r ? nft_match_ct_state(r, NFT_CT_STATE_ESTABLISHED | NFT_CT_STATE_RELATED)
	            : -ENOMEM;

	err = err ?: nft_stmt_counter(r);
	err = err ?: nft_stmt_verdict(r, NF_ACCEPT);
	err = err ?: nft_rule_comment(r, "established");
	if (err) {
		nft_rule_free(r);
		r = NULL;
	}
	err = nft_rule_add(b, r, "the established rule");
	err = err ?: add_dispatch(b, NFPROTO_IPV4, false, ids[0], "in");
	err = err ?: add_dispatch(b, NFPROTO_IPV6, false, ids[1], "in");
	err = err ?: add_dispatch(b, NFPROTO_IPV4, true, ids[0], "out");
	err = err ?: add_dispatch(b, NFPROTO_IPV6, true, ids[1], "out");
	return err ?: add_final(b, "forward", NF_DROP, "not-customer");
}

static int add_direction(struct nft_batch *b, const struct transit_customer_config *c, int dir)
{
	int err = nft_chain_add_regular(b, NFPROTO_INET, TRANSIT_NFT_TABLE, dir_chain[dir]);

	for (int i = 0; i < c->n_rules && !err; i++) {
		char what[48];

		if (c->rules[i].direction != dir)
			continue;
		snprintf(what, sizeof(what), "firewall rule %d (line %d)", i, c->rules[i].line);
		err = nft_rule_add(b, transit_nft_rule(&c->rules[i], i, dir_chain[dir]), what);
	}
	return err
	               ?: add_final(b, dir_chain[dir],
	                            verdict_of(dir == TRANSIT_IN ? c->default_in : c->default_out),
	                            "default");
}

int transit_nft_firewall(struct nft_batch *b, const struct transit_customer_config *c)
{
	uint32_t ids[2];
	char comment[64];
	int err;

	snprintf(comment, sizeof(comment), "edged transit firewall of %s", c->name);
	err = nft_table_replace(b, NFPROTO_INET, TRANSIT_NFT_TABLE, comment);
	err = err ?: add_prefix_sets(b, c, ids);
	err = err ?: add_direction(b, c, TRANSIT_IN);
	err = err ?: add_direction(b, c, TRANSIT_OUT);
	err = err
	              ?: nft_chain_add(b, NFPROTO_INET, TRANSIT_NFT_TABLE, "forward",
	                               NF_INET_FORWARD, NFT_PRIO_FILTER);
	return err ?: add_forward(b, ids);
}

/* ---- edged's namespace ---- */

static int add_map(struct nft_batch *b, const struct transit_mark_entry *m, int n, int family,
                   uint32_t *id)
{
	struct nft_range *r = calloc(n + 1, sizeof(*r));
	uint32_t *data = calloc(n + 1, sizeof(*data));
	int k = 0, err;

	if (!r || !data) {
		free(r);
		free(data);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		if (m[i].prefix.family != family)
			continue;
		nft_range_prefix(&r[k], &m[i].prefix);
		data[k++] = m[i].mark;
	}
	err = nft_map_add(b, NFPROTO_INET, TRANSIT_NFT_TABLE, family == AF_INET ? "m4" : "m6",
	                  family == AF_INET ? NFT_KEY_IPV4 : NFT_KEY_IPV6, r, data, k, id);
	free(r);
	free(data);
	return err;
}

static int add_mark_rule(struct nft_batch *b, uint8_t nfproto, uint32_t id)
{
	struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, TRANSIT_NFT_TABLE, "prerouting");
	int err = r ? nft_match_nfproto(r, nfproto) : -ENOMEM;

	err = err ?: nft_match_meta(r, NFT_META_MARK, TRANSIT_MARK_MASK & 0xf0000000u, 0);
	err = err ?: nft_stmt_mark_from_map(r, nfproto, nfproto == NFPROTO_IPV4 ? "m4" : "m6", id);
	if (err) {
		nft_rule_free(r);
		r = NULL;
	}
	return nft_rule_add(b, r, "the transit mark rule");
}

static int add_isolation(struct nft_batch *b)
{
	struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, TRANSIT_NFT_TABLE, "forward");
	int err = r ? nft_match_meta(r, NFT_META_IIFGROUP, 0xffffffff, TRANSIT_IFGROUP) : -ENOMEM;

	err = err ?: nft_match_meta(r, NFT_META_OIFGROUP, 0xffffffff, TRANSIT_IFGROUP);
	err = err ?: nft_stmt_counter(r);
	err = err ?: nft_stmt_verdict(r, NF_DROP);
	err = err ?: nft_rule_comment(r, "between customers");
	if (err) {
		nft_rule_free(r);
		r = NULL;
	}
	return nft_rule_add(b, r, "the isolation rule");
}

int transit_nft_steering(struct nft_batch *b, const struct transit_mark_entry *m, int n)
{
	uint32_t id4, id6;
	int err = nft_table_replace(b, NFPROTO_INET, TRANSIT_NFT_TABLE,
	                            "edged transit: customer marks and isolation");

	err = err ?: add_map(b, m, n, AF_INET, &id4);
	err = err ?: add_map(b, m, n, AF_INET6, &id6);
	err = err
	              ?: nft_chain_add(b, NFPROTO_INET, TRANSIT_NFT_TABLE, "prerouting",
	                               NF_INET_PRE_ROUTING, NFT_PRIO_MANGLE);
	err = err ?: add_mark_rule(b, NFPROTO_IPV4, id4);
	err = err ?: add_mark_rule(b, NFPROTO_IPV6, id6);
	err = err
	              ?: nft_chain_add(b, NFPROTO_INET, TRANSIT_NFT_TABLE, "forward",
	                               NF_INET_FORWARD, NFT_PRIO_FILTER);
	return err ?: add_isolation(b);
}

/* ---- counters ---- */

struct counters_ctx {
	void (*fn)(const struct transit_fw_counter *c, void *arg);
	void *arg;
};

static int expr_counter(struct nftnl_expr *e, void *data)
{
	struct transit_fw_counter *c = data;

	if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0) {
		c->packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		c->bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
		c->rule = c->rule == -2 ? -1 : c->rule;
	}
	return MNL_CB_OK;
}

static void rule_counter(struct nftnl_rule *r, const char *comment, void *data)
{
	struct counters_ctx *ctx = data;
	struct transit_fw_counter c = {.rule = -2};
	int idx;

	if (strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), TRANSIT_NFT_TABLE))
		return;
	snprintf(c.chain, sizeof(c.chain), "%s", nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	nftnl_expr_foreach(r, expr_counter, &c);
	if (c.rule == -2 || !comment)
		return; /* a rule without a counter */
	if (sscanf(comment, "rule %d", &idx) == 1)
		c.rule = idx;
	ctx->fn(&c, ctx->arg);
}

int transit_nft_counters(void (*fn)(const struct transit_fw_counter *c, void *arg), void *arg)
{
	struct counters_ctx ctx = {.fn = fn, .arg = arg};

	return nft_rules_dump(NFPROTO_INET, TRANSIT_NFT_TABLE, NULL, rule_counter, &ctx);
}
