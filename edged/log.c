// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *const level_names[] = {
        [LOG_LVL_ERROR] = "error",
        [LOG_LVL_WARN] = "warn",
        [LOG_LVL_INFO] = "info",
        [LOG_LVL_DEBUG] = "debug",
};

/* The one piece of global state outside the daemon context: logging is needed before the
 * context exists (config errors) and from the metrics thread. */
static enum log_level current_level = LOG_LVL_INFO;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_level_parse(const char *name)
{
	for (unsigned int i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level <= LOG_LVL_DEBUG ? level_names[level] : "?";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	/* "<3>" etc.: the sd-daemon prefix, so journald files each line at its priority; only
	 * when stderr is the journal (systemd sets JOURNAL_STREAM), not on a terminal. */
	static const int syslog_prio[] = {3, 4, 6, 7};
	va_list ap;

	if (level > current_level)
		return;
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>", syslog_prio[level]);
	fprintf(stderr, "edged: %s: ", level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (fmt[0] && fmt[strlen(fmt) - 1] != '\n')
		fputc('\n', stderr);
}
