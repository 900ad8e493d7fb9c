// SPDX-License-Identifier: GPL-2.0
/*
 * Loads edged's YAML configuration with libyaml's document API, so that every node keeps its
 * position for messages. Each mapping of the schema is a table of {key, handler}; cfg_walk()
 * dispatches through it and reports unknown, duplicate and missing keys the same way everywhere.
 * Errors are collected rather than fatal: a user fixing a file sees all of its problems at once.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "addr.h"
#include "config.h"
#include "config_parse.h"

/* A configuration is a few dozen lines; a file of a megabyte is the wrong file. */
#define CONFIG_FILE_MAX (1 << 20)
/* Keys farther than this from every allowed key get the list of keys, not a guess. Short keys
 * allow one edit only: "foo" is two edits from "dos" but nobody meant it. */
#define SUGGEST_MAX_DISTANCE 2
#define SUGGEST_SHORT_KEY    4

static const char *const function_names[FN_COUNT] = {
        [FN_DOS] = "dos",       [FN_LB] = "lb",           [FN_DISPATCH] = "dispatch",
        [FN_EGRESS] = "egress", [FN_TRANSIT] = "transit",
};

static const char *const xdp_mode_names[] = {
        [XDP_MODE_NATIVE] = "native",
        [XDP_MODE_GENERIC] = "generic",
};

const char *config_function_name(enum edged_function fn)
{
	return (unsigned int)fn < FN_COUNT ? function_names[fn] : "?";
}

const char *config_xdp_mode_name(enum xdp_mode mode)
{
	return (unsigned int)mode <= XDP_MODE_GENERIC ? xdp_mode_names[mode] : "?";
}

/* ---- errors ---- */

void __attribute__((format(printf, 2, 3))) cfg_push_error(struct parser *p, const char *fmt, ...)
{
	struct config_errors *errs = p->errs;
	char *msg, **msgs;
	va_list ap;
	int n;

	p->n_errors++;
	if (!errs)
		return;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return; /* out of memory: the load still fails, through n_errors */
	msgs = realloc(errs->msgs, (errs->n + 1) * sizeof(*msgs));
	if (!msgs) {
		free(msg);
		return;
	}
	msgs[errs->n++] = msg;
	errs->msgs = msgs;
}

/* "FILE:LINE:COL: PATH: message", with the 0-based MARK printed 1-based as editors expect. */
void __attribute__((format(printf, 4, 5)))
cfg_err_at(struct parser *p, yaml_mark_t mark, const char *path, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->n_errors++;
		return;
	}
	cfg_push_error(p, "%s:%zu:%zu: %s%s%s", p->name, mark.line + 1, mark.column + 1, path,
	               *path ? ": " : "", msg);
	free(msg);
}

