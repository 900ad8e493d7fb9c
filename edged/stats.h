/* SPDX-License-Identifier: GPL-2.0 */
/* What `edgectl status` and `edgectl stats` print, as tables or JSON. */
#ifndef EDGED_STATS_H
#define EDGED_STATS_H

#include <stdbool.h>

#include "edged.h"
#include "strbuf.h"

/* Both expect the caller to hold e->lock. */
void stats_render(struct edged *e, struct strbuf *sb, bool json);
void status_render(struct edged *e, struct strbuf *sb, bool json);

#endif
