// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel WireGuard over generic netlink (see wg_genl.h). The family id is looked up by name
 * ("wireguard") through the genl controller on every call: it is only known once the module
 * is loaded, and it is a cheap request next to what a set does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>

#include "netlink_talk.h"
#include "wg_genl.h"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#define WG_GENL_RECV_SIZE 65536

/* ---- building ---- */

static struct nlmsghdr *genl_start(char *buf, uint16_t family_id, uint8_t cmd, uint16_t flags,
                                   uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = family_id;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = WG_GENL_VERSION;
	return nlh;
}

static void put_allowed(struct nlmsghdr *nlh, const struct prefix *a)
{
	struct nlattr *one = mnl_attr_nest_start(nlh, 0);

	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, a->family);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, a->family == AF_INET ? 4 : 16, &a->addr);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, a->len);
	mnl_attr_nest_end(nlh, one);
}

static void put_peer(struct nlmsghdr *nlh, const struct wg_peer *p, bool remove)
{
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0), *ips;

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, p->public_key);
	if (remove) {
		mnl_attr_put_u32(nlh, WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME);
		mnl_attr_nest_end(nlh, peer);
		return;
	}
	mnl_attr_put_u32(nlh, WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS);
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p->keepalive_s);
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	for (int i = 0; i < p->n_allowed && i < WG_MAX_ALLOWED; i++)
		put_allowed(nlh, &p->allowed[i]);
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, peer);
}

struct nlmsghdr *wg_genl_build_set(char *buf, uint16_t family_id, uint32_t seq, const char *ifname,
                                   const struct wg_device *d, int first, int n, bool device,
                                   bool replace_peers, const bool *remove)
{
	struct nlmsghdr *nlh;
	struct nlattr *peers;

	if (n > WG_GENL_PEERS_PER_MSG || first < 0 || first + n > d->n_peers)
		return NULL;
	nlh = genl_start(buf, family_id, WG_CMD_SET_DEVICE, NLM_F_ACK, seq);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	if (device) {
		mnl_attr_put_u32(nlh, WGDEVICE_A_FLAGS,
		                 replace_peers ? WGDEVICE_F_REPLACE_PEERS : 0);
		if (d->has_private_key)
			mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, d->private_key);
		mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, d->listen_port);
		mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, d->fwmark);
	}
	if (n) {
		peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
		for (int i = first; i < first + n; i++)
			put_peer(nlh, &d->peers[i], remove && remove[i]);
		mnl_attr_nest_end(nlh, peers);
	}
	return nlh;
}

struct nlmsghdr *wg_genl_build_get(char *buf, uint16_t family_id, uint32_t seq, const char *ifname)
{
	struct nlmsghdr *nlh =
	        genl_start(buf, family_id, WG_CMD_GET_DEVICE, NLM_F_DUMP | NLM_F_ACK, seq);

	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	return nlh;
}

/* ---- parsing ---- */

#define TB_MAX 16 /* above every WGDEVICE_A_, WGPEER_A_, WGALLOWEDIP_A_ */

static int to_table(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type < TB_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static int parse_allowed(const struct nlattr *nest, struct wg_peer *p)
{
	const struct nlattr *tb[TB_MAX] = {};
	struct prefix *a;
	uint16_t fam;
	size_t len;

	mnl_attr_parse_nested(nest, to_table, tb);
	if (!tb[WGALLOWEDIP_A_FAMILY] || !tb[WGALLOWEDIP_A_IPADDR] || !tb[WGALLOWEDIP_A_CIDR_MASK])
		return -1;
	if (p->n_allowed >= WG_MAX_ALLOWED)
		return 0;
	fam = mnl_attr_get_u16(tb[WGALLOWEDIP_A_FAMILY]);
	len = fam == AF_INET ? 4 : 16;
	if ((fam != AF_INET && fam != AF_INET6) ||
	    mnl_attr_get_payload_len(tb[WGALLOWEDIP_A_IPADDR]) < len)
		return -1;
	a = &p->allowed[p->n_allowed++];
	a->family = fam;
	a->len = mnl_attr_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
	memcpy(&a->addr, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), len);
	return a->len > len * 8 ? -1 : 0;
}

