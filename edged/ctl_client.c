// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_client.h"
#include "sockio.h"

/* Reload loads a BPF program and may take a few seconds on a busy machine; a reload that
 * provisions hundreds of transit customers (a namespace each) takes tens of seconds. */
#define CTL_CLIENT_TIMEOUT_S 120

/* Connects to PATH and sends REQUEST; returns the fd or -errno. */
static int ctl_send(const char *path, const char *request)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	sock_send_all(fd, request, strlen(request));
	sock_send_all(fd, "\n", 1);
	return fd;
}

int control_request(const char *path, const char *request, struct strbuf *out)
{
	struct timeval tv = {.tv_sec = CTL_CLIENT_TIMEOUT_S};
	char buf[4096];
	char *nl;
	ssize_t n;
	int fd, ret;

	fd = ctl_send(path, request);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sb_printf(out, "%.*s", (int)n, buf);
	close(fd);

	if (!out->buf || !(nl = memchr(out->buf, '\n', out->len)))
		return -EPROTO;
	ret = strncmp(out->buf, "ok\n", 3) == 0 ? 0 : 1;
	/* Leave only the body in OUT. */
	out->len -= (size_t)(nl + 1 - out->buf);
	memmove(out->buf, nl + 1, out->len + 1);
	return ret;
}

/* Reads the status line byte by byte, so nothing of the stream after it is consumed. */
static int read_status(int fd, char *line, size_t size)
{
	size_t len = 0;

	while (len + 1 < size && read(fd, line + len, 1) == 1)
		if (line[len++] == '\n')
			break;
	line[len] = '\0';
	return len && line[len - 1] == '\n' ? 0 : -EPROTO;
}

int control_stream(const char *path, const char *request, int out_fd, struct strbuf *err)
{
	char status[16], buf[65536];
	ssize_t n;
	int fd, ret;

	/* No half-close and no timeout: edged ends the stream, and our going away (close on
	 * Ctrl-C) is how edged learns to stop. */
	fd = ctl_send(path, request);
	if (fd < 0)
		return fd;
	ret = read_status(fd, status, sizeof(status));
	if (!ret && strcmp(status, "ok\n")) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			sb_printf(err, "%.*s", (int)n, buf);
		ret = 1;
	}
	while (!ret && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out_fd, buf + off, n - off);

			if (w <= 0) {
				ret = -errno;
				break;
			}
			off += w;
		}
	}
	close(fd);
	return ret;
}
