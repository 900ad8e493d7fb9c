// SPDX-License-Identifier: GPL-2.0
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

static void counter_json(struct strbuf *sb, const struct edge_counter *c)
{
	sb_printf(sb, "{\"packets\":%llu,\"bytes\":%llu}", (unsigned long long)c->packets,
	          (unsigned long long)c->bytes);
}

static void uplink_stats_json(struct strbuf *sb, const struct datapath_uplink *u,
                              const struct edge_uplink_stats *st, struct edge_counter *total)
{
	struct edge_counter sum = {};

	for (int s = 0; s < EDGE_NSTAGES; s++)
		for (int v = 0; v < EDGE_NVERDICTS; v++) {
			sum.packets += st->c[s][v].packets;
			sum.bytes += st->c[s][v].bytes;
		}
	total->packets += sum.packets;
	total->bytes += sum.bytes;

	sb_printf(sb, "{\"iface\":");
	sb_json_str(sb, u->name);
	sb_printf(sb,
	          ",\"ifindex\":%d,\"xdp_mode\":\"%s\",\"packets\":%llu,\"bytes\":%llu,"
	          "\"counters\":{",
	          u->ifindex, config_xdp_mode_name(u->mode), (unsigned long long)sum.packets,
	          (unsigned long long)sum.bytes);
	for (int s = 0; s < EDGE_NSTAGES; s++) {
		sb_printf(sb, "%s\"%s\":{", s ? "," : "", datapath_stage_name(s));
		for (int v = 0; v < EDGE_NVERDICTS; v++) {
			sb_printf(sb, "%s\"%s\":", v ? "," : "", datapath_verdict_name(v));
			counter_json(sb, &st->c[s][v]);
		}
		sb_printf(sb, "}");
	}
	sb_printf(sb, "}}");
}

static void stats_json(struct edged *e, struct strbuf *sb)
{
	struct edge_counter total = {};

	sb_printf(sb, "{\"instance\":");
	sb_json_str(sb, e->cfg.instance);
	sb_printf(sb, ",\"uplinks\":[");
	for (int i = 0; i < e->dp.n_uplinks; i++) {
		struct edge_uplink_stats st;

		datapath_read_stats(&e->dp, e->dp.uplinks[i].slot, &st);
		if (i)
			sb_printf(sb, ",");
		uplink_stats_json(sb, &e->dp.uplinks[i], &st, &total);
	}
	sb_printf(sb, "],\"totals\":");
	counter_json(sb, &total);
	sb_printf(sb, "}\n");
}

static void stats_table(struct edged *e, struct strbuf *sb)
{
	int rows = 0;

	sb_printf(sb, "%-16s %-8s %-9s %14s %16s\n", "IFACE", "STAGE", "VERDICT", "PACKETS",
	          "BYTES");
	for (int i = 0; i < e->dp.n_uplinks; i++) {
		const struct datapath_uplink *u = &e->dp.uplinks[i];
		struct edge_uplink_stats st;

		datapath_read_stats(&e->dp, u->slot, &st);
		for (int s = 0; s < EDGE_NSTAGES; s++)
			for (int v = 0; v < EDGE_NVERDICTS; v++) {
				if (!st.c[s][v].packets)
					continue;
				sb_printf(sb, "%-16s %-8s %-9s %14llu %16llu\n", u->name,
				          datapath_stage_name(s), datapath_verdict_name(v),
				          (unsigned long long)st.c[s][v].packets,
				          (unsigned long long)st.c[s][v].bytes);
				rows++;
			}
	}
	if (!rows)
		sb_printf(sb, "(no packets counted yet)\n");
}

void stats_render(struct edged *e, struct strbuf *sb, bool json)
{
	if (json)
		stats_json(e, sb);
	else
		stats_table(e, sb);
}

static void status_json(struct edged *e, struct strbuf *sb)
{
	sb_printf(sb, "{\"instance\":");
	sb_json_str(sb, e->cfg.instance);
	sb_printf(sb, ",\"version\":\"%s\",\"pid\":%d,\"uptime_s\":%lld,\"config\":", EDGED_VERSION,
	          (int)getpid(), (long long)(time(NULL) - e->started));
	sb_json_str(sb, e->cfg.path);
	sb_printf(sb, ",\"generation\":%lu,\"last_reload\":{\"ok\":%s,\"time\":%lld,\"error\":",
	          e->generation, e->last_reload_ok ? "true" : "false", (long long)e->last_reload);
	sb_json_str(sb, e->last_reload_error);
	sb_printf(sb, "},\"pin_dir\":");
	sb_json_str(sb, e->dp.pin_dir);
	sb_printf(sb, ",\"prog_id\":%u,\"functions\":{", e->dp.prog_id);
	for (int f = 0; f < FN_COUNT; f++)
		sb_printf(sb, "%s\"%s\":%s", f ? "," : "", config_function_name(f),
		          e->cfg.fn[f].enabled ? "true" : "false");
	sb_printf(sb, "},\"uplinks\":[");
	for (int i = 0; i < e->dp.n_uplinks; i++) {
		const struct datapath_uplink *u = &e->dp.uplinks[i];

		sb_printf(sb, "%s{\"iface\":", i ? "," : "");
		sb_json_str(sb, u->name);
		sb_printf(sb, ",\"ifindex\":%d,\"driver\":", u->ifindex);
		sb_json_str(sb, u->driver);
		sb_printf(sb, ",\"xdp_mode\":\"%s\",\"attached\":%s,\"link_id\":%u}",
		          config_xdp_mode_name(u->mode), u->link_fd >= 0 ? "true" : "false",
		          u->link_id);
	}
	sb_printf(sb, "]}\n");
}

static void status_table(struct edged *e, struct strbuf *sb)
{
	sb_printf(sb,
	          "instance     %s\nversion      %s (pid %d, up %llds)\nconfig       %s "
	          "(generation %lu, last reload %s%s%s)\npin dir      %s\nprogram      id %u\n",
	          e->cfg.instance, EDGED_VERSION, (int)getpid(),
	          (long long)(time(NULL) - e->started), e->cfg.path, e->generation,
	          e->last_reload_ok ? "ok" : "FAILED", e->last_reload_ok ? "" : ": ",
	          e->last_reload_ok ? "" : e->last_reload_error, e->dp.pin_dir, e->dp.prog_id);
	sb_printf(sb, "functions   ");
	for (int f = 0; f < FN_COUNT; f++)
		sb_printf(sb, " %s=%s", config_function_name(f),
		          e->cfg.fn[f].enabled ? "on" : "off");
	sb_printf(sb, "\n\n%-16s %8s %-12s %-8s %-9s %8s\n", "UPLINK", "IFINDEX", "DRIVER", "XDP",
	          "ATTACHED", "LINK");
	for (int i = 0; i < e->dp.n_uplinks; i++) {
		const struct datapath_uplink *u = &e->dp.uplinks[i];

		sb_printf(sb, "%-16s %8d %-12s %-8s %-9s %8u\n", u->name, u->ifindex, u->driver,
		          config_xdp_mode_name(u->mode), u->link_fd >= 0 ? "yes" : "NO",
		          u->link_id);
	}
}

void status_render(struct edged *e, struct strbuf *sb, bool json)
{
	if (json)
		status_json(e, sb);
	else
		status_table(e, sb);
}
