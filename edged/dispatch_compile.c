// SPDX-License-Identifier: GPL-2.0
/*
 * Bindings -> port tables (see dispatch_compile.h for the precedence). For each distinct
 * (family, protocol, prefix) X: take the bindings that apply to X (same protocol, prefix
 * holding X), cut the port space at every binding's edges, give each elementary interval to
 * its best binding, and merge neighbours with the same owner into segments.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_compile.h"

bool dispatch_prefix_holds(const struct prefix *outer, const struct prefix *inner)
{
	const uint8_t *a = (const uint8_t *)&outer->addr, *b = (const uint8_t *)&inner->addr;
	unsigned int full = outer->len / 8, rest = outer->len % 8;

	if (outer->family != inner->family || outer->len > inner->len)
		return false;
	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ b[full]) & (0xff00 >> rest)) == 0;
}

static bool same_prefix(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* True when A should win over B where both hold a port. */
static bool better(const struct dispatch_rule *a, const struct dispatch_rule *b)
{
	if (a->prefix.len != b->prefix.len)
		return a->prefix.len > b->prefix.len;
	if (a->kind != b->kind)
		return a->kind > b->kind;
	/* Same prefix, same kind: the config check refuses overlaps, so this is only a
	 * stable tie-break (the narrower range, then the earlier binding). */
	if (a->hi - a->lo != b->hi - b->lo)
		return a->hi - a->lo < b->hi - b->lo;
	return a->index < b->index;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The rules that apply to (PREFIX, PROTOCOL), into APPLY; returns how many. */
static int applicable(const struct dispatch_rule *rules, int n, const struct prefix *prefix,
                      uint8_t protocol, int *apply)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (rules[i].protocol == protocol &&
		    dispatch_prefix_holds(&rules[i].prefix, prefix))
			apply[k++] = i;
	return k;
}

/* Cut points of the port space: every lo and hi + 1, sorted, unique. Returns how many. */
static int cut_points(const struct dispatch_rule *rules, const int *apply, int k, uint32_t *cuts)
{
	int m = 0, u = 0;

	for (int j = 0; j < k; j++) {
		cuts[m++] = rules[apply[j]].lo;
		cuts[m++] = (uint32_t)rules[apply[j]].hi + 1;
	}
	qsort(cuts, m, sizeof(*cuts), cmp_u32);
	for (int j = 0; j < m; j++)
		if (!u || cuts[u - 1] != cuts[j])
			cuts[u++] = cuts[j];
	return u;
}

/* The best rule holding PORT, or -1. */
static int owner(const struct dispatch_rule *rules, const int *apply, int k, uint32_t port)
{
	int best = -1;

	for (int j = 0; j < k; j++) {
		const struct dispatch_rule *r = &rules[apply[j]];

		if (port < r->lo || port > r->hi)
			continue;
		if (best < 0 || better(r, &rules[best]))
			best = apply[j];
	}
	return best;
}

static int add_segment(struct dispatch_entry *e, const struct dispatch_rule *rules, int who,
                       uint32_t lo, uint32_t hi)
{
	struct dispatch_ports *pt = &e->ports;

	if (pt->n && e->rule[pt->n - 1] == who && (uint32_t)pt->seg[pt->n - 1].hi + 1 == lo) {
		pt->seg[pt->n - 1].hi = hi; /* same owner as its left neighbour: one segment */
		return 0;
	}
	if (pt->n == DISPATCH_MAX_SEGMENTS)
		return -1;
	pt->seg[pt->n] = (struct dispatch_segment){
	        .lo = lo, .hi = hi, .binding = rules[who].binding, .dest = rules[who].dest};
	e->rule[pt->n++] = who;
	return 0;
}

static int build_entry(const struct dispatch_rule *rules, int n, struct dispatch_entry *e,
                       int *apply, uint32_t *cuts)
{
	int k = applicable(rules, n, &e->prefix, e->protocol, apply);
	int u = cut_points(rules, apply, k, cuts);

	for (int j = 0; j + 1 < u; j++) {
		int who = owner(rules, apply, k, cuts[j]);

		if (who >= 0 && add_segment(e, rules, who, cuts[j], cuts[j + 1] - 1))
			return -1;
	}
	return 0;
}

static bool seen_before(const struct dispatch_rule *rules, int i)
{
	for (int j = 0; j < i; j++)
		if (rules[j].protocol == rules[i].protocol &&
		    same_prefix(&rules[j].prefix, &rules[i].prefix))
			return true;
	return false;
}

static int by_prefix_len_desc(const void *a, const void *b)
{
	const struct dispatch_entry *x = a, *y = b;

	if (x->prefix.len != y->prefix.len)
		return y->prefix.len - x->prefix.len;
	return x->protocol - y->protocol; /* only for a stable order in tests and listings */
}

int dispatch_compile(const struct dispatch_rule *rules, int n, struct dispatch_table *out,
                     char *err, size_t errlen)
{
	int *apply = calloc(n ? n : 1, sizeof(*apply));
	uint32_t *cuts = calloc(2 * (n ? n : 1), sizeof(*cuts));
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->entries = calloc(n ? n : 1, sizeof(*out->entries));
	if (!apply || !cuts || !out->entries) {
		snprintf(err, errlen, "out of memory compiling %d bindings", n);
		goto done;
	}
	for (int i = 0; i < n; i++) {
		struct dispatch_entry *e = &out->entries[out->n];
		char shown[PREFIX_STRLEN];

		if (seen_before(rules, i))
			continue;
		e->prefix = rules[i].prefix;
		e->protocol = rules[i].protocol;
		if (build_entry(rules, n, e, apply, cuts)) {
			snprintf(err, errlen,
			         "%s %s: the bindings that apply there need more than %d distinct "
			         "port segments; merge exact ports into ranges",
			         prefix_format(&e->prefix, shown, sizeof(shown)),
			         dispatch_proto_name(e->protocol), DISPATCH_MAX_SEGMENTS);
			goto done;
		}
		out->n++;
	}
	qsort(out->entries, out->n, sizeof(*out->entries), by_prefix_len_desc);
	ret = 0;
done:
	free(apply);
	free(cuts);
	if (ret)
		dispatch_table_free(out);
	return ret;
}

void dispatch_table_free(struct dispatch_table *t)
{
	free(t->entries);
	t->entries = NULL;
	t->n = 0;
}

void dispatch_entry_key(const struct dispatch_entry *e, struct dispatch_lpm_key *key)
{
	bool v4 = e->prefix.family == AF_INET;

	memset(key, 0, sizeof(*key));
	key->prefixlen = DISPATCH_KEY_FIXED_BITS + e->prefix.len;
	key->family = v4 ? DISPATCH_FAM_V4 : DISPATCH_FAM_V6;
	key->protocol = e->protocol;
	memcpy(key->addr, &e->prefix.addr, v4 ? 4 : 16);
}
