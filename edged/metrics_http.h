/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP side of a Prometheus endpoint (libmicrohttpd), shared by edged (metrics.c) and
 * edged-proxy (proxy/proxy_metrics.c): only GET or HEAD of /metrics, the body rendered into
 * a strbuf. Depends on strbuf.c alone, so the proxy links it without the rest of edged.
 */
#ifndef EDGED_METRICS_HTTP_H
#define EDGED_METRICS_HTTP_H

#include <microhttpd.h>

#include "strbuf.h"

/*
 * Answers one request of libmicrohttpd's access handler: 405 for a method other than GET and
 * HEAD, 404 naming SERVER for a path other than /metrics, else 200 with what RENDER(ARG, sb)
 * wrote, in Prometheus text format 0.0.4. MHD_NO (the connection is closed) when the body
 * could not be built.
 */
enum MHD_Result metrics_http_answer(struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *server,
                                    void (*render)(void *arg, struct strbuf *sb), void *arg);

#endif
