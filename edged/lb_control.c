// SPDX-License-Identifier: GPL-2.0
/*
 *   edgectl lb list                 services: VIP, servers in the table, counters, digest
 *   edgectl lb servers              servers: address, weight, state, health, counters
 *   edgectl lb drain SERVER         no new flows to SERVER (name or address); its
 *                                   established ones finish through second chance
 *   edgectl lb undrain SERVER
 *   edgectl lb weight SERVER N      N in 1..65535, or `config` for the config's weight
 *
 * Drains and weights are operator state: kept in a pinned map, across reloads and restarts,
 * for the server's address. They change this edge only: run them on every edge of the fleet
 * (each computes its own tables, and the same inputs give the same tables).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_control.h"
#include "lb_maps.h"

#define LB_USAGE                                                                                   \
	"usage: lb list | lb servers | lb drain SERVER | lb undrain SERVER | "                     \
	"lb weight SERVER N|config\n"

static const char *const svc_counter_names[LB_SVC_NCOUNTERS] = {
        [LB_SVC_PACKETS] = "packets",
        [LB_SVC_BYTES] = "bytes",
        [LB_SVC_NEW_FLOWS] = "new_flows",
        [LB_SVC_ENCAP] = "encapsulated",
        [LB_SVC_LOCAL] = "local",
        [LB_SVC_SECOND_CHANCE] = "second_chance",
        [LB_SVC_ICMP] = "icmp_errors",
        [LB_SVC_NO_SERVER] = "no_server",
        [LB_SVC_TOO_BIG] = "too_big",
        [LB_SVC_NO_ROUTE] = "no_route",
        [LB_SVC_TOO_BIG_ICMP] = "too_big_icmp",
        [LB_SVC_NO_OWNER] = "no_owner",
};

static const char *const srv_counter_names[LB_SRV_NCOUNTERS] = {
        [LB_SRV_PACKETS] = "packets",
        [LB_SRV_BYTES] = "bytes",
        [LB_SRV_NEW_FLOWS] = "new_flows",
        [LB_SRV_SECOND_CHANCE] = "second_chance",
};

static const char *const global_counter_names[LB_G_NCOUNTERS] = {
        [LB_G_DECAP] = "decapsulated",
        [LB_G_DECAP_UNTRUSTED] = "decap_untrusted_source",
        [LB_G_DECAP_MALFORMED] = "decap_malformed",
        [LB_G_DECAP_NO_VIP] = "decap_no_vip",
        [LB_G_SECOND_CHANCE_IN] = "second_chance_received",
        [LB_G_SOCKET_OWNED] = "local_socket_owned",
        [LB_G_SYNCOOKIE_OWNED] = "syncookie_owned",
        [LB_G_UNSUPPORTED] = "vlan_not_balanced",
};

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

static void port_text(uint16_t port, char *buf, size_t len)
{
	if (port)
		snprintf(buf, len, "%u", port);
	else
		snprintf(buf, len, "any");
}

/* The weight a server has now: the operator's, else the config's. */
static uint32_t server_weight(const struct lb_state *st, const struct lb_server_config *sv,
                              bool *drained)
{
	struct lb_runtime rt;

	*drained = false;
	if (lb_runtime_get(st, &sv->addr, &rt))
		return sv->weight;
	*drained = rt.flags & LB_RT_DRAINED;
	return rt.weight ? rt.weight : sv->weight;
}

/* ---- lb list ---- */

