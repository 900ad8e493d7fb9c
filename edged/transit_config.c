// SPDX-License-Identifier: GPL-2.0
/*
 * Parses the `transit:` section (the grammar is in transit_config.h). What needs the whole
 * section (endpoints listed after the tunnels that use them, names and prefixes unique across
 * customers, tunnels that the decap could not tell apart) is checked after it, at the
 * position of what is wrong.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "config_parse.h"
#include "transit_config.h"

/* Positions kept for the checks of the whole section. */
struct tunnel_parse {
	yaml_mark_t mark;
	char path[KEY_PATH_MAX];
	bool have_endpoint;
	yaml_mark_t endpoint_mark;
	yaml_mark_t remote_mark;
};

struct customer_parse {
	yaml_mark_t mark;
	char path[KEY_PATH_MAX];
	yaml_mark_t *prefix_marks; /* one per prefix */
	struct tunnel_parse *tp;   /* one per tunnel */
};

struct transit_parse {
	struct transit_config *tc;
	struct customer_parse *cp; /* one per customer */
	yaml_mark_t section_mark;
};

/* A rule being parsed: the rule and where its keys were, for the checks across keys. */
struct rule_parse {
	struct transit_rule *r;
	yaml_mark_t mark;
	bool have_ports;
};

static const char *const action_names[] = {[TRANSIT_ALLOW] = "allow", [TRANSIT_DENY] = "deny"};
static const char *const direction_names[] = {[TRANSIT_IN] = "in", [TRANSIT_OUT] = "out"};

const char *transit_action_name(int action)
{
	return action == TRANSIT_ALLOW ? "allow" : action == TRANSIT_DENY ? "deny" : "?";
}

const char *transit_direction_name(int direction)
{
	return direction == TRANSIT_IN ? "in" : direction == TRANSIT_OUT ? "out" : "?";
}

uint16_t transit_default_mtu(int family, bool has_key)
{
	return TRANSIT_LINK_MTU - (family == AF_INET6 ? 40 : 20) - 4 - (has_key ? 4 : 0);
}

