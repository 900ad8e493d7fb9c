// SPDX-License-Identifier: GPL-2.0
/*
 * ctnetlink with libmnl (see conntrack.h). A dump is filtered by mark in the kernel; deletion
 * sends each matching entry's original tuple back as it came, which works for every protocol
 * (ports, ICMP ids) without rebuilding the tuple.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "conntrack.h"
#include "netlink_talk.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#define CT_RECV_SIZE 65536

struct ct_sock {
	struct mnl_socket *nl;
	unsigned int portid, seq;
};

static int ct_open(struct ct_sock *s)
{
	s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s->nl)
		return -errno;
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		mnl_socket_close(s->nl);
		return err;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = time(NULL);
	return 0;
}

static struct nlmsghdr *ct_msg(struct ct_sock *s, char *buf, uint8_t type, uint16_t flags,
                               int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++s->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	return nlh;
}

static int talk(struct ct_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	return nl_talk(s->nl, s->portid, nlh, CT_RECV_SIZE, cb, arg);
}

/* ---- parsing ---- */

/* Attribute types stay below this in every table this file parses (CTA_MAX is about 30). */
#define TB_MAX 40

static int bounded_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type < TB_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static void parse_nest(const struct nlattr *nest, const struct nlattr *tb[TB_MAX])
{
	memset(tb, 0, TB_MAX * sizeof(*tb));
	if (nest)
		mnl_attr_parse_nested(nest, bounded_attr, tb);
}

static void get_addr(const struct nlattr *a, int family, struct prefix *out)
{
	size_t len = family == AF_INET ? 4 : 16;

	if (!a || mnl_attr_get_payload_len(a) != len)
		return;
	out->family = family;
	out->len = family == AF_INET ? 32 : 128;
	memcpy(&out->addr, mnl_attr_get_payload(a), len);
}

/* A tuple's addresses (SRC, DST) and its protocol and destination port. */
static void parse_tuple(const struct nlattr *tuple, int family, struct prefix *src,
                        struct prefix *dst, uint8_t *proto, uint16_t *dport)
{
	const struct nlattr *t[TB_MAX], *ip[TB_MAX], *pr[TB_MAX];
	bool v4 = family == AF_INET;

	parse_nest(tuple, t);
	parse_nest(t[CTA_TUPLE_IP], ip);
	parse_nest(t[CTA_TUPLE_PROTO], pr);
	if (src)
		get_addr(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], family, src);
	if (dst)
		get_addr(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], family, dst);
	if (proto && pr[CTA_PROTO_NUM])
		*proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	if (dport && pr[CTA_PROTO_DST_PORT])
		*dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
}

struct dump_ctx {
	int family;
	void (*fn)(const struct ct_entry *e, void *arg);
	void *arg;
	/* deletion: the sources to match, and the tuples collected */
	const struct prefix *src;
	int n_src;
	char **tuples;
	uint16_t *tuple_lens;
	int n_tuples;
};

static int entry_of(const struct nlmsghdr *nlh, int family, struct ct_entry *e,
                    const struct nlattr **orig)
{
	const struct nlattr *tb[TB_MAX] = {};

	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), bounded_attr, tb);
	memset(e, 0, sizeof(*e));
	e->family = family;
	parse_tuple(tb[CTA_TUPLE_ORIG], family, &e->orig_src, NULL, &e->proto, NULL);
	parse_tuple(tb[CTA_TUPLE_REPLY], family, NULL, &e->reply_dst, NULL, &e->reply_dport);
	if (tb[CTA_MARK])
		e->mark = ntohl(mnl_attr_get_u32(tb[CTA_MARK]));
	*orig = tb[CTA_TUPLE_ORIG];
	return e->orig_src.family ? 0 : -1;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct nlattr *orig;
	struct ct_entry e;

	if (entry_of(nlh, d->family, &e, &orig) == 0)
		d->fn(&e, d->arg);
	return MNL_CB_OK;
}

static int dump(struct ct_sock *s, int family, uint32_t mark, uint32_t mask, mnl_cb_t cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = ct_msg(s, buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family);

	mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark & mask));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	return talk(s, nlh, cb, arg);
}

int ct_dump(int family, uint32_t mark, uint32_t mask,
            void (*fn)(const struct ct_entry *e, void *arg), void *arg)
{
	struct dump_ctx d = {.family = family, .fn = fn, .arg = arg};
	struct ct_sock s;
	int err = ct_open(&s);

	if (err)
		return err;
	err = dump(&s, family, mark, mask, dump_cb, &d);
	mnl_socket_close(s.nl);
	return err;
}

/* ---- deletion ---- */

static bool bits_equal(const void *a, const void *b, unsigned int len)
{
	const uint8_t *x = a, *y = b;
	unsigned int full = len / 8, rest = len % 8;

	if (memcmp(x, y, full))
		return false;
	return !rest || ((x[full] ^ y[full]) & (0xff00 >> rest)) == 0;
}

static bool in_sources(const struct dump_ctx *d, const struct prefix *a)
{
	for (int i = 0; i < d->n_src; i++)
		if (d->src[i].family == a->family &&
		    bits_equal(&d->src[i].addr, &a->addr, d->src[i].len))
			return true;
	return false;
}

static int collect_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct nlattr *orig;
	struct ct_entry e;
	char **t;
	uint16_t *l;

	if (entry_of(nlh, d->family, &e, &orig) || !orig || !in_sources(d, &e.orig_src))
		return MNL_CB_OK;
	t = realloc(d->tuples, (d->n_tuples + 1) * sizeof(*t));
	if (t)
		d->tuples = t;
	l = t ? realloc(d->tuple_lens, (d->n_tuples + 1) * sizeof(*l)) : NULL;
	if (!l)
		return MNL_CB_ERROR;
	d->tuple_lens = l;
	d->tuples[d->n_tuples] = malloc(mnl_attr_get_payload_len(orig));
	if (!d->tuples[d->n_tuples])
		return MNL_CB_ERROR;
	memcpy(d->tuples[d->n_tuples], mnl_attr_get_payload(orig), mnl_attr_get_payload_len(orig));
	d->tuple_lens[d->n_tuples++] = mnl_attr_get_payload_len(orig);
	return MNL_CB_OK;
}

static int delete_tuple(struct ct_sock *s, int family, const void *tuple, uint16_t len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = ct_msg(s, buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, family);

	mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, len, tuple);
	return talk(s, nlh, NULL, NULL);
}

int ct_delete_sources(int family, uint32_t mark, uint32_t mask, const struct prefix *src, int n)
{
	struct dump_ctx d = {.family = family, .src = src, .n_src = n};
	struct ct_sock s;
	int err = ct_open(&s), deleted = 0;

	if (err)
		return err;
	err = dump(&s, family, mark, mask, collect_cb, &d);
	for (int i = 0; i < d.n_tuples; i++) {
		/* ENOENT: it ended between the dump and now, which is what we wanted. */
		int e = delete_tuple(&s, family, d.tuples[i], d.tuple_lens[i]);

		if (e == 0)
			deleted++;
		else if (e != -ENOENT && !err)
			err = e;
		free(d.tuples[i]);
	}
	free(d.tuples);
	free(d.tuple_lens);
	mnl_socket_close(s.nl);
	return err ? err : deleted;
}
