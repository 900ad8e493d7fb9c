// SPDX-License-Identifier: GPL-2.0
/*
 * GRE keepalives for transit tunnels (see transit_health.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "edged.h"
#include "log.h"
#include "transit_customers.h"
#include "transit_health.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The ones' complement sum of LEN bytes, folded, added to SUM (not inverted). */
static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static uint16_t csum(const void *data, size_t len)
{
	return htons(~sum16(data, len, 0) & 0xffff);
}

static void put_ip(uint8_t *p, size_t total, uint8_t proto, uint32_t src, uint32_t dst)
{
	struct iphdr *ip = (struct iphdr *)p;

	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(total);
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = src;
	ip->daddr = dst;
	ip->check = csum(ip, sizeof(*ip));
}

/* The keepalive's payload after the ICMP or ICMPv6 header's first 4 bytes: identifier,
 * sequence, magic and the tunnel's name. */
static void put_echo_body(uint8_t *icmp, const char *name, uint16_t seq)
{
	icmp[4] = TRANSIT_KEEPALIVE_ID >> 8;
	icmp[5] = TRANSIT_KEEPALIVE_ID & 0xff;
	icmp[6] = seq >> 8;
	icmp[7] = seq & 0xff;
	memcpy(icmp + 8, TRANSIT_KEEPALIVE_MAGIC, sizeof(TRANSIT_KEEPALIVE_MAGIC));
	snprintf((char *)icmp + 8 + sizeof(TRANSIT_KEEPALIVE_MAGIC), TRANSIT_NAME_MAX, "%s", name);
}

/* A GRE header carrying PROTO (an EtherType), with the key when HAS_KEY (RFC 2890). */
static void put_gre(uint8_t *g, uint16_t proto, bool has_key, uint32_t key)
{
	uint16_t flags = htons(has_key ? 0x2000 : 0), p = htons(proto);
	uint32_t k = htonl(key);

	memcpy(g, &flags, 2);
	memcpy(g + 2, &p, 2);
	if (has_key)
		memcpy(g + 4, &k, 4);
}

size_t transit_keepalive_build(uint8_t *buf, size_t len, const char *name, uint32_t remote,
                               uint32_t endpoint, uint32_t back_to, bool has_key, uint32_t key,
                               uint16_t seq)
{
	size_t gre = has_key ? 8 : 4, payload = sizeof(TRANSIT_KEEPALIVE_MAGIC) + TRANSIT_NAME_MAX;
	size_t inner = 20 + 8 + payload, total = 20 + gre + inner;
	uint8_t *g = buf + 20, *in = g + gre, *icmp = in + 20;

	if (len < total)
		return 0;
	memset(buf, 0, total);
	/* Outer: the endpoint to the router. The kernel fills in the id (raw IP_HDRINCL). */
	put_ip(buf, total, IPPROTO_GRE, endpoint, remote);
	put_gre(g, 0x0800, has_key, key);
	/* Inner: from the router to us, which the router routes back. */
	put_ip(in, inner, IPPROTO_ICMP, remote, back_to);
	icmp[0] = ICMP_ECHOREPLY;
	put_echo_body(icmp, name, seq);
	{
		uint16_t c = csum(icmp, 8 + payload);

		memcpy(icmp + 2, &c, 2);
	}
	return total;
}

/* An IPv6 header of PAYLOAD bytes: traffic class and flow label 0, hop limit 64. */
static void put_ip6(uint8_t *p, size_t payload, uint8_t next, const struct in6_addr *src,
                    const struct in6_addr *dst)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[4] = payload >> 8;
	p[5] = payload & 0xff;
	p[6] = next;
	p[7] = 64;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
}

size_t transit_keepalive_build6(uint8_t *buf, size_t len, const char *name,
                                const struct in6_addr *remote, const struct in6_addr *endpoint,
                                const struct in6_addr *back_to, bool has_key, uint32_t key,
                                uint16_t seq)
{
	size_t gre = has_key ? 8 : 4, payload = sizeof(TRANSIT_KEEPALIVE_MAGIC) + TRANSIT_NAME_MAX;
	size_t icmp_len = 8 + payload, inner = 40 + icmp_len, total = 40 + gre + inner;
	uint8_t *g = buf + 40, *in = g + gre, *icmp = in + 40, pseudo[40] = {0};
	uint16_t c;

	if (len < total)
		return 0;
	memset(buf, 0, total);
	/* Outer: the endpoint to the router (IPPROTO_RAW sockets send the header as built). */
	put_ip6(buf, gre + inner, IPPROTO_GRE, endpoint, remote);
	put_gre(g, 0x86dd, has_key, key);
	/* Inner: from the router to us, which the router routes back. */
	put_ip6(in, icmp_len, IPPROTO_ICMPV6, remote, back_to);
	icmp[0] = ICMP6_ECHO_REPLY;
	put_echo_body(icmp, name, seq);
	/* ICMPv6's checksum covers a pseudo-header (RFC 8200 8.1): addresses, length, 58. */
	memcpy(pseudo, remote, 16);
	memcpy(pseudo + 16, back_to, 16);
	pseudo[34] = icmp_len >> 8;
	pseudo[35] = icmp_len & 0xff;
	pseudo[39] = IPPROTO_ICMPV6;
	c = htons(~sum16(icmp, icmp_len, sum16(pseudo, sizeof(pseudo), 0)) & 0xffff);
	memcpy(icmp + 2, &c, 2);
	return total;
}

