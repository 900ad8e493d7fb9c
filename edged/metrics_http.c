// SPDX-License-Identifier: GPL-2.0
/*
 * A Prometheus endpoint's replies (see metrics_http.h).
 */
#include <string.h>
#include <microhttpd.h>

#include "metrics_http.h"

/* Queues SB (which the response takes over) as the reply with CODE and content TYPE. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, struct strbuf *sb,
                             const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(sb->len, sb->buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		sb_free(sb);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result metrics_http_answer(struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *server,
                                    void (*render)(void *arg, struct strbuf *sb), void *arg)
{
	struct strbuf sb = {};

	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		sb_printf(&sb, "only GET\n");
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, &sb, "text/plain");
	}
	if (strcmp(url, "/metrics")) {
		sb_printf(&sb, "%s serves /metrics\n", server);
		return reply(conn, MHD_HTTP_NOT_FOUND, &sb, "text/plain");
	}
	render(arg, &sb);
	if (sb.oom) {
		sb_free(&sb);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_OK, &sb, "text/plain; version=0.0.4; charset=utf-8");
}
