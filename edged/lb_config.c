// SPDX-License-Identifier: GPL-2.0
/*
 * Parses the `lb:` section:
 *
 *   lb:
 *     encap: gue                      # default of the services: gue or ipip
 *     gue_port: 6080                  # the same on every fleet member
 *     servers:                        # the fleet: every edge lists the same ones
 *       - {name: s1, address: 198.51.100.11, weight: 100}
 *       - {name: s2, address: 198.51.100.12}
 *     services:
 *       - name: web
 *         vip: 203.0.113.10           # an address or a prefix, IPv4 or IPv6
 *         proto: tcp
 *         port: 443                   # or any
 *         servers: [s1, {name: s2, weight: 50}]   # default: every server
 *         health: {check: http, path: /healthz, interval: 2s, rise: 2, fall: 3}
 *
 * What needs the whole section (server names used by services, which may come first in the
 * file; VIPs that clash) is checked after it, at the position of what is wrong.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "config_parse.h"
#include "lb_config.h"
#include "maglev.h"

/* A member named before the servers are known: resolved at the end of the section. */
struct member_ref {
	int service, member;
	char name[LB_NAME_MAX + 48]; /* room to report an over-long name */
	yaml_mark_t mark;
	char path[KEY_PATH_MAX];
};

/* What the checks of the whole section need to know about each service. */
struct service_parse {
	yaml_mark_t mark;    /* where the service starts */
	bool have_servers;   /* an explicit `servers:` list */
	bool encap_set;      /* else the section's encap */
	bool table_size_set; /* else sized for its servers */
	bool have_health;
	yaml_mark_t health_mark;
};

struct lb_parse {
	struct lb_config *lc;
	struct member_ref *refs;
	int n_refs;
	struct service_parse *sp; /* one per service */
};

static const char *const encap_names[] = {[LB_ENCAP_GUE] = "gue", [LB_ENCAP_IPIP] = "ipip"};
static const char *const health_names[] = {
        [LB_HEALTH_NONE] = "none", [LB_HEALTH_TCP] = "tcp", [LB_HEALTH_HTTP] = "http"};

const char *lb_encap_name(int encap)
{
	return encap >= 0 && encap <= LB_ENCAP_IPIP ? encap_names[encap] : "?";
}

const char *lb_health_type_name(int type)
{
	return type >= 0 && type <= LB_HEALTH_HTTP ? health_names[type] : "?";
}

void lb_config_release(struct lb_config *lc)
{
	for (int i = 0; i < lc->n_services; i++)
		free(lc->services[i].members);
	free(lc->services);
	free(lc->servers);
	free(lc->edges);
	memset(lc, 0, sizeof(*lc));
}

int lb_config_find_server(const struct lb_config *lc, const char *s)
{
	struct prefix a;
	bool is_addr = prefix_parse(s, &a) == 0;

	for (int i = 0; i < lc->n_servers; i++) {
		const struct lb_server_config *sv = &lc->servers[i];

		if (strcmp(sv->name, s) == 0)
			return i;
		if (is_addr && a.family == sv->addr.family && a.len == sv->addr.len &&
		    memcmp(&a.addr, &sv->addr.addr, a.family == AF_INET ? 4 : 16) == 0)
			return i;
	}
	return -1;
}

static void parse_name(struct parser *p, yaml_node_t *v, const char *path, char *out)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (!cfg_name_ok(s, LB_NAME_MAX, "-_.")) {
		cfg_err_at(
		        p, v->start_mark, path,
		        "'%.80s': a name is 1-%d characters of letters, digits, '-', '_' and '.', "
		        "starting with a letter or digit",
		        s, LB_NAME_MAX - 1);
		return;
	}
	snprintf(out, LB_NAME_MAX, "%s", s);
}

/* A single address, not a prefix: what a server or an edge is. */
static int parse_host(struct parser *p, yaml_node_t *v, const char *path, struct prefix *out)
{
	char text[PREFIX_STRLEN], host[PREFIX_STRLEN];

	if (cfg_prefix(p, v, path, out))
		return -1;
	if (out->len != (out->family == AF_INET ? 32 : 128)) {
		prefix_format(out, text, sizeof(text));
		snprintf(host, sizeof(host), "%.*s", (int)strcspn(text, "/"), text);
		cfg_err_at(p, v->start_mark, path, "'%s' is a prefix; give one address, such as %s",
		           text, host);
		return -1;
	}
	return 0;
}

