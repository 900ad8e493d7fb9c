// SPDX-License-Identifier: GPL-2.0
/*
 * WireGuard key forms: base64 as `wg` prints it round-trips, hex as the UAPI speaks it
 * round-trips, and every malformed key is refused with words that say what is wrong. The
 * reference pair below was made with `wg genkey | tee k | wg pubkey` and `xxd`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "wg_key.h"

#define B64 "2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0XI="
#define HEX "d8ccc354091780708f677bb512c7f8840058f0dbd98a33676617bbf6ce30d172"

static void test_base64_round_trip(void **state)
{
	uint8_t key[WG_KEY_LEN], back[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN + 1], hex[WG_KEY_HEX_LEN + 1];

	(void)state;
	assert_int_equal(wg_key_from_base64(B64, key), 0);
	assert_string_equal(wg_key_to_hex(key, hex), HEX);
	assert_string_equal(wg_key_to_base64(key, b64), B64);
	assert_int_equal(wg_key_from_hex(HEX, back), 0);
	assert_memory_equal(key, back, WG_KEY_LEN);
	/* upper-case hex is accepted too */
	assert_int_equal(
	        wg_key_from_hex("D8CCC354091780708F677BB512C7F8840058F0DBD98A33676617BBF6CE30D172",
	                        back),
	        0);
	assert_memory_equal(key, back, WG_KEY_LEN);
}

static void test_bad_keys(void **state)
{
	uint8_t key[WG_KEY_LEN];

	(void)state;
	assert_int_equal(wg_key_from_base64("", key), WG_KEY_ERR_LENGTH);
	assert_int_equal(wg_key_from_base64(B64 "=", key), WG_KEY_ERR_LENGTH);
	assert_int_equal(wg_key_from_base64("2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0X-=", key),
	                 WG_KEY_ERR_CHAR);
	assert_int_equal(wg_key_from_base64("2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0XIA", key),
	                 WG_KEY_ERR_PADDING);
	/* 'J' sets one of the 2 bits past the 32nd byte */
	assert_int_equal(wg_key_from_base64("2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w0XJ=", key),
	                 WG_KEY_ERR_PADDING);
	assert_int_equal(wg_key_from_base64("2MzDVAkXgHCPZ3u1Esf4hABY8NvZijNnZhe79s4w==I=", key),
	                 WG_KEY_ERR_PADDING);
	assert_int_equal(wg_key_from_hex("d8cc", key), WG_KEY_ERR_HEX);
	assert_int_equal(
	        wg_key_from_hex("x8ccc354091780708f677bb512c7f8840058f0dbd98a3367661ebbf6ce30d172",
	                        key),
	        WG_KEY_ERR_HEX);
	assert_non_null(strstr(wg_key_strerror(WG_KEY_ERR_LENGTH), "44 base64 characters"));
}

static void test_key_file(void **state)
{
	char path[] = "/tmp/test_wg_key.XXXXXX", err[512];
	uint8_t key[WG_KEY_LEN];
	char hex[WG_KEY_HEX_LEN + 1];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "  " B64 "\n", 47), 47);
	close(fd);
	assert_int_equal(wg_key_read_file(path, key, err, sizeof(err)), 0);
	assert_string_equal(wg_key_to_hex(key, hex), HEX);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "not a key\n", 10), 10);
	close(fd);
	assert_int_equal(wg_key_read_file(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not a WireGuard private key"));
	unlink(path);
	assert_int_equal(wg_key_read_file(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "wg genkey"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_base64_round_trip),
	        cmocka_unit_test(test_bad_keys),
	        cmocka_unit_test(test_key_file),
	};

	return cmocka_run_group_tests_name("wg_key", tests, NULL, NULL);
}
