// SPDX-License-Identifier: GPL-2.0
/*
 * Weighted Maglev table computation; see maglev.h. Deterministic by construction: servers are
 * taken in the order of their keys (not the caller's), permutations come from a fixed hash of
 * the key, and nothing depends on the machine (no random seed, no pointer values).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

#define MAGLEV_EMPTY UINT32_MAX
/* Two seeds give a server two independent hashes: where its permutation starts, and its
 * stride. Changing them changes every table in the fleet: they are part of the protocol. */
#define MAGLEV_SEED_OFFSET 0x6d61676c65763031ULL /* "maglev01" */
#define MAGLEV_SEED_SKIP   0x6d61676c65763032ULL /* "maglev02" */

/* FNV-1a, then the splitmix64 finaliser: good enough spread for a permutation, and simple
 * enough to write down in another language. */
static uint64_t key_hash(const uint8_t *key, size_t len, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= key[i];
		h *= 0x100000001b3ULL;
	}
	h += 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

bool maglev_is_prime(uint32_t m)
{
	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

uint32_t maglev_size_for(uint32_t n)
{
	uint64_t m = (uint64_t)n * MAGLEV_SLOTS_PER_SERVER;

	if (m < MAGLEV_MIN_SIZE)
		m = MAGLEV_MIN_SIZE;
	while (m < UINT32_MAX && !maglev_is_prime((uint32_t)m))
		m++;
	return (uint32_t)m;
}

uint64_t maglev_digest(const uint32_t *table, uint32_t m)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint32_t i = 0; i < m; i++)
		for (int b = 0; b < 4; b++) {
			h ^= (table[i] >> (8 * b)) & 0xff;
			h *= 0x100000001b3ULL;
		}
	return h;
}

/* A server's walk through the slots, and its turns. */
struct walker {
	uint32_t pos;    /* the slot it tries next */
	uint32_t skip;   /* 1..M-1: with M prime, M steps visit every slot once */
	uint64_t credit; /* weight accumulated towards its next turn */
};

static int key_cmp(const struct maglev_backend *a, const struct maglev_backend *b)
{
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c = memcmp(a->key, b->key, n);

	if (c)
		return c;
	return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* qsort has no context argument: sort (key, index) pairs. */
struct ordered {
	const struct maglev_backend *b;
	uint32_t index;
};

static int ordered_cmp(const void *x, const void *y)
{
	return key_cmp(((const struct ordered *)x)->b, ((const struct ordered *)y)->b);
}

static bool args_ok(const struct maglev_backend *b, uint32_t n, uint32_t m, const uint32_t *t)
{
	if (!b || !t || n == 0 || m < n || !maglev_is_prime(m))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!b[i].key || b[i].key_len == 0 || b[i].key_len > 32 || b[i].weight == 0 ||
		    b[i].weight > MAGLEV_MAX_WEIGHT)
			return false;
	return true;
}

/* Claims W's next free slot for server INDEX; returns 1 when the table is full. */
static int claim(struct walker *w, uint32_t index, uint32_t m, uint32_t *table, uint32_t *filled)
{
	while (table[w->pos] != MAGLEV_EMPTY) {
		w->pos += w->skip;
		if (w->pos >= m)
			w->pos -= m;
	}
	table[w->pos] = index;
	return ++*filled == m;
}

static void fill(const struct ordered *o, struct walker *w, uint32_t n, uint32_t m, uint32_t *table)
{
	uint32_t wmax = 0, filled = 0;

	for (uint32_t i = 0; i < n; i++)
		if (o[i].b->weight > wmax)
			wmax = o[i].b->weight;
	/* Rounds: every server gains its weight in credit and takes a turn per wmax of it.
	 * The heaviest takes one turn per round, the others in proportion, carrying the
	 * remainder, so counts track weights to within a slot. */
	for (;;) {
		for (uint32_t i = 0; i < n; i++) {
			w[i].credit += o[i].b->weight;
			while (w[i].credit >= wmax) {
				w[i].credit -= wmax;
				if (claim(&w[i], o[i].index, m, table, &filled))
					return;
			}
		}
	}
}

int maglev_build(const struct maglev_backend *b, uint32_t n, uint32_t m, uint32_t *table)
{
	struct ordered *o;
	struct walker *w;
	int err = 0;

	if (!args_ok(b, n, m, table))
		return -EINVAL;
	o = calloc(n, sizeof(*o));
	w = calloc(n, sizeof(*w));
	if (!o || !w) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		o[i] = (struct ordered){.b = &b[i], .index = i};
	qsort(o, n, sizeof(*o), ordered_cmp);
	for (uint32_t i = 0; i < n; i++) {
		if (i && key_cmp(o[i - 1].b, o[i].b) == 0) {
			err = -EINVAL; /* two servers with one identity: the table is ambiguous */
			goto out;
		}
		w[i].pos = key_hash(o[i].b->key, o[i].b->key_len, MAGLEV_SEED_OFFSET) % m;
		w[i].skip = key_hash(o[i].b->key, o[i].b->key_len, MAGLEV_SEED_SKIP) % (m - 1) + 1;
	}
	for (uint32_t i = 0; i < m; i++)
		table[i] = MAGLEV_EMPTY;
	fill(o, w, n, m, table);
out:
	free(o);
	free(w);
	return err;
}
