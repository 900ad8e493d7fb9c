// SPDX-License-Identifier: GPL-2.0
/*
 * Parses the `dos:` section:
 *
 *   dos:
 *     allow: [192.0.2.0/24]            # never touched by the DoS stage
 *     block: [198.51.100.0/24]         # dropped first thing
 *     block_files: [/etc/edged/block.txt]
 *     rules:                           # in order; the first match decides
 *       - name: ntp-reflection
 *         proto: udp
 *         src_port: 123
 *         length: 468-1500
 *         action: rate-limit
 *         rate: {pps: 1000, per: destination}
 *     ceilings:
 *       - {dst: 203.0.113.0/24, pps: 200k}
 *     syn_cookies:                     # edged/syncookie_config.c
 *       - {dst: 203.0.113.10/32, ports: "80,443"}
 *
 * Each rule compiles to one struct dos_rule; combinations that could never match (ports on
 * ICMP, a port match on later fragments, IPv4 source with IPv6 destination) are errors here
 * rather than silent no-ops in the data path.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_parse.h"
#include "dos_config.h"

/* Positions of what a rule states, for the checks that look at the rule as a whole. */
struct rule_ctx {
	struct dos_rule_config *rc;
	yaml_mark_t mark;
	const char *path;
	int family_from; /* which key fixed the family, for messages: 0 none */
	bool has_rate;
};

void dos_config_release(struct dos_config *dc)
{
	for (int l = 0; l < DOS_NLISTS; l++) {
		free(dc->lists[l].prefixes);
		for (int i = 0; i < dc->lists[l].n_files; i++)
			free(dc->lists[l].files[i]);
	}
	free(dc->rules);
	free(dc->ceilings);
	free(dc->syn_cookies);
	memset(dc, 0, sizeof(*dc));
}

/* ---- list files ---- */

int dos_list_file_read(const char *path, int (*fn)(const struct prefix *p, void *arg), void *arg,
                       char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int lineno = 0, ret = 0;

	if (!f) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		char *s = line, *end;
		struct prefix pfx;
		int e;

		lineno++;
		line[strcspn(line, "#\r\n")] = '\0';
		while (isspace((unsigned char)*s))
			s++;
		end = s + strlen(s);
		while (end > s && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*s)
			continue;
		e = prefix_parse(s, &pfx);
		if (e) {
			snprintf(err, errlen, "%s:%d: '%.60s' is not a prefix: %s", path, lineno, s,
			         addr_strerror(e));
			ret = -1;
		} else if (fn && fn(&pfx, arg)) {
			snprintf(err, errlen, "%s:%d: cannot add '%.60s'", path, lineno, s);
			ret = -1;
		}
	}
	fclose(f);
	return ret;
}

/* ---- lists ---- */

static void add_prefix(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dos_list_config *l = obj;
	struct prefix pfx, *grown;

	(void)i;
	if (cfg_prefix(p, item, path, &pfx))
		return;
	grown = realloc(l->prefixes, (l->n + 1) * sizeof(*grown));
	if (!grown) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	grown[l->n++] = pfx;
	l->prefixes = grown;
}

static void add_file(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dos_list_config *l = obj;
	const char *file = cfg_string(p, item, path);
	char err[512];

	(void)i;
	if (!file)
		return;
	if (l->n_files >= DOS_MAX_FILES) {
		cfg_err_at(p, item->start_mark, path, "at most %d files per list", DOS_MAX_FILES);
		return;
	}
	/* Validated now, with the rest of the file: a bad line must reject the whole config. */
	if (dos_list_file_read(file, NULL, NULL, err, sizeof(err))) {
		cfg_err_at(p, item->start_mark, path, "%s", err);
		return;
	}
	l->files[l->n_files] = strdup(file);
	if (l->files[l->n_files])
		l->n_files++;
}

static void on_allow(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_prefix, &((struct dos_config *)obj)->lists[DOS_LIST_ALLOW]);
}

static void on_block(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_prefix, &((struct dos_config *)obj)->lists[DOS_LIST_BLOCK]);
}

static void on_allow_files(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_file, &((struct dos_config *)obj)->lists[DOS_LIST_ALLOW]);
}

static void on_block_files(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_file, &((struct dos_config *)obj)->lists[DOS_LIST_BLOCK]);
}

/* ---- rules: match fields ---- */