static void list_json(struct edged *e, struct strbuf *out)
{
	const struct lb_config *lc = &e->cfg.lb;

	sb_printf(out, "{\"services\":[");
	for (int i = 0; i < lc->n_services; i++) {
		const struct lb_service_config *svc = &lc->services[i];
		struct lb_service_counters c;
		int sid = lb_service_id(&e->lb, i);
		char vip[PREFIX_STRLEN];

		if (sid < 0 || lb_service_counters(&e->dp, sid, &c))
			memset(&c, 0, sizeof(c));
		sb_printf(out, "%s{\"name\":", i ? "," : "");
		sb_json_str(out, svc->name);
		sb_printf(out,
		          ",\"id\":%d,\"vip\":\"%s\",\"proto\":\"%s\",\"port\":%u,\"encap\":\"%s\","
		          "\"table_size\":%u,\"servers\":%d,\"servers_active\":%u,"
		          "\"digest\":\"%016llx\",\"counters\":{",
		          sid, prefix_format(&svc->vip, vip, sizeof(vip)), proto_name(svc->proto),
		          svc->port, lb_encap_name(svc->encap), svc->table_size, svc->n_members,
		          sid >= 0 ? e->lb.active[sid] : 0,
		          (unsigned long long)(sid >= 0 ? e->lb.digest[sid] : 0));
		for (int k = 0; k < LB_SVC_NCOUNTERS; k++)
			sb_printf(out, "%s\"%s\":%llu", k ? "," : "", svc_counter_names[k],
			          (unsigned long long)c.c[k]);
		sb_printf(out, "}}");
	}
	sb_printf(out, "]}\n");
}

static void list_text(struct edged *e, struct strbuf *out)
{
	const struct lb_config *lc = &e->cfg.lb;

	sb_printf(out, "%-16s %-24s %-5s %-5s %-5s %-7s %12s %10s %12s %10s %10s  %s\n", "SERVICE",
	          "VIP", "PROTO", "PORT", "ENCAP", "SERVERS", "PACKETS", "NEW_FLOWS",
	          "ENCAPSULATED", "LOCAL", "2ND_CHANCE", "DIGEST");
	for (int i = 0; i < lc->n_services; i++) {
		const struct lb_service_config *svc = &lc->services[i];
		int sid = lb_service_id(&e->lb, i);
		struct lb_service_counters c;
		char vip[PREFIX_STRLEN], port[8], servers[16];

		if (sid < 0 || lb_service_counters(&e->dp, sid, &c))
			memset(&c, 0, sizeof(c));
		port_text(svc->port, port, sizeof(port));
		snprintf(servers, sizeof(servers), "%u/%d", sid >= 0 ? e->lb.active[sid] : 0,
		         svc->n_members);
		sb_printf(out,
		          "%-16s %-24s %-5s %-5s %-5s %-7s %12llu %10llu %12llu %10llu %10llu  "
		          "%016llx\n",
		          svc->name, prefix_format(&svc->vip, vip, sizeof(vip)),
		          proto_name(svc->proto), port, lb_encap_name(svc->encap), servers,
		          (unsigned long long)c.c[LB_SVC_PACKETS],
		          (unsigned long long)c.c[LB_SVC_NEW_FLOWS],
		          (unsigned long long)c.c[LB_SVC_ENCAP],
		          (unsigned long long)c.c[LB_SVC_LOCAL],
		          (unsigned long long)c.c[LB_SVC_SECOND_CHANCE],
		          (unsigned long long)(sid >= 0 ? e->lb.digest[sid] : 0));
	}
	if (!lc->n_services)
		sb_printf(out, "(no services)\n");
}

/* ---- lb servers ---- */

/* "up", or why the server is out of some table: "draining", "down: web". */
static void server_state(struct edged *e, int srv, char *buf, size_t len)
{
	const struct lb_config *lc = &e->cfg.lb;
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < lc->n_services; i++) {
		const char *why = lb_member_out(&e->lb, lc, i, srv);

		if (!why)
			continue;
		if (!strcmp(why, "draining")) {
			snprintf(buf, len, "draining");
			return;
		}
		used += snprintf(buf + used, len > used ? len - used : 0, "%s%s",
		                 used ? "," : "down:", lc->services[i].name);
	}
	if (!buf[0])
		snprintf(buf, len, "up");
}

