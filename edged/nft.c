// SPDX-License-Identifier: GPL-2.0
/*
 * nftables through libnftnl and libmnl (see nft.h). A batch is a growing buffer of netlink
 * messages between NFNL_MSG_BATCH_BEGIN and _END; every message asks for an ack, and the
 * kernel answers all of them once it has applied, or refused, the whole transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <net/if.h>
#include <linux/netfilter/nf_synproxy.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft.h"

/* Free space kept in the buffer before each message is built (libnftnl writes without a
 * bound): more than the largest message, a chunk of NFT_ELEMS_PER_MSG set elements. */
#define NFT_MSG_ROOM (64 * 1024)
/* Set elements per message: about 40 bytes each, so a chunk stays far below NFT_MSG_ROOM
 * and the kernel's per-message limits however big the set. */
#define NFT_ELEMS_PER_MSG 256
/* The kernel answers a batch at once; this only bounds a wait that something went wrong. */
#define NFT_ACK_TIMEOUT_S 5
/* nft's datatype numbers (src/datatype.h), so that `nft list` prints the keys as addresses
 * and ports, and its byteorder for them. */
#define NFT_TYPE_IPADDR       7
#define NFT_TYPE_IP6ADDR      8
#define NFT_TYPE_INET_SERVICE 13
#define NFT_BYTEORDER_HOST    1
#define NFT_BYTEORDER_BIG     2

struct nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq;
	uint32_t first_seq; /* of the first message that is acked */
	char **what;        /* what each acked message was, by seq - first_seq */
	int n_msgs, what_cap;
	int err; /* the first failure while building: commit reports it */
	uint32_t next_set_id;
	bool sent;
};

/* ---- the buffer ------------------------------------------------------------------------ */

static int room(struct nft_batch *b)
{
	char *grown;
	size_t cap;

	if (b->cap - b->len >= NFT_MSG_ROOM)
		return 0;
	cap = b->cap ? b->cap * 2 : 4 * NFT_MSG_ROOM;
	grown = realloc(b->buf, cap);
	if (!grown)
		return -ENOMEM;
	memset(grown + b->len, 0, cap - b->len);
	b->buf = grown;
	b->cap = cap;
	return 0;
}

static int fail(struct nft_batch *b, int err)
{
	if (!b->err)
		b->err = err;
	return err;
}

/* Starts an acked message of TYPE; its payload is built at the returned header. */
static struct nlmsghdr *msg_start(struct nft_batch *b, uint16_t type, int family, uint16_t flags,
                                  const char *what)
{
	if (b->err || room(b))
		return NULL;
	if (b->n_msgs == b->what_cap) {
		int cap = b->what_cap ? b->what_cap * 2 : 64;
		char **grown = realloc(b->what, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		b->what = grown;
		b->what_cap = cap;
	}
	b->what[b->n_msgs] = strdup(what);
	if (!b->what[b->n_msgs])
		return NULL;
	b->n_msgs++;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, family, flags | NLM_F_ACK, b->seq++);
}

static void msg_end(struct nft_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

struct nft_batch *nft_batch_new(void)
{
	struct nft_batch *b = calloc(1, sizeof(*b));
	struct nlmsghdr *nlh;

	if (!b || room(b)) {
		nft_batch_free(b);
		return NULL;
	}
	/* Distinct from a previous run's seqs, so a stale answer cannot pass for ours. */
	b->seq = (uint32_t)time(NULL) << 8;
	nlh = nftnl_batch_begin(b->buf, b->seq++);
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
	b->first_seq = b->seq;
	b->next_set_id = 1;
	return b;
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->n_msgs; i++)
		free(b->what[i]);
	free(b->what);
	free(b->buf);
	free(b);
}

/* ---- tables and chains ----------------------------------------------------------------- */

static int comment_udata(const char *comment, uint8_t type,
                         void (*set)(void *obj, const void *d, uint32_t len), void *obj)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_COMMENT_MAX + 8);
	int err = 0;

	if (!ud)
		return -ENOMEM;
	if (strlen(comment) >= NFT_COMMENT_MAX || !nftnl_udata_put_strz(ud, type, comment))
		err = -EINVAL;
	else
		set(obj, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	return err;
}

static void table_set_udata(void *t, const void *d, uint32_t len)
{
	nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, d, len);
}

static void rule_set_udata(void *r, const void *d, uint32_t len)
{
	nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, d, len);
}

static int table_msg(struct nft_batch *b, uint16_t type, uint16_t flags, int family,
                     const char *table, const char *comment, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int err = 0;

	if (!t)
		return fail(b, -ENOMEM);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	if (comment)
		err = comment_udata(comment, NFTNL_UDATA_TABLE_COMMENT, table_set_udata, t);
	nlh = err ? NULL : msg_start(b, type, family, flags, what);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		msg_end(b, nlh);
	}
	nftnl_table_free(t);
	return nlh ? 0 : fail(b, err ?: -ENOMEM);
}

