// SPDX-License-Identifier: GPL-2.0
/*
 * Parses `dos.syn_cookies`, a list of protected destinations:
 *
 *   syn_cookies:
 *     - dst: 203.0.113.10/32        # required: a prefix (a bare address is /32 or /128)
 *       ports: "80,443,8000-8100"   # or [80, 443], or 8080; absent: every TCP port
 *       mode: always                # always (default) or auto
 *       auto_pps: 10k               # auto: SYN/s per destination address left to synproxy
 *       mss: 1460                   # the SYN-ACK's MSS; default 1460 (IPv4) / 1440 (IPv6)
 *
 * Destinations may not overlap one another: the XDP stage finds a destination's policy by
 * longest prefix and nft synproxy by set membership, and the two would disagree on which
 * entry's ports apply to an address inside both. Ceilings may overlap them freely.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_parse.h"
#include "dos_config.h"
#include "syncookie.h"
#include "syncookie_config.h"

/* Most port ranges one `ports` value may list before merging. */
#define PORT_TOKENS_MAX 64

struct port_list {
	uint16_t lo[PORT_TOKENS_MAX], hi[PORT_TOKENS_MAX];
	int n;
};

bool prefix_contains(const struct prefix *outer, const struct prefix *inner)
{
	const uint8_t *a = (const uint8_t *)&outer->addr, *b = (const uint8_t *)&inner->addr;
	int bits = outer->len;

	if (outer->family != inner->family || outer->len > inner->len)
		return false;
	if (memcmp(a, b, bits / 8))
		return false;
	return bits % 8 == 0 || !((a[bits / 8] ^ b[bits / 8]) & (0xff00 >> (bits % 8)));
}

uint16_t syncookie_mss(const struct dos_syncookie_config *c)
{
	if (c->mss)
		return c->mss;
	return c->dst.family == AF_INET ? SYNCOOKIE_MSS4 : SYNCOOKIE_MSS6;
}

/* ---- ports ---- */

/* "80" or "8000-8100" (1-65535) into L; 0, or -1 with nothing added. */
static int port_token(const char *tok, struct port_list *l)
{
	unsigned long lo, hi;
	char *end;

	if (!isdigit((unsigned char)*tok))
		return -1;
	lo = strtoul(tok, &end, 10);
	hi = lo;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return -1;
		hi = strtoul(end + 1, &end, 10);
	}
	if (*end || lo < 1 || hi > 65535 || lo > hi || l->n >= PORT_TOKENS_MAX)
		return -1;
	l->lo[l->n] = lo;
	l->hi[l->n++] = hi;
	return 0;
}

/* Splits a scalar at commas and blanks; reports the first bad piece. */
static void port_scalar(struct parser *p, yaml_node_t *n, const char *path, struct port_list *l)
{
	const char *s = cfg_string(p, n, path);
	char buf[512], *tok, *save;

	if (!s)
		return;
	if (strlen(s) >= sizeof(buf)) {
		cfg_err_at(p, n->start_mark, path, "port list too long: use ranges (8000-8100)");
		return;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (port_token(tok, l) == 0)
			continue;
		cfg_err_at(
		        p, n->start_mark, path,
		        "'%.40s' is not a port (1-65535) or a range low-high such as 8000-8100%s",
		        tok, l->n >= PORT_TOKENS_MAX ? " (or the list is too long)" : "");
		return;
	}
}

static void port_item(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	(void)i;
	port_scalar(p, item, path, obj);
}

static int range_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

/* Sorts L's ranges and merges the ones that overlap or touch (80-90 and 91-95). */
static void ports_merge(struct port_list *l)
{
	uint32_t r[PORT_TOKENS_MAX] = {0};
	int n = 0;

	for (int i = 0; i < l->n; i++)
		r[i] = (uint32_t)l->lo[i] << 16 | l->hi[i];
	qsort(r, l->n, sizeof(r[0]), range_cmp);
	for (int i = 0; i < l->n; i++) {
		uint16_t lo = r[i] >> 16, hi = r[i] & 0xffff;

		if (n && lo <= (uint32_t)l->hi[n - 1] + 1) {
			if (hi > l->hi[n - 1])
				l->hi[n - 1] = hi;
			continue;
		}
		l->lo[n] = lo;
		l->hi[n++] = hi;
	}
	l->n = n;
}

static void on_sc_ports(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct dos_syncookie_config *c = obj;
	struct port_list l = {.n = 0};
	int errors = p->n_errors;

	if (v->type == YAML_SEQUENCE_NODE)
		cfg_each(p, v, path, port_item, &l);
	else
		port_scalar(p, v, path, &l);
	if (p->n_errors != errors)
		return; /* a bad port was reported: no second message about the same list */
	ports_merge(&l);
	if (l.n == 0) {
		cfg_err_at(
		        p, v->start_mark, path,
		        "no ports given: list some (\"80,443\"), or leave `ports` out to protect "
		        "every TCP port");
		return;
	}
	if (l.n > DOS_SYN_PORT_RANGES) {
		cfg_err_at(p, v->start_mark, path,
		           "%d separate port ranges, at most %d: join neighbours into ranges "
		           "(8000-8100), or split the destination into two entries",
		           l.n, DOS_SYN_PORT_RANGES);
		return;
	}
	memcpy(c->port_lo, l.lo, l.n * sizeof(l.lo[0]));
	memcpy(c->port_hi, l.hi, l.n * sizeof(l.hi[0]));
	c->n_ports = l.n;
}