static void on_rule_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct rule_ctx *rc = obj;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (!cfg_name_ok(s, DOS_NAME_MAX, "-_")) {
		cfg_err_at(
		        p, v->start_mark, path,
		        "'%.80s': a rule name is 1-%d characters of letters, digits, '-' and '_', "
		        "starting with a letter or digit",
		        s, DOS_NAME_MAX - 1);
		return;
	}
	snprintf(rc->rc->name, sizeof(rc->rc->name), "%s", s);
}

/* Sets the rule's family, or reports a clash with what fixed it before. */
static void set_family(struct parser *p, yaml_node_t *v, const char *path, struct rule_ctx *rc,
                       int family, const char *why)
{
	struct dos_rule *r = &rc->rc->rule;

	if ((r->match & DOS_M_L3) && r->l3 != family) {
		cfg_err_at(p, v->start_mark, path,
		           "%s is IPv%d but the rule is already IPv%d: a rule matches one family",
		           why, family, r->l3);
		return;
	}
	r->match |= DOS_M_L3;
	r->l3 = family;
}

static void on_family(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (strcmp(s, "ipv4") == 0)
		set_family(p, v, path, obj, 4, "family");
	else if (strcmp(s, "ipv6") == 0)
		set_family(p, v, path, obj, 6, "family");
	else
		cfg_err_at(p, v->start_mark, path, "'%.80s': use ipv4 or ipv6", s);
}

static const struct {
	const char *name;
	uint8_t proto;
	int family; /* 0: both */
} protocols[] = {
        {"tcp", 6, 0}, {"udp", 17, 0}, {"icmp", 1, 4}, {"icmpv6", 58, 6}, {"gre", 47, 0},
};

static void on_proto(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct rule_ctx *rc = obj;
	struct dos_rule *r = &rc->rc->rule;
	const char *s = cfg_string(p, v, path);
	uint64_t num;

	if (!s)
		return;
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		if (strcmp(s, protocols[i].name))
			continue;
		r->match |= DOS_M_L4;
		r->l4_proto = protocols[i].proto;
		if (protocols[i].family)
			set_family(p, v, path, rc, protocols[i].family, s);
		return;
	}
	if (cfg_u64(p, v, path, 0, 255, false, &num) == 0) {
		r->match |= DOS_M_L4;
		r->l4_proto = (uint8_t)num;
	}
}

static void prefix_match(struct parser *p, yaml_node_t *v, const char *path, struct rule_ctx *rc,
                         bool src)
{
	struct dos_rule *r = &rc->rc->rule;
	struct prefix pfx;

	if (cfg_prefix(p, v, path, &pfx))
		return;
	set_family(p, v, path, rc, pfx.family == AF_INET ? 4 : 6, src ? "src" : "dst");
	memcpy(src ? r->src : r->dst, &pfx.addr, pfx.family == AF_INET ? 4 : 16);
	if (src) {
		r->match |= DOS_M_SRC;
		r->src_len = pfx.len;
	} else {
		r->match |= DOS_M_DST;
		r->dst_len = pfx.len;
	}
}

static void on_src(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	prefix_match(p, v, path, obj, true);
}

static void on_dst(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	prefix_match(p, v, path, obj, false);
}

static void on_src_port(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	uint64_t lo, hi;

	if (cfg_range(p, v, path, 0, 65535, &lo, &hi))
		return;
	r->match |= DOS_M_SPORT;
	r->sport_min = lo;
	r->sport_max = hi;
}

static void on_dst_port(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	uint64_t lo, hi;

	if (cfg_range(p, v, path, 0, 65535, &lo, &hi))
		return;
	r->match |= DOS_M_DPORT;
	r->dport_min = lo;
	r->dport_max = hi;
}

static void on_ttl(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	uint64_t lo, hi;

	if (cfg_range(p, v, path, 0, 255, &lo, &hi))
		return;
	r->match |= DOS_M_TTL;
	r->ttl_min = lo;
	r->ttl_max = hi;
}

static void on_length(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	uint64_t lo, hi;

	if (cfg_range(p, v, path, 0, 65535, &lo, &hi))
		return;
	r->match |= DOS_M_LEN;
	r->len_min = lo;
	r->len_max = hi;
}

static const char *const tcp_flag_names[] = {"fin", "syn", "rst", "psh",
                                             "ack", "urg", "ece", "cwr"};