bool transit_ip_equal(const struct transit_ip *a, const struct transit_ip *b)
{
	return a->family == b->family &&
	       memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

char *transit_ip_format(const struct transit_ip *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, &a->addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

void transit_netns_name(const char *instance, const char *customer, char *buf, size_t len)
{
	snprintf(buf, len, "edged-%s-%s", instance, customer);
}

/* ---- memory ---- */

void transit_customer_release(struct transit_customer_config *c)
{
	free(c->prefixes);
	free(c->tunnels);
	free(c->rules);
	memset(c, 0, sizeof(*c));
}

void transit_config_release(struct transit_config *tc)
{
	for (int i = 0; i < tc->n_customers; i++)
		transit_customer_release(&tc->customers[i]);
	free(tc->customers);
	free(tc->endpoints);
	memset(tc, 0, sizeof(*tc));
}

static void *dup_array(const void *src, int n, size_t size)
{
	void *d;

	if (n == 0)
		return NULL;
	d = malloc(n * size);
	if (d)
		memcpy(d, src, n * size);
	return d;
}

int transit_customer_copy(struct transit_customer_config *dst,
                          const struct transit_customer_config *src)
{
	*dst = *src;
	dst->prefixes = dup_array(src->prefixes, src->n_prefixes, sizeof(*src->prefixes));
	dst->tunnels = dup_array(src->tunnels, src->n_tunnels, sizeof(*src->tunnels));
	dst->rules = dup_array(src->rules, src->n_rules, sizeof(*src->rules));
	if ((src->n_prefixes && !dst->prefixes) || (src->n_tunnels && !dst->tunnels) ||
	    (src->n_rules && !dst->rules)) {
		transit_customer_release(dst);
		return -ENOMEM;
	}
	return 0;
}

static bool same_prefix(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       (a->family == 0 || memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16) == 0);
}

static bool same_rule(const struct transit_rule *a, const struct transit_rule *b)
{
	/* Field by field: the line a rule is written on is not what it does. */
	return a->action == b->action && a->direction == b->direction && a->proto == b->proto &&
	       a->family == b->family && same_prefix(&a->src, &b->src) &&
	       same_prefix(&a->dst, &b->dst) && a->sport_lo == b->sport_lo &&
	       a->sport_hi == b->sport_hi && a->dport_lo == b->dport_lo &&
	       a->dport_hi == b->dport_hi;
}

static bool same_tunnel(const struct transit_tunnel_config *a,
                        const struct transit_tunnel_config *b)
{
	return strcmp(a->name, b->name) == 0 && transit_ip_equal(&a->remote, &b->remote) &&
	       transit_ip_equal(&a->endpoint, &b->endpoint) && a->has_key == b->has_key &&
	       a->key == b->key && a->mtu == b->mtu && a->health.enabled == b->health.enabled &&
	       a->health.interval_ms == b->health.interval_ms &&
	       a->health.timeout_ms == b->health.timeout_ms;
}

bool transit_customer_equal(const struct transit_customer_config *a,
                            const struct transit_customer_config *b)
{
	if (strcmp(a->name, b->name) || a->n_prefixes != b->n_prefixes ||
	    a->n_tunnels != b->n_tunnels || a->n_rules != b->n_rules ||
	    a->default_in != b->default_in || a->default_out != b->default_out)
		return false;
	for (int i = 0; i < a->n_prefixes; i++)
		if (!same_prefix(&a->prefixes[i], &b->prefixes[i]))
			return false;
	for (int i = 0; i < a->n_tunnels; i++)
		if (!same_tunnel(&a->tunnels[i], &b->tunnels[i]))
			return false;
	for (int i = 0; i < a->n_rules; i++)
		if (!same_rule(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

int transit_config_find(const struct transit_config *tc, const char *name)
{
	for (int i = 0; i < tc->n_customers; i++)
		if (strcmp(tc->customers[i].name, name) == 0)
			return i;
	return -1;
}

/* Grows a side array kept parallel to one grown by cfg_grow() (N is already the new count). */
static void *grow_side(void *arr_ptr, int n, size_t size)
{
	void **arr = arr_ptr;
	char *g = realloc(*arr, n * size);

	if (!g)
		return NULL;
	memset(g + (n - 1) * size, 0, size);
	*arr = g;
	return g + (n - 1) * size;
}

/* ---- scalars ---- */

static void parse_name(struct parser *p, yaml_node_t *v, const char *path, char *out)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (!cfg_name_ok(s, TRANSIT_NAME_MAX, "-_")) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': a name is 1-%d letters, digits, '-' and '_', starting with a "
		           "letter or digit",
		           s, TRANSIT_NAME_MAX - 1);
		return;
	}
	memcpy(out, s, strlen(s) + 1);
}

/* Why A cannot be a GRE outer address (one host that routes can reach), or NULL. */
static const char *unusable_host(const struct transit_ip *a)
{
	const struct in6_addr *v6 = &a->addr.v6;
	uint32_t v4 = ntohl(a->addr.v4.s_addr);

	if (a->family == AF_INET)
		return v4 == 0 || v4 == 0xffffffff ? "is not one host"
		       : (v4 >> 24) == 127         ? "is a loopback address"
		       : (v4 >> 28) == 0xe         ? "is a multicast address"
		                                   : NULL;
	return IN6_IS_ADDR_UNSPECIFIED(v6) ? "is not one host"
	       : IN6_IS_ADDR_LOOPBACK(v6)  ? "is a loopback address"
	       : IN6_IS_ADDR_MULTICAST(v6) ? "is a multicast address"
	       : IN6_IS_ADDR_LINKLOCAL(v6) ? "is link-local (it names no interface; use a global "
	                                     "address)"
	       : IN6_IS_ADDR_V4MAPPED(v6)  ? "is an IPv4-mapped address (write the IPv4 address "
	                                     "itself)"
	                                   : NULL;
}

/* One IPv4 or IPv6 unicast address: GRE's outer header is either. */
static int parse_host(struct parser *p, yaml_node_t *v, const char *path, struct transit_ip *out)
{
	const char *s = cfg_string(p, v, path), *why;

	if (!s)
		return -1;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &out->addr.v4) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, s, &out->addr.v6) == 1)
		out->family = AF_INET6;
	if (!out->family) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s': expected one IPv4 or IPv6 address such as 198.51.100.50 or "
		           "\"2001:db8::50\" (quote IPv6 addresses)",
		           s);
		return -1;
	}
	why = unusable_host(out);
	if (why) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s' %s: GRE needs the unicast address of one host", s, why);
		out->family = 0;
		return -1;
	}
	return 0;
}

/* "1s", "500ms", "1m" or a bare number of seconds, into milliseconds in [1, MAX_MS]. */
static int parse_duration_ms(struct parser *p, yaml_node_t *v, const char *path, uint32_t *out)
{
	const char *s = cfg_string(p, v, path);
	unsigned long n = 0, mult = 0;
	char *end = NULL;

	if (!s)
		return -1;
	if (isdigit((unsigned char)*s)) {
		n = strtoul(s, &end, 10);
		if (!*end || strcmp(end, "s") == 0)
			mult = 1000;
		else if (strcmp(end, "ms") == 0)
			mult = 1;
		else if (strcmp(end, "m") == 0)
			mult = 60000;
	}
	if (!mult || n == 0 || n > TRANSIT_HEALTH_MAX_MS || n * mult > TRANSIT_HEALTH_MAX_MS) {
		cfg_err_at(p, v->start_mark, path,
		           "'%.40s': expected a duration of 1ms to %us, such as 500ms, 1s or 1m", s,
		           TRANSIT_HEALTH_MAX_MS / 1000);
		return -1;
	}
	*out = (uint32_t)(n * mult);
	return 0;
}

