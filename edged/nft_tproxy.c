// SPDX-License-Identifier: GPL-2.0
/*
 * `inet edged_dispatch` (see nft_tproxy.h), built with edged's libnftnl helpers (nft.h: the
 * batch, table, chain, verdicts, comments) plus the few expressions only TPROXY needs: a
 * destination prefix and port range matched inline (one of each per rule: sets would add a
 * lookup for nothing), the tproxy statement and the mark. One rule, as nft prints it:
 *
 *   meta nfproto ipv4 meta l4proto tcp ip daddr 203.0.113.0/24 tcp dport 443 counter
 *       tproxy ip to 127.0.0.1:41234 meta mark set 0x00e00000 accept
 *       comment "edged binding 3"
 *   meta nfproto ipv4 meta l4proto tcp ip daddr 203.0.113.0/24 tcp dport 443 counter
 *       accept comment "edged binding 3 fallback"
 *
 * The batch replaces the table whole (nft_table_replace): a packet meets the old rule set or
 * the new one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>

#include "nft.h"
#include "nft_tproxy.h"

#define COMMENT_PREFIX  "edged binding "
#define FALLBACK_SUFFIX " fallback"

/* ip daddr PREFIX / ip6 daddr PREFIX, after the family check. */
static int match_daddr(struct nftnl_rule *r, const struct prefix *p)
{
	uint8_t nfproto = p->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	int err = nft_match_nfproto(r, nfproto);

	return err ?: nft_match_prefix(r, nfproto, false, p);
}

/* meta l4proto PROTO th dport LO-HI (no port match for the whole range) */
static int match_ports(struct nftnl_rule *r, const struct nft_tproxy_rule *t)
{
	int err = nft_match_l4proto(r, t->protocol);

	if (err || (t->lo == 0 && t->hi == 65535))
		return err;
	return nft_match_port_range(r, false, t->lo, t->hi);
}

/* tproxy ip|ip6 to ADDR:PORT meta mark set MARK */
static int tproxy_to(struct nftnl_rule *r, const struct nft_tproxy_rule *t)
{
	bool v4 = t->dst.family == AF_INET;
	uint16_t port = htons(t->to_port);
	struct nftnl_expr *e;
	int err;

	err = nft_immediate(r, NFT_REG_1, &t->to_addr, v4 ? 4 : 16);
	err = err ?: nft_immediate(r, NFT_REG_2, &port, sizeof(port));
	if (err)
		return err;
	e = nftnl_expr_alloc("tproxy");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_ADDR, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_2);
	}
	err = nft_add_expr(r, e);
	err = err ?: nft_immediate(r, NFT_REG_1, &t->mark, sizeof(t->mark));
	if (err)
		return err;
	e = nftnl_expr_alloc("meta");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
	}
	return nft_add_expr(r, e);
}

/* One rule of T: the TPROXY one, or (FALLBACK, or not a TPROXY binding) the accept one. */
static int add_rule(struct nft_batch *b, const struct nft_tproxy_rule *t, bool fallback)
{
	struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, NFT_TPROXY_TABLE, NFT_TPROXY_CHAIN);
	char text[64], what[128], shown[PREFIX_STRLEN];
	int err;

	snprintf(text, sizeof(text), COMMENT_PREFIX "%u%s", t->binding,
	         t->tproxy && fallback ? FALLBACK_SUFFIX : "");
	snprintf(what, sizeof(what), "the %s rule of binding %u (%s ports %u-%u)",
	         t->tproxy && !fallback ? "tproxy" : "accept", t->binding,
	         prefix_format(&t->dst, shown, sizeof(shown)), t->lo, t->hi);
	err = r ? 0 : -ENOMEM;
	err = err ?: match_daddr(r, &t->dst);
	err = err ?: match_ports(r, t);
	err = err ?: nft_stmt_counter(r);
	if (!err && t->tproxy && !fallback)
		err = tproxy_to(r, t);
	err = err ?: nft_stmt_verdict(r, NF_ACCEPT);
	err = err ?: nft_rule_comment(r, text);
	if (err) {
		nft_rule_free(r);
		r = NULL; /* nft_rule_add() fails the batch for it */
	}
	return nft_rule_add(b, r, what);
}

int nft_tproxy_apply(const struct nft_tproxy_rule *rules, int n, bool check_only, char *err,
                     size_t errlen)
{
	struct nft_batch *b = nft_batch_new();
	int ret;

	if (!b) {
		snprintf(err, errlen, "out of memory building %d nftables rules", n);
		return -ENOMEM;
	}
	if (n == 0) {
		ret = nft_table_del_if_exists(b, NFPROTO_INET, NFT_TPROXY_TABLE);
	} else {
		ret = nft_table_replace(b, NFPROTO_INET, NFT_TPROXY_TABLE,
		                        "edged dispatch: TPROXY bindings (written by edged)");
		ret = ret
		              ?: nft_chain_add(b, NFPROTO_INET, NFT_TPROXY_TABLE, NFT_TPROXY_CHAIN,
		                               NF_INET_PRE_ROUTING, NFT_PRIO_MANGLE);
	}
	for (int i = 0; i < n && !ret; i++) {
		ret = add_rule(b, &rules[i], false);
		if (!ret && rules[i].tproxy)
			ret = add_rule(b, &rules[i], true);
	}
	/* A failure while building is reported by the commit, with the rule it was. */
	ret = nft_batch_commit(b, check_only, err, errlen);
	nft_batch_free(b);
	return ret;
}

/* ---- counters ---- */

struct counters_ctx {
	void (*fn)(uint32_t binding, bool fallback, uint64_t packets, void *arg);
	void *arg;
};

static int counter_of(struct nftnl_expr *e, void *data)
{
	uint64_t *packets = data;

	if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0)
		*packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
	return 0;
}

static void rule_counter(struct nftnl_rule *r, const char *comment, void *data)
{
	struct counters_ctx *c = data;
	uint64_t packets = 0;
	unsigned int binding;

	nftnl_expr_foreach(r, counter_of, &packets);
	if (comment && sscanf(comment, COMMENT_PREFIX "%u", &binding) == 1)
		c->fn(binding, strstr(comment, FALLBACK_SUFFIX) != NULL, packets, c->arg);
}

int nft_tproxy_counters(void (*fn)(uint32_t binding, bool fallback, uint64_t packets, void *arg),
                        void *arg)
{
	struct counters_ctx c = {.fn = fn, .arg = arg};

	return nft_rules_dump(NFPROTO_INET, NFT_TPROXY_TABLE, NFT_TPROXY_CHAIN, rule_counter, &c);
}