int nft_table_add(struct nft_batch *b, int family, const char *table, const char *comment)
{
	return table_msg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, family, table, comment, "the table");
}

int nft_table_del(struct nft_batch *b, int family, const char *table)
{
	return table_msg(b, NFT_MSG_DELTABLE, 0, family, table, NULL, "deleting the table");
}

int nft_table_del_if_exists(struct nft_batch *b, int family, const char *table)
{
	int err = table_msg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, family, table, NULL,
	                    "the table (to delete it)");

	return err ?: nft_table_del(b, family, table);
}

int nft_table_replace(struct nft_batch *b, int family, const char *table, const char *comment)
{
	int err = nft_table_del_if_exists(b, family, table);

	return err ?: nft_table_add(b, family, table, comment);
}

int nft_chain_add(struct nft_batch *b, int family, const char *table, const char *chain,
                  uint32_t hook, int prio)
{
	return nft_chain_add_type(b, family, table, chain, "filter", hook, prio);
}

int nft_chain_add_type(struct nft_batch *b, int family, const char *table, const char *chain,
                       const char *type, uint32_t hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	char what[96];
	struct nlmsghdr *nlh;

	if (!c)
		return fail(b, -ENOMEM);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	snprintf(what, sizeof(what), "the chain %.40s", chain);
	nlh = msg_start(b, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE, what);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		msg_end(b, nlh);
	}
	nftnl_chain_free(c);
	return nlh ? 0 : fail(b, -ENOMEM);
}

/* ---- interval sets --------------------------------------------------------------------- */

static uint32_t key_len(enum nft_key key)
{
	return key == NFT_KEY_IPV4 ? 4 : key == NFT_KEY_IPV6 ? 16 : 2;
}

void nft_range_prefix(struct nft_range *r, const struct prefix *p)
{
	uint32_t len = p->family == AF_INET ? 4 : 16;

	memset(r, 0, sizeof(*r));
	memcpy(r->lo, &p->addr, len);
	memcpy(r->hi, &p->addr, len);
	for (uint32_t bit = p->len; bit < len * 8; bit++)
		r->hi[bit / 8] |= 0x80 >> (bit % 8);
}

void nft_range_ports(struct nft_range *r, uint16_t lo, uint16_t hi)
{
	memset(r, 0, sizeof(*r));
	r->lo[0] = lo >> 8;
	r->lo[1] = lo;
	r->hi[0] = hi >> 8;
	r->hi[1] = hi;
}

static size_t cmp_len; /* qsort has no context argument: the key length of the sort */

static int range_cmp(const void *a, const void *b)
{
	return memcmp(((const struct nft_range *)a)->lo, ((const struct nft_range *)b)->lo,
	              cmp_len);
}

/* KEY + 1 in place (big-endian); false when KEY was all ones. */
static bool key_inc(uint8_t *key, uint32_t len)
{
	for (int i = len - 1; i >= 0; i--)
		if (++key[i])
			return true;
	return false;
}

/* Sorts R and merges the ranges that overlap or touch; returns how many are left. */
static int ranges_merge(struct nft_range *r, int n, uint32_t len)
{
	int out = 0;

	cmp_len = len;
	qsort(r, n, sizeof(*r), range_cmp);
	for (int i = 0; i < n; i++) {
		if (out) {
			uint8_t after[16];
			bool more;

			memcpy(after, r[out - 1].hi, len);
			more = key_inc(after, len);
			if (!more || memcmp(r[i].lo, after, len) <= 0) {
				if (memcmp(r[i].hi, r[out - 1].hi, len) > 0)
					memcpy(r[out - 1].hi, r[i].hi, len);
				continue;
			}
		}
		r[out++] = r[i];
	}
	return out;
}

static struct nftnl_set *set_alloc(int family, const char *table, const char *set, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	return s;
}

static int elem_add(struct nftnl_set *s, const uint8_t *key, uint32_t len, bool end)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	nftnl_set_elem_add(s, e);
	return 0;
}

static int elems_flush(struct nft_batch *b, int family, struct nftnl_set **s, const char *what)
{
	struct nlmsghdr *nlh = msg_start(b, NFT_MSG_NEWSETELEM, family, NLM_F_CREATE, what);

	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, *s);
		msg_end(b, nlh);
	}
	nftnl_set_free(*s);
	*s = NULL;
	return nlh ? 0 : -ENOMEM;
}

/*
 * The elements as nft sends them for an interval set: a range [lo, hi] is an element at lo
 * and an interval-end element at hi + 1 (none when hi is the largest key), and the set
 * opens with an interval end at key 0 unless the first range starts there.
 */