/* Whether ICMP (an echo reply of type REPLY, LEN bytes from its header on) carries a
 * keepalive; its tunnel's name into NAME. */
static const char *echo_keepalive(const uint8_t *icmp, size_t len, uint8_t reply, char *name,
                                  size_t namelen)
{
	if (len < 8 + sizeof(TRANSIT_KEEPALIVE_MAGIC) + TRANSIT_NAME_MAX || icmp[0] != reply ||
	    ((icmp[4] << 8) | icmp[5]) != TRANSIT_KEEPALIVE_ID ||
	    memcmp(icmp + 8, TRANSIT_KEEPALIVE_MAGIC, sizeof(TRANSIT_KEEPALIVE_MAGIC)))
		return NULL;
	snprintf(name, namelen, "%.*s", TRANSIT_NAME_MAX - 1,
	         (const char *)icmp + 8 + sizeof(TRANSIT_KEEPALIVE_MAGIC));
	return name;
}

const char *transit_keepalive_parse6(const uint8_t *icmp6, size_t len, char *name, size_t namelen)
{
	return echo_keepalive(icmp6, len, ICMP6_ECHO_REPLY, name, namelen);
}

const char *transit_keepalive_parse(const uint8_t *pkt, size_t len, char *name, size_t namelen)
{
	size_t ihl;

	if (len < 20 || (pkt[0] >> 4) != 4)
		return NULL;
	ihl = (pkt[0] & 0xf) * 4;
	if (ihl < 20 || len < ihl)
		return NULL;
	return echo_keepalive(pkt + ihl, len - ihl, ICMP_ECHOREPLY, name, namelen);
}

/* ---- the tunnel list ---- */

static struct transit_tunnel_health *find(struct transit_tunnel_health *h, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(h[i].name, name) == 0)
			return &h[i];
	return NULL;
}

const struct transit_tunnel_health *transit_health_find(const struct transit_state *st,
                                                        const char *tunnel)
{
	return find(st->health, st->n_health, tunnel);
}

/* The keepalive sockets of FAMILY: raw out, raw ICMP in, UDP for the source address. */
static int open_family(int family, int *probe, int *icmp, int *route)
{
	int icmp_proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;

	if (*probe < 0)
		*probe = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (*icmp < 0) {
		*icmp = socket(family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, icmp_proto);
		if (*icmp >= 0 && family == AF_INET6) {
			/* Only echo replies: neighbour discovery would wake us for nothing. */
			struct icmp6_filter f;

			ICMP6_FILTER_SETBLOCKALL(&f);
			ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
			setsockopt(*icmp, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
		}
	}
	if (*route < 0)
		*route = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return *probe < 0 || *icmp < 0 || *route < 0 ? -errno : 0;
}

static int open_sockets(struct transit_state *st, bool v4, bool v6)
{
	struct itimerspec its = {
	        .it_interval = {.tv_nsec = TRANSIT_HEALTH_TICK_MS * 1000000L},
	        .it_value = {.tv_nsec = TRANSIT_HEALTH_TICK_MS * 1000000L},
	};
	int err = 0, e6 = 0;

	if (v4)
		err = open_family(AF_INET, &st->probe_fd, &st->icmp_fd, &st->route_fd);
	if (v6)
		e6 = open_family(AF_INET6, &st->probe6_fd, &st->icmp6_fd, &st->route6_fd);
	err = err ?: e6;
	if (st->timer_fd < 0) {
		st->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (st->timer_fd >= 0)
			timerfd_settime(st->timer_fd, 0, &its, NULL);
		else
			err = -errno;
	}
	if (err)
		pr_err("transit: health check sockets (%s): %s",
		       v4 && v6 ? "IPv4 and IPv6"
		       : v6     ? "IPv6"
		                : "IPv4",
		       strerror(-err));
	/* What opened still serves the other family's tunnels. */
	if (st->efd >= 0)
		transit_health_attach(st, st->efd);
	return err;
}

void transit_health_close(struct transit_state *st)
{
	int *fds[] = {&st->probe_fd, &st->icmp_fd,   &st->route_fd, &st->probe6_fd,
	              &st->icmp6_fd, &st->route6_fd, &st->timer_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0) {
			if (st->efd >= 0)
				epoll_ctl(st->efd, EPOLL_CTL_DEL, *fds[i], NULL);
			close(*fds[i]);
		}
		*fds[i] = -1;
	}
}

