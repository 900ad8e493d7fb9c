/* SPDX-License-Identifier: GPL-2.0 */
/*
 * WireGuard keys as users and tools write them: 32-byte Curve25519 keys in base64 (44
 * characters ending in '=', what `wg genkey` / `wg pubkey` print and config files hold), and
 * in lowercase hex (what the UAPI socket speaks). Private key files hold one base64 key.
 */
#ifndef EDGED_WG_KEY_H
#define EDGED_WG_KEY_H

#include <stddef.h>
#include <stdint.h>

#define WG_KEY_LEN     32
#define WG_KEY_B64_LEN 44 /* without the NUL */
#define WG_KEY_HEX_LEN 64 /* without the NUL */

enum wg_key_error {
	WG_KEY_ERR_LENGTH = -1,  /* not 44 characters */
	WG_KEY_ERR_CHAR = -2,    /* a character outside base64's alphabet */
	WG_KEY_ERR_PADDING = -3, /* not ending in one '=', or non-zero bits before it */
	WG_KEY_ERR_HEX = -4,     /* not 64 hex digits */
};

/* Base64 S into KEY. Returns 0 or an enum wg_key_error. */
int wg_key_from_base64(const char *s, uint8_t key[WG_KEY_LEN]);
/* KEY as base64 into BUF (at least WG_KEY_B64_LEN + 1 bytes). Returns BUF. */
char *wg_key_to_base64(const uint8_t key[WG_KEY_LEN], char *buf);
/* Hex S (64 digits, either case) into KEY. Returns 0 or WG_KEY_ERR_HEX. */
int wg_key_from_hex(const char *s, uint8_t key[WG_KEY_LEN]);
/* KEY as lowercase hex into BUF (at least WG_KEY_HEX_LEN + 1 bytes). Returns BUF. */
char *wg_key_to_hex(const uint8_t key[WG_KEY_LEN], char *buf);
/* The meaning of an enum wg_key_error, with the fix. */
const char *wg_key_strerror(int err);

/* Reads the base64 private key in PATH (surrounding whitespace allowed) into KEY. Returns 0,
 * or -1 with ERR naming the file and what is wrong with it. */
int wg_key_read_file(const char *path, uint8_t key[WG_KEY_LEN], char *err, size_t errlen);

#endif
