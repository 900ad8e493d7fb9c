// SPDX-License-Identifier: GPL-2.0
/*
 *   edgectl dispatch bindings                  what goes where, with per-binding counters
 *   edgectl dispatch services                  each service's sockets: alive, where, whose
 *   edgectl dispatch register SERVICE --pid PID --fd N
 *                                              take socket N of process PID (pidfd_getfd)
 *   (dispatch register SERVICE over the control socket with the socket attached as
 *    SCM_RIGHTS: what lib/edged_dispatch.c does; edgectl has no socket to pass)
 *
 * Counters: lookups (a binding claimed the sk_lookup), misses (its service had no socket:
 * refused), errors__bad_socket (the socket could not take it: refused). TPROXY bindings add
 * the packet counts of their nftables rules: tproxied, and fallback (nftables found no
 * transparent socket and left the packet to sk_lookup).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_control.h"
#include "dispatch_maps.h"
#include "nft_tproxy.h"

#define DISPATCH_USAGE                                                                             \
	"usage: dispatch bindings | dispatch services | dispatch register SERVICE --pid PID "      \
	"--fd N\n"

static const char *const outcome_names[DISPATCH_NOUTCOMES] = {
        [DISPATCH_OUT_LOOKUPS] = "lookups",
        [DISPATCH_OUT_MISSES] = "misses",
        [DISPATCH_OUT_BAD_SOCKET] = "errors_bad_socket",
};

/* nftables packet counts by binding slot: [slot][0] TPROXY rule, [slot][1] fallback. */
struct tproxy_counts {
	__u64 (*c)[2];
};

static void add_count(uint32_t binding, bool fallback, uint64_t packets, void *arg)
{
	struct tproxy_counts *t = arg;

	if (binding < DISPATCH_MAX_BINDINGS)
		t->c[binding][fallback] += packets;
}

static __u64 (*read_tproxy_counts(const struct dispatch_state *st))[2]
{
	struct tproxy_counts t = {.c = calloc(DISPATCH_MAX_BINDINGS, sizeof(*t.c))};

	if (t.c && st->live.tproxy)
		nft_tproxy_counters(add_count, &t);
	return t.c;
}

static const char *family_name(int fam)
{
	return fam == DISPATCH_FAM_V4 ? "ipv4" : "ipv6";
}

/* ---- bindings ---- */

struct binding_row {
	char prefix[PREFIX_STRLEN];
	char ports[16];
	const char *proto, *service, *mechanism;
	__u32 slot;
	bool socket;
	struct dispatch_counters c;
	__u64 tproxied, fallback;
};

static void binding_row(struct edged *e, int i, __u64 (*tc)[2], struct binding_row *r)
{
	const struct dispatch_config *dc = &e->cfg.dispatch;
	const struct dispatch_binding_config *b = &dc->bindings[i];
	struct dispatch_dest_info info;
	int fam = b->prefix.family == AF_INET ? DISPATCH_FAM_V4 : DISPATCH_FAM_V6;
	__u32 svc = e->dispatch.live.service_slot[b->service];

	prefix_format(&b->prefix, r->prefix, sizeof(r->prefix));
	dispatch_ports_format(b, r->ports, sizeof(r->ports));
	r->proto = dispatch_proto_name(b->protocol);
	r->service = dc->services[b->service].name;
	r->mechanism = dispatch_mechanism_name(b->mechanism);
	r->slot = e->dispatch.live.binding_slot[i];
	r->socket = dispatch_dest_alive(&e->dispatch,
	                                dispatch_dest(svc, fam, b->protocol == IPPROTO_UDP), &info);
	dispatch_read_counters(&e->dispatch, r->slot, &r->c);
	r->tproxied = tc ? tc[r->slot][0] : 0;
	r->fallback = tc ? tc[r->slot][1] : 0;
}

