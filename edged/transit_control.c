// SPDX-License-Identifier: GPL-2.0
/*
 *   edgectl transit customers         customers: namespace, id, prefixes, tunnels up, rules
 *   edgectl transit tunnels           tunnels: remote, endpoint, key, MTU, health, keepalives
 *   edgectl transit rules CUSTOMER    the customer's firewall with each rule's counters
 *   edgectl transit add FILE          adds (or replaces) the customers FILE lists, written as
 *                                     under `transit.customers:` (a YAML list)
 *   edgectl transit remove CUSTOMER   removes a customer
 *
 * Runtime adds and removes change this edge until its next restart; a reload keeps them
 * (they apply over the file). Put them in the file to keep them, on every edge of the fleet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "config.h"
#include "edged.h"
#include "netns.h"
#include "transit_control.h"
#include "transit_dp.h"
#include "transit_health.h"
#include "transit_nft.h"

#define TRANSIT_USAGE                                                                              \
	"usage: transit customers | transit tunnels | transit rules CUSTOMER | "                   \
	"transit add FILE | transit remove CUSTOMER\n"

static const char *health_text(const struct transit_tunnel_health *h)
{
	if (!h)
		return "?";
	if (!h->cfg.enabled)
		return "unchecked";
	return h->up ? "up" : "down";
}

static int tunnels_up(const struct transit_state *st, const struct transit_customer_config *c)
{
	int up = 0;

	for (int j = 0; j < c->n_tunnels; j++) {
		const struct transit_tunnel_health *h = transit_health_find(st, c->tunnels[j].name);

		up += !h || !h->cfg.enabled || h->up;
	}
	return up;
}

/* ---- customers ---- */

static void customers_text(const struct transit_state *st, struct strbuf *out)
{
	char pf[PREFIX_STRLEN];

	sb_printf(out, "%-16s %-5s %-28s %-8s %-7s %s\n", "CUSTOMER", "ID", "NAMESPACE", "TUNNELS",
	          "RULES", "PREFIXES");
	for (int i = 0; i < st->n; i++) {
		const struct transit_customer_state *c = &st->cust[i];
		char tun[16];

		snprintf(tun, sizeof(tun), "%d/%d up", tunnels_up(st, &c->cfg), c->cfg.n_tunnels);
		sb_printf(out, "%-16s %-5u %-28s %-8s %-7d", c->cfg.name, c->rt.id, c->rt.netns,
		          tun, c->cfg.n_rules);
		for (int j = 0; j < c->cfg.n_prefixes; j++)
			sb_printf(out, "%s%s", j ? "," : " ",
			          prefix_format(&c->cfg.prefixes[j], pf, sizeof(pf)));
		sb_printf(out, "\n");
	}
}

static void customers_json(const struct transit_state *st, struct strbuf *out)
{
	char pf[PREFIX_STRLEN];

	sb_printf(out, "{\"customers\":[");
	for (int i = 0; i < st->n; i++) {
		const struct transit_customer_state *c = &st->cust[i];

		sb_printf(out,
		          "%s{\"name\":\"%s\",\"id\":%u,\"netns\":\"%s\",\"veth\":\"%s\","
		          "\"mark\":%u,\"table\":%u,\"tunnels\":%d,\"tunnels_up\":%d,\"rules\":%d,"
		          "\"prefixes\":[",
		          i ? "," : "", c->cfg.name, c->rt.id, c->rt.netns, c->rt.host_ifname,
		          c->rt.mark, c->rt.table, c->cfg.n_tunnels, tunnels_up(st, &c->cfg),
		          c->cfg.n_rules);
		for (int j = 0; j < c->cfg.n_prefixes; j++)
			sb_printf(out, "%s\"%s\"", j ? "," : "",
			          prefix_format(&c->cfg.prefixes[j], pf, sizeof(pf)));
		sb_printf(out, "]}");
	}
	sb_printf(out, "]}\n");
}

