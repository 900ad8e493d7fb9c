/* SPDX-License-Identifier: GPL-2.0 */
/* `edgectl egress ...` and egress's Prometheus lines. */
#ifndef EDGED_EGRESS_CONTROL_H
#define EDGED_EGRESS_CONTROL_H

#include "control.h"

/* rq->argv[0] is "egress". Returns true for an ok reply. */
bool egress_command(struct edged *e, const struct request *rq, struct strbuf *out);

/* Per-peer and per-egress-address counters, connections and port use. Caller holds e->lock. */
void egress_metrics_render(struct edged *e, struct strbuf *sb);

#endif
