// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * libedged_dispatch (see edged_dispatch.h). The control protocol is edged's: one line
 * "text dispatch register SERVICE\n" sent with the socket attached (SCM_RIGHTS), answered
 * "ok\n" or "error\n" and a message, then EOF.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "edged_dispatch.h"

/* edged answers at once; this bounds a hung edged, not a slow one. */
#define REGISTER_TIMEOUT_S 10

static int fill_addr(int family, const char *addr, uint16_t port, struct sockaddr_storage *ss,
                     socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*sin);
		return !addr || inet_pton(AF_INET, addr, &sin->sin_addr) == 1 ? 0 : -EINVAL;
	}
	if (family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		*len = sizeof(*sin6);
		return !addr || inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	return -EAFNOSUPPORT;
}

static int set_options(int fd, int family, int type)
{
	int one = 1, err = 0;

	err |= setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		err |= setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
		if (type == SOCK_DGRAM)
			err |= setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one));
	} else {
		/* An IPv6 socket serves IPv6 bindings; IPv4 ones get a socket of their own. */
		err |= setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		err |= setsockopt(fd, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one));
		if (type == SOCK_DGRAM)
			err |= setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof(one));
	}
	return err ? -errno : 0;
}

int edged_dispatch_socket(int family, int type, const char *addr, uint16_t port, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, err;

	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return -EPROTOTYPE;
	err = fill_addr(family, addr, port, &ss, &len);
	if (err)
		return err;
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = set_options(fd, family, type);
	if (!err && bind(fd, (struct sockaddr *)&ss, len))
		err = -errno;
	if (!err && type == SOCK_STREAM && listen(fd, backlog))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* ---- registering ---- */

static int find_socket(char *buf, size_t len)
{
	DIR *dir = opendir(EDGED_DISPATCH_RUN_DIR);
	struct dirent *de;
	int found = 0;

	if (!dir)
		return 0;
	/* One thread reads this directory: readdir(3) is fine here. */
	// cppcheck-suppress readdirCalled
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name);

		if (n > 5 && strcmp(de->d_name + n - 5, ".sock") == 0) {
			snprintf(buf, len, "%s/%s", EDGED_DISPATCH_RUN_DIR, de->d_name);
			found++;
		}
	}
	closedir(dir);
	return found;
}

static int connect_edged(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = REGISTER_TIMEOUT_S};
	char found[sizeof(sa.sun_path)];
	int fd;

	if (!path)
		path = getenv("EDGED_SOCKET");
	if (!path) {
		int n = find_socket(found, sizeof(found));

		if (n != 1) {
			snprintf(err, errlen,
			         "%s edged control socket in %s: give its path (or set "
			         "EDGED_SOCKET)",
			         n ? "more than one" : "no", EDGED_DISPATCH_RUN_DIR);
			return -1;
		}
		path = found;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: the path is too long for a unix socket", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errlen, "no edged answers on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Sends LINE with SOCK attached; the descriptor travels with the first byte. */
static int send_with_fd(int fd, const char *line, int sock)
{
	union { /* aligned for struct cmsghdr */
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf = {{0}};
	struct iovec iov = {.iov_base = (void *)line, .iov_len = strlen(line)};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = cbuf.buf,
	                     .msg_controllen = sizeof(cbuf.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sock, sizeof(int));
	return sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -1;
}

/* Reads edged's whole reply; returns 0 for "ok", -1 with the message in ERR. */
static int read_reply(int fd, char *err, size_t errlen)
{
	char buf[1024];
	size_t len = 0;
	ssize_t n;

	while (len + 1 < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	if (strncmp(buf, "ok\n", 3) == 0)
		return 0;
	if (strncmp(buf, "error\n", 6) == 0) {
		snprintf(err, errlen, "edged refused: %.*s", (int)strcspn(buf + 6, "\n"), buf + 6);
		return -1;
	}
	snprintf(err, errlen, "no answer from edged (%s)", len ? "malformed" : strerror(errno));
	return -1;
}

int edged_dispatch_register(const char *control_socket, const char *service, int fd, char *err,
                            size_t errlen)
{
	char line[256];
	int ctl, ret;

	if (!service || !*service || strpbrk(service, " \t\n") ||
	    (size_t)snprintf(line, sizeof(line), "text dispatch register %s\n", service) >=
	            sizeof(line)) {
		snprintf(err, errlen, "'%s' is not a service name", service ? service : "");
		return -1;
	}
	ctl = connect_edged(control_socket, err, errlen);
	if (ctl < 0)
		return -1;
	if (send_with_fd(ctl, line, fd)) {
		snprintf(err, errlen, "cannot send to edged: %s", strerror(errno));
		close(ctl);
		return -1;
	}
	shutdown(ctl, SHUT_WR);
	ret = read_reply(ctl, err, errlen);
	close(ctl);
	return ret;
}

/* ---- UDP helpers ---- */

ssize_t edged_dispatch_recv(int fd, void *buf, size_t len, struct sockaddr_storage *from,
                            struct sockaddr_storage *orig_dst)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct sockaddr_in6))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_name = from,
	                     .msg_namelen = sizeof(*from),
	                     .msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = cbuf.buf,
	                     .msg_controllen = sizeof(cbuf.buf)};
	ssize_t n = recvmsg(fd, &msg, 0);

	if (n < 0)
		return n;
	memset(orig_dst, 0, sizeof(*orig_dst));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR) ||
		    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR))
			memcpy(orig_dst, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0));
	}
	return n;
}

ssize_t edged_dispatch_reply(const struct sockaddr_storage *from, const struct sockaddr_storage *to,
                             const void *buf, size_t len)
{
	int family = from->ss_family, one = 1, fd;
	socklen_t alen =
	        family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	ssize_t n = -1;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Transparent: bind to an address that is only local by an AnyIP route, and to a port
	 * the dispatch socket does not own; reuseaddr: other replies may hold it right now. */
	if (!setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) &&
	    !setsockopt(fd, family == AF_INET ? SOL_IP : SOL_IPV6,
	                family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT, &one, sizeof(one)) &&
	    !bind(fd, (const struct sockaddr *)from, alen))
		n = sendto(fd, buf, len, 0, (const struct sockaddr *)to, alen);
	close(fd);
	return n;
}
