// SPDX-License-Identifier: GPL-2.0
/*
 * UDP relay of edged-proxy. A flow is (client address and port, original destination). Its
 * first datagram arrives on the dispatch socket with IP_ORIGDSTADDR; the proxy then opens
 * two sockets for the flow:
 *   - toward the client: transparent, bound to the original destination and connected to
 *     the client. Replies leave from exactly the address and port the client sent to, and
 *     the client's next datagrams arrive here directly (the kernel prefers a connected
 *     socket to both the dispatch lookup and TPROXY's listener lookup);
 *   - toward the origin: connected to it, so its answers arrive here.
 * With PROXY protocol v2 on, every datagram to the origin carries the header (a datagram
 * may be lost or reordered, so each one says where it is from). Flows end after
 * udp_idle_timeout without a datagram either way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <netinet/in.h>

#include "log.h"
#include "proxy.h"
#include "proxy_v2.h"

struct udp_sock {
	struct handler h;
	struct udp_flow *f;
	int fd;
};

struct udp_flow {
	struct udp_sock client, origin;
	struct sockaddr_storage peer, odst;
	time_t last;
	struct lru idle;
	struct udp_flow *next; /* hash chain */
};

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

int proxy_udp_init(struct proxy *p)
{
	p->flows = calloc(PROXY_FLOW_BUCKETS, sizeof(*p->flows));
	return p->flows ? 0 : -1;
}

/* The bytes of an address that identify it: family, port, address. */
static size_t addr_key(const struct sockaddr_storage *ss, uint8_t *k)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		memcpy(k, &s->sin_port, 2);
		memcpy(k + 2, &s->sin_addr, 4);
		return 6;
	}
	const struct sockaddr_in6 *s6 = (const void *)ss;

	memcpy(k, &s6->sin6_port, 2);
	memcpy(k + 2, &s6->sin6_addr, 16);
	return 18;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t ka[18], kb[18];
	size_t la = addr_key(a, ka), lb = addr_key(b, kb);

	return a->ss_family == b->ss_family && la == lb && !memcmp(ka, kb, la);
}

/* FNV-1a over both addresses. */
static uint32_t flow_hash(const struct sockaddr_storage *peer, const struct sockaddr_storage *odst)
{
	uint8_t k[36];
	size_t n = addr_key(peer, k);
	uint32_t h = 2166136261u;

	n += addr_key(odst, k + n);
	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % PROXY_FLOW_BUCKETS;
}

static struct udp_flow *flow_find(struct proxy *p, const struct sockaddr_storage *peer,
                                  const struct sockaddr_storage *odst)
{
	for (struct udp_flow *f = p->flows[flow_hash(peer, odst)]; f; f = f->next)
		if (same_addr(&f->peer, peer) && same_addr(&f->odst, odst))
			return f;
	return NULL;
}

static void flow_free(struct proxy *p, struct udp_flow *f)
{
	struct udp_flow **pp = &p->flows[flow_hash(&f->peer, &f->odst)];

	while (*pp && *pp != f)
		pp = &(*pp)->next;
	if (*pp)
		*pp = f->next;
	for (int i = 0; i < 2; i++) {
		struct udp_sock *s = i ? &f->origin : &f->client;

		if (s->fd >= 0) {
			proxy_unwatch(p, s->fd);
			close(s->fd);
		}
	}
	lru_del(&f->idle);
	p->st.udp_active--;
	p->st.udp_closed++;
	free(f);
}

