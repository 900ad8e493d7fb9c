// SPDX-License-Identifier: GPL-2.0
/*
 * `edgectl egress peers | addresses | peer add | peer del` and egress's metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edged.h"
#include "egress.h"
#include "egress_control.h"
#include "wg_key.h"

#define EGRESS_USAGE                                                                               \
	"usage: egress peers | egress addresses | egress peer add NAME PUBLIC_KEY ADDR[,ADDR...] " \
	"[keepalive SECONDS] [max_connections N] [snat ADDRESS] | egress peer del NAME\n"

/* Seconds since the last handshake, or -1 for never. */
static long long handshake_age(int64_t at)
{
	return at ? (long long)(time(NULL) - at) : -1;
}

static void addresses_text(const struct egress_peer_config *pe, char *buf, size_t size)
{
	char text[PREFIX_STRLEN];
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < pe->n_addresses && used < size; i++)
		used += snprintf(buf + used, size - used, "%s%s", i ? "," : "",
		                 prefix_format(&pe->addresses[i], text, sizeof(text)));
}

static void peers_json(const struct egress_stats *s, struct strbuf *out)
{
	char addrs[256], key[WG_KEY_B64_LEN + 1];

	sb_printf(out, "{\"device_ok\":%s,\"peers\":[", s->device_ok ? "true" : "false");
	for (int i = 0; i < s->n_peers; i++) {
		const struct egress_peer_stats *p = &s->peers[i];

		addresses_text(p->peer, addrs, sizeof(addrs));
		sb_printf(out, "%s{\"name\":", i ? "," : "");
		sb_json_str(out, p->peer->name);
		sb_printf(out, ",\"public_key\":\"%s\",\"addresses\":\"%s\",\"endpoint\":",
		          wg_key_to_base64(p->peer->public_key, key), addrs);
		sb_json_str(out, p->endpoint);
		sb_printf(out,
		          ",\"handshake_age_s\":%lld,\"rx_bytes\":%llu,\"tx_bytes\":%llu,"
		          "\"packets_out\":%llu,\"bytes_out\":%llu,\"packets_in\":%llu,"
		          "\"bytes_in\":%llu,\"connections\":%llu,\"max_connections\":%u}",
		          handshake_age(p->last_handshake_s), (unsigned long long)p->rx_bytes,
		          (unsigned long long)p->tx_bytes, (unsigned long long)p->out_pkts,
		          (unsigned long long)p->out_bytes, (unsigned long long)p->in_pkts,
		          (unsigned long long)p->in_bytes, (unsigned long long)p->connections,
		          p->peer->max_connections);
	}
	sb_printf(out, "]}\n");
}

static void peers_table(const struct egress_stats *s, struct strbuf *out)
{
	char addrs[256], age[32];

	if (!s->device_ok)
		sb_printf(out, "warning: %s\n", s->error);
	sb_printf(out, "%-16s %-32s %-22s %10s %12s %12s %10s %10s %6s\n", "PEER", "ADDRESSES",
	          "ENDPOINT", "HANDSHAKE", "RX_BYTES", "TX_BYTES", "PKTS_OUT", "PKTS_IN", "CONNS");
	for (int i = 0; i < s->n_peers; i++) {
		const struct egress_peer_stats *p = &s->peers[i];
		long long a = handshake_age(p->last_handshake_s);

		addresses_text(p->peer, addrs, sizeof(addrs));
		if (a < 0)
			snprintf(age, sizeof(age), "never");
		else
			snprintf(age, sizeof(age), "%llds ago", a);
		sb_printf(out, "%-16s %-32s %-22s %10s %12llu %12llu %10llu %10llu %6llu\n",
		          p->peer->name, addrs, p->endpoint[0] ? p->endpoint : "-", age,
		          (unsigned long long)p->rx_bytes, (unsigned long long)p->tx_bytes,
		          (unsigned long long)p->out_pkts, (unsigned long long)p->in_pkts,
		          (unsigned long long)p->connections);
	}
}