static void health_json(struct edged *e, int srv, struct strbuf *out)
{
	const struct lb_config *lc = &e->cfg.lb;
	int n = 0;

	sb_printf(out, ",\"health\":[");
	for (int i = 0; i < lc->n_services; i++) {
		const struct lb_check *c = lb_health_find(&e->lb.health, lb_service_id(&e->lb, i),
		                                          lb_server_id(&e->lb, srv));

		if (!c || c->srv != srv)
			continue;
		sb_printf(out, "%s{\"service\":", n++ ? "," : "");
		sb_json_str(out, lc->services[i].name);
		sb_printf(out, ",\"up\":%s,\"checks\":%llu,\"failures\":%llu,\"last_error\":",
		          c->up ? "true" : "false", (unsigned long long)c->checks,
		          (unsigned long long)c->failures);
		sb_json_str(out, c->last_error);
		sb_printf(out, "}");
	}
	sb_printf(out, "]");
}

static void servers_render(struct edged *e, bool json, struct strbuf *out)
{
	const struct lb_config *lc = &e->cfg.lb;

	if (json)
		sb_printf(out, "{\"servers\":[");
	else
		sb_printf(out, "%-16s %-40s %6s %-4s %-20s %12s %10s %10s\n", "SERVER", "ADDRESS",
		          "WEIGHT", "SELF", "STATE", "PACKETS", "NEW_FLOWS", "2ND_CHANCE");
	for (int i = 0; i < lc->n_servers; i++) {
		const struct lb_server_config *sv = &lc->servers[i];
		int id = lb_server_id(&e->lb, i);
		bool self = id >= 0 && (e->lb.servers[id].flags & LB_SERVER_SELF), drained;
		uint32_t weight = server_weight(&e->lb, sv, &drained);
		struct lb_server_counters c;
		char addr[PREFIX_STRLEN], state[128];

		if (id < 0 || lb_server_counters(&e->dp, id, &c))
			memset(&c, 0, sizeof(c));
		prefix_format(&sv->addr, addr, sizeof(addr));
		addr[strcspn(addr, "/")] = '\0';
		server_state(e, i, state, sizeof(state));
		if (!json) {
			sb_printf(out, "%-16s %-40s %6u %-4s %-20s %12llu %10llu %10llu\n",
			          sv->name, addr, weight, self ? "yes" : "", state,
			          (unsigned long long)c.c[LB_SRV_PACKETS],
			          (unsigned long long)c.c[LB_SRV_NEW_FLOWS],
			          (unsigned long long)c.c[LB_SRV_SECOND_CHANCE]);
			continue;
		}
		sb_printf(out, "%s{\"name\":", i ? "," : "");
		sb_json_str(out, sv->name);
		sb_printf(out,
		          ",\"id\":%d,\"address\":\"%s\",\"weight\":%u,\"config_weight\":%u,"
		          "\"drained\":%s,\"self\":%s,\"state\":\"%s\",\"counters\":{",
		          id, addr, weight, sv->weight, drained ? "true" : "false",
		          self ? "true" : "false", state);
		for (int k = 0; k < LB_SRV_NCOUNTERS; k++)
			sb_printf(out, "%s\"%s\":%llu", k ? "," : "", srv_counter_names[k],
			          (unsigned long long)c.c[k]);
		sb_printf(out, "}");
		health_json(e, i, out);
		sb_printf(out, "}");
	}
	if (json)
		sb_printf(out, "]}\n");
}

/* ---- drain, undrain, weight ---- */

static int find_server(struct edged *e, const char *s, struct strbuf *out)
{
	int i = lb_config_find_server(&e->cfg.lb, s);

	if (i < 0)
		sb_printf(out,
		          "no server '%s' in %s: give a name or address from `edgectl lb "
		          "servers`\n",
		          s, e->cfg.path);
	return i;
}

