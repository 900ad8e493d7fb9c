/* SPDX-License-Identifier: GPL-2.0 */
/* `edgectl transit ...` and transit's Prometheus lines. */
#ifndef EDGED_TRANSIT_CONTROL_H
#define EDGED_TRANSIT_CONTROL_H

#include "control.h"

/* rq->argv[0] is "transit". Returns true for an ok reply. */
bool transit_command(struct edged *e, const struct request *rq, struct strbuf *out);

/* Per customer and tunnel: packets and bytes, firewall counters by rule, tunnel health.
 * Caller holds e->lock. */
void transit_metrics_render(struct edged *e, struct strbuf *sb);

#endif
