/* SPDX-License-Identifier: GPL-2.0 */
/* `edgectl lb ...` and the load balancer's Prometheus lines. */
#ifndef EDGED_LB_CONTROL_H
#define EDGED_LB_CONTROL_H

#include "control.h"

/* rq->argv[0] is "lb". Returns true for an ok reply. */
bool lb_command(struct edged *e, const struct request *rq, struct strbuf *out);

/* Per-service and per-server counters, health and operator state. Caller holds e->lock. */
void lb_metrics_render(struct edged *e, struct strbuf *sb);

#endif
