// SPDX-License-Identifier: GPL-2.0
/*
 * Parses the `dispatch:` section:
 *
 *   dispatch:
 *     local_prefixes: [203.0.113.0/24, "2001:db8:100::/64"]   # AnyIP: local routes on lo
 *     tproxy: {mark: 0x00e00000, table: 237}                  # only for mechanism: tproxy
 *     services:
 *       - web                                   # registers its sockets itself
 *       - name: spectrum                        # served by edged-proxy
 *         proxy:
 *           origins:
 *             - {prefix: 203.0.113.0/24, address: 198.51.100.10}          # same port
 *             - {prefix: 203.0.113.128/25, address: 198.51.100.20, port: 8443}
 *           proxy_protocol: v2                  # or off (the default)
 *           tcp_idle_timeout: 300s
 *           udp_idle_timeout: 30s
 *     bindings:
 *       - {prefix: 203.0.113.0/24, proto: tcp, ports: any, service: spectrum}
 *       - {prefix: 203.0.113.10/32, proto: tcp, ports: 443, service: web, mechanism: tproxy}
 *
 * Checks that need the whole section run after it is read: service names resolve, no two
 * bindings of one prefix, protocol and kind overlap (which should win would be a guess), and
 * every port table fits the data path (dispatch_compile()).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_parse.h"
#include "dispatch_compile.h"
#include "dispatch_config.h"

/* Longest idle timeout: a day; longer is a leak, not a timeout. */
#define DISPATCH_MAX_IDLE_S 86400

static const char *const mechanism_names[] = {
        [DISPATCH_MECH_SK_LOOKUP] = "sk_lookup",
        [DISPATCH_MECH_TPROXY] = "tproxy",
};

const char *dispatch_mechanism_name(enum dispatch_mechanism m)
{
	return (unsigned int)m <= DISPATCH_MECH_TPROXY ? mechanism_names[m] : "?";
}

const char *dispatch_proto_name(uint8_t protocol)
{
	return protocol == IPPROTO_TCP ? "tcp" : protocol == IPPROTO_UDP ? "udp" : "?";
}

const char *dispatch_ports_format(const struct dispatch_binding_config *b, char *buf, size_t size)
{
	if (b->kind == DISPATCH_PORT_ANY)
		snprintf(buf, size, "any");
	else if (b->kind == DISPATCH_PORT_EXACT)
		snprintf(buf, size, "%u", b->lo);
	else
		snprintf(buf, size, "%u-%u", b->lo, b->hi);
	return buf;
}

int dispatch_service_index(const struct dispatch_config *dc, const char *name)
{
	for (int i = 0; i < dc->n_services; i++)
		if (strcmp(dc->services[i].name, name) == 0)
			return i;
	return -1;
}

static struct prefix prefix_of_addr(const struct sockaddr_storage *ss)
{
	struct prefix p = {.family = ss->ss_family};

	if (ss->ss_family == AF_INET) {
		p.len = 32;
		p.addr.v4 = ((const struct sockaddr_in *)ss)->sin_addr;
	} else {
		p.len = 128;
		p.addr.v6 = ((const struct sockaddr_in6 *)ss)->sin6_addr;
	}
	return p;
}

const struct dispatch_origin_config *dispatch_origin_for(const struct dispatch_proxy_config *pc,
                                                         const struct sockaddr_storage *dst)
{
	const struct dispatch_origin_config *best = NULL;
	struct prefix d = prefix_of_addr(dst);

	for (int i = 0; i < pc->n_origins; i++) {
		const struct dispatch_origin_config *o = &pc->origins[i];

		if (dispatch_prefix_holds(&o->prefix, &d) &&
		    (!best || o->prefix.len > best->prefix.len))
			best = o;
	}
	return best;
}

void dispatch_config_release(struct dispatch_config *dc)
{
	for (int i = 0; i < dc->n_services; i++)
		free(dc->services[i].proxy.origins);
	free(dc->services);
	free(dc->bindings);
	free(dc->local_prefixes);
	memset(dc, 0, sizeof(*dc));
}