/* ---- tunnels ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The text table's address columns: as wide as the longest address (IPv6 ones are longer). */
static int addr_width(const struct transit_state *st)
{
	char s[INET6_ADDRSTRLEN];
	int w = 15;

	for (int i = 0; i < st->n; i++) {
		for (int j = 0; j < st->cust[i].cfg.n_tunnels; j++) {
			const struct transit_tunnel_config *t = &st->cust[i].cfg.tunnels[j];
			int r = strlen(transit_ip_format(&t->remote, s, sizeof(s)));
			int l = strlen(transit_ip_format(&t->endpoint, s, sizeof(s)));

			w = r > w ? r : w;
			w = l > w ? l : w;
		}
	}
	return w;
}

static void tunnel_row(struct edged *e, const struct transit_customer_config *c,
                       const struct transit_tunnel_config *t, bool json, bool first, int aw,
                       struct strbuf *out)
{
	const struct transit_state *st = &e->transit;
	const struct transit_tunnel_health *h = transit_health_find(st, t->name);
	struct transit_counters k = {};
	char remote[INET6_ADDRSTRLEN], local[INET6_ADDRSTRLEN], key[16] = "-";
	double ago = h ? now_s() - h->last_reply : -1;

	transit_ip_format(&t->remote, remote, sizeof(remote));
	transit_ip_format(&t->endpoint, local, sizeof(local));
	if (t->has_key)
		snprintf(key, sizeof(key), "%u", t->key);
	transit_dp_tunnel_counters(&e->transit_dp, &e->dp, t->name, &k);
	if (json) {
		sb_printf(out,
		          "%s{\"name\":\"%s\",\"customer\":\"%s\",\"family\":\"%s\","
		          "\"remote\":\"%s\",\"endpoint\":\"%s\",\"key\":%s,\"mtu\":%u,\"health\":"
		          "\"%s\","
		          "\"keepalives_sent\":%llu,\"keepalives_answered\":%llu,"
		          "\"last_answer_s\":%.1f,",
		          first ? "" : ",", t->name, c->name,
		          t->remote.family == AF_INET6 ? "ipv6" : "ipv4", remote, local,
		          t->has_key ? key : "null", t->mtu, health_text(h),
		          h ? (unsigned long long)h->probes : 0ULL,
		          h ? (unsigned long long)h->replies : 0ULL, ago);
		sb_printf(out,
		          "\"in_packets\":%llu,\"in_bytes\":%llu,\"out_packets\":%llu,"
		          "\"out_bytes\":%llu,\"in_dropped\":%llu,\"out_dropped\":%llu,"
		          "\"too_big\":%llu,\"mss_clamped\":%llu}",
		          (unsigned long long)k.in_packets, (unsigned long long)k.in_bytes,
		          (unsigned long long)k.out_packets, (unsigned long long)k.out_bytes,
		          (unsigned long long)k.in_dropped, (unsigned long long)k.out_dropped,
		          (unsigned long long)k.too_big, (unsigned long long)k.mss_clamped);
		return;
	}
	sb_printf(out, "%-16s %-14s %-*s %-*s %-10s %-5u %-9s %8llu %8llu %6.1fs %10llu %10llu\n",
	          t->name, c->name, aw, remote, aw, local, key, t->mtu, health_text(h),
	          h ? (unsigned long long)h->probes : 0ULL,
	          h ? (unsigned long long)h->replies : 0ULL, ago, (unsigned long long)k.in_packets,
	          (unsigned long long)k.out_packets);
}

static void tunnels(struct edged *e, bool json, struct strbuf *out)
{
	const struct transit_state *st = &e->transit;
	bool first = true;
	int aw = addr_width(st);

	if (json)
		sb_printf(out, "{\"tunnels\":[");
	else
		sb_printf(out, "%-16s %-14s %-*s %-*s %-10s %-5s %-9s %8s %8s %7s %10s %10s\n",
		          "TUNNEL", "CUSTOMER", aw, "REMOTE", aw, "ENDPOINT", "KEY", "MTU",
		          "HEALTH", "KA_SENT", "KA_BACK", "KA_LAST", "IN_PKTS", "OUT_PKTS");
	for (int i = 0; i < st->n; i++) {
		for (int j = 0; j < st->cust[i].cfg.n_tunnels; j++) {
			tunnel_row(e, &st->cust[i].cfg, &st->cust[i].cfg.tunnels[j], json, first,
			           aw, out);
			first = false;
		}
	}
	if (json)
		sb_printf(out, "]}\n");
}