static int set_elems(struct nft_batch *b, int family, const char *table, const char *set,
                     uint32_t id, const struct nft_range *r, int n, uint32_t len)
{
	uint8_t zero[16] = {}, end[16];
	struct nftnl_set *s = NULL;
	char what[96];
	int err = 0, in_msg = 0;

	if (n == 0)
		return 0; /* an empty set: the kernel refuses an element message without any */
	snprintf(what, sizeof(what), "the elements of set %.40s", set);
	for (int i = -1; i < n && !err; i++) {
		if (!s && !(s = set_alloc(family, table, set, id)))
			return -ENOMEM;
		if (i < 0) {
			if (n && memcmp(r[0].lo, zero, len))
				err = elem_add(s, zero, len, true);
		} else {
			memcpy(end, r[i].hi, len);
			err = elem_add(s, r[i].lo, len, false);
			if (!err && key_inc(end, len))
				err = elem_add(s, end, len, true);
		}
		if (!err && (++in_msg >= NFT_ELEMS_PER_MSG / 2 || i == n - 1)) {
			err = elems_flush(b, family, &s, what);
			in_msg = 0;
		}
	}
	if (s) /* libnftnl's free functions do not take NULL */
		nftnl_set_free(s);
	return err;
}

int nft_set_add(struct nft_batch *b, int family, const char *table, const char *set,
                enum nft_key key, const struct nft_range *r, int n, uint32_t *set_id)
{
	static const uint32_t types[] = {[NFT_KEY_IPV4] = NFT_TYPE_IPADDR,
	                                 [NFT_KEY_IPV6] = NFT_TYPE_IP6ADDR,
	                                 [NFT_KEY_INET_SERVICE] = NFT_TYPE_INET_SERVICE};
	uint32_t len = key_len(key), id = b->next_set_id++;
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(16);
	struct nft_range *sorted = calloc(n ? n : 1, sizeof(*sorted));
	struct nftnl_set *s = set_alloc(family, table, set, id);
	struct nlmsghdr *nlh = NULL;
	char what[96];
	int err = -ENOMEM;

	if (!ud || !sorted || !s)
		goto out;
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, len);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, types[key]);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_BIG);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
	                   nftnl_udata_buf_len(ud));
	snprintf(what, sizeof(what), "the set %.40s", set);
	nlh = msg_start(b, NFT_MSG_NEWSET, family, NLM_F_CREATE, what);
	if (!nlh)
		goto out;
	nftnl_set_nlmsg_build_payload(nlh, s);
	msg_end(b, nlh);
	memcpy(sorted, r, n * sizeof(*r));
	err = set_elems(b, family, table, set, id, sorted, ranges_merge(sorted, n, len), len);
	*set_id = id;
out:
	if (s)
		nftnl_set_free(s);
	if (ud)
		nftnl_udata_buf_free(ud);
	free(sorted);
	return err ? fail(b, err) : 0;
}

/* ---- rules ----------------------------------------------------------------------------- */

struct nftnl_rule *nft_rule_new(int family, const char *table, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return NULL;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
	return r;
}

int nft_rule_add(struct nft_batch *b, struct nftnl_rule *r, const char *what)
{
	struct nlmsghdr *nlh;

	if (!r)
		return fail(b, -ENOMEM);
	nlh = msg_start(b, NFT_MSG_NEWRULE, nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
	                NLM_F_CREATE | NLM_F_APPEND, what);
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		msg_end(b, nlh);
	}
	nftnl_rule_free(r);
	return nlh ? 0 : fail(b, -ENOMEM);
}

void nft_rule_free(struct nftnl_rule *r)
{
	if (r)
		nftnl_rule_free(r);
}

int nft_add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (!r || !e) {
		if (e)
			nftnl_expr_free(e);
		return -ENOMEM;
	}
	nftnl_rule_add_expr(r, e);
	return 0;
}

static int meta_load(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	return nft_add_expr(r, e);
}

int nft_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return nft_add_expr(r, e);
}

int nft_payload_load(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	return nft_add_expr(r, e);
}

/* reg 1 = reg 1 & MASK (LEN bytes) */
int nft_mask(struct nftnl_rule *r, const void *mask, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	uint8_t zero[16] = {};

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	return nft_add_expr(r, e);
}

static int lookup(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	}
	return nft_add_expr(r, e);
}

int nft_match_nfproto(struct nftnl_rule *r, uint8_t nfproto)
{
	int err = meta_load(r, NFT_META_NFPROTO);

	return err ?: nft_cmp(r, NFT_CMP_EQ, &nfproto, sizeof(nfproto));
}

int nft_match_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	int err = meta_load(r, NFT_META_L4PROTO);

	return err ?: nft_cmp(r, NFT_CMP_EQ, &proto, sizeof(proto));
}

int nft_match_daddr_set(struct nftnl_rule *r, uint8_t nfproto, const char *set, uint32_t set_id)
{
	bool v4 = nfproto == NFPROTO_IPV4;
	/* The destination address: at 16 in the IPv4 header, at 24 in the IPv6 one. */
	int err = nft_payload_load(r, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 16 : 24, v4 ? 4 : 16);

	return err ?: lookup(r, set, set_id);
}