void transit_health_sync(struct transit_state *st)
{
	struct transit_tunnel_health *next = NULL;
	int n = 0, checks = 0, checks6 = 0;
	double now = now_s();

	for (int i = 0; i < st->n; i++)
		n += st->cust[i].cfg.n_tunnels;
	next = calloc(n + 1, sizeof(*next));
	if (!next)
		return; /* keep the old list: checks of removed tunnels only log */
	n = 0;
	for (int i = 0; i < st->n; i++) {
		const struct transit_customer_config *c = &st->cust[i].cfg;

		for (int j = 0; j < c->n_tunnels; j++) {
			const struct transit_tunnel_config *t = &c->tunnels[j];
			struct transit_tunnel_health *old = find(st->health, st->n_health, t->name);
			struct transit_tunnel_health *h = &next[n++];

			if (old)
				*h = *old;
			else
				*h = (struct transit_tunnel_health){
				        .up = true, .last_reply = now, .changed_at = now};
			snprintf(h->name, sizeof(h->name), "%s", t->name);
			snprintf(h->customer, sizeof(h->customer), "%s", c->name);
			h->remote = t->remote;
			h->endpoint = t->endpoint;
			h->has_key = t->has_key;
			h->key = t->key;
			if (!old || old->cfg.enabled != t->health.enabled)
				h->last_reply = now; /* a check that just began has not failed */
			h->cfg = t->health;
			checks += t->health.enabled && t->remote.family == AF_INET;
			checks6 += t->health.enabled && t->remote.family == AF_INET6;
		}
	}
	free(st->health);
	st->health = next;
	st->n_health = n;
	if (checks || checks6)
		open_sockets(st, checks, checks6);
	else
		transit_health_close(st);
}

void transit_health_push(struct transit_state *st)
{
	for (int i = 0; i < st->n_health; i++)
		if (st->health[i].cfg.enabled && !st->health[i].up && st->health_changed)
			st->health_changed(st->health_ctx, st->health[i].name, false);
}

void transit_health_attach(struct transit_state *st, int efd)
{
	int fds[] = {st->icmp_fd, st->icmp6_fd, st->timer_fd};

	st->efd = efd;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};

		if (fds[i] >= 0 && efd >= 0)
			epoll_ctl(efd, EPOLL_CTL_ADD, fds[i], &ev);
	}
}

bool transit_health_owns_fd(const struct transit_state *st, int fd)
{
	return fd >= 0 && (fd == st->icmp_fd || fd == st->icmp6_fd || fd == st->timer_fd);
}

/* ---- checks ---- */

/* This edge's unicast address toward REMOTE (the source the kernel picks: connecting a UDP
 * socket sends nothing), asked again at every keepalive since routes change; the endpoint
 * when there is no route. */
static void back_to(int route_fd, const struct transit_ip *remote,
                    const struct transit_ip *endpoint, struct transit_ip *out)
{
	struct sockaddr_storage to = {}, me = {};
	struct sockaddr_in *to4 = (struct sockaddr_in *)&to, *me4 = (struct sockaddr_in *)&me;
	struct sockaddr_in6 *to6 = (struct sockaddr_in6 *)&to, *me6 = (struct sockaddr_in6 *)&me;
	socklen_t len = sizeof(me);

	*out = *endpoint;
	if (remote->family == AF_INET) {
		*to4 = (struct sockaddr_in){
		        .sin_family = AF_INET, .sin_port = htons(9), .sin_addr = remote->addr.v4};
	} else {
		*to6 = (struct sockaddr_in6){.sin6_family = AF_INET6,
		                             .sin6_port = htons(9),
		                             .sin6_addr = remote->addr.v6};
	}
	if (connect(route_fd, (struct sockaddr *)&to, sizeof(to)) ||
	    getsockname(route_fd, (struct sockaddr *)&me, &len) || me.ss_family != remote->family)
		return;
	if (remote->family == AF_INET && me4->sin_addr.s_addr)
		out->addr.v4 = me4->sin_addr;
	else if (remote->family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&me6->sin6_addr))
		out->addr.v6 = me6->sin6_addr;
}