static int parse_weight(struct parser *p, yaml_node_t *v, const char *path, uint32_t *out)
{
	uint64_t w;

	if (cfg_u64(p, v, path, 1, MAGLEV_MAX_WEIGHT, false, &w))
		return -1;
	*out = (uint32_t)w;
	return 0;
}

static int parse_encap(struct parser *p, yaml_node_t *v, const char *path, uint8_t *out)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return -1;
	for (int i = 0; i <= LB_ENCAP_IPIP; i++) {
		if (strcmp(s, encap_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': use gue (UDP, spreads over NIC queues and ECMP paths) or ipip", s);
	return -1;
}

/* "2s", "1m" or a bare number of seconds. Health checks run on edged's one-second tick, so
 * durations are whole seconds. */
static int parse_seconds(struct parser *p, yaml_node_t *v, const char *path, uint32_t max,
                         uint32_t *out)
{
	const char *s = cfg_string(p, v, path);
	unsigned long n = 0, mult = 1;
	char *end;

	if (!s)
		return -1;
	if (isdigit((unsigned char)*s))
		n = strtoul(s, &end, 10);
	else
		end = (char *)s;
	if (end != s && strcmp(end, "ms") == 0) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.40s': health checks run on edged's 1-second tick; give whole "
		           "seconds such as 1s",
		           s);
		return -1;
	}
	if (*end == 's' && !end[1])
		mult = 1;
	else if (*end == 'm' && !end[1])
		mult = 60;
	else if (*end || end == s)
		mult = 0;
	if (!mult || n == 0 || n * mult > max) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.40s': expected a duration of 1s to %us, such as 2s or 1m", s, max);
		return -1;
	}
	*out = (uint32_t)(n * mult);
	return 0;
}

/* ---- servers ---- */

static void on_server_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_name(p, v, path, ((struct lb_server_config *)obj)->name);
}

static void on_server_address(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_host(p, v, path, &((struct lb_server_config *)obj)->addr);
}

static void on_server_weight(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_weight(p, v, path, &((struct lb_server_config *)obj)->weight);
}

static const struct key_handler server_keys[] = {
        {"name", on_server_name, "a name for edgectl and metrics: `name: s1`"},
        {"address", on_server_address, "its fleet address: `address: 198.51.100.11`"},
        {"weight", on_server_weight, NULL},
};

static bool same_addr(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

static void check_server_unique(struct parser *p, const struct lb_config *lc,
                                const struct lb_server_config *sv, yaml_mark_t mark,
                                const char *path)
{
	char text[PREFIX_STRLEN];

	for (int i = 0; i < lc->n_servers - 1; i++) {
		if (sv->name[0] && strcmp(lc->servers[i].name, sv->name) == 0)
			cfg_err_at(p, mark, path,
			           "a server named '%s' already exists (servers[%d]): names must "
			           "be unique",
			           sv->name, i);
		if (sv->addr.family && same_addr(&lc->servers[i].addr, &sv->addr))
			cfg_err_at(p, mark, path,
			           "servers[%d] has the address %s too: one server per address", i,
			           prefix_format(&sv->addr, text, sizeof(text)));
	}
}

static void add_server(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct lb_config *lc = ((struct lb_parse *)obj)->lc;
	struct lb_server_config *sv;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a server such as {name: s1, address: 198.51.100.11}, got %s",
		           cfg_kind(item));
		return;
	}
	if (lc->n_servers >= LB_MAX_SERVERS) {
		cfg_err_at(p, item->start_mark, path, "at most %d servers", LB_MAX_SERVERS);
		return;
	}
	sv = cfg_grow(&lc->servers, &lc->n_servers, sizeof(*sv));
	if (!sv) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	sv->weight = LB_DEFAULT_WEIGHT;
	CFG_WALK(p, item, path, server_keys, sv);
	check_server_unique(p, lc, sv, item->start_mark, path);
}