/* ---- rules ---- */

struct fw_counters {
	struct transit_fw_counter *c;
	int n;
};

static void collect(const struct transit_fw_counter *c, void *arg)
{
	struct fw_counters *fc = arg;
	struct transit_fw_counter *g = realloc(fc->c, (fc->n + 1) * sizeof(*g));

	if (g) {
		fc->c = g;
		fc->c[fc->n++] = *c;
	}
}

/* The firewall counters of customer C, read inside its namespace. */
static int read_counters(const struct transit_customer_state *c, struct fw_counters *fc)
{
	int fd = netns_open(c->rt.netns), saved, err;

	memset(fc, 0, sizeof(*fc));
	if (fd < 0)
		return fd;
	err = netns_enter(fd, &saved);
	close(fd);
	if (err)
		return err;
	err = transit_nft_counters(collect, fc);
	netns_leave(saved);
	return err;
}

static const struct transit_fw_counter *counter_of(const struct fw_counters *fc, const char *chain,
                                                   int rule)
{
	for (int i = 0; i < fc->n; i++)
		if (fc->c[i].rule == rule && strcmp(fc->c[i].chain, chain) == 0)
			return &fc->c[i];
	return NULL;
}

/* One row: INDEX -1 for a default or the forward chain's drop. */
static void rule_line(struct strbuf *out, bool json, bool first, int index, const char *dir,
                      const char *text, const struct transit_fw_counter *k)
{
	unsigned long long p = k ? k->packets : 0, b = k ? k->bytes : 0;
	char idx[12] = "-";

	if (json) {
		sb_printf(out, "%s{\"index\":%d,\"chain\":\"%s\",\"rule\":", first ? "" : ",",
		          index, dir);
		sb_json_str(out, text);
		sb_printf(out, ",\"packets\":%llu,\"bytes\":%llu}", p, b);
		return;
	}
	if (index >= 0)
		snprintf(idx, sizeof(idx), "%d", index);
	sb_printf(out, "%-7s %-7s %-52s %10llu %12llu\n", idx, dir, text, p, b);
}

static void rules(const struct transit_customer_state *c, bool json, struct strbuf *out)
{
	static const char *const dirs[] = {"in", "out"};
	struct fw_counters fc;
	char text[160];
	bool first = true;
	int err = read_counters(c, &fc);

	if (json)
		sb_printf(out, "{\"customer\":\"%s\",\"counters\":%s,\"rules\":[", c->cfg.name,
		          err ? "false" : "true");
	else
		sb_printf(out, "%-7s %-7s %-52s %10s %12s\n", "RULE", "CHAIN", "MATCH -> ACTION",
		          "PACKETS", "BYTES");
	for (int d = 0; d < 2; d++) {
		for (int i = 0; i < c->cfg.n_rules; i++) {
			if (c->cfg.rules[i].direction != d)
				continue;
			transit_rule_format(&c->cfg.rules[i], text, sizeof(text));
			rule_line(out, json, first, i, dirs[d], text, counter_of(&fc, dirs[d], i));
			first = false;
		}
		snprintf(text, sizeof(text), "default %s %s",
		         transit_action_name(d ? c->cfg.default_out : c->cfg.default_in), dirs[d]);
		rule_line(out, json, first, -1, dirs[d], text, counter_of(&fc, dirs[d], -1));
		first = false;
	}
	rule_line(out, json, false, -1, "forward", "deny: neither source nor destination is theirs",
	          counter_of(&fc, "forward", -1));
	if (json)
		sb_printf(out, "]}\n");
	else if (err)
		sb_printf(out, "(counters unavailable: %s)\n", strerror(-err));
	free(fc.c);
}