static int parse_action(struct parser *p, yaml_node_t *v, const char *path, uint8_t *out)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return -1;
	for (int i = 0; i <= TRANSIT_DENY; i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	cfg_err_at(p, v->start_mark, path, "'%.80s': use allow or deny", s);
	return -1;
}

/* ---- endpoints ---- */

static void add_endpoint(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct transit_config *tc = ((struct transit_parse *)obj)->tc;
	struct transit_ip a, *e;

	if (parse_host(p, item, path, &a))
		return;
	for (int j = 0; j < i && j < tc->n_endpoints; j++) {
		if (transit_ip_equal(&tc->endpoints[j], &a)) {
			cfg_err_at(p, item->start_mark, path, "endpoint %s is listed twice",
			           cfg_scalar(item));
			return;
		}
	}
	if (tc->n_endpoints >= TRANSIT_MAX_ENDPOINTS) {
		cfg_err_at(p, item->start_mark, path, "at most %d endpoints",
		           TRANSIT_MAX_ENDPOINTS);
		return;
	}
	e = cfg_grow(&tc->endpoints, &tc->n_endpoints, sizeof(*e));
	if (!e) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	*e = a;
}

static void on_endpoints(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_endpoint, obj);
}

/* ---- tunnels ---- */

static struct transit_customer_config *cur_customer(struct transit_parse *tp)
{
	return &tp->tc->customers[tp->tc->n_customers - 1];
}

static struct customer_parse *cur_cparse(struct transit_parse *tp)
{
	return &tp->cp[tp->tc->n_customers - 1];
}

static struct transit_tunnel_config *cur_tunnel(struct transit_parse *tp)
{
	struct transit_customer_config *c = cur_customer(tp);

	return &c->tunnels[c->n_tunnels - 1];
}

static void on_tunnel_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_name(p, v, path, cur_tunnel(obj)->name);
}

static void on_tunnel_remote(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct transit_parse *tp = obj;
	struct tunnel_parse *t = &cur_cparse(tp)->tp[cur_customer(tp)->n_tunnels - 1];

	t->remote_mark = v->start_mark;
	parse_host(p, v, path, &cur_tunnel(tp)->remote);
}

static void on_tunnel_endpoint(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct transit_parse *tp = obj;
	struct customer_parse *cp = cur_cparse(tp);
	struct tunnel_parse *t = &cp->tp[cur_customer(tp)->n_tunnels - 1];

	if (parse_host(p, v, path, &cur_tunnel(tp)->endpoint) == 0) {
		t->have_endpoint = true;
		t->endpoint_mark = v->start_mark;
	}
}

static void on_tunnel_key(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct transit_tunnel_config *t = cur_tunnel(obj);
	uint64_t k;

	if (cfg_u64(p, v, path, 0, UINT32_MAX, false, &k) == 0) {
		t->has_key = true;
		t->key = (uint32_t)k;
	}
}

static void on_tunnel_mtu(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t m;

	/* The upper bound of the tunnel's family and key is checked once all keys are read. */
	if (cfg_u64(p, v, path, TRANSIT_MIN_MTU, transit_default_mtu(AF_INET, false), false, &m) ==
	    0)
		cur_tunnel(obj)->mtu = (uint16_t)m;
}

static void on_health_interval(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_duration_ms(p, v, path, &((struct transit_health_config *)obj)->interval_ms);
}

static void on_health_timeout(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_duration_ms(p, v, path, &((struct transit_health_config *)obj)->timeout_ms);
}

static const struct key_handler health_keys[] = {
        {"interval", on_health_interval, NULL},
        {"timeout", on_health_timeout, NULL},
};

static void on_tunnel_health(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct transit_health_config *h = &cur_tunnel(obj)->health;

	if (v->type == YAML_SCALAR_NODE && strcmp(cfg_scalar(v), "off") == 0) {
		h->enabled = false;
		return;
	}
	if (v->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, v->start_mark, path,
		           "expected {interval: 1s, timeout: 3s} or off, got %s", cfg_kind(v));
		return;
	}
	CFG_WALK(p, v, path, health_keys, h);
	if (h->timeout_ms && h->interval_ms && h->timeout_ms < h->interval_ms)
		cfg_err_at(p, v->start_mark, path,
		           "timeout %ums is shorter than the interval %ums: every tunnel would "
		           "flap; make the timeout at least the interval (3 intervals is usual)",
		           h->timeout_ms, h->interval_ms);
}