int nft_match_dport_set(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	int err = nft_payload_load(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);

	return err ?: lookup(r, set, set_id);
}

int nft_match_tcp_flags(struct nftnl_rule *r, uint8_t m, uint8_t value)
{
	int err = nft_payload_load(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1); /* the flags byte */

	err = err ?: nft_mask(r, &m, 1);
	return err ?: nft_cmp(r, NFT_CMP_EQ, &value, 1);
}

int nft_match_ct_state(struct nftnl_rule *r, uint32_t states)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	uint32_t zero = 0;
	int err;

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	err = nft_add_expr(r, e);
	err = err ?: nft_mask(r, &states, sizeof(states));
	return err ?: nft_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

int nft_stmt_counter(struct nftnl_rule *r)
{
	return nft_add_expr(r, nftnl_expr_alloc("counter"));
}

int nft_stmt_notrack(struct nftnl_rule *r)
{
	return nft_add_expr(r, nftnl_expr_alloc("notrack"));
}

int nft_stmt_synproxy(struct nftnl_rule *r, uint16_t mss, uint8_t wscale, uint32_t flags)
{
	struct nftnl_expr *e = nftnl_expr_alloc("synproxy");

	if (e) {
		nftnl_expr_set_u16(e, NFTNL_EXPR_SYNPROXY_MSS, mss);
		nftnl_expr_set_u8(e, NFTNL_EXPR_SYNPROXY_WSCALE, wscale);
		/* As nft sets them for `synproxy mss M wscale W ...`. */
		nftnl_expr_set_u32(e, NFTNL_EXPR_SYNPROXY_FLAGS,
		                   flags | NF_SYNPROXY_OPT_MSS | NF_SYNPROXY_OPT_WSCALE);
	}
	return nft_add_expr(r, e);
}

int nft_stmt_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
	}
	return nft_add_expr(r, e);
}

int nft_rule_comment(struct nftnl_rule *r, const char *text)
{
	return r ? comment_udata(text, NFTNL_UDATA_RULE_COMMENT, rule_set_udata, r) : -ENOMEM;
}

/* ---- talking to the kernel ------------------------------------------------------------- */

static struct mnl_socket *nl_open(void)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	struct timeval tv = {.tv_sec = NFT_ACK_TIMEOUT_S};
	int one = 1, fd;

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(nl);
		return NULL;
	}
	fd = mnl_socket_get_fd(nl);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Errors without a copy of the refused message, and with the kernel's explanation. */
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	return nl;
}

/* The kernel's own words about an error (extended ack), or "". */
static const char *ext_ack_msg(const struct nlmsghdr *nlh)
{
	const struct nlattr *attr;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return "";
	mnl_attr_for_each(
	        attr, nlh,
	        sizeof(struct nlmsgerr)) if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	                                     mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) ==
	                                             0) return mnl_attr_get_str(attr);
	return "";
}

/* Reads one ack per message; the first error is the answer. */
static int read_acks(struct mnl_socket *nl, struct nft_batch *b, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int acked = 0, ret = 0;

	while (acked < b->n_msgs) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int left = len;

		if (len < 0) {
			if (!ret && (errno == EAGAIN || errno == EWOULDBLOCK))
				snprintf(err, errlen, "nftables did not answer within %d s",
				         NFT_ACK_TIMEOUT_S);
			else if (!ret)
				snprintf(err, errlen, "reading nftables' answer: %s",
				         strerror(errno));
			return ret ?: -errno;
		}
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			const char *kmsg = ext_ack_msg(nlh);
			uint32_t idx = e->msg.nlmsg_seq - b->first_seq;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			acked++;
			if (!e->error || ret)
				continue;
			ret = e->error;
			snprintf(err, errlen, "nftables refused %s: %s%s%s",
			         idx < (uint32_t)b->n_msgs ? b->what[idx] : "a message",
			         strerror(-e->error), *kmsg ? " (kernel: " : "", *kmsg ? kmsg : "");
			if (*kmsg)
				strncat(err, ")", errlen - strlen(err) - 1);
		}
	}
	return ret;
}

int nft_batch_commit(struct nft_batch *b, bool check_only, char *err, size_t errlen)
{
	struct mnl_socket *nl;
	int ret, size;

	if (b->sent || b->err) {
		snprintf(err, errlen, "cannot build the nftables batch: %s",
		         b->sent ? "already sent" : strerror(-b->err));
		return b->sent ? -EINVAL : b->err;
	}
	b->sent = true;
	/* Without the end marker the kernel checks everything, then throws it away. */
	if (!check_only) {
		struct nlmsghdr *nlh = nftnl_batch_end(b->buf + b->len, b->seq++);

		b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	nl = nl_open();
	if (!nl) {
		snprintf(err, errlen, "cannot open a netfilter netlink socket: %s",
		         strerror(errno));
		return -errno;
	}
	/* The whole batch is one datagram: the socket's send buffer must hold it. */
	size = b->len + NFT_MSG_ROOM;
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
	if (mnl_socket_sendto(nl, b->buf, b->len) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot send the nftables batch (%zu bytes): %s", b->len,
		         strerror(errno));
	} else {
		ret = read_acks(nl, b, err, errlen);
	}
	mnl_socket_close(nl);
	return ret;
}

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **text = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT)
		*text = nftnl_udata_get(attr);
	return 0;
}