void config_errors_free(struct config_errors *errs)
{
	if (!errs)
		return;
	for (int i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

/* ---- nodes ---- */

yaml_node_t *cfg_node(struct parser *p, int index)
{
	return yaml_document_get_node(p->doc, index);
}

const char *cfg_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* `key:`, `key: ~` and `key: null` all mean "nothing"; a quoted "" is a string. */
bool cfg_name_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max || !isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

void *cfg_grow(void *arr_ptr, int *n, size_t size)
{
	void **arr = arr_ptr;
	char *g = realloc(*arr, (*n + 1) * size);

	if (!g)
		return NULL;
	memset(g + *n * size, 0, size);
	*arr = g;
	return g + (*n)++ * size;
}

bool cfg_is_null(const yaml_node_t *n)
{
	static const char *const spellings[] = {"", "~", "null", "Null", "NULL"};

	if (n->type != YAML_SCALAR_NODE)
		return false;
	if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
		return true;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
		if (strcmp(cfg_scalar(n), spellings[i]) == 0)
			return true;
	return false;
}

const char *cfg_kind(const yaml_node_t *n)
{
	if (cfg_is_null(n))
		return "an empty value";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* The string value of N, or NULL after reporting why it is not one. */
const char *cfg_string(struct parser *p, yaml_node_t *n, const char *path)
{
	if (n->type != YAML_SCALAR_NODE || cfg_is_null(n)) {
		cfg_err_at(p, n->start_mark, path, "expected a string, got %s", cfg_kind(n));
		return NULL;
	}
	if (strlen(cfg_scalar(n)) != n->data.scalar.length) {
		cfg_err_at(p, n->start_mark, path, "the string contains a NUL character");
		return NULL;
	}
	return cfg_scalar(n);
}

/* true/false/yes/no, unquoted: a quoted "true" is a string in YAML, and we say so. */
int cfg_bool(struct parser *p, yaml_node_t *n, const char *path, bool *out)
{
	const char *s = n->type == YAML_SCALAR_NODE && !cfg_is_null(n) ? cfg_scalar(n) : NULL;
	bool plain = s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

	if (plain && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)) {
		*out = true;
		return 0;
	}
	if (plain && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)) {
		*out = false;
		return 0;
	}
	if (!s)
		cfg_err_at(p, n->start_mark, path, "expected true or false, got %s", cfg_kind(n));
	else if (!plain)
		cfg_err_at(p, n->start_mark, path,
		           "expected true or false, got the quoted string \"%.80s\" (remove the "
		           "quotes)",
		           s);
	else
		cfg_err_at(p, n->start_mark, path,
		           "expected true or false (or yes/no), got '%.80s'", s);
	return -1;
}

/* Splits "123", "10k", "2M" into a number; false on anything else. */
static bool parse_u64(const char *s, bool si, uint64_t *out)
{
	static const struct {
		char suffix;
		uint64_t mult;
	} suffixes[] = {{'k', 1000ULL}, {'M', 1000000ULL}, {'G', 1000000000ULL}};
	unsigned long long v;
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (*end && si && !end[1]) {
		for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
			if (*end != suffixes[i].suffix)
				continue;
			if (v > UINT64_MAX / suffixes[i].mult)
				return false;
			v *= suffixes[i].mult;
			end++;
			break;
		}
	}
	*out = v;
	return *end == '\0';
}