static const struct key_handler tunnel_keys[] = {
        {"name", on_tunnel_name, "a name for edgectl and metrics: `name: acme-nyc`"},
        {"remote", on_tunnel_remote, "the customer router's address: `remote: 198.51.100.50`"},
        {"endpoint", on_tunnel_endpoint, NULL},
        {"key", on_tunnel_key, NULL},
        {"mtu", on_tunnel_mtu, NULL},
        {"health", on_tunnel_health, NULL},
};

static void add_tunnel(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct transit_parse *tp = obj;
	struct transit_customer_config *c = cur_customer(tp);
	struct customer_parse *cp = cur_cparse(tp);
	struct transit_tunnel_config *t;
	struct tunnel_parse *tpp;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(
		        p, item->start_mark, path,
		        "expected a tunnel such as {name: acme-nyc, remote: 198.51.100.50}, got %s",
		        cfg_kind(item));
		return;
	}
	if (c->n_tunnels >= TRANSIT_MAX_TUNNELS) {
		cfg_err_at(p, item->start_mark, path, "at most %d tunnels per customer",
		           TRANSIT_MAX_TUNNELS);
		return;
	}
	t = cfg_grow(&c->tunnels, &c->n_tunnels, sizeof(*t));
	tpp = t ? grow_side(&cp->tp, c->n_tunnels, sizeof(*cp->tp)) : NULL;
	if (!tpp) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	tpp->mark = item->start_mark;
	snprintf(tpp->path, sizeof(tpp->path), "%s", path);
	t->health = (struct transit_health_config){
	        .enabled = true,
	        .interval_ms = TRANSIT_HEALTH_INTERVAL_MS,
	        .timeout_ms = TRANSIT_HEALTH_TIMEOUT_MS,
	};
	CFG_WALK(p, item, path, tunnel_keys, tp);
	if (!t->mtu)
		t->mtu = transit_default_mtu(t->remote.family, t->has_key);
	else if (t->mtu > transit_default_mtu(t->remote.family, t->has_key))
		cfg_err_at(p, item->start_mark, path,
		           "mtu %u does not fit in a %u-byte link with the GRE headers over %s; at "
		           "most %u",
		           t->mtu, TRANSIT_LINK_MTU, family_name(t->remote.family),
		           transit_default_mtu(t->remote.family, t->has_key));
}

/* ---- firewall rules ---- */

static void on_rule_action(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_action(p, v, path, &((struct rule_parse *)obj)->r->action);
}

