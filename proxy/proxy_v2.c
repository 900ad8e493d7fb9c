// SPDX-License-Identifier: GPL-2.0
/* PROXY protocol v2 headers (see proxy_v2.h). */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "proxy_v2.h"

#define PP2_VERSION   0x20
#define PP2_CMD_LOCAL 0x0
#define PP2_CMD_PROXY 0x1
#define PP2_AF_UNSPEC 0x0
#define PP2_AF_INET   0x1
#define PP2_AF_INET6  0x2
#define PP2_TP_UNSPEC 0x0
#define PP2_TP_STREAM 0x1
#define PP2_TP_DGRAM  0x2

int pp2_encode(uint8_t *buf, size_t size, int protocol, const struct sockaddr_storage *src,
               const struct sockaddr_storage *dst)
{
	bool v4 = src->ss_family == AF_INET;
	size_t alen = v4 ? PP2_ADDR_LEN_V4 : PP2_ADDR_LEN_V6;
	uint8_t *p = buf + PP2_FIXED_LEN;

	if (src->ss_family != dst->ss_family || (!v4 && src->ss_family != AF_INET6) ||
	    (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) || size < PP2_FIXED_LEN + alen)
		return -1;
	memcpy(buf, PP2_SIGNATURE, PP2_SIGNATURE_LEN);
	buf[12] = PP2_VERSION | PP2_CMD_PROXY;
	buf[13] = (v4 ? PP2_AF_INET : PP2_AF_INET6) << 4 |
	          (protocol == IPPROTO_TCP ? PP2_TP_STREAM : PP2_TP_DGRAM);
	buf[14] = alen >> 8;
	buf[15] = alen & 0xff;
	if (v4) {
		const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;

		memcpy(p, &s->sin_addr, 4);
		memcpy(p + 4, &d->sin_addr, 4);
		memcpy(p + 8, &s->sin_port, 2);
		memcpy(p + 10, &d->sin_port, 2);
	} else {
		const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)dst;

		memcpy(p, &s->sin6_addr, 16);
		memcpy(p + 16, &d->sin6_addr, 16);
		memcpy(p + 32, &s->sin6_port, 2);
		memcpy(p + 34, &d->sin6_port, 2);
	}
	return PP2_FIXED_LEN + alen;
}

static void put_v4(struct sockaddr_storage *ss, const uint8_t *addr, const uint8_t *port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	memcpy(&s->sin_addr, addr, 4);
	memcpy(&s->sin_port, port, 2);
}

static void put_v6(struct sockaddr_storage *ss, const uint8_t *addr, const uint8_t *port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin6_family = AF_INET6;
	memcpy(&s->sin6_addr, addr, 16);
	memcpy(&s->sin6_port, port, 2);
}

int pp2_parse(const uint8_t *buf, size_t len, struct pp2_info *out)
{
	size_t n = len < PP2_SIGNATURE_LEN ? len : PP2_SIGNATURE_LEN, body, need;
	uint8_t af, tp;

	memset(out, 0, sizeof(*out));
	if (memcmp(buf, PP2_SIGNATURE, n))
		return -1;
	if (len < PP2_FIXED_LEN)
		return 0;
	if ((buf[12] & 0xf0) != PP2_VERSION || (buf[12] & 0x0f) > PP2_CMD_PROXY)
		return -1;
	af = buf[13] >> 4;
	tp = buf[13] & 0x0f;
	if (af > PP2_AF_INET6 || tp > PP2_TP_DGRAM)
		return -1; /* AF_UNIX (3) is valid but never ours: refuse rather than misread */
	body = (size_t)buf[14] << 8 | buf[15];
	need = af == PP2_AF_INET ? PP2_ADDR_LEN_V4 : af == PP2_AF_INET6 ? PP2_ADDR_LEN_V6 : 0;
	if (body < need)
		return -1;
	if (len < PP2_FIXED_LEN + body)
		return 0;
	out->local = (buf[12] & 0x0f) == PP2_CMD_LOCAL;
	out->protocol = tp == PP2_TP_STREAM ? IPPROTO_TCP : tp == PP2_TP_DGRAM ? IPPROTO_UDP : 0;
	if (af == PP2_AF_INET) {
		put_v4(&out->src, buf + 16, buf + 24);
		put_v4(&out->dst, buf + 20, buf + 26);
	} else if (af == PP2_AF_INET6) {
		put_v6(&out->src, buf + 16, buf + 48);
		put_v6(&out->dst, buf + 32, buf + 50);
	}
	out->tlv_len = body - need;
	return PP2_FIXED_LEN + body;
}
