/* SPDX-License-Identifier: GPL-2.0 */
/* `edgectl dispatch ...` and the dispatch metrics. */
#ifndef EDGED_DISPATCH_CONTROL_H
#define EDGED_DISPATCH_CONTROL_H

#include "control.h"

/* rq->argv[0] is "dispatch". Returns true for an ok reply. */
bool dispatch_command(struct edged *e, const struct request *rq, struct strbuf *out);

/* The Prometheus lines of the dispatch function (nothing when it is off). */
void dispatch_metrics_render(struct edged *e, struct strbuf *sb);

#endif
