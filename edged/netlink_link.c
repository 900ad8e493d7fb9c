// SPDX-License-Identifier: GPL-2.0
/*
 * rtnetlink for links and addresses with libmnl (see netlink_link.h).
 */
#include <errno.h>
#include <string.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <libmnl/libmnl.h>

#include "netlink_link.h"

int nll_veth_add(struct nlr *n, const char *name, uint32_t group, const char *peer,
                 int peer_netns_fd)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	        nlr_start(n, buf, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct nlattr *info, *data, *peer_attr;
	struct ifinfomsg *pifi;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer_attr = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* The peer's attributes follow its own ifinfomsg, as for a link of its own. */
	pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
	memset(pifi, 0, sizeof(*pifi));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, peer_netns_fd);
	mnl_attr_nest_end(nlh, peer_attr);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlr_talk(n, nlh, NULL, NULL);
}

static int link_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(a, IFLA_MAX) > 0)
		tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static void link_parse(const struct nlmsghdr *nlh, struct nll_link *l)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {};
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	memset(l, 0, sizeof(*l));
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr, tb);
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (tb[IFLA_GROUP])
		l->group = mnl_attr_get_u32(tb[IFLA_GROUP]);
	if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6)
		memcpy(l->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
}

static int get_cb(const struct nlmsghdr *nlh, void *arg)
{
	link_parse(nlh, arg);
	return MNL_CB_OK;
}

int nll_link_get(struct nlr *n, const char *name, struct nll_link *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nlr_start(n, buf, RTM_GETLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	memset(out, 0, sizeof(*out));
	return nlr_talk(n, nlh, get_cb, out);
}

int nll_link_up(struct nlr *n, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nlr_start(n, buf, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nlr_talk(n, nlh, NULL, NULL);
}

int nll_link_del(struct nlr *n, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nlr_start(n, buf, RTM_DELLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlr_talk(n, nlh, NULL, NULL);
}

struct link_dump {
	int (*fn)(const struct nll_link *l, void *arg);
	void *arg;
	int ret;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_dump *d = data;
	struct nll_link l;

	link_parse(nlh, &l);
	/* Read the dump to its end even after FN said stop (see netlink_route.c). */
	if (!d->ret)
		d->ret = d->fn(&l, d->arg);
	return MNL_CB_OK;
}

int nll_link_dump(struct nlr *n, int (*fn)(const struct nll_link *l, void *arg), void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nlr_start(n, buf, RTM_GETLINK, NLM_F_DUMP);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct link_dump d = {.fn = fn, .arg = arg};
	int err;

	ifi->ifi_family = AF_UNSPEC;
	err = nlr_talk(n, nlh, dump_cb, &d);
	return d.ret ? d.ret : err;
}

int nll_link_add(struct nlr *n, const char *ifname, const char *kind)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	        nlr_start(n, buf, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct nlattr *info;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	mnl_attr_nest_end(nlh, info);
	return nlr_talk(n, nlh, NULL, NULL);
}

int nll_addr_add(struct nlr *n, int ifindex, const struct prefix *a, bool nodad)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	        nlr_start(n, buf, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t len = a->family == AF_INET ? 4 : 16;

	ifa->ifa_family = a->family;
	ifa->ifa_prefixlen = a->len;
	ifa->ifa_index = ifindex;
	ifa->ifa_flags = nodad ? IFA_F_NODAD : 0;
	/* A link-local IPv6 address has link scope; the kernel checks nothing else. */
	ifa->ifa_scope = a->family == AF_INET6 && a->addr.v6.s6_addr[0] == 0xfe ? RT_SCOPE_LINK
	                                                                        : RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, IFA_LOCAL, len, &a->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, &a->addr);
	return nlr_talk(n, nlh, NULL, NULL);
}