struct table_get {
	char *buf;
	size_t len;
	bool found;
};

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct table_get *tg = data;
	const char *text = NULL;
	const void *ud;
	uint32_t udlen;

	if (t && nftnl_table_nlmsg_parse(nlh, t) == 0) {
		tg->found = true;
		ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &udlen);
		if (ud)
			nftnl_udata_parse(ud, udlen, comment_cb, &text);
		snprintf(tg->buf, tg->len, "%s", text ? text : "");
	}
	if (t)
		nftnl_table_free(t);
	return MNL_CB_OK;
}

int nft_table_comment(int family, const char *table, char *buf, size_t len)
{
	struct table_get tg = {.buf = buf, .len = len};
	struct mnl_socket *nl = nl_open();
	char msg[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	uint32_t seq = time(NULL), portid;
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;
	ssize_t n;

	if (len)
		buf[0] = '\0';
	if (!nl || !t) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = nftnl_nlmsg_build_hdr(msg, NFT_MSG_GETTABLE, family, NLM_F_ACK, seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nftnl_table_nlmsg_build_payload(nlh, t);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	/* The table (unless there is none), then the ack. */
	while ((n = mnl_socket_recvfrom(nl, msg, sizeof(msg))) > 0) {
		ret = mnl_cb_run(msg, n, seq, portid, table_cb, &tg);
		if (ret <= 0)
			break;
	}
	ret = ret < 0 ? -errno : tg.found ? 0 : -ENOENT;
out:
	if (t)
		nftnl_table_free(t);
	if (nl)
		mnl_socket_close(nl);
	return ret;
}

/* ---- rules as the kernel has them (counters by comment) ---- */

struct rules_dump {
	void (*fn)(struct nftnl_rule *r, const char *comment, void *arg);
	void *arg;
};

static int rule_comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **text = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		*text = nftnl_udata_get(attr);
	return 0;
}

static int rules_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rules_dump *d = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	const char *comment = NULL;
	const void *ud;
	uint32_t len;

	if (r && nftnl_rule_nlmsg_parse(nlh, r) >= 0) {
		ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
		if (ud)
			nftnl_udata_parse(ud, len, rule_comment_cb, &comment);
		d->fn(r, comment, d->arg);
	}
	if (r)
		nftnl_rule_free(r);
	return MNL_CB_OK;
}

int nft_rules_dump(int family, const char *table, const char *chain,
                   void (*fn)(struct nftnl_rule *r, const char *comment, void *arg), void *arg)
{
	struct rules_dump d = {.fn = fn, .arg = arg};
	struct mnl_socket *nl = nl_open();
	char *msg = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	struct nftnl_rule *r = nftnl_rule_alloc();
	uint32_t seq = time(NULL), portid;
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;
	ssize_t n;

	if (!nl || !r || !msg) {
		ret = nl ? -ENOMEM : -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = nftnl_nlmsg_build_hdr(msg, NFT_MSG_GETRULE, family, NLM_F_DUMP, seq);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	if (chain)
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, msg, MNL_SOCKET_BUFFER_SIZE * 4)) > 0) {
		ret = mnl_cb_run(msg, n, seq, portid, rules_cb, &d);
		if (ret <= 0)
			break;
	}
	ret = ret < 0 ? -errno : 0;
out:
	if (r)
		nftnl_rule_free(r);
	free(msg);
	if (nl)
		mnl_socket_close(nl);
	return ret;
}

/* ---- what egress needs ----------------------------------------------------------------- */

int nft_counter_add(struct nft_batch *b, int family, const char *table, const char *name,
                    uint64_t pkts, uint64_t bytes)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct nlmsghdr *nlh;
	char what[96];

	if (!o)
		return fail(b, -ENOMEM);
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, table);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, family);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_PKTS, pkts);
	nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, bytes);
	snprintf(what, sizeof(what), "the counter %.60s", name);
	nlh = msg_start(b, NFT_MSG_NEWOBJ, family, NLM_F_CREATE, what);
	if (nlh) {
		nftnl_obj_nlmsg_build_payload(nlh, o);
		msg_end(b, nlh);
	}
	nftnl_obj_free(o);
	return nlh ? 0 : fail(b, -ENOMEM);
}

struct counters_get {
	const char *table;
	void (*fn)(const char *name, uint64_t pkts, uint64_t bytes, void *arg);
	void *arg;
};