static void binding_json(const struct binding_row *r, bool first, struct strbuf *out)
{
	sb_printf(out, "%s{\"prefix\":\"%s\",\"proto\":\"%s\",\"ports\":\"%s\",\"service\":",
	          first ? "" : ",", r->prefix, r->proto, r->ports);
	sb_json_str(out, r->service);
	sb_printf(out, ",\"mechanism\":\"%s\",\"slot\":%u,\"socket\":%s", r->mechanism, r->slot,
	          r->socket ? "true" : "false");
	for (int o = 0; o < DISPATCH_NOUTCOMES; o++)
		sb_printf(out, ",\"%s\":%llu", outcome_names[o], (unsigned long long)r->c.c[o]);
	sb_printf(out, ",\"tproxy_packets\":%llu,\"tproxy_fallback_packets\":%llu}",
	          (unsigned long long)r->tproxied, (unsigned long long)r->fallback);
}

static void binding_text(const struct binding_row *r, struct strbuf *out)
{
	sb_printf(out, "%-22s %-5s %-11s %-16s %-9s %-6s %10llu %8llu %8llu", r->prefix, r->proto,
	          r->ports, r->service, r->mechanism, r->socket ? "yes" : "NONE",
	          (unsigned long long)r->c.c[DISPATCH_OUT_LOOKUPS],
	          (unsigned long long)r->c.c[DISPATCH_OUT_MISSES],
	          (unsigned long long)r->c.c[DISPATCH_OUT_BAD_SOCKET]);
	if (!strcmp(r->mechanism, "tproxy"))
		sb_printf(out, " %10llu %8llu", (unsigned long long)r->tproxied,
		          (unsigned long long)r->fallback);
	sb_printf(out, "\n");
}

static void bindings_render(struct edged *e, bool json, struct strbuf *out)
{
	__u64(*tc)[2] = read_tproxy_counts(&e->dispatch);
	struct dispatch_counters none;
	struct binding_row r;

	dispatch_read_counters(&e->dispatch, DISPATCH_BINDING_NONE, &none);
	if (json)
		sb_printf(out, "{\"bindings\":[");
	else
		sb_printf(out, "%-22s %-5s %-11s %-16s %-9s %-6s %10s %8s %8s %10s %8s\n", "PREFIX",
		          "PROTO", "PORTS", "SERVICE", "MECHANISM", "SOCKET", "LOOKUPS", "MISSES",
		          "ERRORS", "TPROXIED", "FALLBACK");
	for (int i = 0; i < e->cfg.dispatch.n_bindings; i++) {
		binding_row(e, i, tc, &r);
		if (json)
			binding_json(&r, i == 0, out);
		else
			binding_text(&r, out);
	}
	if (json)
		sb_printf(out, "],\"unbound_lookups\":%llu}\n",
		          (unsigned long long)none.c[DISPATCH_OUT_LOOKUPS]);
	else
		sb_printf(out,
		          "lookups no binding claimed (left to the kernel's own lookup): %llu\n",
		          (unsigned long long)none.c[DISPATCH_OUT_LOOKUPS]);
	free(tc);
}

/* ---- services ---- */

static bool dest_used(const struct dispatch_config *dc, int service, int fam, int udp)
{
	for (int i = 0; i < dc->n_bindings; i++) {
		const struct dispatch_binding_config *b = &dc->bindings[i];

		if (b->service == service && (b->protocol == IPPROTO_UDP) == udp &&
		    (b->prefix.family == AF_INET ? DISPATCH_FAM_V4 : DISPATCH_FAM_V6) == fam)
			return true;
	}
	return false;
}

static void socket_line(const struct dispatch_service_config *sc, __u32 slot, int d, bool alive,
                        const struct dispatch_dest_info *info, bool json, bool first,
                        struct strbuf *out)
{
	char addr[INET6_ADDRSTRLEN] = "-";
	const char *proto = d % 2 ? "udp" : "tcp", *fam = family_name(d / 2);

	if (alive)
		inet_ntop(info->family, info->addr, addr, sizeof(addr));
	if (json) {
		sb_printf(out,
		          "%s{\"proto\":\"%s\",\"family\":\"%s\",\"alive\":%s,\"address\":\"%s\","
		          "\"port\":%u,\"pid\":%u,\"cookie\":%llu}",
		          first ? "" : ",", proto, fam, alive ? "true" : "false", addr,
		          alive ? info->port : 0, alive ? info->pid : 0,
		          alive ? (unsigned long long)info->cookie : 0ULL);
		return;
	}
	if (alive)
		sb_printf(out, "%-16s %4u  %s/%s  alive  %s port %u  pid %u  cookie %llu\n",
		          sc->name, slot, proto, fam, addr, info->port, info->pid,
		          (unsigned long long)info->cookie);
	else
		sb_printf(out,
		          "%-16s %4u  %s/%s  NONE   (register one: edgectl dispatch register %s "
		          "--pid PID --fd N)\n",
		          sc->name, slot, proto, fam, sc->name);
}

