// SPDX-License-Identifier: GPL-2.0
/*
 *   edgectl dos rules                              per-rule and per-list counters
 *   edgectl dos block|allow list                   entries, their origin and expiry
 *   edgectl dos block|allow add PREFIX [--ttl T]   runtime entry; T like 300s, 5m, 2h, 1d
 *   edgectl dos block|allow del PREFIX
 *   edgectl dos block|allow flush                  removes the runtime entries
 *
 * Runtime entries go straight into the live lists (one entry is atomic by itself), survive
 * reloads and restarts (pinned), and expire by themselves when they have a TTL.
 */
#include <stdlib.h>
#include <string.h>

#include "dos_control.h"
#include "dos_maps.h"

#define DOS_USAGE                                                                                  \
	"usage: dos rules | dos block|allow list|flush | dos block|allow add PREFIX [--ttl T] | "  \
	"dos block|allow del PREFIX\n"

long dos_parse_duration(const char *s)
{
	static const struct {
		char unit;
		long mult;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	char *end;
	long v;

	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (!*end)
		return v;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (end[0] == units[i].unit && !end[1] && v <= 365L * 86400 / units[i].mult)
			return v * units[i].mult;
	return -1;
}

static bool list_add(struct edged *e, enum dos_list list, const struct request *rq,
                     struct strbuf *out)
{
	struct prefix pfx;
	char fixed[PREFIX_STRLEN];
	long ttl = 0;
	int err;

	if (rq->argc != 4 && !(rq->argc == 6 && strcmp(rq->argv[4], "--ttl") == 0)) {
		sb_printf(out, DOS_USAGE);
		return false;
	}
	err = prefix_parse(rq->argv[3], &pfx);
	if (err) {
		sb_printf(out, "'%s': %s%s%s\n", rq->argv[3], addr_strerror(err),
		          err == ADDR_ERR_HOST_BITS ? ": did you mean " : "",
		          err == ADDR_ERR_HOST_BITS ? prefix_format(&pfx, fixed, sizeof(fixed))
		                                    : "");
		return false;
	}
	if (rq->argc == 6) {
		ttl = dos_parse_duration(rq->argv[5]);
		if (ttl <= 0) {
			sb_printf(out, "--ttl '%s': give a duration such as 300s, 5m, 2h or 1d\n",
			          rq->argv[5]);
			return false;
		}
	}
	pthread_mutex_lock(&e->lock);
	err = dos_list_add(&e->dos, &e->dp, list, &pfx, (unsigned int)ttl, out);
	pthread_mutex_unlock(&e->lock);
	if (err)
		return false;
	sb_printf(out, rq->json ? "{\"ok\":true}\n" : "added %s to the %s list%s\n",
	          prefix_format(&pfx, fixed, sizeof(fixed)), dos_list_name(list),
	          ttl ? " (with a TTL)" : "");
	return true;
}

static bool list_del(struct edged *e, enum dos_list list, const struct request *rq,
                     struct strbuf *out)
{
	struct prefix pfx;
	int err;

	if (rq->argc != 4) {
		sb_printf(out, DOS_USAGE);
		return false;
	}
	err = prefix_parse(rq->argv[3], &pfx);
	if (err) {
		sb_printf(out, "'%s': %s\n", rq->argv[3], addr_strerror(err));
		return false;
	}
	pthread_mutex_lock(&e->lock);
	err = dos_list_del(&e->dos, &e->dp, list, &pfx, out);
	pthread_mutex_unlock(&e->lock);
	if (!err)
		sb_printf(out, rq->json ? "{\"ok\":true}\n" : "removed %s\n", rq->argv[3]);
	return !err;
}

static bool list_command(struct edged *e, enum dos_list list, const struct request *rq,
                         struct strbuf *out)
{
	const char *verb = rq->argc >= 3 ? rq->argv[2] : "";
	int n;

	if (strcmp(verb, "add") == 0)
		return list_add(e, list, rq, out);
	if (strcmp(verb, "del") == 0)
		return list_del(e, list, rq, out);
	if (strcmp(verb, "list") == 0 && rq->argc == 3) {
		dos_list_render(&e->dos, &e->dp, list, rq->json, out);
		return true;
	}
	if (strcmp(verb, "flush") == 0 && rq->argc == 3) {
		pthread_mutex_lock(&e->lock);
		n = dos_list_flush(&e->dos, &e->dp, list);
		pthread_mutex_unlock(&e->lock);
		sb_printf(out,
		          rq->json ? "{\"removed\":%d}\n"
		                   : "removed %d runtime entries (the "
		                     "config's entries stay)\n",
		          n);
		return true;
	}
	sb_printf(out, DOS_USAGE);
	return false;
}

bool dos_command(struct edged *e, const struct request *rq, struct strbuf *out)
{
	const char *what = rq->argc >= 2 ? rq->argv[1] : "";

	if (!e->cfg.fn[FN_DOS].enabled) {
		sb_printf(out, "DoS mitigation is off: add a `dos:` section to %s and reload\n",
		          e->cfg.path);
		return false;
	}
	if (strcmp(what, "rules") == 0 && rq->argc == 2) {
		dos_rules_render(&e->dos, &e->dp, &e->cfg.dos, rq->json, out);
		return true;
	}
	if (strcmp(what, "block") == 0)
		return list_command(e, DOS_LIST_BLOCK, rq, out);
	if (strcmp(what, "allow") == 0)
		return list_command(e, DOS_LIST_ALLOW, rq, out);
	sb_printf(out, DOS_USAGE);
	return false;
}