static int counter_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct counters_get *cg = data;

	if (o && nftnl_obj_nlmsg_parse(nlh, o) == 0 &&
	    nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) == NFT_OBJECT_COUNTER &&
	    strcmp(nftnl_obj_get_str(o, NFTNL_OBJ_TABLE), cg->table) == 0)
		cg->fn(nftnl_obj_get_str(o, NFTNL_OBJ_NAME),
		       nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS),
		       nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES), cg->arg);
	if (o)
		nftnl_obj_free(o);
	return MNL_CB_OK;
}

int nft_counters_get(int family, const char *table,
                     void (*fn)(const char *name, uint64_t pkts, uint64_t bytes, void *arg),
                     void *arg)
{
	struct counters_get cg = {.table = table, .fn = fn, .arg = arg};
	struct mnl_socket *nl = nl_open();
	char *msg = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	struct nftnl_obj *o = nftnl_obj_alloc();
	uint32_t seq = time(NULL), portid;
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;
	ssize_t n;

	if (!nl || !o || !msg) {
		ret = nl ? -ENOMEM : -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = nftnl_nlmsg_build_hdr(msg, NFT_MSG_GETOBJ, family, NLM_F_DUMP, seq);
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, table);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_obj_nlmsg_build_payload(nlh, o);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, msg, MNL_SOCKET_BUFFER_SIZE * 4)) > 0) {
		ret = mnl_cb_run(msg, n, seq, portid, counter_cb, &cg);
		if (ret <= 0)
			break;
	}
	ret = ret < 0 && errno != ENOENT ? -errno : 0;
out:
	if (o)
		nftnl_obj_free(o);
	free(msg);
	if (nl)
		mnl_socket_close(nl);
	return ret;
}

static int ifname_match(struct nftnl_rule *r, uint32_t key, const char *name, bool eq)
{
	char padded[IFNAMSIZ] = {};
	int err = meta_load(r, key);

	snprintf(padded, sizeof(padded), "%s", name);
	return err ?: nft_cmp(r, eq ? NFT_CMP_EQ : NFT_CMP_NEQ, padded, sizeof(padded));
}

int nft_match_iifname(struct nftnl_rule *r, const char *name, bool eq)
{
	return ifname_match(r, NFT_META_IIFNAME, name, eq);
}

int nft_match_oifname(struct nftnl_rule *r, const char *name, bool eq)
{
	return ifname_match(r, NFT_META_OIFNAME, name, eq);
}

int nft_match_ifindex(struct nftnl_rule *r, bool in, uint32_t ifindex, bool eq)
{
	int err = meta_load(r, in ? NFT_META_IIF : NFT_META_OIF);

	return err ?: nft_cmp(r, eq ? NFT_CMP_EQ : NFT_CMP_NEQ, &ifindex, sizeof(ifindex));
}

int nft_match_saddr_set(struct nftnl_rule *r, uint8_t nfproto, const char *set, uint32_t set_id)
{
	bool v4 = nfproto == NFPROTO_IPV4;
	/* The source address: at 12 in the IPv4 header, at 8 in the IPv6 one. */
	int err = nft_payload_load(r, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 12 : 8, v4 ? 4 : 16);

	return err ?: lookup(r, set, set_id);
}

static int addr_match(struct nftnl_rule *r, const struct prefix *a, bool src)
{
	bool v4 = a->family == AF_INET;
	uint32_t off = v4 ? (src ? 12 : 16) : (src ? 8 : 24);
	int err = nft_payload_load(r, NFT_PAYLOAD_NETWORK_HEADER, off, v4 ? 4 : 16);

	return err ?: nft_cmp(r, NFT_CMP_EQ, &a->addr, v4 ? 4 : 16);
}

int nft_match_daddr(struct nftnl_rule *r, const struct prefix *a)
{
	return addr_match(r, a, false);
}

int nft_match_saddr(struct nftnl_rule *r, const struct prefix *a)
{
	return addr_match(r, a, true);
}

static int ct_load(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	return nft_add_expr(r, e);
}

int nft_match_ct_direction(struct nftnl_rule *r, uint8_t dir)
{
	int err = ct_load(r, NFT_CT_DIRECTION);

	return err ?: nft_cmp(r, NFT_CMP_EQ, &dir, sizeof(dir));
}

int nft_match_ct_mark_bits(struct nftnl_rule *r, uint32_t bits)
{
	int err = ct_load(r, NFT_CT_MARK);

	err = err ?: nft_mask(r, &bits, sizeof(bits));
	return err ?: nft_cmp(r, NFT_CMP_EQ, &bits, sizeof(bits));
}

/* reg 1 = reg 1 | BITS: the kernel's bitwise is (reg & mask) ^ xor. */
static int or_bits(struct nftnl_rule *r, uint32_t bits)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	uint32_t mask = ~bits;

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(bits));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &bits, sizeof(bits));
	}
	return nft_add_expr(r, e);
}