static void on_servers(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_server, obj);
}

/* ---- services: members ---- */

static struct service_parse *cur_parse(void *obj)
{
	struct lb_parse *lp = obj;

	return &lp->sp[lp->lc->n_services - 1];
}

static struct member_ref *add_ref(struct parser *p, struct lb_parse *lp, yaml_node_t *item,
                                  const char *path)
{
	struct lb_service_config *svc = &lp->lc->services[lp->lc->n_services - 1];
	struct lb_member_config *m = cfg_grow(&svc->members, &svc->n_members, sizeof(*m));
	struct member_ref *r = m ? cfg_grow(&lp->refs, &lp->n_refs, sizeof(*r)) : NULL;

	if (!r) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return NULL;
	}
	m->server = -1;
	r->service = lp->lc->n_services - 1;
	r->member = svc->n_members - 1;
	r->mark = item->start_mark;
	snprintf(r->path, sizeof(r->path), "%s", path);
	return r;
}

static void on_member_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct member_ref *r = obj;
	const char *s = cfg_string(p, v, path);

	if (s)
		snprintf(r->name, sizeof(r->name), "%s", s);
	r->mark = v->start_mark;
}

struct member_ctx {
	struct lb_parse *lp;
	struct member_ref *ref;
};

static void on_member_weight(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct member_ctx *mc = obj;
	struct member_ref *r = mc->ref;

	parse_weight(p, v, path, &mc->lp->lc->services[r->service].members[r->member].weight);
}

static void on_member_name_ctx(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	on_member_name(p, v, path, ((struct member_ctx *)obj)->ref);
}

static const struct key_handler member_keys[] = {
        {"name", on_member_name_ctx, "the server's name or address: `name: s1`"},
        {"weight", on_member_weight, NULL},
};

static void add_member(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct lb_parse *lp = obj;
	struct member_ctx mc = {.lp = lp};

	(void)i;
	if (item->type == YAML_SCALAR_NODE && !cfg_is_null(item)) {
		mc.ref = add_ref(p, lp, item, path);
		if (mc.ref)
			on_member_name(p, item, path, mc.ref);
	} else if (item->type == YAML_MAPPING_NODE) {
		mc.ref = add_ref(p, lp, item, path);
		if (mc.ref)
			CFG_WALK(p, item, path, member_keys, &mc);
	} else {
		cfg_err_at(p, item->start_mark, path,
		           "expected a server's name, or {name: s1, weight: 50}, got %s",
		           cfg_kind(item));
	}
}

static void on_service_servers(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cur_parse(obj)->have_servers = true;
	cfg_each(p, v, path, add_member, obj);
}

/* ---- services: health ---- */

static void on_health_check(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct lb_health_config *h = obj;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (int i = LB_HEALTH_TCP; i <= LB_HEALTH_HTTP; i++) {
		if (strcmp(s, health_names[i]) == 0) {
			h->type = i;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': use tcp (a connect completes) or http (GET path answers 2xx/3xx)", s);
}

static void on_health_port(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t port;

	if (cfg_u64(p, v, path, 1, 65535, false, &port) == 0)
		((struct lb_health_config *)obj)->port = (uint16_t)port;
}

static void on_health_path(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct lb_health_config *h = obj;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (s[0] != '/' || strlen(s) >= sizeof(h->path) || strpbrk(s, " \t\r\n")) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': a path starts with '/', has no spaces and at most %zu "
		           "characters",
		           s, sizeof(h->path) - 1);
		return;
	}
	snprintf(h->path, sizeof(h->path), "%s", s);
}

static void on_health_interval(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_seconds(p, v, path, 3600, &((struct lb_health_config *)obj)->interval_s);
}

static void on_health_timeout(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_seconds(p, v, path, 3600, &((struct lb_health_config *)obj)->timeout_s);
}

static void on_health_rise(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t n;

	if (cfg_u64(p, v, path, 1, 100, false, &n) == 0)
		((struct lb_health_config *)obj)->rise = (uint32_t)n;
}

static void on_health_fall(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t n;

	if (cfg_u64(p, v, path, 1, 100, false, &n) == 0)
		((struct lb_health_config *)obj)->fall = (uint32_t)n;
}