static void parse_endpoint(const struct nlattr *at, struct wg_peer *p)
{
	size_t len = mnl_attr_get_payload_len(at);
	const struct sockaddr *sa = mnl_attr_get_payload(at);

	if ((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))) {
		memcpy(&p->endpoint, sa,
		       sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
		                                : sizeof(struct sockaddr_in6));
		p->has_endpoint = true;
	}
}

/* A peer may continue from the previous message (same key, more allowed IPs). */
static struct wg_peer *peer_for(struct wg_device *d, const uint8_t *key)
{
	struct wg_peer *p = d->n_peers ? &d->peers[d->n_peers - 1] : NULL;

	if (p && memcmp(p->public_key, key, WG_KEY_LEN) == 0)
		return p;
	p = wg_device_add_peer(d);
	if (p)
		memcpy(p->public_key, key, WG_KEY_LEN);
	return p;
}

static int parse_peer(const struct nlattr *nest, struct wg_device *d)
{
	const struct nlattr *tb[TB_MAX] = {}, *ip;
	struct wg_peer *p;

	mnl_attr_parse_nested(nest, to_table, tb);
	if (!tb[WGPEER_A_PUBLIC_KEY] ||
	    mnl_attr_get_payload_len(tb[WGPEER_A_PUBLIC_KEY]) != WG_KEY_LEN)
		return -1;
	p = peer_for(d, mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]));
	if (!p)
		return -1;
	if (tb[WGPEER_A_ENDPOINT])
		parse_endpoint(tb[WGPEER_A_ENDPOINT], p);
	if (tb[WGPEER_A_LAST_HANDSHAKE_TIME] &&
	    mnl_attr_get_payload_len(tb[WGPEER_A_LAST_HANDSHAKE_TIME]) ==
	            sizeof(struct __kernel_timespec)) {
		const struct __kernel_timespec *ts =
		        mnl_attr_get_payload(tb[WGPEER_A_LAST_HANDSHAKE_TIME]);

		p->last_handshake_s = ts->tv_sec;
	}
	if (tb[WGPEER_A_RX_BYTES])
		p->rx_bytes = mnl_attr_get_u64(tb[WGPEER_A_RX_BYTES]);
	if (tb[WGPEER_A_TX_BYTES])
		p->tx_bytes = mnl_attr_get_u64(tb[WGPEER_A_TX_BYTES]);
	if (tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL])
		p->keepalive_s = mnl_attr_get_u16(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
	if (!tb[WGPEER_A_ALLOWEDIPS])
		return 0;
	mnl_attr_for_each_nested(ip, tb[WGPEER_A_ALLOWEDIPS])
	{
		if (parse_allowed(ip, p))
			return -1;
	}
	return 0;
}

int wg_genl_parse_device(const struct nlmsghdr *nlh, struct wg_device *d)
{
	const struct nlattr *tb[TB_MAX] = {}, *peer;

	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), to_table, tb) != MNL_CB_OK)
		return -1;
	if (tb[WGDEVICE_A_PRIVATE_KEY] &&
	    mnl_attr_get_payload_len(tb[WGDEVICE_A_PRIVATE_KEY]) == WG_KEY_LEN) {
		d->has_private_key = true;
		memcpy(d->private_key, mnl_attr_get_payload(tb[WGDEVICE_A_PRIVATE_KEY]),
		       WG_KEY_LEN);
	}
	if (tb[WGDEVICE_A_LISTEN_PORT])
		d->listen_port = mnl_attr_get_u16(tb[WGDEVICE_A_LISTEN_PORT]);
	if (tb[WGDEVICE_A_FWMARK])
		d->fwmark = mnl_attr_get_u32(tb[WGDEVICE_A_FWMARK]);
	if (!tb[WGDEVICE_A_PEERS])
		return 0;
	mnl_attr_for_each_nested(peer, tb[WGDEVICE_A_PEERS])
	{
		if (parse_peer(peer, d))
			return -1;
	}
	return 0;
}

