// SPDX-License-Identifier: GPL-2.0
/*
 * Base64 and hex forms of WireGuard keys. Strict: a 32-byte key has exactly one base64
 * spelling (44 characters, one '=', the last character's low 2 bits zero), the one `wg`
 * prints; anything else is a typo or a truncated paste, better caught here than as a peer
 * whose handshakes silently never complete.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wg_key.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	const char *at = c ? strchr(b64, c) : NULL;

	return at ? (int)(at - b64) : -1;
}

int wg_key_from_base64(const char *s, uint8_t key[WG_KEY_LEN])
{
	uint32_t acc = 0;
	int bits = 0, n = 0;

	if (strlen(s) != WG_KEY_B64_LEN)
		return WG_KEY_ERR_LENGTH;
	for (int i = 0; i < WG_KEY_B64_LEN - 1; i++) {
		int v = b64_value(s[i]);

		if (v < 0)
			return s[i] == '=' ? WG_KEY_ERR_PADDING : WG_KEY_ERR_CHAR;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			key[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* 43 characters carry 258 bits: the last 2 must be zero, then one '='. */
	if (s[WG_KEY_B64_LEN - 1] != '=' || (acc & ((1u << bits) - 1)) != 0)
		return WG_KEY_ERR_PADDING;
	return 0;
}

char *wg_key_to_base64(const uint8_t key[WG_KEY_LEN], char *buf)
{
	uint32_t acc = 0;
	int bits = 0, n = 0;

	for (int i = 0; i < WG_KEY_LEN; i++) {
		acc = (acc << 8) | key[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			buf[n++] = b64[(acc >> bits) & 63];
		}
	}
	buf[n++] = b64[(acc << (6 - bits)) & 63];
	buf[n++] = '=';
	buf[n] = '\0';
	return buf;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int wg_key_from_hex(const char *s, uint8_t key[WG_KEY_LEN])
{
	if (strlen(s) != WG_KEY_HEX_LEN)
		return WG_KEY_ERR_HEX;
	for (int i = 0; i < WG_KEY_LEN; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return WG_KEY_ERR_HEX;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

char *wg_key_to_hex(const uint8_t key[WG_KEY_LEN], char *buf)
{
	for (int i = 0; i < WG_KEY_LEN; i++)
		snprintf(buf + 2 * i, 3, "%02x", key[i]);
	return buf;
}

const char *wg_key_strerror(int err)
{
	switch (err) {
	case WG_KEY_ERR_LENGTH:
		return "a WireGuard key is 44 base64 characters ending in '=' (as `wg genkey` and "
		       "`wg pubkey` print it)";
	case WG_KEY_ERR_CHAR:
		return "a character outside base64 (A-Z a-z 0-9 + /): copy the key again as `wg` "
		       "prints it";
	case WG_KEY_ERR_PADDING:
		return "not a 32-byte key (bad '=' padding or trailing bits): copy the key again "
		       "as `wg` prints it";
	case WG_KEY_ERR_HEX:
		return "not 64 hex digits";
	}
	return "not a key";
}

int wg_key_read_file(const char *path, uint8_t key[WG_KEY_LEN], char *err, size_t errlen)
{
	char buf[128], *s, *e;
	size_t n;
	FILE *f = fopen(path, "r");
	int ret;

	if (!f) {
		snprintf(err, errlen,
		         "%s: cannot read the private key: %s (create it with `wg genkey > %s`)",
		         path, strerror(errno), path);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	ret = wg_key_from_base64(s, key);
	if (ret) {
		snprintf(err, errlen, "%s: not a WireGuard private key: %s", path,
		         wg_key_strerror(ret));
		return -1;
	}
	return 0;
}
