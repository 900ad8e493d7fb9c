/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `dispatch:` section, as the config states it: local (AnyIP) prefixes, services, the
 * bindings of (prefix, protocol, ports) to services with their mechanism (sk_lookup or
 * TPROXY), and the built-in proxy's origins. edged/dispatch.c applies it; edged-proxy reads
 * the proxy part of its service from the same file.
 */
#ifndef EDGED_DISPATCH_CONFIG_H
#define EDGED_DISPATCH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "dispatch.h"

#define DISPATCH_NAME_MAX DISPATCH_SERVICE_NAME_MAX

/* TPROXY defaults: one mark bit and a table number unlikely to be taken; both configurable
 * under dispatch.tproxy when the host uses them for something else. */
#define DISPATCH_DEFAULT_TPROXY_MARK  0x00e00000
#define DISPATCH_DEFAULT_TPROXY_TABLE 237
/* The built-in proxy's idle timeouts: TCP sessions of interactive protocols sit idle for
 * minutes; UDP has no end-of-flow signal, so its flows are forgotten sooner. */
#define DISPATCH_DEFAULT_TCP_IDLE_S 300
#define DISPATCH_DEFAULT_UDP_IDLE_S 30

enum dispatch_mechanism {
	DISPATCH_MECH_SK_LOOKUP = 0,
	DISPATCH_MECH_TPROXY,
};

/* How specific a binding's ports are; the order is the precedence (any loses). */
enum dispatch_port_kind {
	DISPATCH_PORT_ANY = 0,
	DISPATCH_PORT_RANGE,
	DISPATCH_PORT_EXACT,
};

/* Where the proxy sends connections for destinations in PREFIX. */
struct dispatch_origin_config {
	struct prefix prefix;
	struct sockaddr_storage addr; /* port 0: the port the client connected to */
};

struct dispatch_proxy_config {
	bool enabled; /* the service is served by edged-proxy */
	struct dispatch_origin_config *origins;
	int n_origins;
	bool proxy_protocol_v2;
	unsigned int tcp_idle_s;
	unsigned int udp_idle_s;
	/* Where edged-proxy serves its Prometheus metrics; off unless `metrics:` is set. */
	bool metrics;
	char metrics_listen[64]; /* as written, for messages */
	struct sockaddr_storage metrics_addr;
};

struct dispatch_service_config {
	char name[DISPATCH_NAME_MAX];
	struct dispatch_proxy_config proxy;
};

struct dispatch_binding_config {
	struct prefix prefix;
	uint8_t protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	enum dispatch_port_kind kind;
	uint16_t lo, hi; /* inclusive; 0-65535 for any */
	int service;     /* index into services */
	char service_name[DISPATCH_NAME_MAX];
	enum dispatch_mechanism mechanism;
	int line, col; /* where it was written (1-based), for messages after parsing */
};

struct dispatch_config {
	struct prefix *local_prefixes;
	int n_local;
	struct dispatch_service_config *services;
	int n_services;
	struct dispatch_binding_config *bindings;
	int n_bindings;
	uint32_t tproxy_mark; /* a single bit or a mask: the rule matches mark & MARK == MARK */
	uint32_t tproxy_table;
};

struct parser;
struct yaml_node_s;
/* Parses the `dispatch:` mapping V into p->cfg->dispatch (config.c calls it). */
void dispatch_config_parse(struct parser *p, struct yaml_node_s *v, const char *path);

/* Releases what the parser allocated; the struct can be parsed into again. */
void dispatch_config_release(struct dispatch_config *dc);

/* The service named NAME, or -1. */
int dispatch_service_index(const struct dispatch_config *dc, const char *name);

const char *dispatch_mechanism_name(enum dispatch_mechanism m);
const char *dispatch_proto_name(uint8_t protocol);
/* "443", "1000-2000" or "any" into BUF. */
const char *dispatch_ports_format(const struct dispatch_binding_config *b, char *buf, size_t size);

/* The origin for destination DST (longest prefix of the service's origins), or NULL. */
const struct dispatch_origin_config *dispatch_origin_for(const struct dispatch_proxy_config *pc,
                                                         const struct sockaddr_storage *dst);

#endif
