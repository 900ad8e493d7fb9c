// SPDX-License-Identifier: GPL-2.0
/*
 * TCP relay of edged-proxy: accept, connect to the origin, relay both ways with half-close.
 *
 * A direction (client -> origin or back) reads from one side and writes to the other. What
 * the writer does not take at once waits in the writer side's `pend` and the reader stops
 * reading until it is written. EOF from a reader becomes shutdown(SHUT_WR) of the writer once
 * its pending bytes are out, so a client that half-closes still gets the rest of the
 * origin's answer. The connection ends when both directions have ended; a reset or error on
 * either side resets the other (SO_LINGER 0), so neither end waits on a dead peer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "log.h"
#include "proxy.h"
#include "proxy_v2.h"

enum { CLIENT = 0, ORIGIN = 1 };

struct side {
	struct handler h;
	struct conn *c;
	int fd;
	uint8_t *pend; /* bytes read from the other side, not yet written to this one */
	size_t pend_len, pend_off;
	bool rd_eof;  /* this side sent EOF */
	bool wr_shut; /* we shut down writing to this side */
	uint32_t events;
	bool watched;
};

struct conn {
	struct side s[2];
	bool connected; /* the origin accepted */
	time_t since;   /* creation, for the connect timeout */
	time_t last;    /* last activity, for the idle timeout */
	struct lru idle;
};

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Resets FD on close instead of a FIN: the peer learns the relay is gone. */
static void close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void conn_free(struct proxy *p, struct conn *c, bool reset)
{
	for (int i = 0; i < 2; i++) {
		if (c->s[i].fd < 0)
			continue;
		if (c->s[i].watched)
			proxy_unwatch(p, c->s[i].fd);
		if (reset)
			close_reset(c->s[i].fd);
		else
			close(c->s[i].fd);
		free(c->s[i].pend);
	}
	lru_del(&c->idle);
	p->st.tcp_active--;
	p->st.tcp_closed++;
	free(c);
}

/* The epoll interest of side I follows from the state. A side with no interest leaves the
 * set: a hang-up is reported whatever the interest, and would spin the loop while the side
 * waits (for the other side to drain, or for nothing at all). */
static void update(struct proxy *p, struct conn *c, int i)
{
	struct side *s = &c->s[i], *o = &c->s[!i];
	uint32_t ev = 0;

	if (c->connected && !s->rd_eof && !o->pend_len && !o->wr_shut)
		ev |= EPOLLIN;
	if (s->pend_len || (i == ORIGIN && !c->connected))
		ev |= EPOLLOUT;
	if (!ev && s->watched)
		proxy_unwatch(p, s->fd);
	else if (ev && !s->watched)
		s->watched = !proxy_watch(p, s->fd, &s->h, ev);
	else if (ev && ev != s->events)
		proxy_rewatch(p, s->fd, &s->h, ev);
	s->watched = s->watched && ev;
	s->events = ev;
}

static bool done(const struct conn *c)
{
	return c->s[CLIENT].wr_shut && c->s[ORIGIN].wr_shut && !c->s[CLIENT].pend_len &&
	       !c->s[ORIGIN].pend_len;
}

/* Writes what S has pending; on an EOF already read from the other side, ends S's
 * direction. Returns 0, or -1 when S is gone. */
