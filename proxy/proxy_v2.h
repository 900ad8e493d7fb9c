/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PROXY protocol version 2 (haproxy's proxy-protocol.txt, section 2.2): the binary header a
 * proxy sends first to the origin so that it learns the client's address and the address
 * the client connected to.
 *
 *   12 bytes  signature \r\n\r\n\0\r\nQUIT\n
 *   1 byte    version (2) << 4 | command (0 LOCAL, 1 PROXY)
 *   1 byte    address family << 4 | transport (0x11 TCP4, 0x12 UDP4, 0x21 TCP6, 0x22 UDP6)
 *   2 bytes   length of what follows, network order
 *   then      src addr, dst addr, src port, dst port (12 bytes IPv4, 36 IPv6), then TLVs
 */
#ifndef EDGED_PROXY_V2_H
#define EDGED_PROXY_V2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PP2_SIGNATURE     "\r\n\r\n\0\r\nQUIT\n"
#define PP2_SIGNATURE_LEN 12
#define PP2_FIXED_LEN     16 /* signature, version/command, family, length */
#define PP2_ADDR_LEN_V4   12
#define PP2_ADDR_LEN_V6   36
/* The longest header pp2_encode() writes (IPv6, no TLVs). */
#define PP2_HEADER_MAX (PP2_FIXED_LEN + PP2_ADDR_LEN_V6)

struct pp2_info {
	bool local;   /* LOCAL command: the connection is the proxy's own (health checks) */
	int protocol; /* IPPROTO_TCP, IPPROTO_UDP, or 0 (UNSPEC) */
	struct sockaddr_storage src, dst; /* ss_family 0 when the family is UNSPEC */
	size_t tlv_len;                   /* bytes of TLVs after the addresses (skipped) */
};

/*
 * Writes the header of a PROTOCOL (IPPROTO_TCP or IPPROTO_UDP) connection from SRC to DST
 * (both AF_INET or both AF_INET6) into BUF. Returns its length, or -1 when the addresses
 * cannot be expressed (families differ or are neither) or SIZE is too small.
 */
int pp2_encode(uint8_t *buf, size_t size, int protocol, const struct sockaddr_storage *src,
               const struct sockaddr_storage *dst);

/*
 * Parses a header at the start of BUF (LEN bytes available). Returns the header's whole
 * length (addresses and TLVs included), 0 when LEN is too short to decide (read more), or
 * -1 when BUF does not start with a valid version 2 header.
 */
int pp2_parse(const uint8_t *buf, size_t len, struct pp2_info *out);

#endif
