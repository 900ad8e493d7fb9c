/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `lb:` section: the fleet's servers, the services (VIPs) balanced across them, how
 * packets travel to a server (IPIP or GUE), and how edged checks that servers are healthy.
 * Every edge of a fleet runs the same section; edged/lb_maps.c turns it into bpf/lb.h's maps.
 */
#ifndef EDGED_LB_CONFIG_H
#define EDGED_LB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "lb.h"

#define LB_NAME_MAX         32
#define LB_HEALTH_PATH_MAX  128
#define LB_MAX_EDGES        1024
#define LB_DEFAULT_WEIGHT   100
#define LB_DEFAULT_GUE_PORT 6080
/* Health defaults: a server leaves after 3 failed checks 2 s apart (about 6 s), and comes
 * back after 2 good ones, so one lost SYN neither removes nor flaps it. */
#define LB_HEALTH_INTERVAL_S 2
#define LB_HEALTH_TIMEOUT_S  1
#define LB_HEALTH_RISE       2
#define LB_HEALTH_FALL       3

enum lb_health_type {
	LB_HEALTH_NONE = 0, /* no checks: the server is always up */
	LB_HEALTH_TCP,      /* a TCP connect to address:port completes */
	LB_HEALTH_HTTP,     /* GET path answers with a 2xx or 3xx status */
};

struct lb_health_config {
	enum lb_health_type type;
	uint16_t port; /* the service's port unless set */
	char path[LB_HEALTH_PATH_MAX];
	uint32_t interval_s;
	uint32_t timeout_s;
	uint32_t rise;
	uint32_t fall;
};

struct lb_server_config {
	char name[LB_NAME_MAX];
	struct prefix addr; /* a host: len 32 or 128 */
	uint32_t weight;
};

/* A server of a service: an index into lb_config.servers, and its weight in this service. */
struct lb_member_config {
	int server;
	uint32_t weight;
};

struct lb_service_config {
	char name[LB_NAME_MAX];
	struct prefix vip; /* an address (/32, /128) or a prefix */
	uint8_t proto;     /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;     /* 0 = any port */
	uint8_t encap;     /* enum lb_encap */
	uint32_t table_size;
	struct lb_member_config *members;
	int n_members;
	struct lb_health_config health;
};

struct lb_config {
	uint8_t encap; /* default of the services */
	uint16_t gue_port;
	struct prefix source_v4, source_v6; /* family 0 = find it (lb_maps.c) */
	struct prefix *edges;               /* LB-only edges allowed to send us tunnels */
	int n_edges;
	struct lb_server_config *servers;
	int n_servers;
	struct lb_service_config *services;
	int n_services;
};

struct parser;
struct yaml_node_s;
/* Parses the `lb:` mapping V into p->cfg->lb (config.c calls it). */
void lb_config_parse(struct parser *p, struct yaml_node_s *v, const char *path);

/* Releases what the parser allocated; the struct can be parsed into again. */
void lb_config_release(struct lb_config *lc);

/* The index of the server named or addressed S, or -1. */
int lb_config_find_server(const struct lb_config *lc, const char *s);

const char *lb_encap_name(int encap);
const char *lb_health_type_name(int type);

#endif
