// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <microhttpd.h>

#include "lb_control.h"
#include "dispatch_control.h"
#include "egress_control.h"
#include "transit_control.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

/* Label values here are interface names and instance names: [a-z0-9_-] by validation, and
 * interface names cannot hold '"' or '\\' either, so no escaping is needed. */
static void xdp_counters(struct edged *e, struct strbuf *sb, const char *name, bool bytes)
{
	for (int i = 0; i < e->dp.n_uplinks; i++) {
		const struct datapath_uplink *u = &e->dp.uplinks[i];
		struct edge_uplink_stats st;

		datapath_read_stats(&e->dp, u->slot, &st);
		for (int s = 0; s < EDGE_NSTAGES; s++)
			for (int v = 0; v < EDGE_NVERDICTS; v++)
				sb_printf(sb, "%s{iface=\"%s\",stage=\"%s\",verdict=\"%s\"} %llu\n",
				          name, u->name, datapath_stage_name(s),
				          datapath_verdict_name(v),
				          (unsigned long long)(bytes ? st.c[s][v].bytes
				                                     : st.c[s][v].packets));
	}
}

void metrics_render(struct edged *e, struct strbuf *sb)
{
	sb_prom_help(sb, "edged_build_info", "gauge", "edged version; always 1.");
	sb_printf(sb, "edged_build_info{version=\"%s\",edged_instance=\"%s\"} 1\n", EDGED_VERSION,
	          e->cfg.instance);
	sb_prom_help(sb, "edged_start_time_seconds", "gauge", "When edged started, Unix time.");
	sb_printf(sb, "edged_start_time_seconds %lld\n", (long long)e->started);
	sb_prom_help(sb, "edged_config_generation", "gauge",
	             "Configs applied since edged started.");
	sb_printf(sb, "edged_config_generation %lu\n", e->generation);
	sb_prom_help(sb, "edged_config_last_reload_success", "gauge",
	             "1 if the last reload applied, 0 if it was rejected.");
	sb_printf(sb, "edged_config_last_reload_success %d\n", e->last_reload_ok);
	sb_prom_help(sb, "edged_config_last_reload_timestamp_seconds", "gauge",
	             "When the config was last (re)loaded, Unix time.");
	sb_printf(sb, "edged_config_last_reload_timestamp_seconds %lld\n",
	          (long long)e->last_reload);
	sb_prom_help(sb, "edged_uplink_attached", "gauge",
	             "1 if the XDP edge program is attached.");
	for (int i = 0; i < e->dp.n_uplinks; i++)
		sb_printf(sb,
		          "edged_uplink_attached{iface=\"%s\",driver=\"%s\",xdp_mode=\"%s\"} %d\n",
		          e->dp.uplinks[i].name, e->dp.uplinks[i].driver,
		          config_xdp_mode_name(e->dp.uplinks[i].mode),
		          e->dp.uplinks[i].link_fd >= 0);
	sb_prom_help(sb, "edged_xdp_packets_total", "counter",
	             "Packets by uplink and by the XDP stage that decided their verdict.");
	xdp_counters(e, sb, "edged_xdp_packets_total", false);
	sb_prom_help(sb, "edged_xdp_bytes_total", "counter",
	             "Bytes by uplink and by the XDP stage that decided their verdict.");
	xdp_counters(e, sb, "edged_xdp_bytes_total", true);
	if (e->cfg.fn[FN_DOS].enabled)
		dos_metrics_render(&e->dos, &e->dp, &e->cfg.dos, sb);
	dispatch_metrics_render(e, sb);
	lb_metrics_render(e, sb);
	egress_metrics_render(e, sb);
	egress_share_metrics_render(&e->share, &e->dp, sb);
	transit_metrics_render(e, sb);
}

/* The render under the lock that the control socket's changes take. */
static void render_locked(void *arg, struct strbuf *sb)
{
	struct edged *e = arg;

	pthread_mutex_lock(&e->lock);
	metrics_render(e, sb);
	pthread_mutex_unlock(&e->lock);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	return metrics_http_answer(conn, url, method, "edged", render_locked, cls);
}

int metrics_start(struct edged *e)
{
	const struct metrics_config *m = &e->cfg.metrics;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (!m->enabled)
		return 0;
	if (m->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	e->metrics = MHD_start_daemon(flags, 0, NULL, NULL, handle, e, MHD_OPTION_SOCK_ADDR,
	                              &m->addr, MHD_OPTION_END);
	if (!e->metrics) {
		pr_err("Couldn't serve metrics on %s (is the address in use or not local?): "
		       "change metrics.listen, or set it to off",
		       m->listen);
		return -1;
	}
	pr_info("metrics on http://%s/metrics", m->listen);
	return 0;
}

void metrics_stop(struct edged *e)
{
	if (e->metrics)
		MHD_stop_daemon(e->metrics);
	e->metrics = NULL;
}