static const struct key_handler health_keys[] = {
        {"check", on_health_check, "what to check: `check: tcp` or `check: http`"},
        {"port", on_health_port, NULL},
        {"path", on_health_path, NULL},
        {"interval", on_health_interval, NULL},
        {"timeout", on_health_timeout, NULL},
        {"rise", on_health_rise, NULL},
        {"fall", on_health_fall, NULL},
};

/* After the whole service: the port may come after `health:`. */
static void check_health(struct parser *p, yaml_mark_t mark, const char *path,
                         const struct lb_service_config *svc)
{
	const struct lb_health_config *h = &svc->health;

	if (h->type == LB_HEALTH_NONE)
		return; /* `check:` missing: reported by the walk */
	if (!h->port && !svc->port)
		cfg_err_at(p, mark, path,
		           "the service takes any port: give the port to check, such as `port: "
		           "80`");
	if (h->timeout_s > h->interval_s)
		cfg_err_at(p, mark, path,
		           "timeout %us is longer than interval %us: a check must end before the "
		           "next starts",
		           h->timeout_s, h->interval_s);
	if (h->type == LB_HEALTH_TCP && h->path[0])
		cfg_err_at(p, mark, path, "path is for `check: http`");
	if (h->type == LB_HEALTH_HTTP && !h->path[0])
		cfg_err_at(p, mark, path, "check http needs a path, such as `path: /`");
}

static void on_service_health(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct lb_parse *lp = obj;
	struct lb_service_config *svc = &lp->lc->services[lp->lc->n_services - 1];
	struct lb_health_config *h = &svc->health;

	if (v->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping such as {check: tcp, interval: 2s}, got %s",
		           cfg_kind(v));
		return;
	}
	h->interval_s = LB_HEALTH_INTERVAL_S;
	h->timeout_s = LB_HEALTH_TIMEOUT_S;
	h->rise = LB_HEALTH_RISE;
	h->fall = LB_HEALTH_FALL;
	CFG_WALK(p, v, path, health_keys, h);
	cur_parse(obj)->have_health = true;
	cur_parse(obj)->health_mark = v->start_mark;
}

/* ---- services ---- */

static struct lb_service_config *cur_service(void *obj)
{
	struct lb_config *lc = ((struct lb_parse *)obj)->lc;

	return &lc->services[lc->n_services - 1];
}

static void on_service_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_name(p, v, path, cur_service(obj)->name);
}

static void on_service_vip(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_prefix(p, v, path, &cur_service(obj)->vip);
}

static void on_service_proto(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (strcmp(s, "tcp") == 0)
		cur_service(obj)->proto = IPPROTO_TCP;
	else if (strcmp(s, "udp") == 0)
		cur_service(obj)->proto = IPPROTO_UDP;
	else
		cfg_err_at(p, v->start_mark, path, "'%.80s': use tcp or udp", s);
}

static void on_service_port(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t port;

	if (v->type == YAML_SCALAR_NODE && strcmp(cfg_scalar(v), "any") == 0) {
		cur_service(obj)->port = 0;
		return;
	}
	if (cfg_u64(p, v, path, 1, 65535, false, &port) == 0)
		cur_service(obj)->port = (uint16_t)port;
}

static void on_service_encap(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	if (parse_encap(p, v, path, &cur_service(obj)->encap) == 0)
		cur_parse(obj)->encap_set = true;
}

static void on_service_table_size(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t m;

	if (cfg_u64(p, v, path, 2, LB_TABLE_MAX, false, &m))
		return;
	if (!maglev_is_prime((uint32_t)m)) {
		cfg_err_at(p, v->start_mark, path,
		           "%llu is not prime: Maglev needs a prime, such as 65537, 131071 or "
		           "262139",
		           (unsigned long long)m);
		return;
	}
	cur_service(obj)->table_size = (uint32_t)m;
	cur_parse(obj)->table_size_set = true;
}

