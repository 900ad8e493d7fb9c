// SPDX-License-Identifier: GPL-2.0
/*
 * Metrics of the GRE data path, beside transit_control.c's per-customer and per-tunnel
 * traffic: why decapsulation refused packets and what encapsulation did instead of sending,
 * which operators graph to tell a misconfigured router (bad key) from an attack (no tunnel)
 * from an MTU problem (too big).
 */
#include <stddef.h>
#include <stdio.h>

#include "strbuf.h"
#include "transit_dp.h"

/* The per-tunnel counters that are not traffic (transit_control.c renders that). */
static const struct {
	const char *name, *help;
	size_t off;
} tunnel_counters[] = {
        {"edged_transit_tunnel_dropped_total",
         "Per tunnel: in = well-formed GRE refused (inner source outside the customer's "
         "prefixes), out = not sent (no route to the router).",
         0},
        {"edged_transit_tunnel_too_big_total",
         "Per tunnel: packets answered with ICMP too-big instead of being encapsulated.",
         offsetof(struct transit_counters, too_big)},
        {"edged_transit_tunnel_mss_clamped_total",
         "Per tunnel: TCP SYNs whose MSS was lowered to fit the tunnel.",
         offsetof(struct transit_counters, mss_clamped)},
};

static void tunnel_metrics(const struct transit_dp_state *st, const struct datapath *dp,
                           struct strbuf *sb)
{
	for (size_t m = 0; m < sizeof(tunnel_counters) / sizeof(tunnel_counters[0]); m++) {
		sb_prom_help(sb, tunnel_counters[m].name, "counter", tunnel_counters[m].help);
		for (int i = 0; i < st->n_tunnels; i++) {
			struct transit_counters k = {};
			const char *t = st->tunnels[i].name;

			if (transit_dp_tunnel_counters(st, dp, t, &k))
				continue;
			if (m == 0) {
				sb_printf(sb, "%s{tunnel=\"%s\",direction=\"in\"} %llu\n",
				          tunnel_counters[m].name, t,
				          (unsigned long long)k.in_dropped);
				sb_printf(sb, "%s{tunnel=\"%s\",direction=\"out\"} %llu\n",
				          tunnel_counters[m].name, t,
				          (unsigned long long)k.out_dropped);
				continue;
			}
			sb_printf(sb, "%s{tunnel=\"%s\"} %llu\n", tunnel_counters[m].name, t,
			          (unsigned long long)*(const __u64 *)((const char *)&k +
			                                               tunnel_counters[m].off));
		}
	}
}

void transit_dp_metrics_render(const struct transit_dp_state *st, const struct datapath *dp,
                               struct strbuf *sb)
{
	struct transit_global_counters g;

	if (transit_dp_global_counters(dp, &g))
		return;
	sb_prom_help(sb, "edged_transit_datapath_packets_total", "counter",
	             "GRE data path outcomes: decap (unwrapped), decap_* (refused GRE to an "
	             "endpoint, by reason), encap, encap_* (what happened instead), mss_clamped.");
	for (int i = 0; i < TRANSIT_G_COUNT; i++)
		sb_printf(sb, "edged_transit_datapath_packets_total{outcome=\"%s\"} %llu\n",
		          transit_dp_counter_name(i), (unsigned long long)g.c[i]);
	tunnel_metrics(st, dp, sb);
}