static void service_render(struct edged *e, int i, bool json, struct strbuf *out)
{
	const struct dispatch_service_config *sc = &e->cfg.dispatch.services[i];
	__u32 slot = e->dispatch.live.service_slot[i];
	bool first = true;

	if (json) {
		sb_printf(out, "%s{\"name\":", i ? "," : "");
		sb_json_str(out, sc->name);
		sb_printf(out, ",\"slot\":%u,\"proxy\":%s,\"sockets\":[", slot,
		          sc->proxy.enabled ? "true" : "false");
	}
	for (int d = 0; d < DISPATCH_DESTS_PER_SERVICE; d++) {
		struct dispatch_dest_info info;
		bool alive = dispatch_dest_alive(&e->dispatch,
		                                 slot * DISPATCH_DESTS_PER_SERVICE + d, &info);

		if (!alive && !dest_used(&e->cfg.dispatch, i, d / 2, d % 2))
			continue;
		socket_line(sc, slot, d, alive, &info, json, first, out);
		first = false;
	}
	if (json)
		sb_printf(out, "]}");
}

static void services_render(struct edged *e, bool json, struct strbuf *out)
{
	if (json)
		sb_printf(out, "{\"services\":[");
	else
		sb_printf(out, "%-16s %4s  %-9s %-6s %s\n", "SERVICE", "SLOT", "SOCKET", "STATE",
		          "WHERE");
	for (int i = 0; i < e->cfg.dispatch.n_services; i++)
		service_render(e, i, json, out);
	if (json)
		sb_printf(out, "]}\n");
}

/* ---- register ---- */

static bool parse_int(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = s ? strtol(s, &end, 10) : 0;
	return s && *s && !*end && !errno && *out >= min && *out <= max;
}

static bool register_command(struct edged *e, const struct request *rq, struct strbuf *out)
{
	const char *service = rq->argc >= 3 ? rq->argv[2] : NULL;
	long pid = 0, fd = 0;
	int err;

	if (service && rq->argc == 3 && rq->has_fd) {
		err = dispatch_register(&e->dispatch, &e->cfg, service, rq->fd, rq->peer_pid, out);
	} else if (service && rq->argc == 7 && !strcmp(rq->argv[3], "--pid") &&
	           !strcmp(rq->argv[5], "--fd")) {
		if (!parse_int(rq->argv[4], 1, 1L << 22, &pid) ||
		    !parse_int(rq->argv[6], 0, 1L << 20, &fd)) {
			sb_printf(out, "--pid and --fd take numbers: a process id and one of its "
			               "descriptors (ls -l /proc/PID/fd)\n");
			return false;
		}
		err = dispatch_register_pidfd(&e->dispatch, &e->cfg, service, pid, fd, out);
	} else {
		sb_printf(out,
		          service && rq->argc == 3
		                  ? "dispatch register %s: no socket came with the request; "
		                    "give --pid PID --fd N\n"
		                  : DISPATCH_USAGE,
		          service);
		return false;
	}
	if (!err && rq->json) {
		out->len = 0; /* the text explanation is for humans */
		sb_printf(out, "{\"ok\":true}\n");
	}
	return err == 0;
}

bool dispatch_command(struct edged *e, const struct request *rq, struct strbuf *out)
{
	const char *what = rq->argc >= 2 ? rq->argv[1] : "";
	bool ok = true;

	if (!e->cfg.fn[FN_DISPATCH].enabled) {
		sb_printf(out,
		          "socket dispatch is off: add a `dispatch:` section to %s and reload\n",
		          e->cfg.path);
		return false;
	}
	pthread_mutex_lock(&e->lock);
	if (!strcmp(what, "bindings") && rq->argc == 2)
		bindings_render(e, rq->json, out);
	else if (!strcmp(what, "services") && rq->argc == 2)
		services_render(e, rq->json, out);
	else if (!strcmp(what, "register"))
		ok = register_command(e, rq, out);
	else
		ok = false;
	pthread_mutex_unlock(&e->lock);
	if (!ok && !out->len)
		sb_printf(out, DISPATCH_USAGE);
	return ok;
}