static void on_rule_direction(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct transit_rule *r = ((struct rule_parse *)obj)->r;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (int i = 0; i <= TRANSIT_OUT; i++) {
		if (strcmp(s, direction_names[i]) == 0) {
			r->direction = i;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': use in (toward the customer's prefixes) or out (from them)", s);
}

static const struct {
	const char *name;
	uint8_t proto;
} protos[] = {
        {"any", 0},
        {"tcp", IPPROTO_TCP},
        {"udp", IPPROTO_UDP},
        {"icmp", IPPROTO_ICMP},
        {"icmpv6", IPPROTO_ICMPV6},
};

static void on_rule_proto(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct transit_rule *r = ((struct rule_parse *)obj)->r;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (strcmp(s, protos[i].name) == 0) {
			r->proto = protos[i].proto;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path, "'%.80s': use tcp, udp, icmp, icmpv6 or any", s);
}

static void parse_rule_prefix(struct parser *p, yaml_node_t *v, const char *path,
                              struct rule_parse *rp, struct prefix *out)
{
	if (cfg_prefix(p, v, path, out))
		return;
	if (rp->r->family && rp->r->family != out->family) {
		cfg_err_at(p, v->start_mark, path,
		           "src and dst are of different families (IPv4 and IPv6): no packet "
		           "matches both; write two rules");
		return;
	}
	rp->r->family = out->family;
}

static void on_rule_src(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct rule_parse *rp = obj;

	parse_rule_prefix(p, v, path, rp, &rp->r->src);
}

static void on_rule_dst(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct rule_parse *rp = obj;

	parse_rule_prefix(p, v, path, rp, &rp->r->dst);
}

static void parse_ports(struct parser *p, yaml_node_t *v, const char *path, struct rule_parse *rp,
                        uint16_t *lo, uint16_t *hi)
{
	uint64_t l, h;

	if (cfg_range(p, v, path, 1, 65535, &l, &h))
		return;
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	rp->have_ports = true;
}

static void on_rule_sport(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct rule_parse *rp = obj;

	parse_ports(p, v, path, rp, &rp->r->sport_lo, &rp->r->sport_hi);
}

static void on_rule_dport(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct rule_parse *rp = obj;

	parse_ports(p, v, path, rp, &rp->r->dport_lo, &rp->r->dport_hi);
}

static const struct key_handler rule_keys[] = {
        {"action", on_rule_action, "what a match does: `action: allow` or `action: deny`"},
        {"direction", on_rule_direction, NULL},
        {"proto", on_rule_proto, NULL},
        {"src", on_rule_src, NULL},
        {"dst", on_rule_dst, NULL},
        {"src_port", on_rule_sport, NULL},
        {"dst_port", on_rule_dport, NULL},
};

/* What a rule's keys cannot express together. */
static void check_rule(struct parser *p, const struct rule_parse *rp, const char *path)
{
	const struct transit_rule *r = rp->r;

	if (rp->have_ports && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
		cfg_err_at(p, rp->mark, path,
		           "ports need `proto: tcp` or `proto: udp` (other protocols have none)");
	if (r->proto == IPPROTO_ICMP && r->family == AF_INET6)
		cfg_err_at(p, rp->mark, path,
		           "proto icmp is IPv4's; for IPv6 addresses use `proto: icmpv6`");
	if (r->proto == IPPROTO_ICMPV6 && r->family == AF_INET)
		cfg_err_at(p, rp->mark, path,
		           "proto icmpv6 is IPv6's; for IPv4 addresses use `proto: icmp`");
}

static void add_rule(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct transit_customer_config *c = cur_customer(obj);
	struct rule_parse rp = {.mark = item->start_mark};

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(
		        p, item->start_mark, path,
		        "expected a rule such as {action: deny, proto: tcp, dst_port: 23}, got %s",
		        cfg_kind(item));
		return;
	}
	if (c->n_rules >= TRANSIT_MAX_RULES) {
		cfg_err_at(p, item->start_mark, path, "at most %d rules per customer",
		           TRANSIT_MAX_RULES);
		return;
	}
	rp.r = cfg_grow(&c->rules, &c->n_rules, sizeof(*rp.r));
	if (!rp.r) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	rp.r->line = (int)item->start_mark.line + 1;
	CFG_WALK(p, item, path, rule_keys, &rp);
	check_rule(p, &rp, path);
}

static void on_fw_default(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_action(p, v, path, &cur_customer(obj)->default_in);
}

static void on_fw_default_out(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_action(p, v, path, &cur_customer(obj)->default_out);
}

static void on_fw_rules(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_rule, obj);
}

static const struct key_handler firewall_keys[] = {
        {"default", on_fw_default, NULL},
        {"default_out", on_fw_default_out, NULL},
        {"rules", on_fw_rules, NULL},
};

/* ---- customers ---- */

static void on_customer_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	parse_name(p, v, path, cur_customer(obj)->name);
}

static void add_prefix(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct transit_customer_config *c = cur_customer(obj);
	struct customer_parse *cp = cur_cparse(obj);
	struct prefix pf, *slot;
	yaml_mark_t *m;

	(void)i;
	if (cfg_prefix(p, item, path, &pf))
		return;
	if (c->n_prefixes >= TRANSIT_MAX_PREFIXES) {
		cfg_err_at(p, item->start_mark, path, "at most %d prefixes per customer",
		           TRANSIT_MAX_PREFIXES);
		return;
	}
	slot = cfg_grow(&c->prefixes, &c->n_prefixes, sizeof(*slot));
	m = slot ? grow_side(&cp->prefix_marks, c->n_prefixes, sizeof(*m)) : NULL;
	if (!m) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	*slot = pf;
	*m = item->start_mark;
}

static void on_customer_prefixes(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_prefix, obj);
}

static void on_customer_tunnels(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_tunnel, obj);
}

static void on_customer_firewall(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	if (v->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, v->start_mark, path,
		           "expected {default: allow, rules: [...]}, got %s", cfg_kind(v));
		return;
	}
	CFG_WALK(p, v, path, firewall_keys, obj);
}

static const struct key_handler customer_keys[] = {
        {"name", on_customer_name, "a name for the namespace, edgectl and metrics: `name: acme`"},
        {"prefixes", on_customer_prefixes, "the customer's prefixes: `prefixes: [203.0.113.0/26]`"},
        {"tunnels", on_customer_tunnels,
         "at least one GRE tunnel: `tunnels: [{name: acme-nyc, remote: 198.51.100.50}]`"},
        {"firewall", on_customer_firewall, NULL},
};