static bool set_runtime(struct edged *e, const struct request *rq, struct strbuf *out, int srv,
                        const struct lb_runtime *rt, const char *what)
{
	const struct lb_server_config *sv = &e->cfg.lb.servers[srv];
	int err, failed;

	pthread_mutex_lock(&e->lock);
	err = lb_runtime_set(&e->lb, &sv->addr, rt);
	failed = err ? 0 : lb_rebuild(&e->lb, &e->dp, &e->cfg.lb, -1, srv);
	pthread_mutex_unlock(&e->lock);
	if (err || failed) {
		sb_printf(out, "%s %s: %s (see edged's log)\n", what, sv->name,
		          err ? "could not record it" : "some tables could not be rebuilt");
		return false;
	}
	if (rq->json)
		sb_printf(out, "{\"ok\":true,\"server\":\"%s\"}\n", sv->name);
	else
		sb_printf(out, "%s %s: tables rebuilt\n", what, sv->name);
	return true;
}

static bool cmd_drain(struct edged *e, const struct request *rq, struct strbuf *out, bool on)
{
	struct lb_runtime rt;
	int srv;

	if (rq->argc != 3) {
		sb_printf(out, LB_USAGE);
		return false;
	}
	srv = find_server(e, rq->argv[2], out);
	if (srv < 0)
		return false;
	lb_runtime_get(&e->lb, &e->cfg.lb.servers[srv].addr, &rt);
	rt.flags = on ? rt.flags | LB_RT_DRAINED : rt.flags & ~LB_RT_DRAINED;
	return set_runtime(e, rq, out, srv, &rt, on ? "drained" : "undrained");
}

static bool cmd_weight(struct edged *e, const struct request *rq, struct strbuf *out)
{
	struct lb_runtime rt;
	unsigned long w = 0;
	char *end = NULL;
	int srv;

	if (rq->argc != 4) {
		sb_printf(out, LB_USAGE);
		return false;
	}
	srv = find_server(e, rq->argv[2], out);
	if (srv < 0)
		return false;
	if (strcmp(rq->argv[3], "config") != 0) {
		w = strtoul(rq->argv[3], &end, 10);
		if (!*rq->argv[3] || *end || w < 1 || w > 65535) {
			sb_printf(out,
			          "weight '%s': give 1 to 65535, or `config` for the config's "
			          "weight (to stop new flows, use `edgectl lb drain`)\n",
			          rq->argv[3]);
			return false;
		}
	}
	lb_runtime_get(&e->lb, &e->cfg.lb.servers[srv].addr, &rt);
	rt.weight = w;
	return set_runtime(e, rq, out, srv, &rt, "weight set for");
}

bool lb_command(struct edged *e, const struct request *rq, struct strbuf *out)
{
	const char *what = rq->argc >= 2 ? rq->argv[1] : "";

	if (!e->cfg.fn[FN_LB].enabled) {
		sb_printf(out, "the load balancer is off: add an `lb:` section to %s and reload\n",
		          e->cfg.path);
		return false;
	}
	if (!strcmp(what, "list") && rq->argc == 2) {
		pthread_mutex_lock(&e->lock);
		if (rq->json)
			list_json(e, out);
		else
			list_text(e, out);
		pthread_mutex_unlock(&e->lock);
		return true;
	}
	if (!strcmp(what, "servers") && rq->argc == 2) {
		pthread_mutex_lock(&e->lock);
		servers_render(e, rq->json, out);
		pthread_mutex_unlock(&e->lock);
		return true;
	}
	if (!strcmp(what, "drain") || !strcmp(what, "undrain"))
		return cmd_drain(e, rq, out, !strcmp(what, "drain"));
	if (!strcmp(what, "weight"))
		return cmd_weight(e, rq, out);
	sb_printf(out, LB_USAGE);
	return false;
}

/* ---- metrics ---- */

