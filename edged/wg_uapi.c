// SPDX-License-Identifier: GPL-2.0
/*
 * The WireGuard UAPI text protocol (see wg_uapi.h). Parsing is strict about what it needs
 * (keys, numbers) and skips keys it does not know, as the protocol asks of clients.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockio.h"
#include "wg_uapi.h"

/* wireguard-go answers within milliseconds; a hung one must not hang edged's loop. */
#define UAPI_TIMEOUT_S 2
/* An answer of thousands of peers is about 300 bytes each. */
#define UAPI_MAX_ANSWER (16 << 20)

char *wg_uapi_path(const char *ifname, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s.sock", WG_UAPI_DIR, ifname);
	return buf;
}

static void put_peer(const struct wg_peer *p, struct strbuf *out)
{
	char hex[WG_KEY_HEX_LEN + 1], text[PREFIX_STRLEN];

	sb_printf(out, "public_key=%s\nreplace_allowed_ips=true\n",
	          wg_key_to_hex(p->public_key, hex));
	sb_printf(out, "persistent_keepalive_interval=%u\n", p->keepalive_s);
	for (int i = 0; i < p->n_allowed; i++)
		sb_printf(out, "allowed_ip=%s\n",
		          prefix_format(&p->allowed[i], text, sizeof(text)));
}

/* The device's own lines, first in a set operation. */
static void put_device(const struct wg_device *d, struct strbuf *out)
{
	char hex[WG_KEY_HEX_LEN + 1];

	sb_printf(out, "set=1\n");
	if (d->has_private_key)
		sb_printf(out, "private_key=%s\n", wg_key_to_hex(d->private_key, hex));
	sb_printf(out, "listen_port=%u\n", d->listen_port);
	sb_printf(out, "fwmark=%u\n", d->fwmark);
}

void wg_uapi_build_set(const struct wg_device *d, struct strbuf *out)
{
	put_device(d, out);
	sb_printf(out, "replace_peers=true\n");
	for (int i = 0; i < d->n_peers; i++)
		put_peer(&d->peers[i], out);
	sb_printf(out, "\n");
}

void wg_uapi_build_sync(const struct wg_device *d, const uint8_t (*gone)[WG_KEY_LEN], int n_gone,
                        struct strbuf *out)
{
	char hex[WG_KEY_HEX_LEN + 1];

	put_device(d, out);
	for (int i = 0; i < n_gone; i++)
		sb_printf(out, "public_key=%s\nremove=true\n", wg_key_to_hex(gone[i], hex));
	for (int i = 0; i < d->n_peers; i++)
		put_peer(&d->peers[i], out);
	sb_printf(out, "\n");
}

void wg_uapi_build_peer(const struct wg_peer *p, struct strbuf *out)
{
	sb_printf(out, "set=1\n");
	put_peer(p, out);
	sb_printf(out, "\n");
}