static int flush(struct conn *c, struct side *s)
{
	struct side *o = &c->s[s == &c->s[CLIENT]];

	while (s->pend_len) {
		ssize_t n = send(s->fd, s->pend + s->pend_off, s->pend_len, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		s->pend_off += n;
		s->pend_len -= n;
	}
	free(s->pend);
	s->pend = NULL;
	s->pend_off = 0;
	if (o->rd_eof && !s->wr_shut) {
		shutdown(s->fd, SHUT_WR);
		s->wr_shut = true;
	}
	return 0;
}

/* Keeps what the writer W did not take of BUF[0..LEN). */
static int keep(struct side *w, const uint8_t *buf, size_t len)
{
	w->pend = malloc(len);
	if (!w->pend)
		return -1;
	memcpy(w->pend, buf, len);
	w->pend_len = len;
	w->pend_off = 0;
	return 0;
}

/* Reads once from side R into the shared buffer and writes it through to the other side. */
static int relay(struct proxy *p, struct conn *c, int r)
{
	struct side *rd = &c->s[r], *w = &c->s[!r];
	ssize_t n = recv(rd->fd, p->buf, sizeof(p->buf), 0), sent;

	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	if (n == 0) {
		rd->rd_eof = true;
		return flush(c, w); /* nothing pending: shuts the writer down now */
	}
	if (r == CLIENT)
		p->st.bytes_to_origin += n;
	else
		p->st.bytes_to_client += n;
	sent = send(w->fd, p->buf, n, MSG_NOSIGNAL);
	if (sent < 0 && errno != EAGAIN)
		return -1;
	if (sent < 0)
		sent = 0;
	return sent < n ? keep(w, p->buf + sent, n - sent) : 0;
}

static int origin_connected(struct proxy *p, struct conn *c)
{
	struct sockaddr_storage src, dst;
	socklen_t slen = sizeof(src), dlen = sizeof(dst);
	uint8_t hdr[PP2_HEADER_MAX];
	int err = 0, len;
	socklen_t elen = sizeof(err);

	getsockopt(c->s[ORIGIN].fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err) {
		p->st.tcp_origin_failed++;
		pr_debug("proxy: origin connect failed: %s", strerror(err));
		return -1;
	}
	c->connected = true;
	if (!p->pc->proxy_protocol_v2)
		return 0;
	getpeername(c->s[CLIENT].fd, (struct sockaddr *)&src, &slen);
	getsockname(c->s[CLIENT].fd, (struct sockaddr *)&dst, &dlen);
	len = pp2_encode(hdr, sizeof(hdr), IPPROTO_TCP, &src, &dst);
	/* The header goes first, before any client byte: queue it as pending. */
	if (len < 0 || keep(&c->s[ORIGIN], hdr, len))
		return -1;
	p->st.tcp_pp2_sent++;
	return flush(c, &c->s[ORIGIN]);
}

static void on_side(struct proxy *p, struct handler *h, uint32_t events)
{
	struct side *s = (struct side *)h;
	struct conn *c = s->c;
	int i = s == &c->s[ORIGIN], err = 0;

	if (i == ORIGIN && !c->connected) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			err = origin_connected(p, c);
	} else if (events & EPOLLERR) {
		err = -1;
	} else {
		if (events & EPOLLOUT)
			err = flush(c, s);
		/* Only while the other side has nothing pending: bytes must not overtake. */
		if (!err && (events & (EPOLLIN | EPOLLHUP)) && !s->rd_eof && !c->s[!i].pend_len)
			err = relay(p, c, i);
	}
	if (err || done(c)) {
		conn_free(p, c, err != 0);
		return;
	}
	c->last = now_s();
	lru_touch(c->connected ? &p->tcp_idle : &p->tcp_connecting, &c->idle);
	update(p, c, CLIENT);
	update(p, c, ORIGIN);
}

static int nonblocking_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	/* Bytes go through as they come: interactive protocols must not wait on Nagle. */
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int start_conn(struct proxy *p, int cfd, const struct sockaddr_storage *origin)
{
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return -1;
	lru_init(&c->idle);
	c->since = c->last = now_s();
	for (int i = 0; i < 2; i++) {
		c->s[i].h.fn = on_side;
		c->s[i].c = c;
		c->s[i].fd = -1;
	}
	c->s[CLIENT].fd = cfd;
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->s[ORIGIN].fd = nonblocking_socket(origin->ss_family);
	p->st.tcp_active++;
	if (c->s[ORIGIN].fd < 0 ||
	    (connect(c->s[ORIGIN].fd, (const struct sockaddr *)origin, proxy_addrlen(origin)) &&
	     errno != EINPROGRESS)) {
		p->st.tcp_origin_failed++;
		conn_free(p, c, true);
		return 0;
	}
	/* Nothing is read from the client until the origin answered. */
	update(p, c, ORIGIN);
	lru_touch(&p->tcp_connecting, &c->idle);
	return 0;
}

void proxy_tcp_accept(struct proxy *p, struct listener *l)
{
	for (int i = 0; i < PROXY_BATCH; i++) {
		struct sockaddr_storage dst, origin;
		socklen_t dlen = sizeof(dst);
		int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0)
			return; /* EAGAIN, or out of descriptors: the next event retries */
		p->st.tcp_accepted++;
		/* The accepted socket's local address is where the client connected to. */
		getsockname(cfd, (struct sockaddr *)&dst, &dlen);
		if (proxy_origin(p, &dst, &origin)) {
			p->st.tcp_no_origin++;
			close_reset(cfd);
			continue;
		}
		start_conn(p, cfd, &origin);
	}
}

static struct conn *oldest(struct lru *l)
{
	return l->next == l ? NULL : (struct conn *)((char *)l->next - offsetof(struct conn, idle));
}

void proxy_tcp_sweep(struct proxy *p, time_t now)
{
	struct conn *c;

	/* Both lists are oldest first: stop at the first one that may stay. */
	while ((c = oldest(&p->tcp_connecting)) && now - c->since >= PROXY_CONNECT_TIMEOUT_S) {
		p->st.tcp_origin_failed++;
		conn_free(p, c, true);
	}
	while ((c = oldest(&p->tcp_idle)) && now - c->last >= (time_t)p->pc->tcp_idle_s) {
		p->st.tcp_idle_closed++;
		conn_free(p, c, true);
	}
}