int nft_stmt_ct_mark_or(struct nftnl_rule *r, uint32_t bits)
{
	struct nftnl_expr *e;
	int err = ct_load(r, NFT_CT_MARK);

	err = err ?: or_bits(r, bits);
	if (err)
		return err;
	e = nftnl_expr_alloc("ct");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	}
	return nft_add_expr(r, e);
}

int nft_stmt_meta_mark_or(struct nftnl_rule *r, uint32_t bits)
{
	struct nftnl_expr *e;
	int err = meta_load(r, NFT_META_MARK);

	err = err ?: or_bits(r, bits);
	if (err)
		return err;
	e = nftnl_expr_alloc("meta");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
	}
	return nft_add_expr(r, e);
}

int nft_stmt_ct_count_over(struct nftnl_rule *r, uint32_t n)
{
	struct nftnl_expr *e = nftnl_expr_alloc("connlimit");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CONNLIMIT_COUNT, n);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
	}
	return nft_add_expr(r, e);
}

int nft_immediate(struct nftnl_rule *r, uint32_t reg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	}
	return nft_add_expr(r, e);
}

int nft_stmt_snat(struct nftnl_rule *r, const struct prefix *addr, uint16_t lo, uint16_t hi)
{
	bool v4 = addr->family == AF_INET;
	uint16_t plo = htons(lo), phi = htons(hi);
	struct nftnl_expr *e;
	int err = nft_immediate(r, NFT_REG_1, &addr->addr, v4 ? 4 : 16);

	err = err ?: nft_immediate(r, NFT_REG_2, &plo, sizeof(plo));
	err = err ?: nft_immediate(r, NFT_REG_3, &phi, sizeof(phi));
	if (err)
		return err;
	e = nftnl_expr_alloc("nat");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, NFT_REG_3);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	}
	return nft_add_expr(r, e);
}

int nft_stmt_counter_named(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc("objref");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
	}
	return nft_add_expr(r, e);
}

/* ---- regular chains, maps and matches for transit ------------------------------------- */

int nft_chain_add_regular(struct nft_batch *b, int family, const char *table, const char *chain)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	char what[96];
	struct nlmsghdr *nlh;

	if (!c)
		return fail(b, -ENOMEM);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
	snprintf(what, sizeof(what), "the chain %.40s", chain);
	nlh = msg_start(b, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE, what);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		msg_end(b, nlh);
	}
	nftnl_chain_free(c);
	return nlh ? 0 : fail(b, -ENOMEM);
}

/* nft's datatype of marks (src/datatype.h TYPE_MARK), so that `nft list` prints the data. */
#define NFT_TYPE_MARK 19

static int map_elem(struct nftnl_set *s, const uint8_t *key, uint32_t len, const uint32_t *data)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	if (data)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, sizeof(*data));
	else
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	nftnl_set_elem_add(s, e);
	return 0;
}

/* The elements of one range, as nft sends them: its start with DATA and an interval end
 * right after it (unless it ends at the largest key), even where the next range starts. */
static int map_range(struct nftnl_set *s, const struct nft_range *r, uint32_t len,
                     const uint32_t *data)
{
	uint8_t end[16];
	int err = map_elem(s, r->lo, len, data);

	memcpy(end, r->hi, len);
	if (!err && key_inc(end, len))
		err = map_elem(s, end, len, NULL);
	return err;
}

struct map_entry {
	struct nft_range r;
	uint32_t data;
};

static int map_entry_cmp(const void *a, const void *b)
{
	return memcmp(((const struct map_entry *)a)->r.lo, ((const struct map_entry *)b)->r.lo,
	              cmp_len);
}

static int map_elems(struct nft_batch *b, int family, const char *table, const char *map,
                     uint32_t id, const struct map_entry *m, int n, uint32_t len)
{
	uint8_t zero[16] = {};
	struct nftnl_set *s = NULL;
	char what[96];
	int err = 0, in_msg = 0;

	snprintf(what, sizeof(what), "the elements of map %.40s", map);
	for (int i = -1; i < n && !err; i++) {
		if (!s && !(s = set_alloc(family, table, map, id)))
			return -ENOMEM;
		if (i < 0 && memcmp(m[0].r.lo, zero, len))
			err = map_elem(s, zero, len, NULL);
		else if (i >= 0)
			err = map_range(s, &m[i].r, len, &m[i].data);
		if (!err && (++in_msg >= NFT_ELEMS_PER_MSG / 2 || i == n - 1)) {
			err = elems_flush(b, family, &s, what);
			in_msg = 0;
		}
	}
	if (s)
		nftnl_set_free(s);
	return err;
}