/* ---- the socket ---- */

struct genl_sock {
	struct mnl_socket *nl;
	unsigned int portid, seq;
	uint16_t family_id;
};

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	uint16_t *id = data;
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr))
	{
		if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID)
			*id = mnl_attr_get_u16(a);
	}
	return MNL_CB_OK;
}

static int run(struct genl_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	return nl_talk(s->nl, s->portid, nlh, WG_GENL_RECV_SIZE, cb, arg);
}

static int genl_open(struct genl_sock *s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int err;

	memset(s, 0, sizeof(*s));
	s->nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!s->nl)
		return -errno;
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(s->nl);
		return err;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = time(NULL);
	nlh = genl_start(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK, ++s->seq);
	((struct genlmsghdr *)mnl_nlmsg_get_payload(nlh))->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	err = run(s, nlh, family_cb, &s->family_id);
	if (!err && !s->family_id)
		err = -ENOENT;
	if (err)
		mnl_socket_close(s->nl);
	return err;
}

bool wg_genl_available(void)
{
	struct genl_sock s;

	if (access("/sys/module/wireguard", F_OK) == 0)
		return true;
	if (genl_open(&s))
		return false;
	mnl_socket_close(s.nl);
	return true;
}

int wg_genl_set(const char *ifname, const struct wg_device *d, bool replace_peers,
                const bool *remove, char *err, size_t errlen)
{
	struct genl_sock s;
	char *buf = malloc(WG_GENL_MSG_SIZE);
	int ret = buf ? genl_open(&s) : -ENOMEM;

	if (ret) {
		snprintf(err, errlen, "kernel WireGuard (generic netlink family %s): %s",
		         WG_GENL_NAME, strerror(-ret));
		free(buf);
		return ret;
	}
	/* At least one message, with the device; more for the peers beyond the first ones. */
	for (int first = 0; !ret && (first == 0 || first < d->n_peers);
	     first += WG_GENL_PEERS_PER_MSG) {
		int n = d->n_peers - first < WG_GENL_PEERS_PER_MSG ? d->n_peers - first
		                                                   : WG_GENL_PEERS_PER_MSG;
		struct nlmsghdr *nlh =
		        wg_genl_build_set(buf, s.family_id, ++s.seq, ifname, d, first, n,
		                          first == 0, replace_peers, remove);

		ret = nlh ? run(&s, nlh, NULL, NULL) : -EINVAL;
	}
	if (ret)
		snprintf(err, errlen, "kernel WireGuard device %s refused the configuration: %s",
		         ifname, strerror(-ret));
	explicit_bzero(buf, WG_GENL_MSG_SIZE);
	free(buf);
	mnl_socket_close(s.nl);
	return ret;
}

static int get_cb(const struct nlmsghdr *nlh, void *data)
{
	return wg_genl_parse_device(nlh, data) ? MNL_CB_ERROR : MNL_CB_OK;
}

int wg_genl_get(const char *ifname, struct wg_device *d, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct genl_sock s;
	int ret = genl_open(&s);

	memset(d, 0, sizeof(*d));
	if (ret) {
		snprintf(err, errlen, "kernel WireGuard (generic netlink family %s): %s",
		         WG_GENL_NAME, strerror(-ret));
		return ret;
	}
	ret = run(&s, wg_genl_build_get(buf, s.family_id, ++s.seq, ifname), get_cb, d);
	mnl_socket_close(s.nl);
	if (ret) {
		snprintf(err, errlen, "kernel WireGuard device %s: %s", ifname, strerror(-ret));
		wg_device_free(d);
	}
	return ret;
}