/* Names of services and servers are [A-Za-z0-9._-] by validation: no label escaping. */
static void service_metrics(struct edged *e, struct strbuf *sb)
{
	const struct lb_config *lc = &e->cfg.lb;

	sb_prom_help(
	        sb, "edged_lb_service_total", "counter",
	        "Load-balanced packets by service and what happened to them (packets, bytes, "
	        "new_flows, encapsulated, local, second_chance, icmp_errors, no_server, too_big, "
	        "no_route, too_big_icmp, no_owner).");
	for (int i = 0; i < lc->n_services; i++) {
		struct lb_service_counters c;
		int sid = lb_service_id(&e->lb, i);

		if (sid < 0 || lb_service_counters(&e->dp, sid, &c))
			continue;
		for (int k = 0; k < LB_SVC_NCOUNTERS; k++)
			sb_printf(sb,
			          "edged_lb_service_total{service=\"%s\",counter=\"%s\"} %llu\n",
			          lc->services[i].name, svc_counter_names[k],
			          (unsigned long long)c.c[k]);
	}
	sb_prom_help(sb, "edged_lb_service_servers_active", "gauge",
	             "Servers in the service's table (not drained, not down).");
	for (int i = 0; i < lc->n_services; i++) {
		int sid = lb_service_id(&e->lb, i);

		sb_printf(sb, "edged_lb_service_servers_active{service=\"%s\"} %u\n",
		          lc->services[i].name, sid >= 0 ? e->lb.active[sid] : 0);
	}
}

static void server_metrics(struct edged *e, struct strbuf *sb)
{
	const struct lb_config *lc = &e->cfg.lb;

	sb_prom_help(sb, "edged_lb_server_total", "counter",
	             "What this edge sent each server: packets, bytes, new_flows, second_chance.");
	for (int i = 0; i < lc->n_servers; i++) {
		struct lb_server_counters c;
		int id = lb_server_id(&e->lb, i);

		if (id < 0 || lb_server_counters(&e->dp, id, &c))
			continue;
		for (int k = 0; k < LB_SRV_NCOUNTERS; k++)
			sb_printf(sb, "edged_lb_server_total{server=\"%s\",counter=\"%s\"} %llu\n",
			          lc->servers[i].name, srv_counter_names[k],
			          (unsigned long long)c.c[k]);
	}
	sb_prom_help(
	        sb, "edged_lb_server_up", "gauge",
	        "1 while the server is in the service's table: health checks pass and it is not "
	        "drained.");
	for (int i = 0; i < lc->n_services; i++)
		for (int j = 0; j < lc->services[i].n_members; j++) {
			int srv = lc->services[i].members[j].server;

			sb_printf(sb, "edged_lb_server_up{service=\"%s\",server=\"%s\"} %d\n",
			          lc->services[i].name, lc->servers[srv].name,
			          lb_member_out(&e->lb, lc, i, srv) == NULL);
		}
	sb_prom_help(sb, "edged_lb_server_drained", "gauge",
	             "1 while an operator drains the server.");
	for (int i = 0; i < lc->n_servers; i++) {
		bool drained;

		server_weight(&e->lb, &lc->servers[i], &drained);
		sb_printf(sb, "edged_lb_server_drained{server=\"%s\"} %d\n", lc->servers[i].name,
		          drained);
	}
	sb_prom_help(sb, "edged_lb_server_weight", "gauge",
	             "The server's weight (operator's or config's).");
	for (int i = 0; i < lc->n_servers; i++) {
		bool drained;

		sb_printf(sb, "edged_lb_server_weight{server=\"%s\"} %u\n", lc->servers[i].name,
		          server_weight(&e->lb, &lc->servers[i], &drained));
	}
}

void lb_metrics_render(struct edged *e, struct strbuf *sb)
{
	struct lb_global_counters g;

	if (!e->cfg.fn[FN_LB].enabled)
		return;
	service_metrics(e, sb);
	server_metrics(e, sb);
	if (lb_global_counters(&e->dp, &g))
		return;
	sb_prom_help(
	        sb, "edged_lb_events_total", "counter",
	        "Load balancer events that belong to no one service: tunnels received, dropped, "
	        "second-chance hops received, packets a local socket owned.");
	for (int k = 0; k < LB_G_NCOUNTERS; k++)
		sb_printf(sb, "edged_lb_events_total{event=\"%s\"} %llu\n", global_counter_names[k],
		          (unsigned long long)g.c[k]);
}
