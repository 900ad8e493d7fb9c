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

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
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

size_t transit_keepalive_build(uint8_t *buf, size_t len, const char *name, uint32_t remote,
                               uint32_t endpoint, uint32_t back_to, bool has_key, uint32_t key,
                               uint16_t seq)
{
	size_t gre = has_key ? 8 : 4, payload = sizeof(TRANSIT_KEEPALIVE_MAGIC) + TRANSIT_NAME_MAX;
	size_t inner = 20 + 8 + payload, total = 20 + gre + inner;
	uint8_t *g = buf + 20, *in = g + gre, *icmp = in + 20;
	uint16_t flags = htons(has_key ? 0x2000 : 0), proto = htons(0x0800);
	uint32_t k = htonl(key);

	if (len < total)
		return 0;
	memset(buf, 0, total);
	/* Outer: the endpoint to the router. The kernel fills in the id (raw IP_HDRINCL). */
	put_ip(buf, total, IPPROTO_GRE, endpoint, remote);
	memcpy(g, &flags, 2);
	memcpy(g + 2, &proto, 2);
	if (has_key)
		memcpy(g + 4, &k, 4);
	/* Inner: from the router to us, which the router routes back. */
	put_ip(in, inner, IPPROTO_ICMP, remote, back_to);
	icmp[0] = ICMP_ECHOREPLY;
	icmp[4] = TRANSIT_KEEPALIVE_ID >> 8;
	icmp[5] = TRANSIT_KEEPALIVE_ID & 0xff;
	icmp[6] = seq >> 8;
	icmp[7] = seq & 0xff;
	memcpy(icmp + 8, TRANSIT_KEEPALIVE_MAGIC, sizeof(TRANSIT_KEEPALIVE_MAGIC));
	snprintf((char *)icmp + 8 + sizeof(TRANSIT_KEEPALIVE_MAGIC), TRANSIT_NAME_MAX, "%s", name);
	{
		uint16_t c = csum(icmp, 8 + payload);

		memcpy(icmp + 2, &c, 2);
	}
	return total;
}

const char *transit_keepalive_parse(const uint8_t *pkt, size_t len, char *name, size_t namelen)
{
	size_t ihl, need = sizeof(TRANSIT_KEEPALIVE_MAGIC) + TRANSIT_NAME_MAX;
	const uint8_t *icmp;

	if (len < 20 || (pkt[0] >> 4) != 4)
		return NULL;
	ihl = (pkt[0] & 0xf) * 4;
	if (ihl < 20 || len < ihl + 8 + need)
		return NULL;
	icmp = pkt + ihl;
	if (icmp[0] != ICMP_ECHOREPLY || ((icmp[4] << 8) | icmp[5]) != TRANSIT_KEEPALIVE_ID ||
	    memcmp(icmp + 8, TRANSIT_KEEPALIVE_MAGIC, sizeof(TRANSIT_KEEPALIVE_MAGIC)))
		return NULL;
	snprintf(name, namelen, "%.*s", TRANSIT_NAME_MAX - 1,
	         (const char *)icmp + 8 + sizeof(TRANSIT_KEEPALIVE_MAGIC));
	return name;
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

static int open_sockets(struct transit_state *st)
{
	struct itimerspec its = {
	        .it_interval = {.tv_nsec = TRANSIT_HEALTH_TICK_MS * 1000000L},
	        .it_value = {.tv_nsec = TRANSIT_HEALTH_TICK_MS * 1000000L},
	};

	if (st->probe_fd < 0)
		st->probe_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (st->icmp_fd < 0)
		st->icmp_fd =
		        socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
	if (st->route_fd < 0)
		st->route_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (st->timer_fd < 0) {
		st->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (st->timer_fd >= 0)
			timerfd_settime(st->timer_fd, 0, &its, NULL);
	}
	if (st->probe_fd < 0 || st->icmp_fd < 0 || st->route_fd < 0 || st->timer_fd < 0) {
		pr_err("transit: health check sockets: %s", strerror(errno));
		return -errno;
	}
	if (st->efd >= 0)
		transit_health_attach(st, st->efd);
	return 0;
}

void transit_health_close(struct transit_state *st)
{
	int *fds[] = {&st->probe_fd, &st->icmp_fd, &st->route_fd, &st->timer_fd};

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
	int n = 0, checks = 0;
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
			checks += t->health.enabled;
		}
	}
	free(st->health);
	st->health = next;
	st->n_health = n;
	if (checks)
		open_sockets(st);
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
	int fds[] = {st->icmp_fd, st->timer_fd};

	st->efd = efd;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};

		if (fds[i] >= 0 && efd >= 0)
			epoll_ctl(efd, EPOLL_CTL_ADD, fds[i], &ev);
	}
}

bool transit_health_owns_fd(const struct transit_state *st, int fd)
{
	return fd >= 0 && (fd == st->icmp_fd || fd == st->timer_fd);
}

/* ---- checks ---- */

/* This edge's unicast address toward REMOTE (the source the kernel picks: connecting a UDP
 * socket sends nothing), asked again at every keepalive since routes change; the endpoint
 * when there is no route. */
static uint32_t back_to(struct transit_state *st, struct in_addr remote, struct in_addr endpoint)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr = remote};
	struct sockaddr_in me;
	socklen_t len = sizeof(me);

	if (connect(st->route_fd, (struct sockaddr *)&to, sizeof(to)) ||
	    getsockname(st->route_fd, (struct sockaddr *)&me, &len) || !me.sin_addr.s_addr)
		return endpoint.s_addr;
	return me.sin_addr.s_addr;
}

static void send_probe(struct transit_state *st, struct transit_tunnel_health *h)
{
	uint8_t buf[256];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = h->remote};
	size_t len = transit_keepalive_build(
	        buf, sizeof(buf), h->name, h->remote.s_addr, h->endpoint.s_addr,
	        back_to(st, h->remote, h->endpoint), h->has_key, h->key, ++h->seq);

	if (sendto(st->probe_fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		if (!h->send_errors++)
			pr_warn("transit: tunnel '%s': sending a keepalive to %s: %s", h->name,
			        inet_ntoa(h->remote), strerror(errno));
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

static void receive(struct edged *e)
{
	struct transit_state *st = &e->transit;
	uint8_t buf[512];
	char name[TRANSIT_NAME_MAX];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	while ((n = recvfrom(st->icmp_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl)) >
	       0) {
		struct transit_tunnel_health *h;
		double now;

		if (!transit_keepalive_parse(buf, n, name, sizeof(name)))
			continue;
		h = find(st->health, st->n_health, name);
		/* Only the tunnel's own router can answer for it. */
		if (!h || from.sin_addr.s_addr != h->remote.s_addr)
			continue;
		now = now_s();
		h->replies++;
		h->last_reply = now;
		if (!h->up && h->cfg.enabled)
			set_state(e, h, true, now);
		fl = sizeof(from);
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
		receive(e);
	}
	pthread_mutex_unlock(&e->lock);
}
