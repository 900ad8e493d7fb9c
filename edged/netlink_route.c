// SPDX-License-Identifier: GPL-2.0
/*
 * rtnetlink for routes and rules with libmnl (see netlink_route.h). Requests are built in a
 * stack buffer, sent, and answered by one ack (or a dump of messages ending with DONE).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "netlink_route.h"
#include "netlink_talk.h"

/* Replies are read into this: a dump's messages come batched up to the reader's buffer size,
 * so a large one costs fewer system calls on tables of thousands of routes. */
#define NLR_RECV_SIZE 32768

int nlr_open(struct nlr *n)
{
	int err;

	memset(n, 0, sizeof(*n));
	n->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!n->nl)
		return -errno;
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(n->nl);
		n->nl = NULL;
		return err;
	}
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = time(NULL);
	return 0;
}

void nlr_close(struct nlr *n)
{
	if (n->nl)
		mnl_socket_close(n->nl);
	n->nl = NULL;
}

int nlr_talk(struct nlr *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	if (!n->nl)
		return -ENOTCONN;
	return nl_talk(n->nl, n->portid, nlh, NLR_RECV_SIZE, cb, arg);
}

struct nlmsghdr *nlr_start(struct nlr *n, char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++n->seq;
	return nlh;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
}

/* ---- routes ---- */

/* What `ip route` derives from the type when no scope is given. */
static uint8_t scope_of(const struct nlr_route *r)
{
	if (r->type == RTN_LOCAL)
		return RT_SCOPE_HOST;
	if (r->type == RTN_UNICAST && !r->has_gateway)
		return RT_SCOPE_LINK;
	return RT_SCOPE_UNIVERSE;
}

static struct nlmsghdr *route_msg(struct nlr *n, char *buf, uint16_t type, uint16_t flags,
                                  const struct nlr_route *r)
{
	struct nlmsghdr *nlh = nlr_start(n, buf, type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = r->dst.family;
	rtm->rtm_dst_len = r->dst.len;
	rtm->rtm_table = r->table < 256 ? r->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = r->protocol;
	rtm->rtm_scope = type == RTM_DELROUTE ? RT_SCOPE_NOWHERE : scope_of(r);
	rtm->rtm_type = r->type;
	mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	mnl_attr_put(nlh, RTA_DST, addr_len(r->dst.family), &r->dst.addr);
	if (r->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, r->oif);
	if (r->priority)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, r->priority);
	if (r->has_gateway)
		mnl_attr_put(nlh, RTA_GATEWAY, addr_len(r->dst.family), &r->gateway);
	return nlh;
}

int nlr_route_add(struct nlr *n, const struct nlr_route *r, bool replace)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t flags = NLM_F_ACK | NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);

	return nlr_talk(n, route_msg(n, buf, RTM_NEWROUTE, flags, r), NULL, NULL);
}

int nlr_route_del(struct nlr *n, const struct nlr_route *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int err = nlr_talk(n, route_msg(n, buf, RTM_DELROUTE, NLM_F_ACK, r), NULL, NULL);

	/* IPv4 says ESRCH, IPv6 ENOENT, for the same "no such route (of this owner)". */
	return err == -ENOENT ? -ESRCH : err;
}

struct route_dump {
	int (*fn)(const struct nlr_route *r, void *arg);
	void *arg;
	int ret;
};

