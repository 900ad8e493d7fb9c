/* SPDX-License-Identifier: GPL-2.0 */
/* `edgectl dos ...`: the DoS function's control commands. */
#ifndef EDGED_DOS_CONTROL_H
#define EDGED_DOS_CONTROL_H

#include "control.h"

/* rq->argv[0] is "dos". Returns true for an ok reply. */
bool dos_command(struct edged *e, const struct request *rq, struct strbuf *out);

/* "300", "300s", "5m", "2h", "1d" into seconds; -1 when it is none of those. */
long dos_parse_duration(const char *s);

#endif