/* "300", "300s", "5m", "1h" -> seconds in 1..DISPATCH_MAX_IDLE_S. */
static int cfg_seconds(struct parser *p, yaml_node_t *v, const char *path, unsigned int *out)
{
	static const struct {
		const char *unit;
		unsigned long mult;
	} units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}};
	const char *s = cfg_string(p, v, path);
	unsigned long n;
	char *end;

	if (!s)
		return -1;
	errno = 0;
	n = isdigit((unsigned char)*s) ? strtoul(s, &end, 10) : 0;
	for (size_t i = 0; n && !errno && i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) || n > DISPATCH_MAX_IDLE_S / units[i].mult)
			continue;
		*out = n * units[i].mult;
		return 0;
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': expected a duration of 1s to 24h, such as 30s, 5m or 1h", s);
	return -1;
}

/* ---- local_prefixes ---- */

static void add_local(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dispatch_config *dc = obj;
	struct prefix pfx, *slot;
	char shown[PREFIX_STRLEN];

	(void)i;
	if (cfg_prefix(p, item, path, &pfx))
		return;
	for (int j = 0; j < dc->n_local; j++) {
		if (dispatch_prefix_holds(&dc->local_prefixes[j], &pfx) &&
		    dispatch_prefix_holds(&pfx, &dc->local_prefixes[j])) {
			cfg_err_at(p, item->start_mark, path, "%s is listed twice (also [%d])",
			           prefix_format(&pfx, shown, sizeof(shown)), j);
			return;
		}
	}
	slot = cfg_grow(&dc->local_prefixes, &dc->n_local, sizeof(*slot));
	if (slot)
		*slot = pfx;
}

static void on_local_prefixes(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_local, obj);
}

/* ---- tproxy ---- */

/* A 32-bit number, decimal or 0x-hex (marks are written in hex everywhere else). */
static int cfg_u32_hex(struct parser *p, yaml_node_t *v, const char *path, uint32_t *out)
{
	const char *s = cfg_string(p, v, path);
	unsigned long long n;
	char *end;

	if (!s)
		return -1;
	errno = 0;
	n = isdigit((unsigned char)*s) ? strtoull(s, &end, 0) : 0;
	if (!isdigit((unsigned char)*s) || errno || *end || n == 0 || n > UINT32_MAX) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': expected a number of 1 to 0xffffffff (decimal or 0x-hex)", s);
		return -1;
	}
	*out = n;
	return 0;
}

static void on_tproxy_mark(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_u32_hex(p, v, path, &((struct dispatch_config *)obj)->tproxy_mark);
}

static void on_tproxy_table(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_config *dc = obj;
	uint64_t t;

	if (cfg_u64(p, v, path, 1, UINT32_MAX, false, &t))
		return;
	/* edged fills the table with one catch-all local route: it must be a table of its own. */
	if (t >= 253 && t <= 255)
		cfg_err_at(p, v->start_mark, path,
		           "table %llu is the kernel's %s table: give TPROXY a table of its own, "
		           "such as %d",
		           (unsigned long long)t,
		           t == 253   ? "default"
		           : t == 254 ? "main"
		                      : "local",
		           DISPATCH_DEFAULT_TPROXY_TABLE);
	else
		dc->tproxy_table = t;
}

static const struct key_handler tproxy_keys[] = {
        {"mark", on_tproxy_mark, NULL},
        {"table", on_tproxy_table, NULL},
};

static void on_tproxy(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	if (v->type == YAML_MAPPING_NODE)
		CFG_WALK(p, v, path, tproxy_keys, obj);
	else
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping such as `tproxy: {mark: 0x00e00000, table: 237}`, "
		           "got %s",
		           cfg_kind(v));
}

/* ---- services ---- */

static void on_service_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_service_config *sc = obj;
	struct dispatch_config *dc = &p->cfg->dispatch;
	const char *s = cfg_string(p, v, path);
	int other;

	if (!s)
		return;
	if (!cfg_name_ok(s, DISPATCH_NAME_MAX, "-_")) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': a service name is 1-%d characters of letters, digits, '-' and "
		           "'_', starting with a letter or digit",
		           s, DISPATCH_NAME_MAX - 1);
		return;
	}
	other = dispatch_service_index(dc, s);
	if (other >= 0 && &dc->services[other] != sc) {
		cfg_err_at(
		        p, v->start_mark, path,
		        "a service named '%s' already exists (services[%d]): names must be unique",
		        s, other);
		return;
	}
	snprintf(sc->name, sizeof(sc->name), "%s", s);
}