static int route_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, RTA_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[RTA_MAX + 1] = {};
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct route_dump *d = data;
	struct nlr_route r = {};
	size_t alen = addr_len(rtm->rtm_family);

	mnl_attr_parse(nlh, sizeof(*rtm), route_attr, tb);
	r.dst.family = rtm->rtm_family;
	r.dst.len = rtm->rtm_dst_len;
	r.type = rtm->rtm_type;
	r.protocol = rtm->rtm_protocol;
	r.table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (tb[RTA_DST] && mnl_attr_get_payload_len(tb[RTA_DST]) == alen)
		memcpy(&r.dst.addr, mnl_attr_get_payload(tb[RTA_DST]), alen);
	if (tb[RTA_OIF])
		r.oif = mnl_attr_get_u32(tb[RTA_OIF]);
	if (tb[RTA_PRIORITY])
		r.priority = mnl_attr_get_u32(tb[RTA_PRIORITY]);
	if (tb[RTA_GATEWAY] && mnl_attr_get_payload_len(tb[RTA_GATEWAY]) == alen) {
		r.has_gateway = true;
		memcpy(&r.gateway, mnl_attr_get_payload(tb[RTA_GATEWAY]), alen);
	}
	/* Read the dump to its end even after FN said stop: what is left in the socket would
	 * otherwise answer the next request. */
	if (!d->ret)
		d->ret = d->fn(&r, d->arg);
	return MNL_CB_OK;
}

int nlr_route_dump(struct nlr *n, int family, int (*fn)(const struct nlr_route *r, void *arg),
                   void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nlr_start(n, buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct route_dump d = {.fn = fn, .arg = arg};
	int err;

	rtm->rtm_family = family;
	err = nlr_talk(n, nlh, route_cb, &d);
	return d.ret ? d.ret : err;
}

/* ---- rules ---- */

static struct nlmsghdr *rule_msg(struct nlr *n, char *buf, uint16_t type, uint16_t flags,
                                 const struct nlr_rule *r)
{
	struct nlmsghdr *nlh = nlr_start(n, buf, type, flags);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = r->family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = r->table < 256 ? r->table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
	mnl_attr_put_u32(nlh, FRA_FWMARK, r->fwmark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, r->fwmask ? r->fwmask : 0xffffffff);
	if (r->priority)
		mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
	mnl_attr_put_u8(nlh, FRA_PROTOCOL, r->protocol);
	return nlh;
}

int nlr_rule_add(struct nlr *n, const struct nlr_rule *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	return nlr_talk(n, rule_msg(n, buf, RTM_NEWRULE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, r),
	                NULL, NULL);
}

int nlr_rule_del(struct nlr *n, const struct nlr_rule *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int err = nlr_talk(n, rule_msg(n, buf, RTM_DELRULE, NLM_F_ACK, r), NULL, NULL);

	return err == -ENOENT ? -ESRCH : err;
}

struct rule_dump {
	int (*fn)(const struct nlr_rule *r, void *arg);
	void *arg;
	int ret;
};

static int rule_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, FRA_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[FRA_MAX + 1] = {};
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	struct rule_dump *d = data;
	struct nlr_rule r = {.family = frh->family, .table = frh->table};

	mnl_attr_parse(nlh, sizeof(*frh), rule_attr, tb);
	if (frh->action != FR_ACT_TO_TBL)
		return MNL_CB_OK; /* blackhole, goto, ...: not a rule this module makes */
	if (tb[FRA_TABLE])
		r.table = mnl_attr_get_u32(tb[FRA_TABLE]);
	if (tb[FRA_FWMARK])
		r.fwmark = mnl_attr_get_u32(tb[FRA_FWMARK]);
	if (tb[FRA_FWMASK])
		r.fwmask = mnl_attr_get_u32(tb[FRA_FWMASK]);
	if (tb[FRA_PRIORITY])
		r.priority = mnl_attr_get_u32(tb[FRA_PRIORITY]);
	if (tb[FRA_PROTOCOL])
		r.protocol = mnl_attr_get_u8(tb[FRA_PROTOCOL]);
	/* Read the dump to its end even after FN said stop: what is left in the socket would
	 * otherwise answer the next request. */
	if (!d->ret)
		d->ret = d->fn(&r, d->arg);
	return MNL_CB_OK;
}

int nlr_rule_dump(struct nlr *n, int family, int (*fn)(const struct nlr_rule *r, void *arg),
                  void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nlr_start(n, buf, RTM_GETRULE, NLM_F_DUMP);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	struct rule_dump d = {.fn = fn, .arg = arg};
	int err;

	frh->family = family;
	err = nlr_talk(n, nlh, rule_cb, &d);
	return d.ret ? d.ret : err;
}