/* "syn !ack": flags named must be set, flags with '!' must be clear, the rest don't care. */
static void on_tcp_flags(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	const char *s = cfg_string(p, v, path);
	char buf[128], *tok, *save;
	uint8_t mask = 0, value = 0;

	if (!s)
		return;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		bool clear = tok[0] == '!';
		unsigned int bit = 0;

		while (bit < 8 && strcasecmp(tok + clear, tcp_flag_names[bit]))
			bit++;
		if (bit == 8) {
			cfg_err_at(
			        p, v->start_mark, path,
			        "'%.40s' is not a TCP flag: use fin syn rst psh ack urg ece cwr, "
			        "'!' before one that must be clear (e.g. \"syn !ack\")",
			        tok);
			return;
		}
		mask |= 1u << bit;
		value |= clear ? 0 : 1u << bit;
	}
	if (!mask) {
		cfg_err_at(p, v->start_mark, path, "no flags given (e.g. \"syn !ack\")");
		return;
	}
	r->match |= DOS_M_TCP_FLAGS;
	r->tcp_flags_mask = mask;
	r->tcp_flags_value = value;
}

static void on_fragment(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	static const char *const names[] = {[DOS_FRAG_NONE] = "none",
	                                    [DOS_FRAG_ANY_FRAGMENT] = "any",
	                                    [DOS_FRAG_FIRST] = "first",
	                                    [DOS_FRAG_LATER] = "later"};
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			r->match |= DOS_M_FRAG;
			r->frag = i;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': use any (every fragment), first, later (no L4 header) or none "
	           "(not fragmented)",
	           s);
}

/* "17 00 03 2a" or "1700032a" into BYTES; returns the count, or -1. */
static int parse_hex(const char *s, uint8_t *bytes, int max)
{
	int n = 0;

	while (*s) {
		unsigned int b;

		if (isspace((unsigned char)*s) || *s == ':') {
			s++;
			continue;
		}
		if (n == max || !isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) ||
		    sscanf(s, "%2x", &b) != 1)
			return -1;
		bytes[n++] = (uint8_t)b;
		s += 2;
	}
	return n;
}

struct payload_ctx {
	struct dos_rule *r;
	int mask_len;
};

static void on_payload_offset(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = ((struct payload_ctx *)obj)->r;
	uint64_t off;

	if (cfg_u64(p, v, path, 0, 9000, false, &off) == 0)
		r->payload_off = off;
}

static void on_payload_bytes(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = ((struct payload_ctx *)obj)->r;
	const char *s = cfg_string(p, v, path);
	int n;

	if (!s)
		return;
	n = parse_hex(s, r->payload, DOS_PAYLOAD_MAX);
	if (n <= 0) {
		cfg_err_at(p, v->start_mark, path,
		           "expected 1 to %d bytes in hex such as \"17 00 03 2a\", got '%.80s'",
		           DOS_PAYLOAD_MAX, s);
		return;
	}
	r->payload_len = n;
}

static void on_payload_mask(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct payload_ctx *pc = obj;
	const char *s = cfg_string(p, v, path);
	uint8_t mask[DOS_PAYLOAD_MAX];
	int n;

	if (!s)
		return;
	n = parse_hex(s, mask, DOS_PAYLOAD_MAX);
	if (n <= 0) {
		cfg_err_at(p, v->start_mark, path, "expected hex bytes such as \"ff ff 00 ff\"");
		return;
	}
	memcpy(pc->r->payload_mask, mask, n);
	pc->mask_len = n;
}

static const struct key_handler payload_keys[] = {
        {"offset", on_payload_offset, "bytes from the start of the L4 header: `offset: 8`"},
        {"bytes", on_payload_bytes, "the bytes to match, in hex: `bytes: \"17 00 03 2a\"`"},
        {"mask", on_payload_mask, NULL},
};

static void on_payload(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	struct payload_ctx pc = {.r = r};

	if (v->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping such as {offset: 8, bytes: \"17 00\"}, got %s",
		           cfg_kind(v));
		return;
	}
	memset(r->payload_mask, 0xff, sizeof(r->payload_mask));
	CFG_WALK(p, v, path, payload_keys, &pc);
	if (pc.mask_len && pc.mask_len != r->payload_len)
		cfg_err_at(p, v->start_mark, path,
		           "mask has %d bytes but bytes has %d: give both the same length",
		           pc.mask_len, r->payload_len);
	if (r->payload_len)
		r->match |= DOS_M_PAYLOAD;
}

/* ---- rules: action and rate ---- */

static void on_action(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	static const char *const names[] = {[DOS_ACT_DROP] = "drop",
	                                    [DOS_ACT_RATE_LIMIT] = "rate-limit",
	                                    [DOS_ACT_PASS] = "pass",
	                                    [DOS_ACT_COUNT] = "count"};
	struct dos_rule *r = &((struct rule_ctx *)obj)->rc->rule;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (unsigned int i = DOS_ACT_DROP; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			r->action = i;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': use drop, rate-limit, pass (skip later rules) or count (only "
	           "count matches, to try a rule on live traffic)",
	           s);
}