static void addresses_out(const struct egress_stats *s, bool json, struct strbuf *out)
{
	char text[PREFIX_STRLEN];

	if (json)
		sb_printf(out, "{\"addresses\":[");
	else
		sb_printf(out, "%-20s %-13s %-13s %8s %10s %12s %12s\n", "ADDRESS", "RANGE", "OWN",
		          "CONNS", "PORTS_USED", "PKTS_OUT", "PKTS_IN");
	for (int k = 0; k < s->n_snat; k++) {
		const struct egress_snat_stats *a = &s->snat[k];
		const struct egress_snat_config *c = a->snat;
		char range[16], own[16];

		prefix_format(&c->address, text, sizeof(text));
		text[strcspn(text, "/")] = '\0';
		snprintf(range, sizeof(range), "%u-%u", c->port_lo, c->port_hi);
		snprintf(own, sizeof(own), "%u-%u", c->own_lo, c->own_hi);
		if (json)
			sb_printf(out,
			          "%s{\"address\":\"%s\",\"ports\":\"%s\",\"own_ports\":\"%s\","
			          "\"shared_by\":%d,\"connections\":%llu,\"ports_in_use\":%llu,"
			          "\"packets_out\":%llu,\"bytes_out\":%llu,\"packets_in\":%llu,"
			          "\"bytes_in\":%llu}",
			          k ? "," : "", text, range, own, c->n_share ? c->n_share : 1,
			          (unsigned long long)a->connections,
			          (unsigned long long)a->ports_in_use,
			          (unsigned long long)a->out_pkts, (unsigned long long)a->out_bytes,
			          (unsigned long long)a->in_pkts, (unsigned long long)a->in_bytes);
		else
			sb_printf(out, "%-20s %-13s %-13s %8llu %10llu %12llu %12llu\n", text,
			          range, own, (unsigned long long)a->connections,
			          (unsigned long long)a->ports_in_use,
			          (unsigned long long)a->out_pkts, (unsigned long long)a->in_pkts);
	}
	if (json)
		sb_printf(out, "]}\n");
}

static bool show(struct edged *e, const struct request *rq, struct strbuf *out, bool peers)
{
	struct egress_stats s;

	if (egress_stats_get(&e->egress, &s)) {
		sb_printf(out, "egress is off in this edged's config\n");
		return false;
	}
	if (peers && rq->json)
		peers_json(&s, out);
	else if (peers)
		peers_table(&s, out);
	else
		addresses_out(&s, rq->json, out);
	egress_stats_free(&s);
	return true;
}

/* ---- peer add ---- */

static bool peer_add(struct edged *e, const struct request *rq, struct strbuf *out)
{
	char err[256];

	if (rq->argc < 6 || (rq->argc - 6) % 2) {
		sb_printf(out, EGRESS_USAGE);
		return false;
	}
	if (egress_peer_add_args(&e->egress, rq->argc - 3, rq->argv + 3, err, sizeof(err))) {
		sb_printf(out, "peer %s: %s\n", rq->argv[3], err);
		return false;
	}
	sb_printf(out, rq->json ? "{\"ok\":true}\n" : "peer %s added\n", rq->argv[3]);
	return true;
}

static bool peer_del(struct edged *e, const struct request *rq, struct strbuf *out)
{
	char err[256];
	int n;

	if (rq->argc != 4) {
		sb_printf(out, EGRESS_USAGE);
		return false;
	}
	if (egress_peer_del(&e->egress, rq->argv[3], &n, err, sizeof(err))) {
		sb_printf(out, "%s\n", err);
		return false;
	}
	if (rq->json)
		sb_printf(out, "{\"ok\":true,\"connections_removed\":%d}\n", n);
	else
		sb_printf(out, "peer %s removed, with %d connection(s)\n", rq->argv[3], n);
	return true;
}

bool egress_command(struct edged *e, const struct request *rq, struct strbuf *out)
{
	const char *sub = rq->argc > 1 ? rq->argv[1] : "";
	bool ok = false;

	pthread_mutex_lock(&e->lock);
	if (strcmp(sub, "peers") == 0 && rq->argc == 2)
		ok = show(e, rq, out, true);
	else if (strcmp(sub, "addresses") == 0 && rq->argc == 2)
		ok = show(e, rq, out, false);
	else if (strcmp(sub, "peer") == 0 && rq->argc > 2 && strcmp(rq->argv[2], "add") == 0)
		ok = peer_add(e, rq, out);
	else if (strcmp(sub, "peer") == 0 && rq->argc > 2 && strcmp(rq->argv[2], "del") == 0)
		ok = peer_del(e, rq, out);
	else
		sb_printf(out, EGRESS_USAGE);
	pthread_mutex_unlock(&e->lock);
	return ok;
}

/* ---- metrics ---- */

