/* SPDX-License-Identifier: GPL-2.0 */
/*
 * edged-proxy: the built-in any-port proxy (what Spectrum sells). It is the service of the
 * bindings that name it: it accepts TCP connections and UDP datagrams on any port of any
 * prefix bound to it, learns each one's original destination (getsockname() of the accepted
 * socket; IP_ORIGDSTADDR of the datagram), and relays to the origin configured for that
 * destination (longest prefix of dispatch.services[].proxy.origins), on a fixed port or the
 * same one, optionally behind a PROXY protocol v2 header.
 *
 * One thread, one epoll set, level-triggered. Every object in the set starts with a struct
 * handler, so an event goes straight to its code. Memory per idle TCP connection is the two
 * sockets and one struct conn: data is read into one shared buffer and written through at
 * once; only what the receiver does not take right away is copied aside, and then that side
 * stops reading until it drained (backpressure instead of buffering).
 */
#ifndef EDGED_PROXY_H
#define EDGED_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>

#include "config.h"

/* Bytes read per system call: the largest TCP write worth batching, and the largest UDP
 * datagram. */
#define PROXY_BUF_SIZE 65536
/* A connection whose origin does not answer within this is given up (RST to the client). */
#define PROXY_CONNECT_TIMEOUT_S 10
/* Accepts (or datagrams) handled per readiness event, so that one busy listener cannot starve
 * the relays. */
#define PROXY_BATCH 64
/* UDP flow table buckets: flows are looked up per datagram until their own socket takes
 * over, so a few per bucket at most. */
#define PROXY_FLOW_BUCKETS 16384

struct proxy;

struct handler {
	void (*fn)(struct proxy *p, struct handler *h, uint32_t events);
};

/* A doubly linked list node, for the idle lists (oldest first). */
struct lru {
	struct lru *prev, *next;
};

/* Counters, read by SIGUSR1's log line and the metrics endpoint (proxy_metrics.c). */
struct proxy_stats {
	uint64_t tcp_accepted, tcp_active, tcp_closed, tcp_no_origin, tcp_origin_failed,
	        tcp_idle_closed, tcp_pp2_sent;
	uint64_t udp_flows, udp_active, udp_closed, udp_no_origin, udp_errors, udp_idle_closed,
	        udp_pp2_sent;
	uint64_t bytes_to_origin, bytes_to_client;
};

struct MHD_Daemon;

struct proxy {
	const char *service;
	struct edged_config *cfg; /* the file's config; reloaded on SIGHUP */
	const struct dispatch_proxy_config *pc;
	int efd;
	struct lru tcp_connecting, tcp_idle, udp_idle;
	struct udp_flow **flows; /* PROXY_FLOW_BUCKETS chains */
	struct proxy_stats st;
	struct MHD_Daemon *metrics; /* NULL: no metrics endpoint */
	struct handler metrics_h;   /* the daemon's epoll descriptor is in our set */
	bool stopping;
	uint8_t buf[PROXY_BUF_SIZE];
};

/* A dispatch socket of the proxy: a TCP listener or a UDP socket, registered with edged. */
struct listener {
	struct handler h;
	int fd;
	int family, protocol;
};

static inline void lru_init(struct lru *l)
{
	l->prev = l->next = l;
}

static inline void lru_del(struct lru *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	lru_init(n);
}

/* Moves (or adds) N to the tail of L: the most recently active end. */
static inline void lru_touch(struct lru *l, struct lru *n)
{
	lru_del(n);
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

/* epoll helpers; FD's events go to H. */
int proxy_watch(struct proxy *p, int fd, struct handler *h, uint32_t events);
int proxy_rewatch(struct proxy *p, int fd, struct handler *h, uint32_t events);
void proxy_unwatch(struct proxy *p, int fd);

/* The origin address for DST (port filled in), or -1 when no origin serves DST. */
int proxy_origin(const struct proxy *p, const struct sockaddr_storage *dst,
                 struct sockaddr_storage *origin);
socklen_t proxy_addrlen(const struct sockaddr_storage *ss);

/* proxy_tcp.c */
void proxy_tcp_accept(struct proxy *p, struct listener *l);
/* Closes connections idle past the timeout (and connects that take too long). */
void proxy_tcp_sweep(struct proxy *p, time_t now);

/* proxy_metrics.c: Prometheus text of P's counters, and its HTTP endpoint, served from the
 * proxy's own loop (no thread: the counters are read where they are written). */
struct strbuf;
void proxy_metrics_render(const struct proxy *p, struct strbuf *sb);
int proxy_metrics_start(struct proxy *p);
void proxy_metrics_stop(struct proxy *p);

/* proxy_udp.c */
int proxy_udp_init(struct proxy *p);
void proxy_udp_receive(struct proxy *p, struct listener *l);
void proxy_udp_sweep(struct proxy *p, time_t now);

#endif