void wg_uapi_build_remove(const uint8_t key[WG_KEY_LEN], struct strbuf *out)
{
	char hex[WG_KEY_HEX_LEN + 1];

	sb_printf(out, "set=1\npublic_key=%s\nremove=true\n\n", wg_key_to_hex(key, hex));
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* One key=value of a peer section; 0, or -1 when the value is malformed. */
static int peer_value(struct wg_peer *p, const char *k, const char *v)
{
	uint64_t n;

	if (strcmp(k, "endpoint") == 0) {
		p->has_endpoint = addr_parse_listen(v, &p->endpoint, NULL) == 0;
		return p->has_endpoint ? 0 : -1;
	}
	if (strcmp(k, "last_handshake_time_sec") == 0) {
		if (parse_u64(v, INT64_MAX, &n))
			return -1;
		p->last_handshake_s = (int64_t)n;
		return 0;
	}
	if (strcmp(k, "rx_bytes") == 0)
		return parse_u64(v, UINT64_MAX, &p->rx_bytes);
	if (strcmp(k, "tx_bytes") == 0)
		return parse_u64(v, UINT64_MAX, &p->tx_bytes);
	if (strcmp(k, "persistent_keepalive_interval") == 0) {
		if (parse_u64(v, 65535, &n))
			return -1;
		p->keepalive_s = (uint16_t)n;
		return 0;
	}
	if (strcmp(k, "allowed_ip") == 0) {
		if (p->n_allowed >= WG_MAX_ALLOWED)
			return 0; /* more than edged configures: someone else's peer */
		return prefix_parse(v, &p->allowed[p->n_allowed++]) == 0 ? 0 : -1;
	}
	return 0; /* preshared_key, protocol_version, ...: not needed */
}

/* One key=value of the device section. */
static int device_value(struct wg_device *d, const char *k, const char *v)
{
	uint64_t n;

	if (strcmp(k, "private_key") == 0) {
		d->has_private_key = true;
		return wg_key_from_hex(v, d->private_key) ? -1 : 0;
	}
	if (strcmp(k, "listen_port") == 0) {
		if (parse_u64(v, 65535, &n))
			return -1;
		d->listen_port = (uint16_t)n;
		return 0;
	}
	if (strcmp(k, "fwmark") == 0) {
		if (parse_u64(v, UINT32_MAX, &n))
			return -1;
		d->fwmark = (uint32_t)n;
	}
	return 0;
}

/* One line "k=v" (K and V pointing into LINE, which is modified). */
static int split(char *line, char **k, char **v)
{
	char *eq = strchr(line, '=');

	if (!eq)
		return -1;
	*eq = '\0';
	*k = line;
	*v = eq + 1;
	return 0;
}

static int parse_line(struct wg_device *d, struct wg_peer **peer, char *line, int *errno_out)
{
	char *k, *v;
	uint64_t n;

	if (split(line, &k, &v))
		return -1;
	if (strcmp(k, "errno") == 0) {
		if (parse_u64(v, 4095, &n))
			return -1;
		*errno_out = (int)n;
		return 0;
	}
	if (strcmp(k, "public_key") == 0) {
		*peer = wg_device_add_peer(d);
		return !*peer || wg_key_from_hex(v, (*peer)->public_key) ? -1 : 0;
	}
	return *peer ? peer_value(*peer, k, v) : device_value(d, k, v);
}

int wg_uapi_parse_get(const char *text, struct wg_device *d, char *err, size_t errlen)
{
	char *copy = strdup(text), *line, *save = NULL;
	struct wg_peer *peer = NULL;
	int dev_errno = -1, lineno = 0, ret = 0;

	memset(d, 0, sizeof(*d));
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char shown[96];

		lineno++;
		snprintf(shown, sizeof(shown), "%s", line); /* parse_line() splits LINE */
		if (parse_line(d, &peer, line, &dev_errno)) {
			snprintf(err, errlen, "line %d of the UAPI answer is malformed: '%s'",
			         lineno, shown);
			ret = -1;
			break;
		}
	}
	free(copy);
	if (!ret && dev_errno < 0) {
		snprintf(err, errlen, "the UAPI answer has no errno= line (cut short?)");
		ret = -1;
	} else if (!ret && dev_errno > 0) {
		snprintf(err, errlen, "the device answered errno=%d (%s)", dev_errno,
		         strerror(dev_errno));
		ret = dev_errno;
	}
	if (ret)
		wg_device_free(d);
	return ret;
}

int wg_uapi_parse_errno(const char *text)
{
	const char *at = strstr(text, "errno=");
	uint64_t n;
	char num[16];

	if (!at || (at != text && at[-1] != '\n'))
		return -1;
	snprintf(num, sizeof(num), "%.*s", (int)strcspn(at + 6, "\n"), at + 6);
	return parse_u64(num, 4095, &n) ? -1 : (int)n;
}

static int uapi_connect(const char *ifname)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = UAPI_TIMEOUT_S};
	int fd, err;

	wg_uapi_path(ifname, sa.sun_path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Whether the answer so far is complete: it ends with an empty line after errno=N. */
static bool answer_done(const struct strbuf *sb)
{
	return sb->len >= 2 && sb->buf[sb->len - 1] == '\n' && sb->buf[sb->len - 2] == '\n' &&
	       strstr(sb->buf, "errno=");
}

int wg_uapi_transact(const char *ifname, const char *req, struct strbuf *resp)
{
	char buf[4096];
	int fd = uapi_connect(ifname), err = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	if (!sock_send_all(fd, req, strlen(req))) {
		close(fd);
		return -EPIPE;
	}
	while (!answer_done(resp)) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			err = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		sb_printf(resp, "%.*s", (int)n, buf);
		if (resp->oom || resp->len > UAPI_MAX_ANSWER) {
			err = -ENOMEM;
			break;
		}
	}
	close(fd);
	return err;
}

int wg_uapi_set(const char *ifname, const char *req, char *err, size_t errlen)
{
	struct strbuf resp = {};
	int ret = wg_uapi_transact(ifname, req, &resp), dev_errno;

	if (ret) {
		snprintf(err, errlen, "WireGuard UAPI socket of %s: %s", ifname, strerror(-ret));
		sb_free(&resp);
		return ret;
	}
	dev_errno = wg_uapi_parse_errno(resp.buf ? resp.buf : "");
	sb_free(&resp);
	if (dev_errno) {
		snprintf(err, errlen, "WireGuard device %s refused the configuration: %s", ifname,
		         dev_errno > 0 ? strerror(dev_errno) : "malformed answer");
		return dev_errno > 0 ? -dev_errno : -EPROTO;
	}
	return 0;
}

int wg_uapi_get(const char *ifname, struct wg_device *d, char *err, size_t errlen)
{
	struct strbuf resp = {};
	int ret = wg_uapi_transact(ifname, "get=1\n\n", &resp);

	if (ret) {
		snprintf(err, errlen, "WireGuard UAPI socket of %s: %s", ifname, strerror(-ret));
		sb_free(&resp);
		return ret;
	}
	ret = wg_uapi_parse_get(resp.buf ? resp.buf : "", d, err, errlen);
	sb_free(&resp);
	return ret > 0 ? -ret : ret ? -EPROTO : 0;
}
