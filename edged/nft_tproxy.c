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
	bool v4 = p->family == AF_INET;
	uint32_t len = v4 ? 4 : 16, offset = v4 ? 16 : 24; /* daddr in the IP header */
	uint8_t nfproto = v4 ? NFPROTO_IPV4 : NFPROTO_IPV6, mask[16] = {};
	int err;

	err = nft_match_nfproto(r, nfproto);
	if (err || p->len == 0)
		return err;
	err = nft_payload_load(r, NFT_PAYLOAD_NETWORK_HEADER, offset, len);
	for (unsigned int bit = 0; bit < p->len; bit++)
		mask[bit / 8] |= 0x80 >> (bit % 8);
	if (!err && p->len < len * 8)
		err = nft_mask(r, mask, len);
	return err ?: nft_cmp(r, NFT_CMP_EQ, &p->addr, len);
}

static int match_ports(struct nftnl_rule *r, const struct nft_tproxy_rule *t)
{
	uint16_t lo = htons(t->lo), hi = htons(t->hi);
	struct nftnl_expr *e;
	int err;

	err = nft_match_l4proto(r, t->protocol);
	if (err || (t->lo == 0 && t->hi == 65535))
		return err;
	err = nft_payload_load(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2); /* dport, TCP and UDP */
	if (err || t->lo == t->hi)
		return err ?: nft_cmp(r, NFT_CMP_EQ, &lo, sizeof(lo));
	e = nftnl_expr_alloc("range"); /* network order compares as numbers: big-endian */
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, &lo, sizeof(lo));
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, &hi, sizeof(hi));
	}
	return nft_add_expr(r, e);
}

static int immediate(struct nftnl_rule *r, uint32_t reg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	}
	return nft_add_expr(r, e);
}

/* tproxy ip|ip6 to ADDR:PORT meta mark set MARK */
static int tproxy_to(struct nftnl_rule *r, const struct nft_tproxy_rule *t)
{
	bool v4 = t->dst.family == AF_INET;
	uint16_t port = htons(t->to_port);
	struct nftnl_expr *e;
	int err;

	err = immediate(r, NFT_REG_1, &t->to_addr, v4 ? 4 : 16);
	err = err ?: immediate(r, NFT_REG_2, &port, sizeof(port));
	if (err)
		return err;
	e = nftnl_expr_alloc("tproxy");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_ADDR, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_2);
	}
	err = nft_add_expr(r, e);
	err = err ?: immediate(r, NFT_REG_1, &t->mark, sizeof(t->mark));
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

static int comment_of(const struct nftnl_udata *attr, void *data)
{
	const char **text = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		*text = nftnl_udata_get(attr);
	return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct counters_ctx *c = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	const char *text = NULL;
	uint64_t packets = 0;
	unsigned int binding;
	const void *ud;
	uint32_t udlen;

	if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0)
		goto out;
	nftnl_expr_foreach(r, counter_of, &packets);
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &udlen);
	if (ud)
		nftnl_udata_parse(ud, udlen, comment_of, &text);
	if (text && sscanf(text, COMMENT_PREFIX "%u", &binding) == 1)
		c->fn(binding, strstr(text, FALLBACK_SUFFIX) != NULL, packets, c->arg);
out:
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

int nft_tproxy_counters(void (*fn)(uint32_t binding, bool fallback, uint64_t packets, void *arg),
                        void *arg)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	struct counters_ctx c = {.fn = fn, .arg = arg};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = time(NULL), portid;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;
	ssize_t len;

	if (!nl || !r || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP, seq);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TPROXY_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, NFT_TPROXY_CHAIN);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	while ((len = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, len, seq, portid, rule_cb, &c);
		if (ret <= 0)
			break;
	}
	ret = ret < 0 ? -errno : 0;
out:
	nftnl_rule_free(r);
	if (nl)
		mnl_socket_close(nl);
	return ret;
}