/* The keepalive of H into BUF and where to send it; returns its length (0: no socket). */
static size_t build_probe(struct transit_state *st, struct transit_tunnel_health *h, uint8_t *buf,
                          size_t len, struct sockaddr_storage *to, int *fd)
{
	struct transit_ip me;

	memset(to, 0, sizeof(*to));
	if (h->remote.family == AF_INET6) {
		struct sockaddr_in6 *to6 = (struct sockaddr_in6 *)to;

		*fd = st->probe6_fd;
		if (*fd < 0 || st->route6_fd < 0)
			return 0;
		/* sin6_port is the protocol for raw sockets: 0 is the socket's own (raw). */
		to6->sin6_family = AF_INET6;
		to6->sin6_addr = h->remote.addr.v6;
		back_to(st->route6_fd, &h->remote, &h->endpoint, &me);
		return transit_keepalive_build6(buf, len, h->name, &h->remote.addr.v6,
		                                &h->endpoint.addr.v6, &me.addr.v6, h->has_key,
		                                h->key, ++h->seq);
	}
	*fd = st->probe_fd;
	if (*fd < 0 || st->route_fd < 0)
		return 0;
	((struct sockaddr_in *)to)->sin_family = AF_INET;
	((struct sockaddr_in *)to)->sin_addr = h->remote.addr.v4;
	back_to(st->route_fd, &h->remote, &h->endpoint, &me);
	return transit_keepalive_build(buf, len, h->name, h->remote.addr.v4.s_addr,
	                               h->endpoint.addr.v4.s_addr, me.addr.v4.s_addr, h->has_key,
	                               h->key, ++h->seq);
}

static void send_probe(struct transit_state *st, struct transit_tunnel_health *h)
{
	uint8_t buf[256];
	struct sockaddr_storage to;
	char s[INET6_ADDRSTRLEN];
	int fd = -1;
	size_t len = build_probe(st, h, buf, sizeof(buf), &to, &fd);
	socklen_t tolen = h->remote.family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                               : sizeof(struct sockaddr_in);

	if (!len || sendto(fd, buf, len, 0, (struct sockaddr *)&to, tolen) < 0) {
		if (!h->send_errors++)
			pr_warn("transit: tunnel '%s': sending a keepalive to %s: %s", h->name,
			        transit_ip_format(&h->remote, s, sizeof(s)),
			        len ? strerror(errno) : "no socket for its family");
	} else
		h->probes++;
}

static void set_state(struct edged *e, struct transit_tunnel_health *h, bool up, double now)
{
	h->up = up;
	h->changed_at = now;
	pr_info("transit: tunnel '%s' of '%s' is %s", h->name, h->customer,
	        up ? "up (keepalives answered)" : "DOWN (no keepalive answered)");
	if (e->transit.health_changed)
		e->transit.health_changed(e->transit.health_ctx, h->name, up);
}

static void tick(struct edged *e)
{
	struct transit_state *st = &e->transit;
	double now = now_s();

	for (int i = 0; i < st->n_health; i++) {
		struct transit_tunnel_health *h = &st->health[i];
		bool up;

		if (!h->cfg.enabled)
			continue;
		if (now >= h->next_due) {
			send_probe(st, h);
			h->next_due = now + h->cfg.interval_ms / 1000.0;
		}
		up = now - h->last_reply <= h->cfg.timeout_ms / 1000.0;
		if (up != h->up)
			set_state(e, h, up, now);
	}
}

/* Whether FROM (a sockaddr of the socket's family) is H's router. */
static bool from_remote(const struct transit_tunnel_health *h, const struct sockaddr_storage *from)
{
	if (h->remote.family != from->ss_family)
		return false;
	if (from->ss_family == AF_INET)
		return ((const struct sockaddr_in *)from)->sin_addr.s_addr ==
		       h->remote.addr.v4.s_addr;
	return IN6_ARE_ADDR_EQUAL(&((const struct sockaddr_in6 *)from)->sin6_addr,
	                          &h->remote.addr.v6);
}

/* Reads FD (raw ICMP: from the IPv4 header on; raw ICMPv6: from the ICMPv6 header on). */
static void receive(struct edged *e, int fd)
{
	struct transit_state *st = &e->transit;
	uint8_t buf[512];
	char name[TRANSIT_NAME_MAX];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	while ((n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl)) > 0) {
		struct transit_tunnel_health *h;
		const char *got = fd == st->icmp6_fd
		                          ? transit_keepalive_parse6(buf, n, name, sizeof(name))
		                          : transit_keepalive_parse(buf, n, name, sizeof(name));
		double now;

		fl = sizeof(from);
		if (!got)
			continue;
		h = find(st->health, st->n_health, name);
		/* Only the tunnel's own router can answer for it. */
		if (!h || !from_remote(h, &from))
			continue;
		now = now_s();
		h->replies++;
		h->last_reply = now;
		if (!h->up && h->cfg.enabled)
			set_state(e, h, true, now);
	}
}

void transit_health_event(struct edged *e, int fd)
{
	uint64_t expirations;

	pthread_mutex_lock(&e->lock);
	if (fd == e->transit.timer_fd) {
		if (read(fd, &expirations, sizeof(expirations)) == sizeof(expirations))
			tick(e);
	} else {
		receive(e, fd);
	}
	pthread_mutex_unlock(&e->lock);
}
