/* SPDX-License-Identifier: GPL-2.0 */
/* A growable text buffer: what tables, JSON and Prometheus output are rendered into. */
#ifndef EDGED_STRBUF_H
#define EDGED_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool oom; /* an append failed: the content is truncated, report an error instead */
};

void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends S as a JSON string literal, quotes included. */
void sb_json_str(struct strbuf *sb, const char *s);
/* The HELP and TYPE lines of the Prometheus metric NAME (TYPE "counter" or "gauge"). */
void sb_prom_help(struct strbuf *sb, const char *name, const char *type, const char *text);
void sb_free(struct strbuf *sb);

#endif
