// SPDX-License-Identifier: GPL-2.0
/*
 * A service for edged's socket dispatch, using libedged_dispatch: it makes a TCP and a UDP
 * socket per family on loopback, registers them with edged under SERVICE, and answers every
 * connection and datagram with the address and port the client used, which dispatch
 * preserves whatever prefix and port the binding covers:
 *
 *   $ dispatch_service -s /run/edged/edge1.sock web &
 *   $ nc 203.0.113.7 8080            (a binding: 203.0.113.0/24 tcp any -> web)
 *   web tcp 203.0.113.7 8080
 *
 * Each answer is also logged on stdout, one line per connection or datagram.
 *
 *   dispatch_service [-s CONTROL_SOCKET] [-4|-6] [-t|-u] [-n NAME] SERVICE
 *     -4, -6   one family only (default both)     -t, -u   one protocol only (default both)
 *     -n NAME  the name in answers (default SERVICE)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edged_dispatch.h"

struct listener {
	int fd;
	int family, type;
};

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len, int *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, buf, len);
		*port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, buf, len);
		*port = ntohs(s->sin6_port);
	}
}

/* "NAME PROTO ADDR PORT\n": what the client sent to. */
static int answer(char *buf, size_t len, const char *name, const char *proto,
                  const struct sockaddr_storage *dst, const struct sockaddr_storage *from)
{
	char d[INET6_ADDRSTRLEN], f[INET6_ADDRSTRLEN];
	int dport, fport, n;

	addr_text(dst, d, sizeof(d), &dport);
	addr_text(from, f, sizeof(f), &fport);
	n = snprintf(buf, len, "%s %s %s %d\n", name, proto, d, dport);
	printf("%s %s %d from %s %d\n", proto, d, dport, f, fport);
	fflush(stdout);
	return n;
}

static void serve_tcp(int lfd, const char *name)
{
	struct sockaddr_storage dst, from;
	socklen_t dlen = sizeof(dst), flen = sizeof(from);
	char buf[256];
	int c = accept4(lfd, (struct sockaddr *)&from, &flen, SOCK_CLOEXEC), n;

	if (c < 0)
		return;
	/* The accepted socket's local address is the one the client connected to. */
	getsockname(c, (struct sockaddr *)&dst, &dlen);
	n = answer(buf, sizeof(buf), name, "tcp", &dst, &from);
	if (write(c, buf, n) != n)
		perror("write");
	close(c);
}

static void serve_udp(int fd, const char *name)
{
	struct sockaddr_storage dst, from;
	char buf[2048];
	int n;

	if (edged_dispatch_recv(fd, buf, sizeof(buf), &from, &dst) < 0 || !dst.ss_family)
		return;
	n = answer(buf, sizeof(buf), name, "udp", &dst, &from);
	if (edged_dispatch_reply(&dst, &from, buf, n) < 0)
		perror("reply");
}

static int open_and_register(const char *ctl, const char *service, int family, int type,
                             struct listener *l)
{
	char err[512];

	l->family = family;
	l->type = type;
	l->fd = edged_dispatch_socket(family, type, NULL, 0, 1024);
	if (l->fd < 0) {
		fprintf(stderr, "dispatch_service: socket: %s\n", strerror(-l->fd));
		return -1;
	}
	if (edged_dispatch_register(ctl, service, l->fd, err, sizeof(err))) {
		fprintf(stderr, "dispatch_service: register %s: %s\n", service, err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *ctl = NULL, *name = NULL;
	bool v4 = true, v6 = true, tcp = true, udp = true;
	struct listener l[4];
	struct pollfd pfd[4];
	int n = 0, c;

	while ((c = getopt(argc, argv, "s:46tun:")) != -1) {
		switch (c) {
		case 's':
			ctl = optarg;
			break;
		case '4':
			v6 = false;
			break;
		case '6':
			v4 = false;
			break;
		case 't':
			udp = false;
			break;
		case 'u':
			tcp = false;
			break;
		case 'n':
			name = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: dispatch_service [-s CONTROL_SOCKET] [-4|-6] [-t|-u] "
		                "[-n NAME] SERVICE\n");
		return 2;
	}
	name = name ? name : argv[optind];
	for (int fam = 0; fam < 2; fam++) {
		for (int proto = 0; proto < 2; proto++) {
			if (!(fam ? v6 : v4) || !(proto ? udp : tcp))
				continue;
			if (open_and_register(ctl, argv[optind], fam ? AF_INET6 : AF_INET,
			                      proto ? SOCK_DGRAM : SOCK_STREAM, &l[n]))
				return 1;
			pfd[n] = (struct pollfd){.fd = l[n].fd, .events = POLLIN};
			n++;
		}
	}
	printf("ready: %d socket(s) registered for %s\n", n, argv[optind]);
	fflush(stdout);
	for (;;) {
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (l[i].type == SOCK_STREAM)
				serve_tcp(l[i].fd, name);
			else
				serve_udp(l[i].fd, name);
		}
	}
}
