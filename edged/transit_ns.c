// SPDX-License-Identifier: GPL-2.0
/*
 * One transit customer's namespace, veth, addresses, routes and rules (see transit_ns.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "netlink_link.h"
#include "netns.h"
#include "sysctl.h"
#include "transit_ns.h"
#include "transit_nft.h"

void transit_ns_names(struct transit_customer_rt *rt, const char *instance, const char *customer)
{
	/* 169.254.0.0/16 in /30s by id: id 1 is 169.254.0.4/30, its .5 here, .6 there. */
	uint32_t base = (169u << 24) | (254u << 16) | ((rt->id * 4) & 0xffff);

	transit_netns_name(instance, customer, rt->netns, sizeof(rt->netns));
	snprintf(rt->host_ifname, sizeof(rt->host_ifname), "tr%u", rt->id);
	rt->mark = transit_mark(rt->id);
	rt->table = transit_table(rt->id);
	rt->host_v4.s_addr = htonl(base + 1);
	rt->ns_v4.s_addr = htonl(base + 2);
}

static void ns_ifname(uint32_t id, char *buf, size_t len)
{
	snprintf(buf, len, "edge%u", id);
}

/* ---- inside the namespace ---- */

static int find_edge(const struct nll_link *l, void *arg)
{
	unsigned int id;
	char rest;

	if (sscanf(l->name, "edge%u%c", &id, &rest) == 1) {
		*(uint32_t *)arg = id;
		return 1;
	}
	return 0;
}

int transit_ns_find_id(const char *netns, uint32_t *id)
{
	int fd = netns_open(netns), saved, err;
	struct nlr nl;

	if (fd < 0)
		return fd;
	err = netns_enter(fd, &saved);
	close(fd);
	if (err)
		return err;
	*id = 0;
	err = nlr_open(&nl);
	if (!err) {
		err = nll_link_dump(&nl, find_edge, id) == 1 ? 0 : -ENOENT;
		nlr_close(&nl);
	}
	netns_leave(saved);
	return err;
}

/* A namespace that forwards between its one veth and itself (hairpin): forwarding on,
 * redirects off (they would tell edged to send to itself), no reverse path filter. */