/* ---- add, remove ---- */

/* Parses FILE (a YAML list of customers) with the running config's endpoints, the way
 * `transit.customers:` would read it. Messages name FILE and its own lines. */
static int parse_customers(struct edged *e, const char *file, struct edged_config *cfg,
                           struct strbuf *out)
{
	struct config_errors ce = {};
	struct strbuf text = {};
	char line[1024], ep[INET6_ADDRSTRLEN];
	FILE *f = fopen(file, "r");
	int err;

	if (!f) {
		sb_printf(out, "%s: cannot read: %s\n", file, strerror(errno));
		return -1;
	}
	/* The customers first, so that the file's line N is line N + 2 of the text. */
	sb_printf(&text, "transit:\n  customers:\n");
	while (fgets(line, sizeof(line), f))
		sb_printf(&text, "    %s", line);
	fclose(f);
	sb_printf(&text, "\n  endpoints: [");
	for (int i = 0; i < e->cfg.transit.n_endpoints; i++)
		sb_printf(&text, "%s\"%s\"", i ? ", " : "", /* quoted: IPv6 has colons */
		          transit_ip_format(&e->cfg.transit.endpoints[i], ep, sizeof(ep)));
	sb_printf(&text, "]\ninstance: %s\nuplinks: [%s]\n", e->cfg.instance,
	          e->cfg.uplinks[0].name);
	err = config_load_string(file, text.buf ? text.buf : "", 0, cfg, &ce);
	for (int i = 0; i < ce.n; i++) {
		int l, c, off = 0;

		if (sscanf(ce.msgs[i] + strlen(file), ":%d:%d:%n", &l, &c, &off) == 2 && off)
			sb_printf(out, "%s:%d:%d:%s\n", file, l - 2, c > 4 ? c - 4 : c,
			          ce.msgs[i] + strlen(file) + off);
		else
			sb_printf(out, "%s\n", ce.msgs[i]);
	}
	config_errors_free(&ce);
	sb_free(&text);
	return err;
}

static bool apply_overlay(struct edged *e, struct transit_overlay *saved, struct strbuf *out)
{
	if (edged_apply_transit(e, out) == 0) {
		transit_overlay_free(saved);
		return true;
	}
	transit_overlay_restore(&e->transit, saved);
	sb_printf(out, "nothing changed\n");
	return false;
}

static bool cmd_add(struct edged *e, const char *file, struct strbuf *out)
{
	struct edged_config *cfg = calloc(1, sizeof(*cfg));
	struct transit_overlay saved;
	bool ok = false;

	if (!cfg || transit_overlay_save(&e->transit, &saved)) {
		free(cfg);
		sb_printf(out, "out of memory\n");
		return false;
	}
	if (parse_customers(e, file, cfg, out)) {
		transit_overlay_free(&saved);
		free(cfg);
		return false;
	}
	for (int i = 0; i < cfg->transit.n_customers; i++) {
		struct transit_customer_config c;

		if (transit_customer_copy(&c, &cfg->transit.customers[i]) ||
		    transit_runtime_add(&e->transit, &c)) {
			sb_printf(out, "out of memory\n");
			goto out;
		}
	}
	ok = apply_overlay(e, &saved, out);
	if (ok)
		for (int i = 0; i < cfg->transit.n_customers; i++)
			sb_printf(out, "customer '%s' applied\n", cfg->transit.customers[i].name);
out:
	if (!ok && saved.added)
		transit_overlay_free(&saved);
	config_release(cfg);
	free(cfg);
	return ok;
}

static bool cmd_remove(struct edged *e, const char *name, struct strbuf *out)
{
	struct transit_overlay saved;

	if (transit_find(&e->transit, name) < 0) {
		sb_printf(out, "no customer '%s' (edgectl transit customers lists them)\n", name);
		return false;
	}
	if (transit_overlay_save(&e->transit, &saved) ||
	    transit_runtime_remove(&e->transit, name)) {
		sb_printf(out, "out of memory\n");
		return false;
	}
	if (!apply_overlay(e, &saved, out))
		return false;
	sb_printf(out, "customer '%s' removed\n", name);
	return true;
}