static void add_customer(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct transit_parse *tp = obj;
	struct transit_config *tc = tp->tc;
	struct transit_customer_config *c;
	struct customer_parse *cp;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a customer such as {name: acme, prefixes: [...], tunnels: "
		           "[...]}, got %s",
		           cfg_kind(item));
		return;
	}
	if (tc->n_customers >= TRANSIT_MAX_CUSTOMERS) {
		cfg_err_at(p, item->start_mark, path, "at most %d customers",
		           TRANSIT_MAX_CUSTOMERS);
		return;
	}
	c = cfg_grow(&tc->customers, &tc->n_customers, sizeof(*c));
	cp = c ? grow_side(&tp->cp, tc->n_customers, sizeof(*cp)) : NULL;
	if (!cp) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	cp->mark = item->start_mark;
	snprintf(cp->path, sizeof(cp->path), "%s", path);
	CFG_WALK(p, item, path, customer_keys, tp);
	if (c->n_tunnels == 0 && !p->n_errors)
		cfg_err_at(p, item->start_mark, path,
		           "a customer needs at least one tunnel to deliver its traffic");
	if (c->n_prefixes == 0 && !p->n_errors)
		cfg_err_at(p, item->start_mark, path, "a customer needs at least one prefix");
}

static void on_customers(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_customer, obj);
}

/* ---- checks of the whole section ---- */

static bool prefixes_overlap(const struct prefix *a, const struct prefix *b)
{
	const uint8_t *x = (const uint8_t *)&a->addr, *y = (const uint8_t *)&b->addr;
	int len = a->len < b->len ? a->len : b->len;

	if (a->family != b->family)
		return false;
	for (int bit = 0; bit < len; bit++) {
		uint8_t m = 0x80 >> (bit % 8);

		if ((x[bit / 8] & m) != (y[bit / 8] & m))
			return false;
	}
	return true;
}

static void check_prefixes(struct parser *p, const struct transit_parse *tp, int ci)
{
	const struct transit_customer_config *c = &tp->tc->customers[ci];
	char a[PREFIX_STRLEN], b[PREFIX_STRLEN];

	for (int i = 0; i < c->n_prefixes; i++) {
		for (int cj = 0; cj < ci; cj++) {
			const struct transit_customer_config *o = &tp->tc->customers[cj];

			for (int j = 0; j < o->n_prefixes; j++) {
				if (!prefixes_overlap(&c->prefixes[i], &o->prefixes[j]))
					continue;
				cfg_err_at(p, tp->cp[ci].prefix_marks[i], tp->cp[ci].path,
				           "prefix %s overlaps %s of customer '%s': a packet must "
				           "belong to one customer",
				           prefix_format(&c->prefixes[i], a, sizeof(a)),
				           prefix_format(&o->prefixes[j], b, sizeof(b)), o->name);
			}
		}
	}
}

static bool endpoint_listed(const struct transit_config *tc, const struct transit_ip *a)
{
	for (int i = 0; i < tc->n_endpoints; i++)
		if (transit_ip_equal(&tc->endpoints[i], a))
			return true;
	return false;
}

/* The only endpoint of FAMILY, NULL when there is none (*N = 0) or several. */
static const struct transit_ip *sole_endpoint(const struct transit_config *tc, int family, int *n)
{
	const struct transit_ip *found = NULL;

	*n = 0;
	for (int i = 0; i < tc->n_endpoints; i++)
		if (tc->endpoints[i].family == family && ++*n == 1)
			found = &tc->endpoints[i];
	return *n == 1 ? found : NULL;
}

/* A tunnel without `endpoint:` takes the section's only endpoint of its remote's family. */
static void default_endpoint(struct parser *p, struct transit_parse *tp, int ci, int ti)
{
	struct transit_tunnel_config *t = &tp->tc->customers[ci].tunnels[ti];
	const struct tunnel_parse *tpp = &tp->cp[ci].tp[ti];
	const char *fam = family_name(t->remote.family);
	const struct transit_ip *e;
	char s[INET6_ADDRSTRLEN];
	int n;

	e = sole_endpoint(tp->tc, t->remote.family, &n);
	if (e)
		t->endpoint = *e;
	else if (n == 0)
		cfg_err_at(p, tpp->remote_mark, tpp->path,
		           "remote %s is %s and transit.endpoints has no %s address: GRE's outer "
		           "header has one family; add an %s endpoint there (such as %s)",
		           transit_ip_format(&t->remote, s, sizeof(s)), fam, fam, fam,
		           t->remote.family == AF_INET6 ? "\"2001:db8:e::100\"" : "192.0.2.100");
	else
		cfg_err_at(p, tpp->mark, tpp->path,
		           "with %d %s endpoints, say which one this tunnel uses: `endpoint: %s`",
		           n, fam,
		           t->remote.family == AF_INET6 ? "\"2001:db8:e::100\"" : "192.0.2.100");
}

