// SPDX-License-Identifier: GPL-2.0
/*
 * The WireGuard UAPI text protocol: the requests edged sends (exact text, as wireguard-go
 * and `wg` read them), and the answers it parses (a `get=1` answer in wireguard-go's own
 * format, errors, malformed answers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "wg_uapi.h"

#define K1_B64 "2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0XI="
#define K1_HEX "d8ccc354091780708f677bb512c7f8840058f0dbd98a33676617bbf6ce30d172"
#define K2_B64 "q55WPmjExN0vvfJQKMA1Le6rDmIyWaMVRS0Gs3Oto2s="
#define K2_HEX "ab9e563e68c4c4dd2fbdf25028c0352deeab0e623259a315452d06b373ada36b"

static void peer(struct wg_device *d, const char *b64, const char *a1, const char *a2,
                 uint16_t keepalive)
{
	struct wg_peer *p = wg_device_add_peer(d);

	assert_non_null(p);
	assert_int_equal(wg_key_from_base64(b64, p->public_key), 0);
	assert_int_equal(prefix_parse(a1, &p->allowed[p->n_allowed++]), 0);
	if (a2)
		assert_int_equal(prefix_parse(a2, &p->allowed[p->n_allowed++]), 0);
	p->keepalive_s = keepalive;
}

static void test_build_set(void **state)
{
	struct wg_device d = {.has_private_key = true, .listen_port = 51820};
	struct strbuf sb = {};

	(void)state;
	assert_int_equal(wg_key_from_base64(K1_B64, d.private_key), 0);
	peer(&d, K2_B64, "100.64.0.2/32", "fd00:64::2/128", 25);
	peer(&d, K1_B64, "100.64.0.3/32", NULL, 0);
	wg_uapi_build_set(&d, &sb);
	assert_string_equal(sb.buf, "set=1\n"
	                            "private_key=" K1_HEX "\n"
	                            "listen_port=51820\n"
	                            "fwmark=0\n"
	                            "replace_peers=true\n"
	                            "public_key=" K2_HEX "\n"
	                            "replace_allowed_ips=true\n"
	                            "persistent_keepalive_interval=25\n"
	                            "allowed_ip=100.64.0.2/32\n"
	                            "allowed_ip=fd00:64::2/128\n"
	                            "public_key=" K1_HEX "\n"
	                            "replace_allowed_ips=true\n"
	                            "persistent_keepalive_interval=0\n"
	                            "allowed_ip=100.64.0.3/32\n"
	                            "\n");
	sb_free(&sb);
	wg_uapi_build_remove(d.peers[0].public_key, &sb);
	assert_string_equal(sb.buf, "set=1\npublic_key=" K2_HEX "\nremove=true\n\n");
	sb_free(&sb);
	/* A sync keeps the device's other peers' sessions: no replace_peers, removals named. */
	wg_uapi_build_sync(&d, (const uint8_t(*)[WG_KEY_LEN])d.private_key, 1, &sb);
	assert_string_equal(sb.buf, "set=1\n"
	                            "private_key=" K1_HEX "\n"
	                            "listen_port=51820\n"
	                            "fwmark=0\n"
	                            "public_key=" K1_HEX "\n"
	                            "remove=true\n"
	                            "public_key=" K2_HEX "\n"
	                            "replace_allowed_ips=true\n"
	                            "persistent_keepalive_interval=25\n"
	                            "allowed_ip=100.64.0.2/32\n"
	                            "allowed_ip=fd00:64::2/128\n"
	                            "public_key=" K1_HEX "\n"
	                            "replace_allowed_ips=true\n"
	                            "persistent_keepalive_interval=0\n"
	                            "allowed_ip=100.64.0.3/32\n"
	                            "\n");
	assert_null(strstr(sb.buf, "replace_peers"));
	sb_free(&sb);
	wg_uapi_build_peer(&d.peers[1], &sb);
	assert_string_equal(sb.buf,
	                    "set=1\npublic_key=" K1_HEX "\nreplace_allowed_ips=true\n"
	                    "persistent_keepalive_interval=0\nallowed_ip=100.64.0.3/32\n\n");
	sb_free(&sb);
	wg_device_free(&d);
}