bool transit_command(struct edged *e, const struct request *rq, struct strbuf *out)
{
	const char *sub = rq->argc > 1 ? rq->argv[1] : "";
	bool ok = true;
	int i;

	if (!e->cfg.fn[FN_TRANSIT].enabled) {
		sb_printf(out, "transit is off: add a `transit:` section to %s\n", e->cfg.path);
		return false;
	}
	pthread_mutex_lock(&e->lock);
	if (strcmp(sub, "customers") == 0 && rq->argc == 2) {
		if (rq->json)
			customers_json(&e->transit, out);
		else
			customers_text(&e->transit, out);
	} else if (strcmp(sub, "tunnels") == 0 && rq->argc == 2) {
		tunnels(e, rq->json, out);
	} else if (strcmp(sub, "rules") == 0 && rq->argc == 3) {
		i = transit_find(&e->transit, rq->argv[2]);
		if (i >= 0)
			rules(&e->transit.cust[i], rq->json, out);
		else
			sb_printf(out, "no customer '%s' (edgectl transit customers lists them)\n",
			          rq->argv[2]);
		ok = i >= 0;
	} else if (strcmp(sub, "add") == 0 && rq->argc == 3) {
		ok = cmd_add(e, rq->argv[2], out);
	} else if (strcmp(sub, "remove") == 0 && rq->argc == 3) {
		ok = cmd_remove(e, rq->argv[2], out);
	} else {
		sb_printf(out, TRANSIT_USAGE);
		ok = false;
	}
	pthread_mutex_unlock(&e->lock);
	return ok;
}

/* ---- metrics ---- */

/* Names are [A-Za-z0-9_-] by validation: no label escaping. */
static void firewall_metrics(struct edged *e, struct strbuf *sb)
{
	sb_prom_help(
	        sb, "edged_transit_firewall_packets_total", "counter",
	        "Packets each customer firewall rule matched (rule=-1: the direction's default; "
	        "chain forward: sources and destinations that are not the customer's).");
	for (int i = 0; i < e->transit.n; i++) {
		const struct transit_customer_state *c = &e->transit.cust[i];
		struct fw_counters fc;

		if (read_counters(c, &fc))
			continue;
		for (int k = 0; k < fc.n; k++) {
			const char *action = "allow";
			int r = fc.c[k].rule;

			if (strcmp(fc.c[k].chain, "forward") == 0)
				action = "deny";
			else if (r >= 0 && r < c->cfg.n_rules)
				action = transit_action_name(c->cfg.rules[r].action);
			else if (r < 0)
				action = transit_action_name(strcmp(fc.c[k].chain, "in")
				                                     ? c->cfg.default_out
				                                     : c->cfg.default_in);
			sb_printf(
			        sb,
			        "edged_transit_firewall_packets_total{customer=\"%s\",chain=\"%s\","
			        "rule=\"%d\",action=\"%s\"} %llu\n",
			        c->cfg.name, fc.c[k].chain, r, action,
			        (unsigned long long)fc.c[k].packets);
		}
		free(fc.c);
	}
}