/* Sets a tunnel's endpoint when the section has one, and checks a given one is listed and of
 * the remote's family. */
static void check_endpoint(struct parser *p, struct transit_parse *tp, int ci, int ti)
{
	struct transit_tunnel_config *t = &tp->tc->customers[ci].tunnels[ti];
	const struct tunnel_parse *tpp = &tp->cp[ci].tp[ti];
	char s[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];

	if (!t->remote.family)
		return; /* the remote was refused: already reported */
	if (!tpp->have_endpoint) {
		default_endpoint(p, tp, ci, ti);
		return;
	}
	if (t->endpoint.family != t->remote.family)
		cfg_err_at(p, tpp->endpoint_mark, tpp->path,
		           "endpoint %s is %s but remote %s is %s: both ends of a tunnel are of "
		           "one family (GRE over %s); use an %s endpoint of transit.endpoints",
		           transit_ip_format(&t->endpoint, s, sizeof(s)),
		           family_name(t->endpoint.family),
		           transit_ip_format(&t->remote, r, sizeof(r)),
		           family_name(t->remote.family), family_name(t->remote.family),
		           family_name(t->remote.family));
	else if (!endpoint_listed(tp->tc, &t->endpoint))
		cfg_err_at(p, tpp->endpoint_mark, tpp->path,
		           "endpoint %s is not one of transit.endpoints; add it there (every edge "
		           "carries the same endpoints)",
		           transit_ip_format(&t->endpoint, s, sizeof(s)));
}

/* Names, and (endpoint, remote, key) which is how the decap tells tunnels apart. */
static void check_tunnel_unique(struct parser *p, struct transit_parse *tp, int ci, int ti)
{
	const struct transit_tunnel_config *t = &tp->tc->customers[ci].tunnels[ti];
	const struct tunnel_parse *tpp = &tp->cp[ci].tp[ti];

	for (int cj = 0; cj <= ci; cj++) {
		const struct transit_customer_config *o = &tp->tc->customers[cj];

		for (int tj = 0; tj < (cj == ci ? ti : o->n_tunnels); tj++) {
			const struct transit_tunnel_config *u = &o->tunnels[tj];

			if (strcmp(u->name, t->name) == 0)
				cfg_err_at(p, tpp->mark, tpp->path,
				           "a tunnel named '%s' already exists (customer '%s'): "
				           "tunnel names are unique",
				           t->name, o->name);
			else if (transit_ip_equal(&u->remote, &t->remote) &&
			         transit_ip_equal(&u->endpoint, &t->endpoint) &&
			         u->has_key == t->has_key && u->key == t->key)
				cfg_err_at(
				        p, tpp->mark, tpp->path,
				        "tunnel '%s' has the same remote, endpoint and key as '%s' "
				        "(customer '%s'): GRE could not tell them apart; give "
				        "each a distinct `key:`",
				        t->name, u->name, o->name);
		}
	}
}

static void check_section(struct parser *p, struct transit_parse *tp)
{
	struct transit_config *tc = tp->tc;

	if (tc->n_customers && tc->n_endpoints == 0)
		cfg_err_at(p, tp->section_mark, "transit",
		           "customers need an anycast GRE endpoint: `endpoints: [192.0.2.100]`");
	for (int ci = 0; ci < tc->n_customers; ci++) {
		for (int cj = 0; cj < ci; cj++)
			if (tc->customers[ci].name[0] &&
			    strcmp(tc->customers[cj].name, tc->customers[ci].name) == 0)
				cfg_err_at(p, tp->cp[ci].mark, tp->cp[ci].path,
				           "a customer named '%s' already exists: names are unique",
				           tc->customers[ci].name);
		check_prefixes(p, tp, ci);
		for (int ti = 0; ti < tc->customers[ci].n_tunnels; ti++) {
			if (tc->n_endpoints)
				check_endpoint(p, tp, ci, ti);
			check_tunnel_unique(p, tp, ci, ti);
		}
	}
}

static void on_enabled(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	(void)obj;
	cfg_bool(p, v, path, &p->cfg->fn[FN_TRANSIT].enabled);
}

static const struct key_handler transit_keys[] = {
        {"enabled", on_enabled, NULL},
        {"endpoints", on_endpoints, NULL},
        {"customers", on_customers, NULL},
};

