// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_client.h"

/* Reload loads a BPF program and may take a few seconds on a busy machine. */
#define CTL_CLIENT_TIMEOUT_S 30

static void send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

int control_request(const char *path, const char *request, struct strbuf *out)
{
	struct timeval tv = {.tv_sec = CTL_CLIENT_TIMEOUT_S};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];
	char *nl;
	ssize_t n;
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
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	send_all(fd, request, strlen(request));
	send_all(fd, "\n", 1);
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