static void peer_metrics(const struct egress_stats *s, struct strbuf *sb)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
	        {"edged_egress_peer_packets_total", "counter",
	         "Packets through the tunnel by peer and direction (out: from the client)."},
	        {"edged_egress_peer_bytes_total", "counter",
	         "Bytes through the tunnel by peer and direction (inner packets)."},
	        {"edged_egress_peer_connections", "gauge", "Active conntrack entries of a peer."},
	        {"edged_egress_peer_handshake_age_seconds", "gauge",
	         "Seconds since the peer's last WireGuard handshake (absent: never)."},
	};

	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		sb_prom_help(sb, m[k].name, m[k].type, m[k].help);
		for (int i = 0; i < s->n_peers; i++) {
			const struct egress_peer_stats *p = &s->peers[i];
			const char *n = p->peer->name;

			if (k == 0)
				sb_printf(sb,
				          "%s{peer=\"%s\",dir=\"out\"} "
				          "%llu\n%s{peer=\"%s\",dir=\"in\"} %llu\n",
				          m[k].name, n, (unsigned long long)p->out_pkts, m[k].name,
				          n, (unsigned long long)p->in_pkts);
			else if (k == 1)
				sb_printf(sb,
				          "%s{peer=\"%s\",dir=\"out\"} "
				          "%llu\n%s{peer=\"%s\",dir=\"in\"} %llu\n",
				          m[k].name, n, (unsigned long long)p->out_bytes, m[k].name,
				          n, (unsigned long long)p->in_bytes);
			else if (k == 2)
				sb_printf(sb, "%s{peer=\"%s\"} %llu\n", m[k].name, n,
				          (unsigned long long)p->connections);
			else if (p->last_handshake_s)
				sb_printf(sb, "%s{peer=\"%s\"} %lld\n", m[k].name, n,
				          handshake_age(p->last_handshake_s));
		}
	}
}

static void address_metrics(const struct egress_stats *s, struct strbuf *sb)
{
	char text[PREFIX_STRLEN];

	sb_prom_help(sb, "edged_egress_address_packets_total", "counter",
	             "Packets by egress address and direction (out: SNATed towards the internet).");
	sb_prom_help(sb, "edged_egress_address_bytes_total", "counter", "Bytes likewise.");
	sb_prom_help(sb, "edged_egress_address_connections", "gauge",
	             "Active conntrack entries SNATed to the address.");
	sb_prom_help(sb, "edged_egress_address_ports_in_use", "gauge",
	             "Distinct source ports of this edge's slice in use.");
	sb_prom_help(sb, "edged_egress_address_ports", "gauge",
	             "Size of this edge's slice of the range.");
	for (int k = 0; k < s->n_snat; k++) {
		const struct egress_snat_stats *a = &s->snat[k];

		prefix_format(&a->snat->address, text, sizeof(text));
		text[strcspn(text, "/")] = '\0';
		sb_printf(sb,
		          "edged_egress_address_packets_total{address=\"%s\",dir=\"out\"} %llu\n"
		          "edged_egress_address_packets_total{address=\"%s\",dir=\"in\"} %llu\n"
		          "edged_egress_address_bytes_total{address=\"%s\",dir=\"out\"} %llu\n"
		          "edged_egress_address_bytes_total{address=\"%s\",dir=\"in\"} %llu\n"
		          "edged_egress_address_connections{address=\"%s\"} %llu\n"
		          "edged_egress_address_ports_in_use{address=\"%s\"} %llu\n"
		          "edged_egress_address_ports{address=\"%s\"} %u\n",
		          text, (unsigned long long)a->out_pkts, text,
		          (unsigned long long)a->in_pkts, text, (unsigned long long)a->out_bytes,
		          text, (unsigned long long)a->in_bytes, text,
		          (unsigned long long)a->connections, text,
		          (unsigned long long)a->ports_in_use, text,
		          (unsigned int)a->snat->own_hi - a->snat->own_lo + 1);
	}
}

void egress_metrics_render(struct edged *e, struct strbuf *sb)
{
	struct egress_stats s;

	if (!e->cfg.fn[FN_EGRESS].enabled || egress_stats_get(&e->egress, &s))
		return;
	sb_prom_help(sb, "edged_egress_device_up", "gauge",
	             "1 if the WireGuard device answers its configuration interface.");
	sb_printf(sb, "edged_egress_device_up %d\n", s.device_ok);
	sb_prom_help(sb, "edged_egress_conntrack_dumps_total", "counter",
	             "Conntrack dumps made for the connection gauges (at most one a second).");
	sb_printf(sb, "edged_egress_conntrack_dumps_total %lu\n", e->egress.ct.dumps);
	peer_metrics(&s, sb);
	address_metrics(&s, sb);
	egress_stats_free(&s);
}