static void on_origin_prefix(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_prefix(p, v, path, &((struct dispatch_origin_config *)obj)->prefix);
}

static void on_origin_address(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_origin_config *o = obj;
	struct sockaddr_in *sin = (struct sockaddr_in *)&o->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&o->addr;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6; /* a `port:` written first stays: same offset */
	} else {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s' is not an IPv4 or IPv6 address (numeric only: edged does not "
		           "resolve names)",
		           s);
	}
}

static void on_origin_port(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_origin_config *o = obj;
	uint64_t port;

	if (v->type == YAML_SCALAR_NODE && strcmp(cfg_scalar(v), "same") == 0)
		return; /* 0: the client's destination port */
	if (cfg_u64(p, v, path, 1, 65535, false, &port))
		return;
	/* sin_port and sin6_port share their offset. */
	((struct sockaddr_in *)&o->addr)->sin_port = htons(port);
}

static const struct key_handler origin_keys[] = {
        {"prefix", on_origin_prefix, "the destinations it serves: `prefix: 203.0.113.0/24`"},
        {"address", on_origin_address, "the origin server: `address: 198.51.100.10`"},
        {"port", on_origin_port, NULL},
};

static void add_origin(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dispatch_proxy_config *pc = obj;
	struct dispatch_origin_config *o;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a mapping such as {prefix: 203.0.113.0/24, address: "
		           "198.51.100.10}, got %s",
		           cfg_kind(item));
		return;
	}
	o = cfg_grow(&pc->origins, &pc->n_origins, sizeof(*o));
	if (o)
		CFG_WALK(p, item, path, origin_keys, o);
}

static void on_origins(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_origin, obj);
}

static void on_proxy_protocol(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_proxy_config *pc = obj;
	const char *s = cfg_string(p, v, path);

	if (s && strcmp(s, "v2") == 0)
		pc->proxy_protocol_v2 = true;
	else if (s && strcmp(s, "off") == 0)
		pc->proxy_protocol_v2 = false;
	else if (s)
		cfg_err_at(
		        p, v->start_mark, path,
		        "'%.80s': expected v2 (send a PROXY protocol v2 header to the origin) or "
		        "off",
		        s);
}

static void on_tcp_idle(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_seconds(p, v, path, &((struct dispatch_proxy_config *)obj)->tcp_idle_s);
}

static void on_udp_idle(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_seconds(p, v, path, &((struct dispatch_proxy_config *)obj)->udp_idle_s);
}

static void on_proxy_metrics(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_proxy_config *pc = obj;
	const char *s = cfg_string(p, v, path);
	int err;

	if (!s)
		return;
	pc->metrics = false;
	if (strcmp(s, "off") == 0)
		return;
	err = addr_parse_listen(s, &pc->metrics_addr, NULL);
	if (err) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': %s; the address edged-proxy serves /metrics on, such as "
		           "127.0.0.1:9421, or off",
		           s, addr_strerror(err));
		return;
	}
	pc->metrics = true;
	snprintf(pc->metrics_listen, sizeof(pc->metrics_listen), "%s", s);
}

static const struct key_handler proxy_keys[] = {
        {"origins", on_origins, "where to relay: `origins: [{prefix: ..., address: ...}]`"},
        {"proxy_protocol", on_proxy_protocol, NULL},
        {"tcp_idle_timeout", on_tcp_idle, NULL},
        {"udp_idle_timeout", on_udp_idle, NULL},
        {"metrics", on_proxy_metrics, NULL},
};

static void on_proxy(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_service_config *sc = obj;

	if (v->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping with origins (and proxy_protocol, timeouts), got %s",
		           cfg_kind(v));
		return;
	}
	sc->proxy.enabled = true;
	CFG_WALK(p, v, path, proxy_keys, &sc->proxy);
}

static const struct key_handler service_keys[] = {
        {"name", on_service_name, "the name bindings use: `name: web`"},
        {"proxy", on_proxy, NULL},
};

