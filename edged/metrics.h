/* SPDX-License-Identifier: GPL-2.0 */
/* Prometheus metrics over HTTP (libmicrohttpd): GET /metrics. */
#ifndef EDGED_METRICS_H
#define EDGED_METRICS_H

#include "edged.h"
#include "strbuf.h"

/* Starts serving on e->cfg.metrics.addr when enabled. Returns 0 or -1 (error logged). */
int metrics_start(struct edged *e);
void metrics_stop(struct edged *e);
/* The /metrics body, Prometheus text format 0.0.4. The caller holds e->lock. */
void metrics_render(struct edged *e, struct strbuf *sb);

#endif