int nft_map_add(struct nft_batch *b, int family, const char *table, const char *map,
                enum nft_key key, const struct nft_range *r, const uint32_t *data, int n,
                uint32_t *set_id)
{
	static const uint32_t types[] = {[NFT_KEY_IPV4] = NFT_TYPE_IPADDR,
	                                 [NFT_KEY_IPV6] = NFT_TYPE_IP6ADDR,
	                                 [NFT_KEY_INET_SERVICE] = NFT_TYPE_INET_SERVICE};
	uint32_t len = key_len(key), id = b->next_set_id++;
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(16);
	struct map_entry *m = calloc(n ? n : 1, sizeof(*m));
	struct nftnl_set *s = set_alloc(family, table, map, id);
	struct nlmsghdr *nlh;
	char what[96];
	int err = -ENOMEM;

	if (!ud || !m || !s)
		goto out;
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, len);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, types[key]);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_MAP);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_TYPE_MARK);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, sizeof(uint32_t));
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_BIG);
	/* Marks are host-order numbers, as nft writes them. */
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, NFT_BYTEORDER_HOST);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
	                   nftnl_udata_buf_len(ud));
	snprintf(what, sizeof(what), "the map %.40s", map);
	nlh = msg_start(b, NFT_MSG_NEWSET, family, NLM_F_CREATE, what);
	if (!nlh)
		goto out;
	nftnl_set_nlmsg_build_payload(nlh, s);
	msg_end(b, nlh);
	for (int i = 0; i < n; i++) {
		m[i].r = r[i];
		m[i].data = data[i];
	}
	cmp_len = len;
	qsort(m, n, sizeof(*m), map_entry_cmp);
	err = n ? map_elems(b, family, table, map, id, m, n, len) : 0;
	*set_id = id;
out:
	if (s)
		nftnl_set_free(s);
	if (ud)
		nftnl_udata_buf_free(ud);
	free(m);
	return err ? fail(b, err) : 0;
}

static uint32_t addr_offset(uint8_t nfproto, bool source)
{
	/* Source and destination: at 12 and 16 in the IPv4 header, at 8 and 24 in IPv6's. */
	if (nfproto == NFPROTO_IPV4)
		return source ? 12 : 16;
	return source ? 8 : 24;
}

int nft_match_prefix(struct nftnl_rule *r, uint8_t nfproto, bool source, const struct prefix *p)
{
	uint32_t len = nfproto == NFPROTO_IPV4 ? 4 : 16;
	uint8_t mask[16] = {}, addr[16] = {};
	int err;

	if (p->len == 0)
		return 0; /* the whole family: nft_match_nfproto says it */
	for (uint32_t bit = 0; bit < p->len; bit++)
		mask[bit / 8] |= 0x80 >> (bit % 8);
	memcpy(addr, &p->addr, len);
	err = nft_payload_load(r, NFT_PAYLOAD_NETWORK_HEADER, addr_offset(nfproto, source), len);
	if (!err && p->len < len * 8)
		err = nft_mask(r, mask, len);
	return err ?: nft_cmp(r, NFT_CMP_EQ, addr, len);
}

int nft_match_port_range(struct nftnl_rule *r, bool source, uint16_t lo, uint16_t hi)
{
	uint16_t from = htons(lo), to = htons(hi);
	struct nftnl_expr *e;
	int err = nft_payload_load(r, NFT_PAYLOAD_TRANSPORT_HEADER, source ? 0 : 2, 2);

	if (err || lo == hi)
		return err ?: nft_cmp(r, NFT_CMP_EQ, &from, sizeof(from));
	e = nftnl_expr_alloc("range");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, &from, sizeof(from));
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, &to, sizeof(to));
	}
	return nft_add_expr(r, e);
}

int nft_match_meta(struct nftnl_rule *r, uint32_t key, uint32_t mask, uint32_t value)
{
	int err = meta_load(r, key);

	if (!err && mask != 0xffffffff)
		err = nft_mask(r, &mask, sizeof(mask));
	return err ?: nft_cmp(r, NFT_CMP_EQ, &value, sizeof(value));
}

int nft_stmt_mark_from_map(struct nftnl_rule *r, uint8_t nfproto, const char *map, uint32_t set_id)
{
	struct nftnl_expr *l = nftnl_expr_alloc("lookup"), *m;
	int err = nft_payload_load(r, NFT_PAYLOAD_NETWORK_HEADER, addr_offset(nfproto, false),
	                           nfproto == NFPROTO_IPV4 ? 4 : 16);

	if (l) {
		nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
		nftnl_expr_set_str(l, NFTNL_EXPR_LOOKUP_SET, map);
		nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	}
	if (err) {
		if (l)
			nftnl_expr_free(l);
		return err;
	}
	err = nft_add_expr(r, l);
	m = err ? NULL : nftnl_expr_alloc("meta");
	if (m) {
		nftnl_expr_set_u32(m, NFTNL_EXPR_META_KEY, NFT_META_MARK);
		nftnl_expr_set_u32(m, NFTNL_EXPR_META_SREG, NFT_REG_1);
	}
	return err ?: nft_add_expr(r, m);
}

int nft_stmt_jump(struct nftnl_rule *r, const char *chain)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_JUMP);
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	}
	return nft_add_expr(r, e);
}