/* Rates go up to 100 Gbit/s and 1e9 packets/s: beyond any one server's uplinks. */
#define DOS_MAX_PPS  1000000000ULL
#define DOS_MAX_BITS 100000000000ULL

static void on_pps(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t n;

	if (cfg_u64(p, v, path, 1, DOS_MAX_PPS, true, &n) == 0)
		((struct dos_rule *)obj)->pps = n;
}

/* bps is bits per second, as link speeds are written; the data path counts bytes. */
static void on_bps(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t n;

	if (cfg_u64(p, v, path, 8, DOS_MAX_BITS, true, &n) == 0)
		((struct dos_rule *)obj)->bps = n / 8;
}

static void on_burst_packets(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t n;

	if (cfg_u64(p, v, path, 1, DOS_MAX_PPS, true, &n) == 0)
		((struct dos_rule *)obj)->burst_pkts = n;
}

static void on_burst_bytes(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t n;

	if (cfg_u64(p, v, path, 64, DOS_MAX_BITS / 8, true, &n) == 0)
		((struct dos_rule *)obj)->burst_bytes = n;
}

static void on_per(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	static const char *const names[] = {[DOS_RL_SRC] = "source",
	                                    [DOS_RL_SRC24] = "source24",
	                                    [DOS_RL_SRC64] = "source64",
	                                    [DOS_RL_DST] = "destination",
	                                    [DOS_RL_RULE] = "rule"};
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			((struct dos_rule *)obj)->rl_key = i;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s': use source (/32, /128), source24 (/24, IPv6 /48), source64 (IPv6 "
	           "/64), destination or rule (one bucket for all)",
	           s);
}

static const struct key_handler rate_keys[] = {
        {"pps", on_pps, NULL},
        {"bps", on_bps, NULL},
        {"burst_packets", on_burst_packets, NULL},
        {"burst_bytes", on_burst_bytes, NULL},
        {"per", on_per, NULL},
};

static void on_rate(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct rule_ctx *rc = obj;
	struct dos_rule *r = &rc->rc->rule;

	rc->has_rate = true;
	if (v->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping such as {pps: 1000, per: source}, got %s",
		           cfg_kind(v));
		return;
	}
	CFG_WALK(p, v, path, rate_keys, r);
	if (!r->pps && !r->bps)
		cfg_err_at(p, v->start_mark, path, "give pps, bps or both");
}

/* ---- rules: the whole rule ---- */

static const struct key_handler rule_keys[] = {
        {"name", on_rule_name, "a name for counters and captures: `name: ntp-reflection`"},
        {"family", on_family, NULL},
        {"proto", on_proto, NULL},
        {"src", on_src, NULL},
        {"dst", on_dst, NULL},
        {"src_port", on_src_port, NULL},
        {"dst_port", on_dst_port, NULL},
        {"tcp_flags", on_tcp_flags, NULL},
        {"ttl", on_ttl, NULL},
        {"length", on_length, NULL},
        {"fragment", on_fragment, NULL},
        {"payload", on_payload, NULL},
        {"action", on_action, "what to do: `action: drop` (or rate-limit, pass, count)"},
        {"rate", on_rate, NULL},
};

/* What a single key cannot see: combinations that would never match, or half a rate limit. */
static void check_rule(struct parser *p, struct rule_ctx *rc)
{
	const struct dos_rule *r = &rc->rc->rule;
	bool ports = r->match & (DOS_M_SPORT | DOS_M_DPORT);
	bool l4 = ports || (r->match & (DOS_M_TCP_FLAGS | DOS_M_PAYLOAD));

	if (ports && (!(r->match & DOS_M_L4) || (r->l4_proto != 6 && r->l4_proto != 17)))
		cfg_err_at(p, rc->mark, rc->path,
		           "a port match needs `proto: tcp` or `proto: udp`");
	if ((r->match & DOS_M_TCP_FLAGS) && (!(r->match & DOS_M_L4) || r->l4_proto != 6))
		cfg_err_at(p, rc->mark, rc->path, "tcp_flags needs `proto: tcp`");
	if (l4 && (r->match & DOS_M_FRAG) && r->frag == DOS_FRAG_LATER)
		cfg_err_at(p, rc->mark, rc->path,
		           "later fragments carry no L4 header: this rule's port, flag or payload "
		           "match could never hold (drop `fragment: later`, or the L4 match)");
	if (r->action == DOS_ACT_RATE_LIMIT && !rc->has_rate)
		cfg_err_at(p, rc->mark, rc->path,
		           "action rate-limit needs a rate, such as `rate: {pps: 1000, per: "
		           "source}`");
	if (r->action != DOS_ACT_RATE_LIMIT && rc->has_rate)
		cfg_err_at(p, rc->mark, rc->path, "a rate is only used with `action: rate-limit`");
	if (r->rl_key == DOS_RL_SRC64 && (r->match & DOS_M_L3) && r->l3 == 4)
		cfg_err_at(p, rc->mark, rc->path,
		           "per: source64 is for IPv6; an IPv4 rule uses source or source24");
}