static const struct key_handler service_keys[] = {
        {"name", on_service_name, "a name for edgectl and metrics: `name: web`"},
        {"vip", on_service_vip, "the address or prefix clients connect to: `vip: 203.0.113.10`"},
        {"proto", on_service_proto, "`proto: tcp` or `proto: udp`"},
        {"port", on_service_port, "a port, or `port: any`"},
        {"encap", on_service_encap, NULL},
        {"table_size", on_service_table_size, NULL},
        {"servers", on_service_servers, NULL},
        {"health", on_service_health, NULL},
};

/* Without `servers:`, a service uses the whole fleet (resolved once the fleet is known). */
static void default_members(struct lb_config *lc, struct lb_service_config *svc)
{
	svc->members = calloc(lc->n_servers ? lc->n_servers : 1, sizeof(*svc->members));
	if (!svc->members)
		return;
	svc->n_members = lc->n_servers;
	for (int i = 0; i < lc->n_servers; i++)
		svc->members[i] = (struct lb_member_config){.server = i};
}

static void add_service(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct lb_parse *lp = obj;
	struct lb_config *lc = lp->lc;
	struct service_parse *sp;
	struct lb_service_config *svc;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a service (name, vip, proto, port), got %s", cfg_kind(item));
		return;
	}
	if (lc->n_services >= LB_MAX_SERVICES) {
		cfg_err_at(p, item->start_mark, path, "at most %d services", LB_MAX_SERVICES);
		return;
	}
	sp = realloc(lp->sp, (lc->n_services + 1) * sizeof(*sp));
	if (!sp)
		return;
	lp->sp = sp;
	svc = cfg_grow(&lc->services, &lc->n_services, sizeof(*svc));
	if (!svc)
		return;
	sp[lc->n_services - 1] = (struct service_parse){.mark = item->start_mark};
	CFG_WALK(p, item, path, service_keys, lp);
	svc = &lc->services[lc->n_services - 1];
	if (lp->sp[lc->n_services - 1].have_servers && svc->n_members == 0)
		cfg_err_at(p, item->start_mark, path,
		           "servers is empty: list at least one, or leave it out for all");
}

static void on_services(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_service, obj);
}

/* ---- the section ---- */

static void on_lb_enabled(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	(void)obj;
	cfg_bool(p, v, path, &p->cfg->fn[FN_LB].enabled);
}

static void on_encap(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_encap(p, v, path, &((struct lb_parse *)obj)->lc->encap);
}

static void on_gue_port(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t port;

	if (cfg_u64(p, v, path, 1, 65535, false, &port) == 0)
		((struct lb_parse *)obj)->lc->gue_port = (uint16_t)port;
}

static void on_source(struct parser *p, yaml_node_t *v, const char *path, struct prefix *out,
                      int family)
{
	if (parse_host(p, v, path, out))
		return;
	if (out->family != family) {
		cfg_err_at(p, v->start_mark, path, "expected an IPv%d address",
		           family == AF_INET ? 4 : 6);
		out->family = 0;
	}
}

static void on_source_v4(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	on_source(p, v, path, &((struct lb_parse *)obj)->lc->source_v4, AF_INET);
}

static void on_source_v6(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	on_source(p, v, path, &((struct lb_parse *)obj)->lc->source_v6, AF_INET6);
}

static void add_edge(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct lb_config *lc = ((struct lb_parse *)obj)->lc;
	struct prefix a, *e;

	(void)i;
	if (parse_host(p, item, path, &a))
		return;
	if (lc->n_edges >= LB_MAX_EDGES) {
		cfg_err_at(p, item->start_mark, path, "at most %d edges", LB_MAX_EDGES);
		return;
	}
	e = cfg_grow(&lc->edges, &lc->n_edges, sizeof(*e));
	if (e)
		*e = a;
}

static void on_edges(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_edge, obj);
}

static const struct key_handler lb_keys[] = {
        {"enabled", on_lb_enabled, NULL},  {"encap", on_encap, NULL},
        {"gue_port", on_gue_port, NULL},   {"source_v4", on_source_v4, NULL},
        {"source_v6", on_source_v6, NULL}, {"edges", on_edges, NULL},
        {"servers", on_servers, NULL},     {"services", on_services, NULL},
};

/* ---- checks of the whole section ---- */