static void health_metrics(struct edged *e, struct strbuf *sb)
{
	const struct transit_state *st = &e->transit;

	sb_prom_help(
	        sb, "edged_transit_tunnel_up", "gauge",
	        "1 while the tunnel's GRE keepalives are answered (or it is not checked), else 0.");
	for (int i = 0; i < st->n_health; i++)
		sb_printf(sb, "edged_transit_tunnel_up{customer=\"%s\",tunnel=\"%s\"} %d\n",
		          st->health[i].customer, st->health[i].name,
		          !st->health[i].cfg.enabled || st->health[i].up);
	sb_prom_help(sb, "edged_transit_tunnel_info", "gauge",
	             "1 per tunnel: its GRE underlay family and outer addresses.");
	for (int i = 0; i < st->n_health; i++) {
		const struct transit_tunnel_health *h = &st->health[i];
		char r[INET6_ADDRSTRLEN], l[INET6_ADDRSTRLEN];

		sb_printf(sb,
		          "edged_transit_tunnel_info{customer=\"%s\",tunnel=\"%s\",family=\"%s\","
		          "remote=\"%s\",endpoint=\"%s\"} 1\n",
		          h->customer, h->name, h->remote.family == AF_INET6 ? "ipv6" : "ipv4",
		          transit_ip_format(&h->remote, r, sizeof(r)),
		          transit_ip_format(&h->endpoint, l, sizeof(l)));
	}
	sb_prom_help(sb, "edged_transit_keepalives_total", "counter",
	             "GRE keepalives sent to each tunnel's router, and those that came back.");
	for (int i = 0; i < st->n_health; i++) {
		sb_printf(sb,
		          "edged_transit_keepalives_total{customer=\"%s\",tunnel=\"%s\",result="
		          "\"sent\"} %llu\n",
		          st->health[i].customer, st->health[i].name,
		          (unsigned long long)st->health[i].probes);
		sb_printf(sb,
		          "edged_transit_keepalives_total{customer=\"%s\",tunnel=\"%s\",result="
		          "\"answered\"} %llu\n",
		          st->health[i].customer, st->health[i].name,
		          (unsigned long long)st->health[i].replies);
	}
}

static void traffic_line(struct strbuf *sb, const char *name, const char *labels, const char *dir,
                         uint64_t v)
{
	sb_printf(sb, "%s{%s,direction=\"%s\"} %llu\n", name, labels, dir, (unsigned long long)v);
}

/* From the data path's per-CPU counters: `in` from the site (decapsulated), `out` toward it
 * (encapsulated); bytes of the inner packets. */
static void traffic_metrics(struct edged *e, struct strbuf *sb)
{
	static const char *const names[] = {
	        "edged_transit_packets_total", "edged_transit_bytes_total",
	        "edged_transit_tunnel_packets_total", "edged_transit_tunnel_bytes_total"};
	const struct transit_state *st = &e->transit;
	char labels[96];

	for (int m = 0; m < 4; m++) {
		sb_prom_help(
		        sb, names[m], "counter",
		        m < 2 ? "Per customer: in = from its sites (decapsulated), out = toward "
		                "them."
		              : "Per tunnel: in = from the site (decapsulated), out = toward it.");
		for (int i = 0; i < st->n; i++) {
			const struct transit_customer_config *c = &st->cust[i].cfg;
			struct transit_counters k = {};

			if (m < 2) {
				transit_dp_customer_counters(&e->dp, st->cust[i].rt.id, &k);
				snprintf(labels, sizeof(labels), "customer=\"%s\"", c->name);
				traffic_line(sb, names[m], labels, "in",
				             m ? k.in_bytes : k.in_packets);
				traffic_line(sb, names[m], labels, "out",
				             m ? k.out_bytes : k.out_packets);
				continue;
			}
			for (int j = 0; j < c->n_tunnels; j++) {
				transit_dp_tunnel_counters(&e->transit_dp, &e->dp,
				                           c->tunnels[j].name, &k);
				snprintf(labels, sizeof(labels), "customer=\"%s\",tunnel=\"%s\"",
				         c->name, c->tunnels[j].name);
				traffic_line(sb, names[m], labels, "in",
				             m == 3 ? k.in_bytes : k.in_packets);
				traffic_line(sb, names[m], labels, "out",
				             m == 3 ? k.out_bytes : k.out_packets);
			}
		}
	}
}

void transit_metrics_render(struct edged *e, struct strbuf *sb)
{
	if (!e->cfg.fn[FN_TRANSIT].enabled)
		return;
	sb_prom_help(sb, "edged_transit_customers", "gauge", "Transit customers with a namespace.");
	sb_printf(sb, "edged_transit_customers %d\n", e->transit.n);
	traffic_metrics(e, sb);
	transit_dp_metrics_render(&e->transit_dp, &e->dp, sb);
	health_metrics(e, sb);
	firewall_metrics(e, sb);
}