static void add_service(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dispatch_config *dc = obj;
	struct dispatch_service_config *sc;
	char name_path[KEY_PATH_MAX];

	(void)i;
	if (dc->n_services >= DISPATCH_MAX_SERVICES) {
		cfg_err_at(p, item->start_mark, path, "at most %d services", DISPATCH_MAX_SERVICES);
		return;
	}
	sc = cfg_grow(&dc->services, &dc->n_services, sizeof(*sc));
	if (!sc)
		return;
	sc->proxy.tcp_idle_s = DISPATCH_DEFAULT_TCP_IDLE_S;
	sc->proxy.udp_idle_s = DISPATCH_DEFAULT_UDP_IDLE_S;
	snprintf(name_path, sizeof(name_path), "%s.name", path);
	if (item->type == YAML_SCALAR_NODE && !cfg_is_null(item))
		on_service_name(p, item, name_path, sc); /* `- web` is short for `- name: web` */
	else if (item->type == YAML_MAPPING_NODE)
		CFG_WALK(p, item, path, service_keys, sc);
	else
		cfg_err_at(p, item->start_mark, path,
		           "expected a service name or a mapping with 'name', got %s",
		           cfg_kind(item));
}

static void on_services(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_service, obj);
}

/* ---- bindings ---- */

static void on_binding_prefix(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_prefix(p, v, path, &((struct dispatch_binding_config *)obj)->prefix);
}

static void on_binding_proto(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_binding_config *b = obj;
	const char *s = cfg_string(p, v, path);

	if (s && strcmp(s, "tcp") == 0)
		b->protocol = IPPROTO_TCP;
	else if (s && strcmp(s, "udp") == 0)
		b->protocol = IPPROTO_UDP;
	else if (s)
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': expected tcp or udp (a binding has one protocol: write two "
		           "bindings for both)",
		           s);
}

static void on_binding_ports(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_binding_config *b = obj;
	uint64_t lo, hi;

	if (v->type == YAML_SCALAR_NODE && strcmp(cfg_scalar(v), "any") == 0) {
		b->kind = DISPATCH_PORT_ANY;
		b->lo = 0;
		b->hi = 65535;
		return;
	}
	if (cfg_range(p, v, path, 1, 65535, &lo, &hi))
		return;
	b->kind = lo == hi ? DISPATCH_PORT_EXACT : DISPATCH_PORT_RANGE;
	b->lo = lo;
	b->hi = hi;
}

static void on_binding_service(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_binding_config *b = obj;
	const char *s = cfg_string(p, v, path);

	if (s)
		snprintf(b->service_name, sizeof(b->service_name), "%s", s);
}

static void on_binding_mechanism(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dispatch_binding_config *b = obj;
	const char *s = cfg_string(p, v, path);

	if (s && strcmp(s, "sk_lookup") == 0)
		b->mechanism = DISPATCH_MECH_SK_LOOKUP;
	else if (s && strcmp(s, "tproxy") == 0)
		b->mechanism = DISPATCH_MECH_TPROXY;
	else if (s)
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': expected sk_lookup (BPF, the default) or tproxy (nftables)",
		           s);
}

static const struct key_handler binding_keys[] = {
        {"prefix", on_binding_prefix, "the destination prefix: `prefix: 203.0.113.0/24`"},
        {"proto", on_binding_proto, "`proto: tcp` or `proto: udp`"},
        {"ports", on_binding_ports, "`ports: 443`, `ports: 1000-2000` or `ports: any`"},
        {"service", on_binding_service, "the service that takes it: `service: web`"},
        {"mechanism", on_binding_mechanism, NULL},
};

static void add_binding(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dispatch_config *dc = obj;
	struct dispatch_binding_config *b;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a mapping such as {prefix: 203.0.113.0/24, proto: tcp, ports: "
		           "443, service: web}, got %s",
		           cfg_kind(item));
		return;
	}
	if (dc->n_bindings >= DISPATCH_MAX_BINDINGS - 1) { /* slot 0 counts unbound lookups */
		cfg_err_at(p, item->start_mark, path, "at most %d bindings",
		           DISPATCH_MAX_BINDINGS - 1);
		return;
	}
	b = cfg_grow(&dc->bindings, &dc->n_bindings, sizeof(*b));
	if (!b)
		return;
	b->service = -1;
	b->line = item->start_mark.line + 1;
	b->col = item->start_mark.column + 1;
	CFG_WALK(p, item, path, binding_keys, b);
}

static void on_bindings(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_binding, obj);
}

/* ---- the whole section ---- */

static void on_dispatch_enabled(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	(void)obj;
	cfg_bool(p, v, path, &p->cfg->fn[FN_DISPATCH].enabled);
}