static void resolve_members(struct parser *p, struct lb_parse *lp)
{
	struct lb_config *lc = lp->lc;

	for (int i = 0; i < lp->n_refs; i++) {
		const struct member_ref *r = &lp->refs[i];
		struct lb_service_config *svc = &lc->services[r->service];
		struct lb_member_config *m = &svc->members[r->member];

		if (!r->name[0])
			continue; /* no name given: reported by the walk */
		m->server = lb_config_find_server(lc, r->name);
		if (m->server < 0) {
			cfg_err_at(p, r->mark, r->path,
			           "no server '%.60s' in lb.servers: add it there, or use one of "
			           "its names",
			           r->name);
			continue;
		}
		for (int j = 0; j < r->member; j++)
			if (svc->members[j].server == m->server)
				cfg_err_at(p, r->mark, r->path,
				           "server '%s' is listed twice in this service",
				           lc->servers[m->server].name);
	}
}

static bool same_vip(const struct lb_service_config *a, const struct lb_service_config *b)
{
	return a->proto == b->proto && a->port == b->port && same_addr(&a->vip, &b->vip);
}

static void check_service(struct parser *p, struct lb_parse *lp, int i)
{
	struct lb_config *lc = lp->lc;
	struct lb_service_config *svc = &lc->services[i];
	const struct service_parse *sp = &lp->sp[i];
	char path[KEY_PATH_MAX], text[PREFIX_STRLEN];
	uint32_t need;

	snprintf(path, sizeof(path), "lb.services[%d]", i);
	if (!sp->encap_set)
		svc->encap = lc->encap;
	if (!sp->have_servers)
		default_members(lc, svc);
	if (svc->n_members == 0 && !sp->have_servers)
		cfg_err_at(p, sp->mark, path, "the service has no servers: add lb.servers");
	for (int j = 0; j < i; j++) {
		if (svc->name[0] && strcmp(lc->services[j].name, svc->name) == 0)
			cfg_err_at(p, sp->mark, path,
			           "a service named '%s' already exists (services[%d])", svc->name,
			           j);
		if (svc->vip.family && same_vip(&lc->services[j], svc))
			cfg_err_at(p, sp->mark, path,
			           "services[%d] has the same VIP %s, protocol and port: a packet "
			           "must have one service",
			           j, prefix_format(&svc->vip, text, sizeof(text)));
	}
	need = maglev_size_for(svc->n_members > 0 ? svc->n_members : 1);
	if (!sp->table_size_set)
		svc->table_size = need;
	else if (svc->table_size < (uint64_t)svc->n_members * MAGLEV_SLOTS_PER_SERVER)
		cfg_err_at(p, sp->mark, path,
		           "table_size %u is too small for %d servers: Maglev balances within 1%% "
		           "from %d slots per server; use %u or more (or leave it out)",
		           svc->table_size, svc->n_members, MAGLEV_SLOTS_PER_SERVER, need);
	if (svc->table_size > LB_TABLE_MAX)
		cfg_err_at(p, sp->mark, path, "%d servers need a table larger than %u buckets",
		           svc->n_members, LB_TABLE_MAX);
	for (int j = 0; j < svc->n_members; j++)
		if (svc->members[j].server >= 0 && !svc->members[j].weight)
			svc->members[j].weight = lc->servers[svc->members[j].server].weight;
	if (sp->have_health) {
		snprintf(path, sizeof(path), "lb.services[%d].health", i);
		check_health(p, sp->health_mark, path, svc);
	}
}

/* What needs the whole section: names of servers used by services (which may come first in
 * the file), defaults taken from the section, clashes between services. */
static void check_section(struct parser *p, struct lb_parse *lp)
{
	resolve_members(p, lp);
	for (int i = 0; i < lp->lc->n_services; i++)
		check_service(p, lp, i);
}

void lb_config_parse(struct parser *p, yaml_node_t *v, const char *path)
{
	struct lb_parse lp = {.lc = &p->cfg->lb};

	p->cfg->lb.encap = LB_ENCAP_GUE;
	p->cfg->lb.gue_port = LB_DEFAULT_GUE_PORT;
	CFG_WALK(p, v, path, lb_keys, &lp);
	check_section(p, &lp);
	free(lp.refs);
	free(lp.sp);
}
