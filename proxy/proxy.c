// SPDX-License-Identifier: GPL-2.0
/* What the relays of edged-proxy share: the epoll set and the origin choice. */
#include <sys/epoll.h>
#include <netinet/in.h>

#include "dispatch_config.h"
#include "proxy.h"

int proxy_watch(struct proxy *p, int fd, struct handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	return epoll_ctl(p->efd, EPOLL_CTL_ADD, fd, &ev);
}

int proxy_rewatch(struct proxy *p, int fd, struct handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	return epoll_ctl(p->efd, EPOLL_CTL_MOD, fd, &ev);
}

void proxy_unwatch(struct proxy *p, int fd)
{
	epoll_ctl(p->efd, EPOLL_CTL_DEL, fd, NULL);
}

socklen_t proxy_addrlen(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

int proxy_origin(const struct proxy *p, const struct sockaddr_storage *dst,
                 struct sockaddr_storage *origin)
{
	const struct dispatch_origin_config *o = dispatch_origin_for(p->pc, dst);
	struct sockaddr_in *sin = (struct sockaddr_in *)origin;

	if (!o)
		return -1;
	*origin = o->addr;
	/* Port 0: the client's destination port (sin_port and sin6_port share the offset). */
	if (!sin->sin_port)
		sin->sin_port = ((const struct sockaddr_in *)dst)->sin_port;
	return 0;
}
