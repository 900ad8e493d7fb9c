// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel WireGuard's generic netlink messages, without a kernel that has WireGuard: the
 * WG_CMD_SET_DEVICE edged builds, read back attribute by attribute as the kernel's policy
 * (linux/wireguard.h) lays them out; and WG_CMD_GET_DEVICE answers, built here the way
 * the kernel's netlink.c builds them (a peer continued across two messages included), parsed
 * into the device model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "wg_genl.h"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#define K1        "2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0XI="
#define K2        "q55WPmjExN0vvfJQKMA1Le6rDmIyWaMVRS0Gs3Oto2s="
#define FAMILY_ID 0x1c

static const struct nlattr *find(const struct nlattr *nest, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
	{
		if (mnl_attr_get_type(a) == type)
			return a;
	}
	return NULL;
}

static const struct nlattr *top(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr))
	{
		if (mnl_attr_get_type(a) == type)
			return a;
	}
	return NULL;
}

static void two_peers(struct wg_device *d)
{
	struct wg_peer *p;

	memset(d, 0, sizeof(*d));
	d->has_private_key = true;
	assert_int_equal(wg_key_from_base64(K1, d->private_key), 0);
	d->listen_port = 51820;
	p = wg_device_add_peer(d);
	assert_int_equal(wg_key_from_base64(K2, p->public_key), 0);
	prefix_parse("100.64.0.2/32", &p->allowed[p->n_allowed++]);
	prefix_parse("fd00:64::/64", &p->allowed[p->n_allowed++]);
	p->keepalive_s = 25;
	p = wg_device_add_peer(d);
	assert_int_equal(wg_key_from_base64(K1, p->public_key), 0);
	prefix_parse("100.64.0.3/32", &p->allowed[p->n_allowed++]);
}

static void test_build_set(void **state)
{
	char *buf = calloc(1, WG_GENL_MSG_SIZE);
	const struct nlattr *peers, *p0, *ips, *ip, *a;
	struct genlmsghdr *g;
	struct nlmsghdr *nlh;
	struct wg_device d;
	uint8_t key[WG_KEY_LEN];
	struct in6_addr v6;
	int n = 0;

	(void)state;
	two_peers(&d);
	nlh = wg_genl_build_set(buf, FAMILY_ID, 7, "wgedge1", &d, 0, 2, true, true, NULL);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, FAMILY_ID);
	assert_true(nlh->nlmsg_flags & NLM_F_ACK);
	g = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(g->cmd, WG_CMD_SET_DEVICE);
	assert_int_equal(g->version, WG_GENL_VERSION);
	assert_string_equal(mnl_attr_get_str(top(nlh, WGDEVICE_A_IFNAME)), "wgedge1");
	assert_int_equal(mnl_attr_get_u32(top(nlh, WGDEVICE_A_FLAGS)), WGDEVICE_F_REPLACE_PEERS);
	assert_int_equal(mnl_attr_get_u16(top(nlh, WGDEVICE_A_LISTEN_PORT)), 51820);
	assert_memory_equal(mnl_attr_get_payload(top(nlh, WGDEVICE_A_PRIVATE_KEY)), d.private_key,
	                    WG_KEY_LEN);
	peers = top(nlh, WGDEVICE_A_PEERS);
	assert_non_null(peers);
	mnl_attr_for_each_nested(a, peers) n++;
	assert_int_equal(n, 2);
	p0 = (const struct nlattr *)mnl_attr_get_payload(peers);
	wg_key_from_base64(K2, key);
	assert_memory_equal(mnl_attr_get_payload(find(p0, WGPEER_A_PUBLIC_KEY)), key, WG_KEY_LEN);
	assert_int_equal(mnl_attr_get_u32(find(p0, WGPEER_A_FLAGS)), WGPEER_F_REPLACE_ALLOWEDIPS);
	assert_int_equal(mnl_attr_get_u16(find(p0, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL)), 25);
	ips = find(p0, WGPEER_A_ALLOWEDIPS);
	assert_non_null(ips);
	ip = (const struct nlattr *)mnl_attr_get_payload(ips);
	assert_int_equal(mnl_attr_get_u16(find(ip, WGALLOWEDIP_A_FAMILY)), AF_INET);
	assert_int_equal(mnl_attr_get_u8(find(ip, WGALLOWEDIP_A_CIDR_MASK)), 32);
	assert_int_equal(*(uint32_t *)mnl_attr_get_payload(find(ip, WGALLOWEDIP_A_IPADDR)),
	                 inet_addr("100.64.0.2"));
	ip = mnl_attr_next(ip);
	assert_int_equal(mnl_attr_get_u16(find(ip, WGALLOWEDIP_A_FAMILY)), AF_INET6);
	assert_int_equal(mnl_attr_get_u8(find(ip, WGALLOWEDIP_A_CIDR_MASK)), 64);
	inet_pton(AF_INET6, "fd00:64::", &v6);
	assert_memory_equal(mnl_attr_get_payload(find(ip, WGALLOWEDIP_A_IPADDR)), &v6, 16);
	free(buf);
	wg_device_free(&d);
}