/* ---- the other keys ---- */

/* An entry being parsed, with what the checks of the whole entry need. */
struct sc_entry {
	struct dos_syncookie_config c;
	yaml_mark_t auto_pps_mark;
	bool has_auto_pps;
};

static void on_sc_dst(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_prefix(p, v, path, &((struct sc_entry *)obj)->c.dst);
}

static void on_sc_ports_entry(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	on_sc_ports(p, v, path, &((struct sc_entry *)obj)->c);
}

static void on_sc_mode(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct sc_entry *e = obj;
	const char *s = cfg_string(p, v, path);

	if (!s)
		return;
	if (strcmp(s, "always") == 0)
		e->c.mode = DOS_SYN_COOKIES_ALWAYS;
	else if (strcmp(s, "auto") == 0)
		e->c.mode = DOS_SYN_COOKIES_AUTO;
	else
		cfg_err_at(
		        p, v->start_mark, path,
		        "'%.40s': use always (XDP answers every SYN) or auto (only while the SYN "
		        "rate is over auto_pps)",
		        s);
}

/* 1e9 SYN/s: beyond any one server's uplinks (and the XDP stage clamps there). */
#define SYNCOOKIE_AUTO_PPS_MAX 1000000000ULL

static void on_sc_auto_pps(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	struct sc_entry *e = obj;

	e->has_auto_pps = true;
	e->auto_pps_mark = v->start_mark;
	cfg_u64(p, v, path, 1, SYNCOOKIE_AUTO_PPS_MAX, true, &e->c.auto_pps);
}

static void on_sc_mss(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	uint64_t mss;

	if (cfg_u64(p, v, path, SYNCOOKIE_MSS_MIN, SYNCOOKIE_MSS_MAX, false, &mss) == 0)
		((struct sc_entry *)obj)->c.mss = mss;
}

static const struct key_handler sc_keys[] = {
        {"dst", on_sc_dst, "the protected destination prefix: `dst: 203.0.113.10/32`"},
        {"ports", on_sc_ports_entry, NULL},
        {"mode", on_sc_mode, NULL},
        {"auto_pps", on_sc_auto_pps, NULL},
        {"mss", on_sc_mss, NULL},
};

/* What a single key cannot see: mode and auto_pps together, and overlaps with earlier
 * entries. */
static void sc_check(struct parser *p, const struct dos_config *dc, const struct sc_entry *e,
                     yaml_mark_t mark, const char *path)
{
	char a[PREFIX_STRLEN], b[PREFIX_STRLEN];

	if (e->c.mode == DOS_SYN_COOKIES_AUTO && !e->has_auto_pps)
		cfg_err_at(p, mark, path,
		           "mode auto needs auto_pps, the SYN rate per destination address above "
		           "which XDP answers (e.g. `auto_pps: 10k`)");
	if (e->c.mode != DOS_SYN_COOKIES_AUTO && e->has_auto_pps)
		cfg_err_at(p, e->auto_pps_mark, path,
		           "auto_pps is only used with `mode: auto` (add it, or drop auto_pps)");
	if (!e->c.dst.family)
		return; /* dst missing or bad: reported already */
	for (int i = 0; i < dc->n_syn_cookies; i++) {
		const struct prefix *o = &dc->syn_cookies[i].dst;

		if (!prefix_contains(o, &e->c.dst) && !prefix_contains(&e->c.dst, o))
			continue;
		cfg_err_at(p, mark, path,
		           "%s overlaps syn_cookies[%d] (%s): protected destinations must not "
		           "overlap; merge them into one entry or make them disjoint",
		           prefix_format(&e->c.dst, a, sizeof(a)), i,
		           prefix_format(o, b, sizeof(b)));
		return;
	}
}

static void add_syncookie(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj)
{
	struct sc_entry e = {.c.mode = DOS_SYN_COOKIES_ALWAYS};
	struct dos_config *dc = obj;
	struct dos_syncookie_config *grown;

	(void)i;
	if (item->type != YAML_MAPPING_NODE) {
		cfg_err_at(p, item->start_mark, path,
		           "expected a mapping such as {dst: 203.0.113.10/32, ports: \"80,443\"}, "
		           "got %s",
		           cfg_kind(item));
		return;
	}
	if (dc->n_syn_cookies >= DOS_MAX_DEST_PREFIXES) {
		cfg_err_at(p, item->start_mark, path, "at most %d syn_cookies destinations",
		           DOS_MAX_DEST_PREFIXES);
		return;
	}
	CFG_WALK(p, item, path, sc_keys, &e);
	sc_check(p, dc, &e, item->start_mark, path);
	grown = realloc(dc->syn_cookies, (dc->n_syn_cookies + 1) * sizeof(*grown));
	if (!grown) {
		cfg_err_at(p, item->start_mark, path, "out of memory");
		return;
	}
	grown[dc->n_syn_cookies++] = e.c;
	dc->syn_cookies = grown;
}

void dos_syncookies_parse(struct parser *p, yaml_node_t *v, const char *path, void *obj)
{
	cfg_each(p, v, path, add_syncookie, obj);
}