static const struct key_handler dispatch_keys[] = {
        {"enabled", on_dispatch_enabled, NULL},
        {"local_prefixes", on_local_prefixes, NULL},
        {"tproxy", on_tproxy, NULL},
        {"services", on_services, NULL},
        {"bindings", on_bindings, NULL},
};

/* An error about binding I, placed where it was written. */
static void __attribute__((format(printf, 4, 5)))
binding_err(struct parser *p, const struct dispatch_binding_config *b, int i, const char *fmt, ...)
{
	yaml_mark_t mark = {.line = b->line - 1, .column = b->col - 1};
	char path[KEY_PATH_MAX], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "dispatch.bindings[%d]", i);
	cfg_err_at(p, mark, path, "%s", msg);
}

static void resolve_services(struct parser *p, struct dispatch_config *dc)
{
	for (int i = 0; i < dc->n_bindings; i++) {
		struct dispatch_binding_config *b = &dc->bindings[i];

		if (!b->service_name[0])
			continue; /* missing key: reported by the walk */
		b->service = dispatch_service_index(dc, b->service_name);
		if (b->service < 0)
			binding_err(p, b, i,
			            "no service named '%s': add it under dispatch.services (%d "
			            "defined)",
			            b->service_name, dc->n_services);
	}
}

static bool same_prefix(const struct prefix *a, const struct prefix *b)
{
	return dispatch_prefix_holds(a, b) && dispatch_prefix_holds(b, a);
}

/* Two bindings of one prefix, protocol and kind that share a port: which one should win
 * would be a guess, so the config has to say (make one of them more specific). */
static void check_overlaps(struct parser *p, const struct dispatch_config *dc)
{
	for (int j = 0; j < dc->n_bindings; j++) {
		const struct dispatch_binding_config *b = &dc->bindings[j];

		for (int i = 0; i < j; i++) {
			const struct dispatch_binding_config *a = &dc->bindings[i];
			char pa[16], pb[16];

			if (a->protocol != b->protocol || a->kind != b->kind ||
			    !same_prefix(&a->prefix, &b->prefix) || a->hi < b->lo || b->hi < a->lo)
				continue;
			binding_err(
			        p, b, j,
			        "ports %s overlap ports %s of bindings[%d] (line %d) on the same "
			        "prefix and protocol: narrow one of them, or bind a more specific "
			        "prefix",
			        dispatch_ports_format(b, pb, sizeof(pb)),
			        dispatch_ports_format(a, pa, sizeof(pa)), i, a->line);
			break;
		}
	}
}

/* Compiles the bindings as edged will, with stand-in slots: a table that would not fit the
 * data path is a config error now, not a failed reload later. */
static void check_compiles(struct parser *p, const struct dispatch_config *dc)
{
	struct dispatch_rule *rules = calloc(dc->n_bindings ? dc->n_bindings : 1, sizeof(*rules));
	struct dispatch_table t;
	char err[256];

	if (!rules) {
		cfg_push_error(p, "%s: out of memory checking dispatch.bindings", p->name);
		return;
	}
	for (int i = 0; i < dc->n_bindings; i++) {
		const struct dispatch_binding_config *b = &dc->bindings[i];

		rules[i] = (struct dispatch_rule){.prefix = b->prefix,
		                                  .protocol = b->protocol,
		                                  .kind = b->kind,
		                                  .lo = b->lo,
		                                  .hi = b->hi,
		                                  .binding = i + 1,
		                                  .index = i};
	}
	if (dispatch_compile(rules, dc->n_bindings, &t, err, sizeof(err)))
		cfg_push_error(p, "%s: dispatch.bindings: %s", p->name, err);
	else
		dispatch_table_free(&t);
	free(rules);
}

void dispatch_config_parse(struct parser *p, yaml_node_t *v, const char *path)
{
	struct dispatch_config *dc = &p->cfg->dispatch;
	int before = p->n_errors;

	dc->tproxy_mark = DISPATCH_DEFAULT_TPROXY_MARK;
	dc->tproxy_table = DISPATCH_DEFAULT_TPROXY_TABLE;
	CFG_WALK(p, v, path, dispatch_keys, dc);
	if (p->n_errors != before)
		return; /* the whole-section checks would only repeat what is already said */
	resolve_services(p, dc);
	check_overlaps(p, dc);
	if (p->n_errors == before)
		check_compiles(p, dc);
}