static void test_build_remove_and_continuation(void **state)
{
	char *buf = calloc(1, WG_GENL_MSG_SIZE);
	const bool remove[2] = {false, true};
	const struct nlattr *p1, *peers;
	struct nlmsghdr *nlh;
	struct wg_device d;

	(void)state;
	two_peers(&d);
	/* A continuation message: peers only, no device settings. */
	nlh = wg_genl_build_set(buf, FAMILY_ID, 8, "wgedge1", &d, 1, 1, false, false, remove);
	assert_non_null(nlh);
	assert_null(top(nlh, WGDEVICE_A_PRIVATE_KEY));
	assert_null(top(nlh, WGDEVICE_A_FLAGS));
	peers = top(nlh, WGDEVICE_A_PEERS);
	p1 = (const struct nlattr *)mnl_attr_get_payload(peers);
	assert_int_equal(mnl_attr_get_u32(find(p1, WGPEER_A_FLAGS)), WGPEER_F_REMOVE_ME);
	assert_null(find(p1, WGPEER_A_ALLOWEDIPS));
	/* More peers than fit one message are refused: the caller splits them. */
	assert_null(wg_genl_build_set(buf, FAMILY_ID, 9, "wgedge1", &d, 0,
	                              WG_GENL_PEERS_PER_MSG + 1, true, true, NULL));
	assert_null(wg_genl_build_set(buf, FAMILY_ID, 9, "wgedge1", &d, 1, 2, true, true, NULL));
	/* The largest message fits its buffer: 32 peers with 8 IPv6 allowed IPs each. */
	for (int i = 0; i < WG_GENL_PEERS_PER_MSG; i++) {
		struct wg_peer *p = wg_device_add_peer(&d);

		for (int k = 0; k < WG_MAX_ALLOWED; k++)
			prefix_parse("2001:db8::/64", &p->allowed[p->n_allowed++]);
		p->keepalive_s = 1;
	}
	nlh = wg_genl_build_set(buf, FAMILY_ID, 10, "wgedge1", &d, 2, WG_GENL_PEERS_PER_MSG, true,
	                        true, NULL);
	assert_non_null(nlh);
	assert_true(nlh->nlmsg_len <= WG_GENL_MSG_SIZE);
	free(buf);
	wg_device_free(&d);
}

/* A get answer as the kernel builds it: device attributes, then peers. */
static struct nlmsghdr *answer(char *buf, bool first, bool second_half)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	struct nlattr *peers, *peer, *ips, *ip;
	struct __kernel_timespec ts = {.tv_sec = 1763777000};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40213)};
	uint8_t key[WG_KEY_LEN];
	uint32_t a = inet_addr(second_half ? "100.64.1.0" : "100.64.0.2");

	nlh->nlmsg_type = FAMILY_ID;
	g->cmd = WG_CMD_GET_DEVICE;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wgedge1");
	if (first) {
		wg_key_from_base64(K1, key);
		mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, key);
		mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
		mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, 0);
	}
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	wg_key_from_base64(K2, key);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	if (!second_half) {
		inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
		mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
		mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), &ts);
		mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 2960);
		mnl_attr_put_u64(nlh, WGPEER_A_TX_BYTES, 1492);
		mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	}
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	ip = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, &a);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, second_half ? 24 : 32);
	mnl_attr_nest_end(nlh, ip);
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

static void test_parse_device(void **state)
{
	char buf[4096];
	struct wg_device d = {};
	struct sockaddr_in *sin;

	(void)state;
	assert_int_equal(wg_genl_parse_device(answer(buf, true, false), &d), 0);
	memset(buf, 0, sizeof(buf));
	/* The kernel continues a peer with many allowed IPs in the next message. */
	assert_int_equal(wg_genl_parse_device(answer(buf, false, true), &d), 0);
	assert_true(d.has_private_key);
	assert_int_equal(d.listen_port, 51820);
	assert_int_equal(d.n_peers, 1);
	assert_int_equal(d.peers[0].last_handshake_s, 1763777000);
	assert_int_equal(d.peers[0].rx_bytes, 2960);
	assert_int_equal(d.peers[0].tx_bytes, 1492);
	assert_int_equal(d.peers[0].keepalive_s, 25);
	assert_true(d.peers[0].has_endpoint);
	sin = (struct sockaddr_in *)&d.peers[0].endpoint;
	assert_int_equal(ntohs(sin->sin_port), 40213);
	assert_int_equal(d.peers[0].n_allowed, 2);
	assert_int_equal(d.peers[0].allowed[1].len, 24);
	wg_device_free(&d);
}

static void test_parse_malformed(void **state)
{
	char buf[4096] = {};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *peers, *peer;
	struct wg_device d = {};

	(void)state;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct genlmsghdr));
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 16, buf + 2048); /* a short key */
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	assert_int_equal(wg_genl_parse_device(nlh, &d), -1);
	wg_device_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_build_set),
	        cmocka_unit_test(test_build_remove_and_continuation),
	        cmocka_unit_test(test_parse_device),
	        cmocka_unit_test(test_parse_malformed),
	};

	return cmocka_run_group_tests_name("wg_genl", tests, NULL, NULL);
}