/* Sends PAYLOAD to the origin, behind a PROXY v2 header when configured. */
static void to_origin(struct proxy *p, struct udp_flow *f, const void *payload, size_t len)
{
	uint8_t hdr[PP2_HEADER_MAX];
	struct iovec iov[2] = {{.iov_base = hdr, .iov_len = 0},
	                       {.iov_base = (void *)payload, .iov_len = len}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	int n;

	if (p->pc->proxy_protocol_v2) {
		n = pp2_encode(hdr, sizeof(hdr), IPPROTO_UDP, &f->peer, &f->odst);
		iov[0].iov_len = n > 0 ? n : 0;
	}
	if (sendmsg(f->origin.fd, &msg, MSG_NOSIGNAL) < 0) {
		p->st.udp_errors++; /* origin unreachable (ICMP) or buffer full: UDP may lose it */
		return;
	}
	p->st.bytes_to_origin += len;
	if (iov[0].iov_len)
		p->st.udp_pp2_sent++;
}

static void touch(struct proxy *p, struct udp_flow *f)
{
	f->last = now_s();
	lru_touch(&p->udp_idle, &f->idle);
}

static void on_flow_sock(struct proxy *p, struct handler *h, uint32_t events)
{
	struct udp_sock *s = (struct udp_sock *)h;
	struct udp_flow *f = s->f;

	(void)events;
	for (int i = 0; i < PROXY_BATCH; i++) {
		ssize_t n = recv(s->fd, p->buf, sizeof(p->buf), MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			p->st.udp_errors++; /* a queued ICMP error: reading it clears it */
			continue;
		}
		if (s == &f->client) {
			to_origin(p, f, p->buf, n);
		} else if (send(f->client.fd, p->buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			p->st.udp_errors++;
		} else {
			p->st.bytes_to_client += n;
		}
	}
	touch(p, f);
}

/* The client-facing socket: from the original destination, to the client. */
static int client_socket(const struct udp_flow *f)
{
	int v4 = f->odst.ss_family == AF_INET, one = 1;
	int fd = socket(f->odst.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* Transparent (and freebind): the address is only local by an AnyIP route, or not at
	 * all behind TPROXY; reuseaddr: the flows of other clients hold the same address. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, v4 ? SOL_IP : SOL_IPV6, v4 ? IP_TRANSPARENT : IPV6_TRANSPARENT, &one,
	               sizeof(one)) ||
	    setsockopt(fd, v4 ? SOL_IP : SOL_IPV6, v4 ? IP_FREEBIND : IPV6_FREEBIND, &one,
	               sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)&f->odst, proxy_addrlen(&f->odst)) ||
	    connect(fd, (const struct sockaddr *)&f->peer, proxy_addrlen(&f->peer))) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct udp_flow *flow_new(struct proxy *p, const struct sockaddr_storage *peer,
                                 const struct sockaddr_storage *odst,
                                 const struct sockaddr_storage *origin)
{
	struct udp_flow *f = calloc(1, sizeof(*f));
	uint32_t b;

	if (!f)
		return NULL;
	f->peer = *peer;
	f->odst = *odst;
	f->client = (struct udp_sock){.h.fn = on_flow_sock, .f = f, .fd = client_socket(f)};
	f->origin = (struct udp_sock){.h.fn = on_flow_sock, .f = f, .fd = -1};
	if (f->client.fd >= 0)
		f->origin.fd =
		        socket(origin->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->origin.fd < 0 ||
	    connect(f->origin.fd, (const struct sockaddr *)origin, proxy_addrlen(origin)) ||
	    proxy_watch(p, f->client.fd, &f->client.h, EPOLLIN) ||
	    proxy_watch(p, f->origin.fd, &f->origin.h, EPOLLIN)) {
		pr_debug("proxy: cannot open a UDP flow: %s", strerror(errno));
		if (f->client.fd >= 0)
			close(f->client.fd);
		if (f->origin.fd >= 0)
			close(f->origin.fd);
		free(f);
		return NULL;
	}
	lru_init(&f->idle);
	b = flow_hash(peer, odst);
	f->next = p->flows[b];
	p->flows[b] = f;
	p->st.udp_flows++;
	p->st.udp_active++;
	return f;
}

/* Reads one datagram with its original destination; -1 when there is none. */
static ssize_t recv_orig(struct proxy *p, int fd, struct sockaddr_storage *peer,
                         struct sockaddr_storage *odst)
{
	union { /* aligned for struct cmsghdr */
		char buf[CMSG_SPACE(sizeof(struct sockaddr_in6))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = p->buf, .iov_len = sizeof(p->buf)};
	struct msghdr msg = {.msg_name = peer,
	                     .msg_namelen = sizeof(*peer),
	                     .msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = cbuf.buf,
	                     .msg_controllen = sizeof(cbuf.buf)};
	ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

	if (n < 0)
		return -1;
	memset(odst, 0, sizeof(*odst));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR) ||
		    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR))
			memcpy(odst, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0));
	return n;
}

void proxy_udp_receive(struct proxy *p, struct listener *l)
{
	for (int i = 0; i < PROXY_BATCH; i++) {
		struct sockaddr_storage peer, odst, origin;
		struct udp_flow *f;
		ssize_t n = recv_orig(p, l->fd, &peer, &odst);

		if (n < 0)
			return;
		if (!odst.ss_family) {
			p->st.udp_errors++; /* not set up by edged_dispatch_socket(): no origdst */
			continue;
		}
		f = flow_find(p, &peer, &odst);
		if (!f && proxy_origin(p, &odst, &origin)) {
			p->st.udp_no_origin++;
			continue;
		}
		if (!f)
			f = flow_new(p, &peer, &odst, &origin);
		if (!f) {
			p->st.udp_errors++;
			continue;
		}
		to_origin(p, f, p->buf, n);
		touch(p, f);
	}
}

void proxy_udp_sweep(struct proxy *p, time_t now)
{
	while (p->udp_idle.next != &p->udp_idle) {
		struct udp_flow *f = (struct udp_flow *)((char *)p->udp_idle.next -
		                                         offsetof(struct udp_flow, idle));

		if (now - f->last < (time_t)p->pc->udp_idle_s)
			break;
		p->st.udp_idle_closed++;
		flow_free(p, f);
	}
}