static int ns_sysctls(const char *ifname)
{
	char path[128];
	int err = sysctl_write("/proc/sys/net/ipv4/ip_forward", "1");

	err = err ?: sysctl_write("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	err = err ?: sysctl_write("/proc/sys/net/ipv4/conf/all/send_redirects", "0");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/send_redirects", ifname);
	err = err ?: sysctl_write(path, "0");
	err = err ?: sysctl_write("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname);
	return err ?: sysctl_write(path, "0");
}

static int add_ok_exists(int err)
{
	return err == -EEXIST ? 0 : err;
}

static int default_route(struct nlr *nl, int family, uint32_t table, int oif, const void *gw,
                         bool replace)
{
	struct nlr_route r = {
	        .dst = {.family = family},
	        .type = RTN_UNICAST,
	        .protocol = NLR_PROTO_TRANSIT,
	        .table = table,
	        .oif = oif,
	        .has_gateway = true,
	};

	memcpy(&r.gateway, gw, family == AF_INET ? 4 : 16);
	return nlr_route_add(nl, &r, replace);
}

static void ll_addr(struct in6_addr *a, uint8_t last)
{
	memset(a, 0, sizeof(*a));
	a->s6_addr[0] = 0xfe;
	a->s6_addr[1] = 0x80;
	a->s6_addr[15] = last;
}

/* Addresses and routes of one side of the veth: LOCAL/PEER_V4, fe80::LOCAL6 -> ::PEER6. */
static int side_setup(struct nlr *nl, int ifindex, struct in_addr local, struct in_addr peer,
                      uint8_t local6, uint8_t peer6, uint32_t table, const char **step)
{
	struct prefix a4 = {.family = AF_INET, .len = 30, .addr.v4 = local};
	struct prefix a6 = {.family = AF_INET6, .len = 64};
	struct in6_addr gw6;
	int err;

	ll_addr(&a6.addr.v6, local6);
	ll_addr(&gw6, peer6);
	*step = "adding the veth's addresses";
	err = add_ok_exists(nll_addr_add(nl, ifindex, &a4, false));
	err = err ?: add_ok_exists(nll_addr_add(nl, ifindex, &a6, true));
	*step = "bringing the veth up";
	err = err ?: nll_link_up(nl, ifindex);
	*step = "adding the default routes";
	err = err ?: default_route(nl, AF_INET, table, ifindex, &peer, true);
	return err ?: default_route(nl, AF_INET6, table, ifindex, &gw6, true);
}

static int inside_setup(struct transit_customer_rt *rt, int nsfd, const char **step)
{
	char ifname[IFNAMSIZ];
	struct nll_link l, lo;
	int saved, err;
	struct nlr nl;

	*step = "entering the namespace";
	err = netns_enter(nsfd, &saved);
	if (err)
		return err;
	err = nlr_open(&nl);
	if (err)
		goto out;
	ns_ifname(rt->id, ifname, sizeof(ifname));
	*step = "finding the namespace's veth";
	err = nll_link_get(&nl, ifname, &l);
	if (!err) {
		rt->ns_ifindex = l.ifindex;
		memcpy(rt->ns_mac, l.mac, 6);
		*step = "setting the namespace's sysctls";
		err = ns_sysctls(ifname);
	}
	if (!err && nll_link_get(&nl, "lo", &lo) == 0)
		nll_link_up(&nl, lo.ifindex);
	if (!err)
		err = side_setup(&nl, l.ifindex, rt->ns_v4, rt->host_v4, 2, 1, NLR_TABLE_MAIN,
		                 step);
	nlr_close(&nl);
out:
	netns_leave(saved);
	return err;
}

/* ---- edged's namespace ---- */

static int host_sysctls(const char *ifname)
{
	char path[128];

	/* Decapsulated traffic leaves the namespace with customer sources that the main
	 * table may not route back through this veth. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname);
	return sysctl_write(path, "0");
}

static int fwmark_rules(struct nlr *nl, const struct transit_customer_rt *rt, bool add)
{
	int err = 0;

	for (int i = 0; i < 2 && !err; i++) {
		struct nlr_rule r = {
		        .family = i ? AF_INET6 : AF_INET,
		        .fwmark = rt->mark,
		        .fwmask = TRANSIT_MARK_MASK,
		        .table = rt->table,
		        .priority = TRANSIT_RULE_PRIORITY,
		        .protocol = NLR_PROTO_TRANSIT,
		};

		err = add ? add_ok_exists(nlr_rule_add(nl, &r)) : nlr_rule_del(nl, &r);
	}
	return err;
}

static int host_veth(struct nlr *nl, struct transit_customer_rt *rt, int nsfd, const char **step)
{
	char peer[IFNAMSIZ];
	struct nll_link l;
	int err = nll_link_get(nl, rt->host_ifname, &l);

	if (err == -ENODEV) {
		ns_ifname(rt->id, peer, sizeof(peer));
		*step = "creating the veth pair";
		err = nll_veth_add(nl, rt->host_ifname, TRANSIT_IFGROUP, peer, nsfd);
		err = err ?: nll_link_get(nl, rt->host_ifname, &l);
	}
	if (err)
		return err;
	if (l.group != TRANSIT_IFGROUP) {
		*step = "checking the veth (a device of this name is not edged's)";
		return -EEXIST;
	}
	rt->host_ifindex = l.ifindex;
	memcpy(rt->host_mac, l.mac, 6);
	*step = "setting the veth's sysctls";
	return host_sysctls(rt->host_ifname);
}

int transit_ns_setup(struct nlr *nl, struct transit_customer_rt *rt, char *errbuf, size_t errlen)
{
	const char *step = "creating the namespace";
	int nsfd = netns_open(rt->netns), err;

	if (nsfd == -ESTALE) /* a leftover name without its namespace: made anew */
		nsfd = netns_delete(rt->netns) ?: -ENOENT;
	if (nsfd == -ENOENT)
		nsfd = netns_create(rt->netns);
	if (nsfd < 0) {
		err = nsfd;
		goto out;
	}
	err = host_veth(nl, rt, nsfd, &step);
	err = err ?: inside_setup(rt, nsfd, &step);
	close(nsfd);
	if (err)
		goto out;
	err = side_setup(nl, rt->host_ifindex, rt->host_v4, rt->ns_v4, 1, 2, rt->table, &step);
	if (!err) {
		step = "adding the fwmark rules";
		err = fwmark_rules(nl, rt, true);
	}
out:
	if (err)
		snprintf(errbuf, errlen, "%s %s: %s", rt->netns, step, strerror(-err));
	return err;
}

void transit_ns_remove(struct nlr *nl, const struct transit_customer_rt *rt)
{
	struct nll_link l;
	int err;

	fwmark_rules(nl, rt, false);
	/* The veth's routes (table transit_table(id)) go with it. */
	if (nll_link_get(nl, rt->host_ifname, &l) == 0 && l.group == TRANSIT_IFGROUP)
		nll_link_del(nl, l.ifindex);
	err = netns_delete(rt->netns);
	if (err)
		pr_warn("transit: removing namespace %s: %s", rt->netns, strerror(-err));
}

int transit_ns_firewall(const struct transit_customer_rt *rt,
                        const struct transit_customer_config *c, bool check_only, char *errbuf,
                        size_t errlen)
{
	struct nft_batch *b = nft_batch_new();
	int fd = netns_open(rt->netns), saved = -1, err;

	if (!b || fd < 0) {
		err = fd < 0 ? fd : -ENOMEM;
		snprintf(errbuf, errlen, "%s: %s", rt->netns, strerror(-err));
		goto out;
	}
	err = netns_enter(fd, &saved);
	if (!err)
		err = transit_nft_firewall(b, c);
	if (!err)
		err = nft_batch_commit(b, check_only, errbuf, errlen);
	else
		snprintf(errbuf, errlen, "%s: building the firewall: %s", rt->netns,
		         strerror(-err));
	netns_leave(saved);
out:
	if (fd >= 0)
		close(fd);
	nft_batch_free(b);
	return err;
}