/* ---- metrics ---- */

static void binding_metrics(struct edged *e, struct strbuf *sb)
{
	__u64(*tc)[2] = read_tproxy_counts(&e->dispatch);
	struct binding_row r;

	sb_prom_help(
	        sb, "edged_dispatch_lookups_total", "counter",
	        "sk_lookup lookups by binding and outcome: lookups (claimed), misses (no socket, "
	        "refused), errors_bad_socket (refused).");
	for (int i = 0; i < e->cfg.dispatch.n_bindings; i++) {
		binding_row(e, i, tc, &r);
		for (int o = 0; o < DISPATCH_NOUTCOMES; o++)
			sb_printf(sb,
			          "edged_dispatch_lookups_total{prefix=\"%s\",proto=\"%s\",ports="
			          "\"%s\","
			          "service=\"%s\",mechanism=\"%s\",outcome=\"%s\"} %llu\n",
			          r.prefix, r.proto, r.ports, r.service, r.mechanism,
			          outcome_names[o], (unsigned long long)r.c.c[o]);
	}
	sb_prom_help(
	        sb, "edged_dispatch_tproxy_packets_total", "counter",
	        "Packets of TPROXY bindings by nftables rule: tproxy (to the socket), fallback (no "
	        "transparent socket, left to sk_lookup).");
	for (int i = 0; i < e->cfg.dispatch.n_bindings; i++) {
		binding_row(e, i, tc, &r);
		if (e->cfg.dispatch.bindings[i].mechanism != DISPATCH_MECH_TPROXY)
			continue;
		sb_printf(sb,
		          "edged_dispatch_tproxy_packets_total{prefix=\"%s\",proto=\"%s\",ports=\"%"
		          "s\","
		          "service=\"%s\",rule=\"tproxy\"} %llu\n"
		          "edged_dispatch_tproxy_packets_total{prefix=\"%s\",proto=\"%s\",ports=\"%"
		          "s\","
		          "service=\"%s\",rule=\"fallback\"} %llu\n",
		          r.prefix, r.proto, r.ports, r.service, (unsigned long long)r.tproxied,
		          r.prefix, r.proto, r.ports, r.service, (unsigned long long)r.fallback);
	}
	free(tc);
}

static void socket_metrics(struct edged *e, struct strbuf *sb)
{
	sb_prom_help(sb, "edged_dispatch_service_socket", "gauge",
	             "1 if the service has a live socket for this protocol and family.");
	for (int i = 0; i < e->cfg.dispatch.n_services; i++) {
		__u32 slot = e->dispatch.live.service_slot[i];

		for (int d = 0; d < DISPATCH_DESTS_PER_SERVICE; d++) {
			struct dispatch_dest_info info;
			bool alive = dispatch_dest_alive(
			        &e->dispatch, slot * DISPATCH_DESTS_PER_SERVICE + d, &info);

			if (alive || dest_used(&e->cfg.dispatch, i, d / 2, d % 2))
				sb_printf(
				        sb,
				        "edged_dispatch_service_socket{service=\"%s\",proto=\"%s\","
				        "family=\"%s\"} %d\n",
				        e->cfg.dispatch.services[i].name, d % 2 ? "udp" : "tcp",
				        family_name(d / 2), alive);
		}
	}
}

void dispatch_metrics_render(struct edged *e, struct strbuf *sb)
{
	struct dispatch_counters none;

	if (!e->cfg.fn[FN_DISPATCH].enabled || !e->dispatch.live.enabled)
		return;
	binding_metrics(e, sb);
	socket_metrics(e, sb);
	dispatch_read_counters(&e->dispatch, DISPATCH_BINDING_NONE, &none);
	sb_prom_help(sb, "edged_dispatch_unbound_lookups_total", "counter",
	             "sk_lookup lookups no binding claimed (left to the kernel's own lookup).");
	sb_printf(sb, "edged_dispatch_unbound_lookups_total %llu\n",
	          (unsigned long long)none.c[DISPATCH_OUT_LOOKUPS]);
}