static void check_rule_name_unique(struct parser *p, struct dos_config *dc, struct rule_ctx *rc)
{
	for (int i = 0; i < dc->n_rules; i++)
		if (rc->rc->name[0] && strcmp(dc->rules[i].name, rc->rc->name) == 0)
			cfg_err_at(p, rc->mark, rc->path,
			           "a rule named '%s' already exists (rules[%d]): names must be "
			           "unique, counters and captures use them",
			           rc->rc->name, i);
}

static void add_rule(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dos_config *dc = obj;
	struct dos_rule_config rcfg = {};
	struct rule_ctx rc = {.rc = &rcfg, .mark = item->start_mark, .path = path};
	struct dos_rule_config *grown;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a rule (a mapping with name, match fields and action), got %s",
		           cfg_kind(item));
		return;
	}
	if (dc->n_rules >= DOS_MAX_RULES - 1) { /* the last slot holds the end marker */
		cfg_err_at(p, item->start_mark, path, "at most %d rules", DOS_MAX_RULES - 1);
		return;
	}
	CFG_WALK(p, item, path, rule_keys, &rc);
	check_rule(p, &rc);
	check_rule_name_unique(p, dc, &rc);
	grown = realloc(dc->rules, (dc->n_rules + 1) * sizeof(*grown));
	if (!grown)
		return;
	grown[dc->n_rules++] = rcfg;
	dc->rules = grown;
}

static void on_rules(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_rule, obj);
}

/* ---- ceilings ---- */

static void on_ceiling_dst(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_prefix(p, v, path, &((struct dos_ceiling_config *)obj)->dst);
}

static void on_ceiling_pps(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_u64(p, v, path, 1, DOS_MAX_PPS, true, &((struct dos_ceiling_config *)obj)->pps);
}

static void on_ceiling_burst(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_u64(p, v, path, 1, DOS_MAX_PPS, true, &((struct dos_ceiling_config *)obj)->burst);
}

static const struct key_handler ceiling_keys[] = {
        {"dst", on_ceiling_dst, "the destination prefix: `dst: 203.0.113.0/24`"},
        {"pps", on_ceiling_pps, "packets per second per destination address: `pps: 200k`"},
        {"burst", on_ceiling_burst, NULL},
};

static void add_ceiling(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct dos_config *dc = obj;
	struct dos_ceiling_config c = {};
	struct dos_ceiling_config *grown;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a mapping such as {dst: 203.0.113.0/24, pps: 200k}, got %s",
		           cfg_kind(item));
		return;
	}
	if (dc->n_ceilings >= DOS_MAX_DEST_PREFIXES) {
		cfg_err_at(p, item->start_mark, path, "at most %d ceilings", DOS_MAX_DEST_PREFIXES);
		return;
	}
	CFG_WALK(p, item, path, ceiling_keys, &c);
	grown = realloc(dc->ceilings, (dc->n_ceilings + 1) * sizeof(*grown));
	if (!grown)
		return;
	grown[dc->n_ceilings++] = c;
	dc->ceilings = grown;
}

static void on_ceilings(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_ceiling, obj);
}

/* ---- the section ---- */

static void on_dos_enabled(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	(void)obj;
	cfg_bool(p, v, path, &p->cfg->fn[FN_DOS].enabled);
}

static const struct key_handler dos_keys[] = {
        {"enabled", on_dos_enabled, NULL},
        {"allow", on_allow, NULL},
        {"block", on_block, NULL},
        {"allow_files", on_allow_files, NULL},
        {"block_files", on_block_files, NULL},
        {"rules", on_rules, NULL},
        {"ceilings", on_ceilings, NULL},
        {"syn_cookies", dos_syncookies_parse, NULL}, /* edged/syncookie_config.c */
};

void dos_config_parse(struct parser *p, yaml_node_t *v, const char *path)
{
	CFG_WALK(p, v, path, dos_keys, &p->cfg->dos);
}