static void free_parse(struct transit_parse *tp)
{
	for (int i = 0; i < tp->tc->n_customers; i++) {
		free(tp->cp[i].prefix_marks);
		free(tp->cp[i].tp);
	}
	free(tp->cp);
}

void transit_config_parse(struct parser *p, yaml_node_t *v, const char *path)
{
	struct transit_parse tp = {.tc = &p->cfg->transit, .section_mark = v->start_mark};

	CFG_WALK(p, v, path, transit_keys, &tp);
	check_section(p, &tp);
	free_parse(&tp);
}

/* ---- printing ---- */

static size_t put_ports(char *buf, size_t len, const char *key, uint16_t lo, uint16_t hi)
{
	if (!lo)
		return 0;
	if (lo == hi)
		return snprintf(buf, len, " %s %u", key, lo);
	return snprintf(buf, len, " %s %u-%u", key, lo, hi);
}

void transit_rule_format(const struct transit_rule *r, char *buf, size_t len)
{
	char s[PREFIX_STRLEN];
	size_t n = 0;

	n += snprintf(buf + n, len > n ? len - n : 0, "%s %s", transit_action_name(r->action),
	              transit_direction_name(r->direction));
	for (size_t i = 1; r->proto && i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == r->proto)
			n += snprintf(buf + n, len > n ? len - n : 0, " %s", protos[i].name);
	if (r->src.family)
		n += snprintf(buf + n, len > n ? len - n : 0, " src %s",
		              prefix_format(&r->src, s, sizeof(s)));
	if (r->dst.family)
		n += snprintf(buf + n, len > n ? len - n : 0, " dst %s",
		              prefix_format(&r->dst, s, sizeof(s)));
	n += put_ports(buf + n, len > n ? len - n : 0, "src_port", r->sport_lo, r->sport_hi);
	put_ports(buf + n, len > n ? len - n : 0, "dst_port", r->dport_lo, r->dport_hi);
}

/* ---- the same checks on a built config (runtime adds meet the file's customers) ---- */

static int check_pair(const struct transit_customer_config *a,
                      const struct transit_customer_config *b, char *err, size_t len)
{
	char x[PREFIX_STRLEN], y[PREFIX_STRLEN];

	if (a != b && strcmp(a->name, b->name) == 0)
		return snprintf(err, len, "two customers are named '%s'", a->name), -1;
	for (int i = 0; a != b && i < a->n_prefixes; i++)
		for (int j = 0; j < b->n_prefixes; j++)
			if (prefixes_overlap(&a->prefixes[i], &b->prefixes[j]))
				return snprintf(err, len,
				                "prefix %s of '%s' overlaps %s of '%s': a packet "
				                "must belong to one customer",
				                prefix_format(&a->prefixes[i], x, sizeof(x)),
				                a->name,
				                prefix_format(&b->prefixes[j], y, sizeof(y)),
				                b->name),
				       -1;
	for (int i = 0; i < a->n_tunnels; i++) {
		for (int j = a == b ? i + 1 : 0; j < b->n_tunnels; j++) {
			const struct transit_tunnel_config *t = &a->tunnels[i], *u = &b->tunnels[j];

			if (strcmp(t->name, u->name) == 0)
				return snprintf(err, len, "two tunnels are named '%s'", t->name),
				       -1;
			if (transit_ip_equal(&t->remote, &u->remote) &&
			    transit_ip_equal(&t->endpoint, &u->endpoint) &&
			    t->has_key == u->has_key && t->key == u->key)
				return snprintf(err, len,
				                "tunnels '%s' and '%s' have the same remote, "
				                "endpoint "
				                "and key: GRE could not tell them apart",
				                t->name, u->name),
				       -1;
		}
	}
	return 0;
}

int transit_config_check(const struct transit_config *tc, char *err, size_t len)
{
	for (int i = 0; i < tc->n_customers; i++) {
		const struct transit_customer_config *c = &tc->customers[i];

		for (int k = 0; k < c->n_tunnels; k++) {
			const struct transit_tunnel_config *t = &c->tunnels[k];

			if (t->endpoint.family != t->remote.family)
				return snprintf(err, len,
				                "tunnel '%s': its remote and endpoint are of "
				                "different "
				                "families; GRE runs over one",
				                t->name),
				       -1;
			if (!endpoint_listed(tc, &t->endpoint))
				return snprintf(err, len,
				                "tunnel '%s' uses an endpoint that is not in "
				                "transit.endpoints",
				                t->name),
				       -1;
		}
		for (int j = 0; j <= i; j++)
			if (check_pair(c, &tc->customers[j], err, len))
				return -1;
	}
	return 0;
}