/* What wireguard-go 0.0.2023 answers to get=1 (device, then one section per peer). */
static const char answer[] =
        "private_key=" K1_HEX "\n"
        "listen_port=51820\n"
        "public_key=" K2_HEX "\n"
        "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
        "protocol_version=1\n"
        "endpoint=192.0.2.1:40213\n"
        "last_handshake_time_sec=1763777000\n"
        "last_handshake_time_nsec=123456\n"
        "tx_bytes=1492\n"
        "rx_bytes=2960\n"
        "persistent_keepalive_interval=25\n"
        "allowed_ip=100.64.0.2/32\n"
        "allowed_ip=fd00:64::2/128\n"
        "public_key=" K1_HEX "\n"
        "endpoint=[2001:db8::7]:51000\n"
        "last_handshake_time_sec=0\n"
        "last_handshake_time_nsec=0\n"
        "tx_bytes=0\n"
        "rx_bytes=0\n"
        "persistent_keepalive_interval=0\n"
        "allowed_ip=100.64.0.3/32\n"
        "errno=0\n"
        "\n";

static void test_parse_get(void **state)
{
	struct wg_device d;
	char err[256], hex[WG_KEY_HEX_LEN + 1];
	struct sockaddr_in *sin;

	(void)state;
	assert_int_equal(wg_uapi_parse_get(answer, &d, err, sizeof(err)), 0);
	assert_true(d.has_private_key);
	assert_string_equal(wg_key_to_hex(d.private_key, hex), K1_HEX);
	assert_int_equal(d.listen_port, 51820);
	assert_int_equal(d.n_peers, 2);
	assert_string_equal(wg_key_to_hex(d.peers[0].public_key, hex), K2_HEX);
	assert_true(d.peers[0].has_endpoint);
	sin = (struct sockaddr_in *)&d.peers[0].endpoint;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 40213);
	assert_int_equal(d.peers[0].last_handshake_s, 1763777000);
	assert_int_equal(d.peers[0].tx_bytes, 1492);
	assert_int_equal(d.peers[0].rx_bytes, 2960);
	assert_int_equal(d.peers[0].keepalive_s, 25);
	assert_int_equal(d.peers[0].n_allowed, 2);
	assert_int_equal(d.peers[0].allowed[1].family, AF_INET6);
	assert_int_equal(d.peers[0].allowed[1].len, 128);
	assert_int_equal(d.peers[1].endpoint.ss_family, AF_INET6);
	assert_int_equal(d.peers[1].last_handshake_s, 0);
	assert_non_null(wg_device_find(&d, d.peers[1].public_key));
	wg_device_free(&d);
}

static void test_parse_errors(void **state)
{
	struct wg_device d;
	char err[256];

	(void)state;
	assert_int_equal(wg_uapi_parse_get("errno=19\n\n", &d, err, sizeof(err)), 19);
	assert_non_null(strstr(err, "errno=19"));
	assert_int_equal(wg_uapi_parse_get("listen_port=51820\n", &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no errno"));
	assert_int_equal(wg_uapi_parse_get("listen_port=51820\npublic_key=zz\nerrno=0\n\n", &d, err,
	                                   sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "line 2"));
	assert_int_equal(wg_uapi_parse_get("public_key=" K1_HEX "\ntx_bytes=-1\nerrno=0\n\n", &d,
	                                   err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "tx_bytes=-1"));
	assert_int_equal(wg_uapi_parse_get("no equals sign\nerrno=0\n\n", &d, err, sizeof(err)),
	                 -1);
	/* Unknown keys are skipped, as the protocol asks. */
	assert_int_equal(
	        wg_uapi_parse_get("listen_port=1\nfuture_key=x\nerrno=0\n\n", &d, err, sizeof(err)),
	        0);
	assert_int_equal(wg_uapi_parse_errno("errno=0\n\n"), 0);
	assert_int_equal(wg_uapi_parse_errno("errno=22\n\n"), 22);
	assert_int_equal(wg_uapi_parse_errno("nothing\n\n"), -1);
	assert_int_equal(wg_uapi_parse_errno("xerrno=0\n\n"), -1);
}

static void test_path(void **state)
{
	char buf[108];

	(void)state;
	assert_string_equal(wg_uapi_path("wgedge1", buf, sizeof(buf)),
	                    "/var/run/wireguard/wgedge1.sock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_build_set),
	        cmocka_unit_test(test_parse_get),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_path),
	};

	return cmocka_run_group_tests_name("wg_uapi", tests, NULL, NULL);
}
