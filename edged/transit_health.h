/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tunnel health checks: GRE keepalives, the way routers check GRE tunnels. Every interval,
 * edged sends to the customer router, from the tunnel's anycast endpoint, a GRE packet
 * (with the tunnel's key) whose inner packet is an ICMP echo reply from the router to this
 * edge's own unicast address (the source the kernel picks toward the router). Over an IPv6
 * underlay it is all IPv6: outer IPv6, inner IPv6 with an ICMPv6 echo reply, to this edge's
 * own IPv6 address toward the router. A router that
 * decapsulates and routes it sends it straight back, unencapsulated, where a raw ICMP socket
 * receives it. So a reply proves the whole loop: our encapsulation reaches the router and the
 * router accepts the key. An echo *reply* is used so that nobody answers it. A tunnel is down
 * when no keepalive came back for `timeout`; the data path then stops choosing it while
 * another tunnel of the customer is up (transit_dp_set_tunnel_health). Tunnels start up (a
 * restart must not black-hole anyone).
 *
 * Why not the anycast endpoint as the inner destination: on a fleet behind ECMP the router's
 * answers would all go to the one edge its routers hash them to, and every other edge would
 * take the tunnel for down (measured in the lab's transit-fleet scenario: up on one edge of
 * three). The endpoint is the fallback when there is no route to the router.
 */
#ifndef EDGED_TRANSIT_HEALTH_H
#define EDGED_TRANSIT_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct transit_state;
struct edged;

/* The ICMP identifier of keepalives ("ED" + "TR"), and the start of their payload. */
#define TRANSIT_KEEPALIVE_ID    0xed77
#define TRANSIT_KEEPALIVE_MAGIC "edged-transit-keepalive"
/* How often the health timer looks at the tunnels: the finest interval that is honoured. */
#define TRANSIT_HEALTH_TICK_MS 100

/* Rebuilds the tunnel list from the applied customers, keeping the state of tunnels of the
 * same name; opens the sockets and timer when there are checks (transit_commit calls it). */
void transit_health_sync(struct transit_state *st);
void transit_health_close(struct transit_state *st);
/* Tells health_changed every tunnel that is down: after an apply, the data path has taken
 * the new config's tunnels as up. */
void transit_health_push(struct transit_state *st);

/* The event loop's part: the timer and the ICMP socket are in its epoll. */
void transit_health_attach(struct transit_state *st, int efd);
bool transit_health_owns_fd(const struct transit_state *st, int fd);
/* Handles FD's event; calls back into the data path for state changes. */
void transit_health_event(struct edged *e, int fd);

/* The keepalive of tunnel NAME into BUF (for tests): outer from ENDPOINT to REMOTE, inner
 * from REMOTE to BACK_TO (where the answer goes). Returns its length, or 0 if BUF is too
 * small. */
size_t transit_keepalive_build(uint8_t *buf, size_t len, const char *name, uint32_t remote,
                               uint32_t endpoint, uint32_t back_to, bool has_key, uint32_t key,
                               uint16_t seq);
/* The tunnel name a received ICMP packet (from its IP header on) is a keepalive of, or NULL. */
const char *transit_keepalive_parse(const uint8_t *pkt, size_t len, char *name, size_t namelen);

/* The same over IPv6 (RFC 2890-style, as routers check GRE over IPv6): outer IPv6 from
 * ENDPOINT to REMOTE, GRE, inner IPv6 from REMOTE to BACK_TO with an ICMPv6 echo reply.
 * Returns its length, or 0 if BUF is too small. */
struct in6_addr;
size_t transit_keepalive_build6(uint8_t *buf, size_t len, const char *name,
                                const struct in6_addr *remote, const struct in6_addr *endpoint,
                                const struct in6_addr *back_to, bool has_key, uint32_t key,
                                uint16_t seq);
/* The tunnel name a received ICMPv6 message (from its ICMPv6 header on: what a raw ICMPv6
 * socket reads) is a keepalive of, or NULL. */
const char *transit_keepalive_parse6(const uint8_t *icmp6, size_t len, char *name, size_t namelen);

#endif