int cfg_u64(struct parser *p, yaml_node_t *n, const char *path, uint64_t min, uint64_t max, bool si,
            uint64_t *out)
{
	const char *s = cfg_string(p, n, path);
	uint64_t v;

	if (!s)
		return -1;
	if (!parse_u64(s, si, &v)) {
		cfg_err_at(p, n->start_mark, path, "expected a whole number%s, got '%.80s'",
		           si ? " (suffixes k, M, G allowed)" : "", s);
		return -1;
	}
	if (v < min || v > max) {
		cfg_err_at(p, n->start_mark, path, "%llu is out of range: %llu to %llu",
		           (unsigned long long)v, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int cfg_range(struct parser *p, yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
              uint64_t *lo, uint64_t *hi)
{
	const char *s = cfg_string(p, n, path);
	char first[32];
	const char *dash;

	if (!s)
		return -1;
	dash = strchr(s, '-');
	if (!dash) {
		if (!parse_u64(s, false, lo))
			goto bad;
		*hi = *lo;
	} else {
		if ((size_t)(dash - s) >= sizeof(first))
			goto bad;
		memcpy(first, s, dash - s);
		first[dash - s] = '\0';
		if (!parse_u64(first, false, lo) || !parse_u64(dash + 1, false, hi))
			goto bad;
	}
	if (*lo > *hi) {
		cfg_err_at(p, n->start_mark, path,
		           "range '%.80s' runs backwards: write it low-high", s);
		return -1;
	}
	if (*lo < min || *hi > max) {
		cfg_err_at(p, n->start_mark, path, "'%.80s' is out of range: %llu to %llu", s,
		           (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
bad:
	cfg_err_at(p, n->start_mark, path,
	           "expected a number or a range such as 1000-2000, got '%.80s'", s);
	return -1;
}

int cfg_prefix(struct parser *p, yaml_node_t *n, const char *path, struct prefix *out)
{
	const char *s = cfg_string(p, n, path);
	char fixed[PREFIX_STRLEN];
	int err;

	if (!s)
		return -1;
	err = prefix_parse(s, out);
	if (!err)
		return 0;
	if (err == ADDR_ERR_HOST_BITS)
		cfg_err_at(p, n->start_mark, path, "'%.80s': host bits set: did you mean %s?", s,
		           prefix_format(out, fixed, sizeof(fixed)));
	else
		cfg_err_at(p, n->start_mark, path, "'%.80s' is not a prefix: %s", s,
		           addr_strerror(err));
	return -1;
}

void cfg_each(struct parser *p, yaml_node_t *v, const char *path,
              void (*fn)(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj),
              void *obj)
{
	int i = 0;

	if (v->type != YAML_SEQUENCE_NODE) {
		cfg_err_at(p, v->start_mark, path, "expected a list, got %s", cfg_kind(v));
		return;
	}
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++, i++) {
		char child[KEY_PATH_MAX];

		snprintf(child, sizeof(child), "%s[%d]", path, i);
		fn(p, cfg_node(p, *it), child, i, obj);
	}
}

/* ---- key dispatch ---- */

/* Optimal string alignment distance (a swap of two letters counts one), ignoring case, for
 * "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[3][KEY_PATH_MAX + 1];

	if (la > KEY_PATH_MAX || lb > KEY_PATH_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *row = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower(a[i - 1]) != tolower(b[j - 1]),
			       v = prev[j - 1] + cost;

			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			if (i > 1 && j > 1 && tolower(a[i - 1]) == tolower(b[j - 2]) &&
			    tolower(a[i - 2]) == tolower(b[j - 1]) && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			row[j] = v;
		}
	}
	return d[la % 3][lb];
}

static void unknown_key(struct parser *p, yaml_node_t *k, const char *path,
                        const struct key_handler *keys, size_t n_keys)
{
	const char *key = cfg_scalar(k), *best = NULL;
	size_t best_d = SIZE_MAX;
	char allowed[512] = "";

	for (size_t i = 0; i < n_keys; i++) {
		size_t d = edit_distance(key, keys[i].key);
		size_t limit = strlen(keys[i].key) <= SUGGEST_SHORT_KEY ? 1 : SUGGEST_MAX_DISTANCE;

		if (d <= limit && d < best_d) {
			best = keys[i].key;
			best_d = d;
		}
	}
	if (best) {
		cfg_err_at(p, k->start_mark, path, "unknown key '%.80s': did you mean '%s'?", key,
		           best);
		return;
	}
	for (size_t i = 0; i < n_keys; i++) {
		size_t used = strlen(allowed);

		snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "",
		         keys[i].key);
	}
	cfg_err_at(p, k->start_mark, path, "unknown key '%.80s' (allowed keys: %s)", key, allowed);
}

/* Reports PAIR's key when an earlier pair of MAP has the same one. */
static bool duplicate_key(struct parser *p, yaml_node_t *map, yaml_node_pair_t *pair,
                          const char *path)
{
	yaml_node_t *k = cfg_node(p, pair->key);

	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
		yaml_node_t *qk = cfg_node(p, q->key);

		if (qk->type != YAML_SCALAR_NODE || strcmp(cfg_scalar(qk), cfg_scalar(k)) != 0)
			continue;
		cfg_err_at(p, k->start_mark, path, "duplicate key '%.80s' (first at %zu:%zu)",
		           cfg_scalar(k), qk->start_mark.line + 1, qk->start_mark.column + 1);
		return true;
	}
	return false;
}

static const struct key_handler *find_key(const struct key_handler *keys, size_t n_keys,
                                          const char *key)
{
	for (size_t i = 0; i < n_keys; i++)
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

/* Dispatches every pair of MAP to its handler in KEYS, then reports the required keys that
 * were not there at the position of MAP itself. */
void cfg_walk(struct parser *p, yaml_node_t *map, const char *path, const struct key_handler *keys,
              size_t n_keys, void *obj)
{
	uint64_t seen = 0;

	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = cfg_node(p, pair->key), *v = cfg_node(p, pair->value);
		const struct key_handler *h;
		char child[KEY_PATH_MAX];

		if (k->type != YAML_SCALAR_NODE) {
			cfg_err_at(p, k->start_mark, path, "expected a key name, got %s",
			           cfg_kind(k));
			continue;
		}
		if (duplicate_key(p, map, pair, path))
			continue;
		h = find_key(keys, n_keys, cfg_scalar(k));
		if (!h) {
			unknown_key(p, k, path, keys, n_keys);
			continue;
		}
		seen |= 1ULL << (h - keys);
		if (snprintf(child, sizeof(child), "%s%s%s", path, *path ? "." : "", h->key) >=
		    (int)sizeof(child))
			child[sizeof(child) - 1] = '\0'; /* a cut path still points the way */
		h->fn(p, v, child, obj);
	}
	for (size_t i = 0; i < n_keys; i++)
		if (keys[i].required && !(seen & (1ULL << i)))
			cfg_err_at(p, map->start_mark, path, "missing required key '%s' (%s)",
			           keys[i].key, keys[i].required);
}

/* ---- instance, control_socket, log_level ---- */

static bool instance_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* "the character 'E'", or "the byte 0x01" for what a terminal would not show. */
static const char *char_name(char c, char *buf, size_t size)
{
	if (isprint((unsigned char)c))
		snprintf(buf, size, "the character '%c'", c);
	else
		snprintf(buf, size, "the byte 0x%02x", (unsigned char)c);
	return buf;
}

static void on_instance(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct edged_config *cfg = obj;
	const char *s = cfg_string(p, v, path);
	char shown[32];
	size_t len, i;

	if (!s)
		return;
	len = strlen(s);
	for (i = 0; i < len && instance_char(s[i]); i++)
		;
	if (len == 0)
		cfg_err_at(p, v->start_mark, path, "must not be empty (a name such as edge1)");
	else if (len >= CONFIG_INSTANCE_MAX)
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s' is %zu characters long, the maximum is %d", s, len,
		           CONFIG_INSTANCE_MAX - 1);
	else if (i < len)
		cfg_err_at(
		        p, v->start_mark, path,
		        "'%s' has %s at position %zu; only a-z, 0-9, '_' and '-' are allowed (it "
		        "names /sys/fs/bpf/edged/<instance>/)",
		        s, char_name(s[i], shown, sizeof(shown)), i + 1);
	else if (s[0] == '_' || s[0] == '-')
		cfg_err_at(p, v->start_mark, path, "'%s' must start with a letter or digit", s);
	else
		memcpy(cfg->instance, s, len + 1);
}

static void on_control_socket(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct edged_config *cfg = obj;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (s[0] != '/')
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s' is a relative path; give an absolute one such as "
		           "/run/edged/edge1.sock",
		           s);
	else if (strlen(s) >= CONFIG_SOCK_PATH_MAX)
		cfg_err_at(p, v->start_mark, path,
		           "the path is %zu characters long; a Unix socket path holds at most %zu",
		           strlen(s), CONFIG_SOCK_PATH_MAX - 1);
	else
		memcpy(cfg->control_socket, s, strlen(s) + 1);
	p->have_control_socket = true;
}

static void on_log_level(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct edged_config *cfg = obj;
	const char *s = cfg_string(p, v, path);
	int level;

	if (!s)
		return;
	level = log_level_parse(s);
	if (level < 0)
		cfg_err_at(p, v->start_mark, path,
		           "'%.80s' is not a log level; use error, warn, info or debug", s);
	else
		cfg->log_level = level;
}

/* ---- uplinks ---- */

/* The kernel's dev_valid_name(): what `ip link add name X` would accept. */
static const char *ifname_problem(const char *s)
{
	if (!*s)
		return "must not be empty";
	if (strlen(s) >= IFNAMSIZ)
		return "is too long: interface names have at most 15 characters";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "is not an interface name";
	if (strpbrk(s, "/: \t\n\r\v\f"))
		return "is not an interface name: it contains '/', ':' or whitespace";
	return NULL;
}

/* Reports an earlier uplink of the same name; they cannot both carry the program. */
static bool duplicate_uplink(struct parser *p, yaml_node_t *v, const char *path, int index)
{
	const char *name = cfg_scalar(v);

	for (int i = 0; i < index; i++) {
		if (strcmp(p->cfg->uplinks[i].name, name) != 0)
			continue;
		cfg_err_at(p, v->start_mark, path, "duplicate uplink '%s' (first at %zu:%zu)", name,
		           p->uplink_marks[i].line + 1, p->uplink_marks[i].column + 1);
		return true;
	}
	return false;
}

static void check_interface(struct parser *p, yaml_node_t *v, const char *path, const char *name)
{
	if (!(p->flags & CONFIG_CHECK_INTERFACES) || if_nametoindex(name))
		return;
	if (errno == ENODEV)
		cfg_err_at(p, v->start_mark, path,
		           "no interface '%s' in this network namespace (see `ip link`)", name);
	else
		cfg_err_at(p, v->start_mark, path, "cannot look up interface '%s': %s", name,
		           strerror(errno));
}

static void on_uplink_name(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct uplink_config *u = obj;
	int index = u - p->cfg->uplinks;
	const char *s = cfg_string(p, v, path), *why;

	if (!s)
		return;
	why = ifname_problem(s);
	if (why) {
		cfg_err_at(p, v->start_mark, path, "'%.80s' %s", s, why);
		return;
	}
	if (duplicate_uplink(p, v, path, index))
		return;
	memcpy(u->name, s, strlen(s) + 1);
	p->uplink_marks[index] = v->start_mark;
	check_interface(p, v, path, s);
}

static void on_xdp_mode(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct uplink_config *u = obj;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	for (size_t m = 0; m < sizeof(xdp_mode_names) / sizeof(xdp_mode_names[0]); m++) {
		if (strcmp(s, xdp_mode_names[m]) == 0) {
			u->mode = m;
			return;
		}
	}
	cfg_err_at(p, v->start_mark, path,
	           "'%.80s' is not an XDP mode; use native (driver) or generic (skb)", s);
}

static const struct key_handler uplink_keys[] = {
        {"name", on_uplink_name, "the interface, such as `name: eth0`"},
        {"xdp_mode", on_xdp_mode, NULL},
};

static void parse_uplink(struct parser *p, yaml_node_t *item, int index)
{
	struct uplink_config *u = &p->cfg->uplinks[index];
	char path[KEY_PATH_MAX], name_path[KEY_PATH_MAX];

	snprintf(path, sizeof(path), "uplinks[%d]", index);
	snprintf(name_path, sizeof(name_path), "uplinks[%d].name", index);
	u->mode = XDP_MODE_NATIVE;
	if (item->type == YAML_SCALAR_NODE && !cfg_is_null(item))
		on_uplink_name(p, item, name_path, u); /* `- eth1` is short for `- name: eth1` */
	else if (item->type == YAML_MAPPING_NODE)
		CFG_WALK(p, item, path, uplink_keys, u);
	else
		cfg_err_at(p, item->start_mark, path,
		           "expected an interface name or a mapping with 'name', got %s",
		           cfg_kind(item));
}

static void on_uplinks(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct edged_config *cfg = obj;
	yaml_node_item_t *items;
	int n;

	if (v->type != YAML_SEQUENCE_NODE) {
		cfg_err_at(p, v->start_mark, path, "expected a list, got %s", cfg_kind(v));
		return;
	}
	items = v->data.sequence.items.start;
	n = v->data.sequence.items.top - items;
	if (n == 0)
		cfg_err_at(p, v->start_mark, path,
		           "the list is empty; name at least one interface");
	if (n > CONFIG_MAX_UPLINKS) {
		cfg_err_at(p, cfg_node(p, items[CONFIG_MAX_UPLINKS])->start_mark, path,
		           "%d entries, out of range: the maximum is %d (CONFIG_MAX_UPLINKS)", n,
		           CONFIG_MAX_UPLINKS);
		n = CONFIG_MAX_UPLINKS;
	}
	for (int i = 0; i < n; i++)
		parse_uplink(p, cfg_node(p, items[i]), i);
	cfg->n_uplinks = n;
}

/* ---- metrics ---- */

static void on_listen(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct metrics_config *m = obj;
	const char *s = cfg_string(p, v, path);
	int err;

	if (!s)
		return;
	if (strcmp(s, "off") == 0) {
		m->enabled = false;
		snprintf(m->listen, sizeof(m->listen), "%s", s);
		return;
	}
	err = addr_parse_listen(s, &m->addr, &m->addrlen);
	if (err) {
		cfg_err_at(p, v->start_mark, path, "'%.80s': %s%s", s, addr_strerror(err),
		           err == ADDR_ERR_SYNTAX ? "; or off to turn metrics off" : "");
		return;
	}
	m->enabled = true;
	snprintf(m->listen, sizeof(m->listen), "%s", s);
}

static const struct key_handler metrics_keys[] = {
        {"listen", on_listen, NULL},
};

static void on_metrics(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct edged_config *cfg = obj;

	if (v->type == YAML_MAPPING_NODE)
		CFG_WALK(p, v, path, metrics_keys, &cfg->metrics);
	else if (!cfg_is_null(v))
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping such as `metrics: {listen: 127.0.0.1:9420}`, got %s "
		           "(to turn metrics off: `metrics: {listen: off}`)",
		           cfg_kind(v));
}

/* ---- function sections: dos, lb, dispatch, egress, transit ---- */

static void on_enabled(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct function_config *fc = obj;

	cfg_bool(p, v, path, &fc->enabled);
}

static const struct key_handler function_keys[] = {
        {"enabled", on_enabled, NULL},
};

/* Functions whose section has settings of its own parse it in their module (each handles
 * `enabled` too); the others accept only `enabled` so far. */
static void (*const section_parsers[FN_COUNT])(struct parser *p, yaml_node_t *v,
                                               const char *path) = {
        [FN_DOS] = dos_config_parse,           [FN_LB] = lb_config_parse,
        [FN_DISPATCH] = dispatch_config_parse, [FN_EGRESS] = egress_config_parse,
        [FN_TRANSIT] = transit_config_parse,
};

/* Sections that cannot be on without settings: what a bare `egress:` is missing. */
static const char *const section_needs[FN_COUNT] = {
        [FN_EGRESS] = "interface, private_key_file, address and snat (docs/config.md)",
};

/* The section's presence turns the function on: `dos:`, `dos: {}` or `dos: {enabled: true}`. */
static void on_function(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct edged_config *cfg = obj;
	struct function_config *fc = NULL;

	for (int fn = 0; fn < FN_COUNT; fn++)
		if (strcmp(path, function_names[fn]) == 0)
			fc = &cfg->fn[fn];
	if (!fc)
		return; /* not reached: the table and function_names list the same names */
	fc->enabled = true;
	if (cfg_is_null(v) && section_needs[fc - cfg->fn])
		cfg_err_at(p, v->start_mark, path, "the section has required settings: %s",
		           section_needs[fc - cfg->fn]);
	else if (v->type == YAML_MAPPING_NODE && section_parsers[fc - cfg->fn])
		section_parsers[fc - cfg->fn](p, v, path);
	else if (v->type == YAML_MAPPING_NODE)
		CFG_WALK(p, v, path, function_keys, fc);
	else if (!cfg_is_null(v))
		cfg_err_at(p, v->start_mark, path,
		           "expected a mapping (or nothing) to turn %s on, got %s; to turn it off, "
		           "remove the section or write `%s: {enabled: false}`",
		           path, cfg_kind(v), path);
}

/* ---- the document ---- */

static const struct key_handler top_keys[] = {
        {"instance", on_instance, "a name such as `instance: edge1`"},
        {"uplinks", on_uplinks, "the interfaces to attach to, such as `uplinks: [eth0]`"},
        {"control_socket", on_control_socket, NULL},
        {"metrics", on_metrics, NULL},
        {"log_level", on_log_level, NULL},
        {"dos", on_function, NULL},
        {"lb", on_function, NULL},
        {"dispatch", on_function, NULL},
        {"egress", on_function, NULL},
        {"transit", on_function, NULL},
};

/* The reader reports a byte offset only (bad UTF-8, control characters): count it out. */
static yaml_mark_t mark_of_offset(const struct parser *p, size_t offset)
{
	yaml_mark_t m = {.index = offset};

	for (size_t i = 0; i < offset && i < p->len; i++) {
		if (p->text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

static void syntax_error(struct parser *p, const yaml_parser_t *yp)
{
	yaml_mark_t at = yp->problem_mark;

	if (yp->error == YAML_MEMORY_ERROR) {
		cfg_push_error(p, "%s: out of memory while parsing", p->name);
		return;
	}
	if (yp->error == YAML_READER_ERROR) {
		at = mark_of_offset(p, yp->problem_offset);
		cfg_err_at(p, at, "", "YAML syntax error: %s (byte 0x%02x)", yp->problem,
		           (unsigned int)yp->problem_value & 0xff);
		return;
	}
	if (yp->context)
		cfg_err_at(p, at, "", "YAML syntax error: %s (%s at %zu:%zu)", yp->problem,
		           yp->context, yp->context_mark.line + 1, yp->context_mark.column + 1);
	else
		cfg_err_at(p, at, "", "YAML syntax error: %s", yp->problem ? yp->problem : "?");
}

static void check_root(struct parser *p, yaml_node_t *root)
{
	yaml_mark_t start = {0};

	if (!root || cfg_is_null(root))
		cfg_err_at(
		        p, start, "",
		        "the configuration is empty; it needs at least `instance:` and `uplinks:`");
	else if (root->type != YAML_MAPPING_NODE)
		cfg_err_at(p, root->start_mark, "",
		           "expected a mapping of settings (instance:, uplinks:, ...) at the top "
		           "level, got %s",
		           cfg_kind(root));
	else
		CFG_WALK(p, root, "", top_keys, p->cfg);
}

/* A second `---` document would be silently ignored by a lesser loader; we say so. */
static void check_single_document(struct parser *p, yaml_parser_t *yp)
{
	yaml_document_t next;
	yaml_node_t *root;

	if (!yaml_parser_load(yp, &next)) {
		syntax_error(p, yp);
		return;
	}
	root = yaml_document_get_root_node(&next);
	if (root)
		cfg_err_at(p, next.start_mark, "",
		           "a second YAML document; the configuration is one document (remove the "
		           "'---' line)");
	yaml_document_delete(&next);
}

static void parse_document(struct parser *p)
{
	yaml_parser_t yp;
	yaml_document_t doc;

	if (!yaml_parser_initialize(&yp)) {
		cfg_push_error(p, "%s: out of memory while parsing", p->name);
		return;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)p->text, p->len);
	if (!yaml_parser_load(&yp, &doc)) {
		syntax_error(p, &yp);
	} else {
		p->doc = &doc;
		check_root(p, yaml_document_get_root_node(&doc));
		if (yaml_document_get_root_node(&doc))
			check_single_document(p, &yp);
		yaml_document_delete(&doc);
		p->doc = NULL;
	}
	yaml_parser_delete(&yp);
}

void config_release(struct edged_config *cfg)
{
	dos_config_release(&cfg->dos);
	lb_config_release(&cfg->lb);
	dispatch_config_release(&cfg->dispatch);
	egress_config_release(&cfg->egress);
	transit_config_release(&cfg->transit);
}

static void set_defaults(struct edged_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LVL_INFO;
	cfg->metrics.enabled = true;
	snprintf(cfg->metrics.listen, sizeof(cfg->metrics.listen), "%s",
	         CONFIG_DEFAULT_METRICS_LISTEN);
	addr_parse_listen(CONFIG_DEFAULT_METRICS_LISTEN, &cfg->metrics.addr, &cfg->metrics.addrlen);
	/* Functions stay off (zeroed): a section absent from the file is a function not run. */
}

static int load_buffer(const char *name, const char *text, size_t len, unsigned int flags,
                       struct edged_config *cfg, struct config_errors *errs)
{
	struct parser p = {
	        .name = name,
	        .text = text,
	        .len = len,
	        .flags = flags,
	        .cfg = cfg,
	        .errs = errs,
	};

	set_defaults(cfg);
	if (strlen(name) >= sizeof(cfg->path)) {
		cfg_push_error(&p, "%.80s...: the path is longer than %d characters", name,
		               CONFIG_PATH_MAX - 1);
		return -1;
	}
	memcpy(cfg->path, name, strlen(name) + 1);
	parse_document(&p);
	if (p.n_errors) {
		config_release(cfg);
		return -1;
	}
	if (!p.have_control_socket)
		snprintf(cfg->control_socket, sizeof(cfg->control_socket),
		         CONFIG_DEFAULT_CONTROL_SOCKET, cfg->instance);
	return 0;
}

int config_load_string(const char *name, const char *text, unsigned int flags,
                       struct edged_config *cfg, struct config_errors *errs)
{
	if (errs)
		*errs = (struct config_errors){0};
	return load_buffer(name, text, strlen(text), flags, cfg, errs);
}

/* The whole of PATH into *TEXT (malloc'd); returns 0 or an errno value. */
static int read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	int err = 0;

	if (!f)
		return errno;
	errno = 0;
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return ENOMEM;
	}
	*len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f))
		err = errno ? errno : EIO;
	else if (*len > CONFIG_FILE_MAX)
		err = EFBIG;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	return 0;
}

int config_load(const char *path, unsigned int flags, struct edged_config *cfg,
                struct config_errors *errs)
{
	struct parser p = {.name = path, .errs = errs};
	char *text = NULL;
	size_t len = 0;
	int err, ret;

	if (errs)
		*errs = (struct config_errors){0};
	err = read_file(path, &text, &len);
	if (err == EFBIG) {
		cfg_push_error(&p,
		               "%s: cannot read: larger than %d bytes; is this the configuration?",
		               path, CONFIG_FILE_MAX);
		return -1;
	}
	if (err) {
		cfg_push_error(&p, "%s: cannot read: %s", path, strerror(err));
		return -1;
	}
	ret = load_buffer(path, text, len, flags, cfg, errs);
	free(text);
	return ret;
}
