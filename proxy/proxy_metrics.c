// SPDX-License-Identifier: GPL-2.0
/*
 * edged-proxy's metrics: its counters in Prometheus text format on GET /metrics, at the
 * address of the service's `proxy.metrics` (docs/config.md).
 *
 * libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL): its epoll descriptor joins
 * the proxy's set, and the proxy's loop calls MHD_run when it is ready. So the counters are
 * read on the thread that writes them, with no lock on the relaying path, and a slow scraper
 * costs the relays nothing but the render itself.
 */
#include <sys/epoll.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics_http.h"
#include "proxy.h"
#include "strbuf.h"

/* One sample per protocol: TCP's value, then UDP's. The service name is [A-Za-z0-9._-] by
 * validation: no label escaping. */
static void per_proto(struct strbuf *sb, const struct proxy *p, const char *name, uint64_t tcp,
                      uint64_t udp)
{
	sb_printf(sb, "%s{service=\"%s\",proto=\"tcp\"} %llu\n", name, p->service,
	          (unsigned long long)tcp);
	sb_printf(sb, "%s{service=\"%s\",proto=\"udp\"} %llu\n", name, p->service,
	          (unsigned long long)udp);
}

void proxy_metrics_render(const struct proxy *p, struct strbuf *sb)
{
	const struct proxy_stats *s = &p->st;

	sb_prom_help(
	        sb, "edged_proxy_connections_accepted_total", "counter",
	        "Connections accepted (TCP) and flows opened (UDP, by client address and original "
	        "destination).");
	per_proto(sb, p, "edged_proxy_connections_accepted_total", s->tcp_accepted, s->udp_flows);
	sb_prom_help(sb, "edged_proxy_connections_active", "gauge",
	             "Connections and UDP flows being relayed now.");
	per_proto(sb, p, "edged_proxy_connections_active", s->tcp_active, s->udp_active);
	sb_prom_help(sb, "edged_proxy_connections_closed_total", "counter",
	             "Connections and UDP flows that ended, for any reason.");
	per_proto(sb, p, "edged_proxy_connections_closed_total", s->tcp_closed, s->udp_closed);
	sb_prom_help(sb, "edged_proxy_idle_timeouts_total", "counter",
	             "Connections and UDP flows closed for being idle past their timeout.");
	per_proto(sb, p, "edged_proxy_idle_timeouts_total", s->tcp_idle_closed, s->udp_idle_closed);
	sb_prom_help(
	        sb, "edged_proxy_no_origin_total", "counter",
	        "Connections and datagrams refused: no origin configured for the destination.");
	per_proto(sb, p, "edged_proxy_no_origin_total", s->tcp_no_origin, s->udp_no_origin);
	sb_prom_help(
	        sb, "edged_proxy_proxy_headers_sent_total", "counter",
	        "PROXY protocol v2 headers sent to origins (TCP: one per connection; UDP: one per "
	        "datagram).");
	per_proto(sb, p, "edged_proxy_proxy_headers_sent_total", s->tcp_pp2_sent, s->udp_pp2_sent);
	sb_prom_help(
	        sb, "edged_proxy_origin_connect_failures_total", "counter",
	        "TCP connections to the origin that failed or timed out (the client is reset).");
	sb_printf(sb, "edged_proxy_origin_connect_failures_total{service=\"%s\"} %llu\n",
	          p->service, (unsigned long long)s->tcp_origin_failed);
	sb_prom_help(sb, "edged_proxy_udp_errors_total", "counter",
	             "UDP datagrams lost: send failures and ICMP errors from the origin.");
	sb_printf(sb, "edged_proxy_udp_errors_total{service=\"%s\"} %llu\n", p->service,
	          (unsigned long long)s->udp_errors);
	sb_prom_help(sb, "edged_proxy_bytes_total", "counter",
	             "Payload bytes relayed, TCP and UDP, by direction.");
	sb_printf(sb, "edged_proxy_bytes_total{service=\"%s\",direction=\"to_origin\"} %llu\n",
	          p->service, (unsigned long long)s->bytes_to_origin);
	sb_printf(sb, "edged_proxy_bytes_total{service=\"%s\",direction=\"to_client\"} %llu\n",
	          p->service, (unsigned long long)s->bytes_to_client);
}

static void render(void *arg, struct strbuf *sb)
{
	proxy_metrics_render(arg, sb);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	return metrics_http_answer(conn, url, method, "edged-proxy", render, cls);
}

static void on_metrics(struct proxy *p, struct handler *h, uint32_t events)
{
	(void)h;
	(void)events;
	MHD_run(p->metrics);
}

int proxy_metrics_start(struct proxy *p)
{
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	if (!p->pc->metrics)
		return 0;
	if (p->pc->metrics_addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* Scrapers that stall must not pile up: they are served one loop turn at a time. */
	p->metrics = MHD_start_daemon(flags, 0, NULL, NULL, handle, p, MHD_OPTION_SOCK_ADDR,
	                              &p->pc->metrics_addr, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	                              MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_END);
	if (!p->metrics) {
		pr_err("proxy: cannot serve metrics on %s (is the address in use or not local?): "
		       "change the service's proxy.metrics, or set it to off",
		       p->pc->metrics_listen);
		return -1;
	}
	info = MHD_get_daemon_info(p->metrics, MHD_DAEMON_INFO_EPOLL_FD);
	p->metrics_h.fn = on_metrics;
	if (!info || proxy_watch(p, info->epoll_fd, &p->metrics_h, EPOLLIN)) {
		pr_err("proxy: cannot watch the metrics endpoint's descriptor");
		proxy_metrics_stop(p);
		return -1;
	}
	pr_info("proxy: metrics on http://%s/metrics", p->pc->metrics_listen);
	return 0;
}

void proxy_metrics_stop(struct proxy *p)
{
	if (p->metrics)
		MHD_stop_daemon(p->metrics);
	p->metrics = NULL;
}
